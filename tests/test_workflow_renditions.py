"""A rendition added by configuration alone, end to end in the local cloud: stage `rend` is the
project deployed with one more RENDITIONS entry than the default (an AVIF), and no other
change. The new rendition is made, recorded, listed by `run --json`, discarded when the run
fails and removed by verify's clean-up; a list packaging refuses never deploys."""

from __future__ import annotations

import io
import os

import boto3
import pytest
from PIL import Image

from handlers.core import photos, renditions
from localcloud.tools.deploy import Stack, deploy
from localcloud.tools.pipeline import Pipeline
from ops import verify
from ops.stage import Stage
from tests import images as pictures
from tests.conftest import ARTIFACTS
from tests.photo_checks import check_rendition, declared, folder_of, output_folders, stored_outputs
from tests.serverless_yml import setting_default
from tests.test_workflow import control

STAGE = "rend"
DEFAULT = renditions.parse(setting_default("RENDITIONS"))
EXTRA = "extra:avif:300:50"
UPRIGHT = pictures.photo("coffee.jpg").resize((900, 600), Image.Resampling.BICUBIC)


@pytest.fixture(scope="module")
def rend_stack(cloud, stack) -> Stack:
    """The project deployed again with the default renditions plus EXTRA (~40 s)."""
    listed = ",".join(str(r) for r in DEFAULT) + "," + EXTRA
    return deploy(cloud.client_environment() | {"RENDITIONS": listed}, STAGE, log=ARTIFACTS / "deploy-rend.log")


@pytest.fixture(scope="module")
def rend_pipeline(cloud, rend_stack) -> Pipeline:
    return Pipeline(cloud.client_environment(), rend_stack.outputs)


def _process(pipeline: Pipeline, user: str, data: bytes):
    key = f"{pipeline.upload_prefix}{user}/photo.jpg"
    pipeline.s3.put_object(Bucket=pipeline.upload_bucket, Key=key, Body=data)
    [outcome] = pipeline.wait({key: "photo.jpg"}, timeout=120)
    return outcome


def test_a_list_packaging_refuses_never_deploys(cloud, stack):
    with pytest.raises(RuntimeError, match=r"'extra:avif:0:50': the longest side must be a whole number 16-8192"):
        deploy(cloud.client_environment() | {"RENDITIONS": "extra:avif:0:50"}, "rendbad", log=ARTIFACTS / "rb.log")


def test_the_new_rendition_is_made_recorded_and_listed(rend_pipeline, rend_stack, stack, s3, tmp_path):
    assert [str(r) for r in declared(rend_stack.outputs)] == [*(str(r) for r in DEFAULT), EXTRA]
    assert declared(stack.outputs) == DEFAULT  # the session's stage keeps the default
    user = "rend-" + os.urandom(4).hex()
    data = pictures.jpeg_bytes(pictures.stored_as(6, UPRIGHT), exif=pictures.camera_exif(orientation=6))
    outcome = _process(rend_pipeline, user, data)
    assert outcome.result.kind == "processed", outcome.error
    listed = {o["kind"]: o for o in outcome.to_dict()["outputs"]}  # what `run --json` prints
    assert sorted(listed) == sorted([*renditions.RESERVED, *renditions.names(declared(rend_stack.outputs))])
    assert "extra" in listed
    assert sorted(stored_outputs(s3, rend_stack.outputs, user)) == sorted(o["key"] for o in listed.values())
    assert folder_of(listed["extra"]["key"], rend_stack.outputs) == "renditions/extra"
    bucket = rend_stack.outputs["DestinationBucketName"]

    def fetch(kind: str):
        path = tmp_path / listed[kind]["key"].replace("/", "_")
        path.write_bytes(s3.get_object(Bucket=bucket, Key=listed[kind]["key"])["Body"].read())
        return path

    png = Image.open(fetch("png"))
    assert png.size == (900, 600)  # upright
    for rendition in declared(rend_stack.outputs):
        check_rendition(png, fetch(rendition.name), rendition)
    table = boto3.resource("dynamodb").Table(rend_stack.outputs["PhotosTableName"])
    item = table.get_item(Key=photos.key(user, outcome.photo_id))["Item"]
    assert set(item["renditions"]) == {"preview", "small", "extra"}
    assert item["renditions"]["extra"] == {
        "key": listed["extra"]["key"],
        "format": "avif",
        "width": 300,
        "height": 200,
        "bytes": listed["extra"]["bytes"],
    }
    assert item["renditions"]["preview"]["width"] == 900  # never enlarged
    assert 20 <= len(item["thumbHash"]) <= 40


def test_the_new_rendition_is_discarded_when_the_run_fails(cloud, rend_pipeline, rend_stack, s3):
    """The PNG fails for good while the thumbnail's function writes the renditions: DiscardOutputs
    removes every output, the new rendition with them."""
    control(cloud, "faults", {"function": f"{rend_stack.name}-resizeImage", "error": "ClientError", "times": 3}, "POST")
    user = "rendfail-" + os.urandom(4).hex()
    outcome = _process(rend_pipeline, user, pictures.jpeg_bytes(UPRIGHT.rotate(4)))
    assert outcome.status == "FAILED" and "DiscardOutputs" in outcome.path, outcome.path
    history = boto3.client("stepfunctions").get_execution_history(executionArn=outcome.execution_arn)["events"]
    # The thumbnail's function wrote the renditions (the new one too) before they were discarded.
    assert any("renditions/extra/" in str(e) for e in history if e["type"].endswith("FunctionSucceeded")), history
    assert stored_outputs(s3, rend_stack.outputs, user) == []


def test_verify_cleans_the_new_rendition_up(rend_pipeline, rend_stack, s3):
    user = "rendclean-" + os.urandom(4).hex()
    outcome = _process(rend_pipeline, user, pictures.jpeg_bytes(UPRIGHT.rotate(8)))
    assert outcome.result.kind == "processed", outcome.error
    assert any(key.startswith(f"renditions/extra/{user}/") for key in stored_outputs(s3, rend_stack.outputs, user))
    cleanup = verify.Cleanup()
    verify.remove_users_data(Stage(STAGE), [user], {outcome.photo_id: user}, cleanup)
    assert cleanup.errors == [] and stored_outputs(s3, rend_stack.outputs, user) == []
    assert cleanup.deleted["object"] >= len(output_folders(rend_stack.outputs))  # each output, its versions


def test_the_extra_rendition_is_an_avif_a_browser_can_read(rend_pipeline, s3, rend_stack):
    user = "rendavif-" + os.urandom(4).hex()
    outcome = _process(rend_pipeline, user, pictures.jpeg_bytes(UPRIGHT.rotate(12)))
    [extra] = [o for o in outcome.outputs if o["kind"] == "extra"]
    head = s3.head_object(Bucket=extra["bucket"], Key=extra["key"])
    assert head["ContentType"] == "image/avif"
    body = s3.get_object(Bucket=extra["bucket"], Key=extra["key"])["Body"].read()
    assert body[4:12] == b"ftypavif"
    with Image.open(io.BytesIO(body)) as picture:
        assert picture.size == (300, 200)
