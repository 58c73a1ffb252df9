"""`sls invoke local` runs every function with the sample events, against the local cloud."""

import hashlib
import json
import os
import subprocess
import sys

import boto3
import pytest

from handlers.core import renditions
from localcloud.tools.deploy import PROJECT, cli_environment, serverless_command
from tests import serverless_yml

SAMPLE = PROJECT / "samples" / "chelsea.jpg"
# What the sample record names (writeToDynamoDB's event): the article's three and its renditions.
RECORDED = json.loads((PROJECT / "events" / "after-process-file.json").read_text())["results"]["outputs"]
RECORDED_KEYS = len(RECORDED) + len(RECORDED["thumbnail"]["renditions"])
FUNCTIONS = [
    ("upload", "http-upload.json", lambda r: r["statusCode"] == 201),
    ("getFileType", "s3-put-jpeg.json", lambda r: r["accepted"] is True and r["format"] == "JPEG"),
    (
        "checkDuplicate",
        "workflow-state.json",
        lambda r: r["contentHash"] == hashlib.sha256(SAMPLE.read_bytes()).hexdigest(),
    ),
    ("copyFile", "workflow-state.json", lambda r: r["key"].startswith("originals/demo/chelsea-")),
    ("resizeImage", "workflow-state.json", lambda r: r["key"].endswith(".png") and r["width"] == 451),
    ("makeThumbnail", "workflow-state.json", lambda r: max(r["width"], r["height"]) == 256),
    ("writeToDynamoDB", "after-process-file.json", lambda r: r["userId"] == "demo"),
    ("discardOutputs", "workflow-state.json", lambda r: len(r["kept"]) == RECORDED_KEYS and r["removed"] == []),
    ("startWorkflow", "s3-put-jpeg.json", lambda r: r["executions"][0]["key"] == "uploads/demo/chelsea.jpg"),
    (
        "stageBackfillItem",
        "backfill-item.json",
        lambda r: (
            r["s3"]["object"]["key"].startswith("backfill/staged/import-example/")
            and r["s3"]["object"]["key"].endswith("/demo/chelsea.jpg")
            and r["backfill"]["mode"] == "import"
        ),
    ),
    ("deleteFile", "s3-put-jpeg.json", lambda r: r["key"] == "uploads/demo/chelsea.jpg"),
    ("reconcile", "scheduled.json", lambda r: r["uploads_complete"] is True and "sqs.ReceiveMessage" in r["requests"]),
    # The photos API, as the event's signed-in user (a photo id and upload id that are not theirs)
    ("listPhotos", "api-list-photos.json", lambda r: r["statusCode"] == 200 and "photos" in json.loads(r["body"])),
    ("getPhoto", "api-get-photo.json", lambda r: r["statusCode"] == 404),
    ("getUploadStatus", "api-upload-status.json", lambda r: r["statusCode"] == 404),
    ("deletePhoto", "api-delete-photo.json", lambda r: r["statusCode"] == 204),
    ("eraseAccount", "api-erase-account.json", lambda r: r["statusCode"] in (200, 202) and "done" in r["body"]),
]


SOURCE_BUCKET = "invoke-local-uploads"  # no S3 trigger: the real workflow must not take the sample away


@pytest.fixture(scope="module")
def events(tmp_path_factory, stack):
    """The sample events, pointed at the test stage's resources and a trigger-less source bucket."""
    folder = tmp_path_factory.mktemp("events")
    stage = stack.name.rsplit("-", 1)[1]
    for path in (PROJECT / "events").glob("*.json"):
        text = path.read_text().replace("image-converter-local-uploads-123456789012", SOURCE_BUCKET)
        (folder / path.name).write_text(text.replace("image-converter-local-", f"{stack.name}-"))
    return folder, stage


def invoke(cloud, stage: str, function: str, event) -> dict:
    result = subprocess.run(
        [*serverless_command(), "invoke", "local", "-f", function, "-p", str(event), "--stage", stage],
        cwd=PROJECT,
        env=cli_environment(cloud.client_environment()),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # the handler's JSON logs come first; the result is the last JSON document printed
    text = result.stdout.strip()
    return json.loads(text[text.rindex("\n{") + 1 :] if "\n{" in text else text)


def test_every_function_runs_under_invoke_local(cloud, stack, events):
    folder, stage = events
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=SOURCE_BUCKET)
    s3.put_object(Bucket=SOURCE_BUCKET, Key="uploads/demo/chelsea.jpg", Body=SAMPLE.read_bytes())
    assert {function for function, _, _ in FUNCTIONS} == set(serverless_yml.functions())  # every one declared
    for function, event, check in FUNCTIONS:
        result = invoke(cloud, stage, function, folder / event)
        assert check(result), (function, result)


def localcloud_invoke(cloud, stage: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "localcloud", "invoke", *args, "--stage", stage],
        cwd=PROJECT,
        env=os.environ | cloud.client_environment(),
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_invoke_runs_a_function_with_the_event_it_gets_in_the_workflow(cloud, stack, unique):
    """writeToDynamoDB needs what five steps found: `invoke` runs them (deployed) first, on
    a photo staged where no trigger takes it, then the function with `sls invoke local`."""
    stage = stack.name.rsplit("-", 1)[1]
    done = localcloud_invoke(
        cloud, stage, "writeToDynamoDB", str(PROJECT / "samples" / "astronaut.jpg"), "--user", unique
    )
    assert done.returncode == 0, done.stdout + done.stderr
    event = json.loads((PROJECT / ".localcloud" / "events" / "writeToDynamoDB.json").read_text())
    assert set(event["results"]) == {"fileType", "uniqueness", "outputs"}
    assert set(event["results"]["outputs"]) == set(renditions.RESERVED)
    table = boto3.resource("dynamodb").Table(stack.outputs["PhotosTableName"])
    item = table.get_item(Key={"userId": unique, "photoId": event["results"]["uniqueness"]["contentHash"]})["Item"]
    assert item["userId"] == unique and item["pngKey"] == event["results"]["outputs"]["png"]["key"]
    # The outputs stay out of the stage's destination bucket (users' data), and it says where they went.
    s3, scratch = boto3.client("s3"), f"{stack.name}-invoke-local"
    for output in event["results"]["outputs"].values():
        assert output["bucket"] == scratch, output
        assert s3.head_object(Bucket=scratch, Key=output["key"])["ContentLength"] > 0
        assert f"  s3://{scratch}/{output['key']}\n" in done.stdout
        with pytest.raises(s3.exceptions.ClientError):
            s3.head_object(Bucket=stack.outputs["DestinationBucketName"], Key=output["key"])
    assert "in the stage's photos table" in done.stdout


def test_invoke_names_what_is_wrong(cloud, stack):
    stage = stack.name.rsplit("-", 1)[1]
    unknown = localcloud_invoke(cloud, stage, "resize", str(PROJECT / "samples" / "rocket.jpg"))
    assert unknown.returncode != 0 and "no function 'resize': choose one of" in unknown.stderr
    missing = localcloud_invoke(cloud, stage, "resizeImage", "no-such.jpg")
    assert missing.returncode != 0 and "no such file or folder: no-such.jpg" in missing.stderr
    nowhere = subprocess.run(
        [sys.executable, "-m", "localcloud", "logs", "resizeImage"],
        env=os.environ | {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert nowhere.returncode != 0 and "no local cloud at http://127.0.0.1:9: start one with" in nowhere.stderr
