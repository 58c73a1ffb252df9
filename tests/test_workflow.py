"""The real definition, executed by moto's Step Functions interpreter on the deployed stack,
with the deployed function code in the local Lambda runtime.

The tests marked e2e use public APIs only (uploads, the Step Functions API, the outputs and the
table, notices through a queue subscribed to the topic) and clean up after themselves:
`pytest -m e2e --stage dev` runs them against a deployed stage. The others inject faults or
read retry waits through the local cloud's own routes, so they stay local."""

from __future__ import annotations

import io
import json
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from urllib.parse import quote_plus

import boto3
import pytest
from PIL import Image

from localcloud.tools.deploy import service_name
from ops import verify
from ops.notices import NoticeQueue
from ops.stage import Stage
from tests import images as pictures
from tests import serverless_yml
from tests.photo_checks import declared, folder_of, output_folders, stored_outputs
from tests.workflow_states import output_failures


def control(cloud, route: str, body: dict | None = None, method: str = "GET") -> dict:
    request = urllib.request.Request(
        f"{cloud.endpoint}/_localcloud/{route}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def stage_of(stack) -> Stage:
    return Stage(stack.name.removeprefix(f"{service_name()}-"))


@pytest.fixture
def e2e_user(stack, unique) -> Iterator[str]:
    """A user of the test's own; what the stage holds of it (uploads, outputs, photos items) is
    removed afterwards, so a deployed stage keeps none of it."""
    user = f"e2e-{unique}"
    yield user
    cleanup = verify.Cleanup()
    verify.remove_users_data(stage_of(stack), [user], {}, cleanup)
    assert cleanup.errors == []


@pytest.fixture
def put(pipeline, s3, e2e_user):
    """Uploads bytes under uploads/<user>/<name> and waits for the execution."""

    def upload(data: bytes, name: str = "photo.jpg", timeout: float = 60):
        # One user per test: duplicates are looked for in the user's own library.
        key = f"{pipeline.upload_prefix}{e2e_user}/{name}"
        started = datetime.now(UTC)
        s3.put_object(Bucket=pipeline.upload_bucket, Key=key, Body=data)
        [outcome] = pipeline.wait({key: name}, timeout=timeout, since=started)
        return outcome

    return upload


@pytest.fixture(scope="module")
def notices(stack) -> Iterator[NoticeQueue]:
    """The stage's notices, as a subscriber gets them (a temporary queue)."""
    queue = NoticeQueue(stage_of(stack), f"{stack.name}-e2e-{uuid.uuid4().hex[:8]}")
    yield queue.create()
    queue.remove()


@pytest.fixture(autouse=True)
def clean_faults(request):
    if request.config.getoption("--stage"):  # a deployed stage: no faults to clean
        yield
        return
    cloud = request.getfixturevalue("cloud")
    control(cloud, "retries")
    yield
    control(cloud, "faults", method="DELETE")


def exists(s3, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except s3.exceptions.ClientError:
        return False


def photo_item(stack, user: str, photo_id: str) -> dict | None:
    table = boto3.resource("dynamodb").Table(stack.outputs["PhotosTableName"])
    return table.get_item(Key={"userId": user, "photoId": photo_id}).get("Item")


def sns_messages(stack) -> list[str]:
    from moto.sns.models import sns_backends

    topic = sns_backends["123456789012"]["us-east-1"].topics[stack.outputs["NotificationsTopicArn"]]
    return [notification[1] for notification in topic.sent_notifications]


@pytest.mark.e2e
def test_happy_path_writes_every_output_and_deletes_the_source(put, s3, stack):
    outcome = put(pictures.jpeg_bytes(pictures.photo("astronaut.jpg").rotate(7)))
    assert (outcome.status, outcome.result.kind) == ("SUCCEEDED", "processed")
    assert outcome.path[:6] == [
        "GetFileType",
        "CheckFileType",
        "CheckForDuplicate",
        "IsRegeneration",
        "IsDuplicate",
        "ProcessFile",
    ]
    assert outcome.path[-2:] == ["WriteToDynamoDb", "DeleteSourceFile"]
    written = {folder_of(o["key"], stack.outputs): o for o in outcome.outputs}
    assert sorted(written) == output_folders(stack.outputs)  # the article's three and the renditions
    bucket = stack.outputs["DestinationBucketName"]
    png = Image.open(io.BytesIO(s3.get_object(Bucket=bucket, Key=written["png"]["key"])["Body"].read()))
    png.load()
    assert (png.format, png.size) == ("PNG", (512, 512))
    thumb = Image.open(io.BytesIO(s3.get_object(Bucket=bucket, Key=written["thumbnails"]["key"])["Body"].read()))
    assert thumb.format == "JPEG" and max(thumb.size) == 256
    assert not exists(s3, outcome_bucket(stack), outcome.key)
    tag = written["png"]["key"].rsplit("-", 1)[1].removesuffix(".png")
    assert outcome.photo_id and outcome.photo_id.startswith(tag)
    item = photo_item(stack, outcome.key.split("/")[1], outcome.photo_id)
    assert item["userId"] == outcome.key.split("/")[1] and item["sourceKey"] == outcome.key
    assert item["pngKey"] == written["png"]["key"] and item["thumbnailKey"] == written["thumbnails"]["key"]
    assert int(item["width"]) == 512 and item["perceptualHash"]


def outcome_bucket(stack) -> str:
    return stack.outputs["UploadBucketName"]


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("data", "name"),
    [
        (pictures.png_bytes(), "fake.jpg"),
        (b"hello", "notes.JPG"),
        (b"", "empty.jpg"),
        (pictures.truncated_jpeg(), "broken.jpeg"),
    ],
)
def test_non_jpegs_are_rejected_notified_and_deleted(put, s3, stack, notices, data, name):
    outcome = put(data, name=name)
    assert (outcome.status, outcome.result.kind) == ("SUCCEEDED", "rejected")
    assert outcome.path == ["GetFileType", "CheckFileType", "NotifyRejected", "DeleteSourceFile"]
    assert notices.wait_for([f"{outcome.key} was not processed: {outcome.result.detail}"], timeout=30) == []
    assert not exists(s3, outcome_bucket(stack), outcome.key)


@pytest.mark.e2e
def test_a_duplicate_is_notified_and_not_processed_twice(put, s3, stack, notices):
    data = pictures.jpeg_bytes(pictures.photo("coffee.jpg").rotate(3))
    first = put(data, name="first.jpg")
    assert first.result.kind == "processed"
    again = put(data, name="second.jpg")
    assert again.result.kind == "duplicate" and again.outputs == []
    assert str(again.result) == f"duplicate of {first.key}"
    assert notices.wait_for([f"{again.key} is a duplicate of {first.key}"], timeout=30) == []
    assert not exists(s3, outcome_bucket(stack), again.key)  # its bytes are stored: nothing is lost
    # A near duplicate is processed by default, and its item says what it is close to.
    near = put(pictures.jpeg_bytes(pictures.photo("coffee.jpg").rotate(3), quality=50), name="third.jpg")
    assert near.result.kind == "processed" and len(near.outputs) == len(output_folders(stack.outputs))
    assert str(near.result) == f"processed: similar to {first.key} (0 bits apart)"
    similar = photo_item(stack, near.key.split("/")[1], near.photo_id)["similarTo"]
    assert similar == {"owner": "self", "photoId": first.photo_id, "sourceKey": first.key, "distance": 0}


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["with space.jpg", "plus+sign.jpg", "été à Paris.JPG", "deep/nested/folder/p.jpeg"])
def test_awkward_keys_are_processed(put, stack, name):
    # Different bytes per case: the test's user uploads them all.
    outcome = put(pictures.jpeg_bytes(pictures.photo("rocket.jpg").rotate(len(name) * 10)), name=name)
    assert outcome.result.kind == "processed", outcome.error
    extensions = (".jpg", ".png", ".JPG", ".jpeg", *(r.extension for r in declared(stack.outputs)))
    assert all(o["key"].endswith(extensions) for o in outcome.outputs)
    assert len(outcome.outputs) == len(output_folders(stack.outputs))


