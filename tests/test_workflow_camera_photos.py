"""Photos as phones and cameras write them, end to end: uploaded to the deployed stack in
the local cloud, through the real state machine and functions, outputs read back from the
destination bucket and the record from the photos table."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from boto3.dynamodb.conditions import Key
from PIL import Image

from handlers.core import colour, photos
from tests import images as pictures
from tests.photo_checks import check_outputs, check_rendition, declared, difference
from tests.test_workflow import sns_messages

UPRIGHT = pictures.photo("chelsea.jpg").resize((240, 160))

# name -> (bytes, what the photos table must say)
CAMERA_PHOTOS = {
    "ultra-hdr.jpg": (
        pictures.ultra_hdr_jpeg(pictures.camera_exif(taken="2024:05:01 14:03:22", gps=(48.8581, 2.2945))),
        {"imageCount": 2, "secondaryImages": ["gain-map"], "capturedAt": "2024-05-01T14:03:22.120+02:00"},
    ),
    "cmyk-print.jpg": (
        pictures.cmyk_jpeg_with_profile(),
        {"colourSpace": "CMYK", "colourProfile": "Test CMYK (impure inks)", "colourMode": "CMYK"},
    ),
    "display-p3.jpg": (
        pictures.jpeg_bytes(
            pictures.photo("coffee.jpg"),
            icc_profile=pictures.display_p3_profile(),
            exif=pictures.camera_exif(taken="2023:08:15 09:30:00", offset="-07:00", subseconds=None, gps=None),
        ),
        {"colourProfile": "Display P3", "capturedAt": "2023-08-15T09:30:00-07:00", "hasLocation": False},
    ),
    "orientation-8.jpg": (
        pictures.oriented_jpeg(
            8, UPRIGHT, exif=pictures.camera_exif(orientation=8, taken="2025:01:02 03:04:05", offset=None)
        ),
        {"orientation": 8, "width": 240, "height": 160, "storedWidth": 160, "storedHeight": 240},
    ),
}


@pytest.fixture(scope="module")
def processed(pipeline, stack):
    """The four photos uploaded at once by one user, each waited for."""
    user = "camera-" + os.urandom(4).hex()
    uploads = {f"{pipeline.upload_prefix}{user}/{name}": name for name in CAMERA_PHOTOS}
    for key, name in uploads.items():
        pipeline.s3.put_object(Bucket=pipeline.upload_bucket, Key=key, Body=CAMERA_PHOTOS[name][0])
    outcomes = {o.file: o for o in pipeline.wait(uploads, timeout=180)}
    table = boto3.resource("dynamodb").Table(stack.outputs["PhotosTableName"])
    items = {
        name: table.get_item(Key=photos.key(user, hashlib.sha256(data).hexdigest())).get("Item")
        for name, (data, _) in CAMERA_PHOTOS.items()
    }
    return user, outcomes, items


def _download(s3, outcome, kind: str, folder: Path) -> Path:
    [written] = [o for o in outcome.outputs if o["key"].startswith(kind + "/")]
    path = folder / written["key"].replace("/", "_")
    path.write_bytes(s3.get_object(Bucket=written["bucket"], Key=written["key"])["Body"].read())
    return path


@pytest.mark.parametrize("name", list(CAMERA_PHOTOS))
def test_camera_photos_are_processed_into_sound_outputs(processed, s3, stack, tmp_path, name):
    _, outcomes, items = processed
    outcome = outcomes[name]
    assert (outcome.status, outcome.result.kind) == ("SUCCEEDED", "processed"), outcome.error
    png_path, thumb_path = _download(s3, outcome, "png", tmp_path), _download(s3, outcome, "thumbnails", tmp_path)
    png, thumb = check_outputs(png_path, thumb_path)
    made = [(r, _download(s3, outcome, r.prefix.rstrip("/"), tmp_path)) for r in declared(stack.outputs)]
    # Each rendition: upright, sRGB, never enlarged, in the PNG's colours (whatever the camera wrote).
    renditions = [(check_rendition(png, path, rendition), path) for rendition, path in made]
    for image, path in ((png, png_path), (thumb, thumb_path), *renditions):
        raw = path.read_bytes()
        assert not image.getexif() and "exif" not in image.info and "xmp" not in image.info
        assert pictures.SERIAL_NUMBER.encode() not in raw and b"Exif\x00\x00" not in raw
    item = items[name]
    assert item is not None and (int(item["width"]), int(item["height"])) == png.size
    for field, value in CAMERA_PHOTOS[name][1].items():
        assert item[field] == value, field
    if name == "display-p3.jpg":
        assert png.info["icc_profile"] == pictures.display_p3_profile()  # kept byte for byte
    if name == "cmyk-print.jpg":
        assert png.mode == "RGB" and png.info["icc_profile"] == colour.SRGB_ICC
    if name == "orientation-8.jpg":
        assert difference(png, UPRIGHT) < 4 and difference(thumb.resize(UPRIGHT.size), UPRIGHT) < 8


def test_the_table_keeps_that_a_location_existed_not_where(processed, function_env):
    _, _, items = processed
    assert function_env("getFileType")["KEEP_LOCATION"] == "false"
    item = items["ultra-hdr.jpg"]
    assert item["hasLocation"] is True
    assert not {"latitude", "longitude"} & set(item)
    assert item["cameraModel"] == "Pixel 9 Pro" and item["lens"].startswith("Pixel 9 Pro back camera")
    assert not any(pictures.SERIAL_NUMBER in str(value) for value in item.values())


def test_a_users_photos_are_listed_by_capture_time(processed, stack):
    user, _, _ = processed
    table = boto3.resource("dynamodb").Table(stack.outputs["PhotosTableName"])
    listed = table.query(IndexName=photos.BY_CAPTURE_TIME_INDEX, KeyConditionExpression=Key("userId").eq(user))
    taken = [item["capturedAt"] for item in listed["Items"]]
    # The CMYK print has no EXIF capture time: the index is sparse.
    assert taken == ["2023-08-15T09:30:00-07:00", "2024-05-01T14:03:22.120+02:00", "2025-01-02T03:04:05.120"]
    assert all(item["thumbnailKey"].startswith("thumbnails/") for item in listed["Items"])


def test_the_readme_query_runs_with_the_aws_cli(processed, cloud, stack):
    """The command docs/photos.md shows, with the environment `python -m localcloud up` prints
    (tests/test_readme.py runs it verbatim against `make up`)."""
    user, _, _ = processed
    cli = shutil.which("aws", path=str(Path(sys.executable).parent)) or "aws"
    values = json.dumps({":user": {"S": user}, ":month": {"S": "2024-05"}})
    command = [
        cli, "dynamodb", "query", "--region", "us-east-1",
        "--table-name", stack.outputs["PhotosTableName"],
        "--index-name", "byCaptureTime",
        "--key-condition-expression", "userId = :user AND begins_with(capturedAt, :month)",
        "--expression-attribute-values", values,
        "--no-scan-index-forward",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {k: v for k, v in cloud.client_environment().items() if k != "AWS_DEFAULT_REGION" and k != "AWS_REGION"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    [item] = json.loads(result.stdout)["Items"]
    assert item["capturedAt"]["S"] == "2024-05-01T14:03:22.120+02:00"
    assert item["thumbnailKey"]["S"].startswith(f"thumbnails/{user}/ultra-hdr-")


def test_a_12_bit_jpeg_is_rejected_as_unsupported(pipeline, stack, unique):
    key = f"{pipeline.upload_prefix}camera-{unique}/medical.jpg"
    pipeline.s3.put_object(Bucket=pipeline.upload_bucket, Key=key, Body=pictures.twelve_bit_jpeg())
    [outcome] = pipeline.wait({key: "medical.jpg"}, timeout=60)
    assert (outcome.status, outcome.result.kind) == ("SUCCEEDED", "rejected")
    assert any(key in message and "unsupported-jpeg" in message for message in sns_messages(stack))


def test_the_png_of_a_multi_picture_file_is_the_primary_image(processed, s3, tmp_path):
    _, outcomes, _ = processed
    png = Image.open(_download(s3, outcomes["ultra-hdr.jpg"], "png", tmp_path))
    assert png.size == (600, 400) and difference(png, pictures.photo("coffee.jpg")) < 6
