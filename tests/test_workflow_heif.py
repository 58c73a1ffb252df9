"""HEIC photos end to end in the local cloud, through the real state machine and functions:
on a second stage deployed with ACCEPTED_FORMATS=jpeg,heif (the session's `test` stage keeps
the default), and on the default stage, where the same photo is rejected with a notice."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import boto3
import pytest
from PIL import Image

from handlers.core import photos
from localcloud.tools.deploy import Stack, deploy
from localcloud.tools.pipeline import Pipeline
from tests import images as pictures
from tests.conftest import ARTIFACTS
from tests.photo_checks import check_outputs, difference
from tests.test_workflow import sns_messages

STAGE = "heif"
UPRIGHT = pictures.photo("chelsea.jpg").resize((360, 240))


def iphone_photo() -> bytes:
    """As an iPhone writes a photo taken in portrait grip: tiles, Display P3, the rotation as
    a transform and as EXIF orientation 6, camera, capture time and a location."""
    exif = pictures.camera_exif(orientation=6, taken="2025:07:14 18:45:03", gps=(48.8581, 2.2945))
    stored = pictures.stored_as(6, UPRIGHT)
    return pictures.heic(stored, orientation=6, tile=128, exif=exif, icc_profile=pictures.display_p3_profile())


PHOTO = iphone_photo()


@pytest.fixture(scope="module")
def heif_stack(cloud, stack) -> Stack:
    """The project deployed again, as stage `heif`, with HEIF turned on (~40 s)."""
    environment = cloud.client_environment() | {"ACCEPTED_FORMATS": "jpeg,heif"}
    return deploy(environment, STAGE, log=ARTIFACTS / "deploy-heif.log")


@pytest.fixture(scope="module")
def heif_pipeline(cloud, heif_stack) -> Pipeline:
    return Pipeline(cloud.client_environment(), heif_stack.outputs)


@pytest.fixture(scope="module")
def processed(heif_pipeline, heif_stack):
    """The HEIC, then the same picture exported as a JPEG, by one user; a truncated HEIC and
    an AVIF from another."""
    user, other = "iphone-" + os.urandom(4).hex(), "bad-" + os.urandom(4).hex()
    heic_key = f"{heif_pipeline.upload_prefix}{user}/IMG_0001.HEIC"
    heif_pipeline.s3.put_object(Bucket=heif_pipeline.upload_bucket, Key=heic_key, Body=PHOTO)
    bad = {
        f"{heif_pipeline.upload_prefix}{other}/cut.heic": PHOTO[: len(PHOTO) * 7 // 10],
        f"{heif_pipeline.upload_prefix}{other}/photo.avif": pictures.avif(),
    }
    for key, data in bad.items():
        heif_pipeline.s3.put_object(Bucket=heif_pipeline.upload_bucket, Key=key, Body=data)
    outcomes = {o.key: o for o in heif_pipeline.wait({heic_key: "IMG_0001.HEIC"} | {k: k for k in bad}, timeout=180)}
    export_key = f"{heif_pipeline.upload_prefix}{user}/IMG_0001.jpg"  # after the HEIC is recorded
    export = pictures.oriented_jpeg(6, UPRIGHT.resize((240, 160)), exif=pictures.camera_exif(orientation=6))
    heif_pipeline.s3.put_object(Bucket=heif_pipeline.upload_bucket, Key=export_key, Body=export)
    [outcomes[export_key]] = heif_pipeline.wait({export_key: "IMG_0001.jpg"}, timeout=120)
    table = boto3.resource("dynamodb").Table(heif_stack.outputs["PhotosTableName"])
    item = table.get_item(Key=photos.key(user, hashlib.sha256(PHOTO).hexdigest())).get("Item")
    return outcomes, heic_key, export_key, item


def _download(s3, outcome, kind: str, folder: Path) -> Path:
    [written] = [o for o in outcome.outputs if o["key"].startswith(kind + "/")]
    path = folder / written["key"].replace("/", "_")
    path.write_bytes(s3.get_object(Bucket=written["bucket"], Key=written["key"])["Body"].read())
    return path


def test_the_stage_was_deployed_with_heif_accepted(heif_stack, stack):
    client = boto3.client("lambda")

    def accepted(deployed: Stack) -> str:
        name = f"{deployed.name}-getFileType"
        return client.get_function_configuration(FunctionName=name)["Environment"]["Variables"]["ACCEPTED_FORMATS"]

    assert (accepted(heif_stack), accepted(stack)) == ("jpeg,heif", "jpeg")


def test_a_heic_photo_is_processed_into_sound_outputs(processed, s3, tmp_path):
    outcomes, heic_key, _, _ = processed
    outcome = outcomes[heic_key]
    assert (outcome.status, str(outcome.result)) == ("SUCCEEDED", "processed"), outcome.error
    assert outcome.path[-2:] == ["WriteToDynamoDb", "DeleteSourceFile"]
    original = _download(s3, outcome, "originals", tmp_path)
    assert original.read_bytes() == PHOTO and original.name.endswith(".HEIC")  # copied as uploaded
    png_path, thumb_path = _download(s3, outcome, "png", tmp_path), _download(s3, outcome, "thumbnails", tmp_path)
    png, thumb = check_outputs(png_path, thumb_path)
    assert png.size == UPRIGHT.size and thumb.size == (256, 171)  # upright, turned once
    assert png.info["icc_profile"] == pictures.display_p3_profile()
    for image, path in ((png, png_path), (thumb, thumb_path)):
        raw = path.read_bytes()
        assert not image.getexif() and "exif" not in image.info and "xmp" not in image.info
        assert pictures.SERIAL_NUMBER.encode() not in raw and b"Exif\x00\x00" not in raw


def test_the_photos_item_of_the_heic(processed):
    _, heic_key, _, item = processed
    assert item is not None and item["sourceKey"] == heic_key
    expected = {
        "heifBrand": "heic",
        "bitDepth": 8,
        "orientation": 6,
        "width": 360,
        "height": 240,
        "storedWidth": 240,
        "storedHeight": 360,
        "colourProfile": "Display P3",
        "capturedAt": "2025-07-14T18:45:03.120+02:00",
        "cameraModel": "Pixel 9 Pro",
        "hasLocation": True,
        "imageCount": 1,
    }
    assert {name: item.get(name) for name in expected} == expected
    assert not {"latitude", "longitude"} & set(item)


def test_the_jpeg_export_of_the_same_picture_is_a_near_duplicate(processed, heif_stack):
    """The stage's default uniqueness policy processes a near duplicate and flags it: the
    export's item names the HEIC it is close to."""
    outcomes, heic_key, export_key, _ = processed
    outcome = outcomes[export_key]
    assert (outcome.status, outcome.result.kind) == ("SUCCEEDED", "processed"), outcome.error
    table = boto3.resource("dynamodb").Table(heif_stack.outputs["PhotosTableName"])
    similar = table.get_item(Key=photos.key(outcome.user_id, outcome.photo_id))["Item"]["similarTo"]
    assert (similar["sourceKey"], similar["photoId"]) == (heic_key, hashlib.sha256(PHOTO).hexdigest())
    assert (
        similar["distance"] <= 1
        and str(outcome.result) == f"processed: similar to {heic_key} ({similar['distance']} bits apart)"
    )