def test_a_transient_failure_is_retried_on_the_articles_schedule(cloud, put, stack):
    control(cloud, "faults", {"function": f"{stack.name}-resizeImage", "error": "ClientError", "times": 1}, "POST")
    outcome = put(pictures.jpeg_bytes(pictures.photo("chelsea.jpg").rotate(11)))
    assert outcome.result.kind == "processed"
    assert control(cloud, "retries")["waits"] == [5]  # States.TaskFailed: 5 s, then success


@pytest.mark.parametrize(("function", "fail_state"), output_failures(serverless_yml.definition()))
def test_a_permanent_failure_keeps_the_source_and_leaves_no_outputs(cloud, put, s3, stack, function, fail_state):
    control(cloud, "faults", {"function": f"{stack.name}-{function}", "error": "ClientError", "times": 3}, "POST")
    outcome = put(pictures.jpeg_bytes(pictures.photo("coffee.jpg").rotate(20 + len(function))))
    assert outcome.status == "FAILED" and outcome.error.startswith("ClientError"), (
        " > ".join(outcome.path),
        outcome.error,
    )
    assert outcome.path[-4:] == ["CheckOutputs", "DiscardOutputs", "WhichStepFailed", fail_state]
    assert control(cloud, "retries")["waits"] == [5, 10]  # 2 retries, backoff rate 2
    assert exists(s3, outcome_bucket(stack), outcome.key)
    assert stored_outputs(s3, stack.outputs, outcome.key.split("/")[1]) == []


def test_a_lambda_service_error_uses_the_aws_recommended_retry(cloud, put, stack):
    control(
        cloud,
        "faults",
        {"function": f"{stack.name}-getFileType", "error": "Lambda.ServiceException", "times": 2},
        "POST",
    )
    assert put(pictures.jpeg_bytes(pictures.photo("astronaut.jpg").rotate(40))).result.kind == "processed"
    assert control(cloud, "retries")["waits"] == [1, 2]


@pytest.mark.e2e
def test_an_event_for_an_object_that_is_gone_starts_nothing(pipeline, stack, e2e_user):
    """The starter names the execution after the object as S3 holds it: an event for an object
    that no longer exists (deleted, or processed already) has nothing to process. (A workflow
    whose upload disappears fails with SourceObjectMissing:
    test_the_deployed_state_machine_executes.)"""
    key = f"{pipeline.upload_prefix}{e2e_user}/gone.jpg"
    started = datetime.now(UTC)
    lambda_client = boto3.client("lambda")
    event = {
        "Records": [
            {
                "s3": {
                    "bucket": {"name": pipeline.upload_bucket},
                    "object": {"key": quote_plus(key), "size": 1, "sequencer": "01"},
                }
            }
        ]
    }
    reply = lambda_client.invoke(FunctionName=f"{stack.name}-startWorkflow", Payload=json.dumps(event))
    [result] = json.loads(reply["Payload"].read())["executions"]
    assert result == {"key": key, "executionArn": None, "started": False, "reason": "the object no longer exists"}
    assert key not in pipeline.executions_by_key(since=started)


@pytest.mark.e2e
def test_the_same_s3_event_twice_starts_one_execution(pipeline, s3, stack, e2e_user):
    key = f"{pipeline.upload_prefix}{e2e_user}/twice.jpg"
    started = datetime.now(UTC)
    s3.put_object(Bucket=pipeline.upload_bucket, Key=key, Body=pictures.jpeg_bytes(pictures.photo().rotate(33)))
    [first] = pipeline.wait({key: "twice.jpg"}, timeout=60, since=started)
    execution = boto3.client("stepfunctions").describe_execution(executionArn=first.execution_arn)
    redelivered = {
        "Records": [
            {
                "s3": {
                    "bucket": {"name": pipeline.upload_bucket},
                    "object": json.loads(execution["input"])["s3"]["object"] | {"key": quote_plus(key)},
                }
            }
        ]
    }
    reply = boto3.client("lambda").invoke(FunctionName=f"{stack.name}-startWorkflow", Payload=json.dumps(redelivered))
    body = json.loads(reply["Payload"].read())
    assert body["executions"][0]["started"] is False
    assert len(pipeline.executions_by_key(started)[key]) == 1


def test_fifty_uploads_at_once_are_each_processed_once(pipeline, s3, cloud, unique):
    base = pictures.photo("chelsea.jpg").resize((120, 80))
    bodies = {
        f"{pipeline.upload_prefix}load/{unique}-{i:02d}.jpg": pictures.jpeg_bytes(base.rotate(i * 7, expand=True))
        for i in range(50)
    }
    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(lambda kv: s3.put_object(Bucket=pipeline.upload_bucket, Key=kv[0], Body=kv[1]), bodies.items()))
    outcomes = pipeline.wait({key: key for key in bodies}, timeout=300)
    assert all(o.status == "SUCCEEDED" for o in outcomes), [o.error for o in outcomes if o.error]
    executions = pipeline.executions_by_key()
    assert all(len(executions[key]) == 1 for key in bodies)
    assert sum(o.result.kind in ("processed", "duplicate") for o in outcomes) == 50