@pytest.mark.parametrize(("name", "reason"), [("cut.heic", "corrupt-image"), ("photo.avif", "avif-not-accepted")])
def test_bad_heif_files_are_rejected_with_a_notice(processed, heif_stack, name, reason):
    outcomes, _, _, _ = processed
    [(key, outcome)] = [(k, o) for k, o in outcomes.items() if k.endswith("/" + name)]
    assert (outcome.status, str(outcome.result)) == ("SUCCEEDED", f"rejected: {reason}")
    assert f"{key} was not processed: {reason}" in sns_messages(heif_stack)


def test_the_default_stage_rejects_the_same_photo_with_a_notice(pipeline, stack, s3, unique):
    """With the default ACCEPTED_FORMATS=jpeg the photo takes the existing rejection path:
    a notice naming the upload and the reason, no outputs, no record, and, as for every
    rejected upload, the upload is deleted after the notice (the article's rule)."""
    key = f"{pipeline.upload_prefix}iphone-{unique}/IMG_0001.HEIC"
    s3.put_object(Bucket=pipeline.upload_bucket, Key=key, Body=PHOTO)
    [outcome] = pipeline.wait({key: "IMG_0001.HEIC"}, timeout=60)
    assert (outcome.status, str(outcome.result)) == ("SUCCEEDED", "rejected: heif-not-accepted")
    assert outcome.path == ["GetFileType", "CheckFileType", "NotifyRejected", "DeleteSourceFile"]
    assert f"{key} was not processed: heif-not-accepted" in sns_messages(stack)
    listed = s3.list_objects_v2(Bucket=stack.outputs["DestinationBucketName"], Prefix=f"png/iphone-{unique}/")
    assert listed["KeyCount"] == 0 and outcome.outputs == []
    assert "Contents" not in s3.list_objects_v2(Bucket=pipeline.upload_bucket, Prefix=key)


def test_the_heic_upright_outputs_match_the_picture(processed, s3, tmp_path):
    outcomes, heic_key, _, _ = processed
    png = Image.open(_download(s3, outcomes[heic_key], "png", tmp_path))
    assert difference(png, UPRIGHT) < 4  # the P3 profile describes the pixels as stored
