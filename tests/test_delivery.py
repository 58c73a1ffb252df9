"""Nothing is lost: fault tests in the local cloud. Each breaks something AWS may break
(StartExecution throttled, an S3 event lost, a sandbox killed mid-write, a photo that always
fails) and checks that every photo ends processed exactly once or is reported, and which
queue, alarm or notice was used on the way (handlers/core/delivery.py, README "Operations")."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote_plus

import boto3
import pytest
from PIL import Image

from handlers.core import keys
from localcloud.moto_adapter import s3 as s3_adapter
from tests import images as pictures
from tests.test_workflow import control, exists

ACCOUNT, REGION = "123456789012", "us-east-1"


@pytest.fixture(autouse=True)
def clean_faults(cloud):
    control(cloud, "retries")
    control(cloud, "async")
    yield
    control(cloud, "faults", method="DELETE")


def wait_for(condition, timeout: float = 120, what: str = "the condition"):
    """Polls `condition` until it returns something truthy (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def queued_records(stack) -> list[dict]:
    """The failure queue's messages, read without receiving them (which would hide them from
    the reconciler for the queue's visibility timeout)."""
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[ACCOUNT][REGION].queues[f"{stack.name}-failed-events"]
    return [json.loads(message.body) for message in list(queue._messages)]


def records_for(stack, wanted: set[str]) -> list[dict]:
    def key(record: dict) -> str:
        return record["requestPayload"]["Records"][0]["s3"]["object"]["key"]

    return [r for r in queued_records(stack) if key(r) in {quote_plus(k) for k in wanted}]


def operations_messages(stack) -> list[tuple[str, str]]:
    """(subject, message) of everything published to the operations topic."""
    from moto.sns.models import sns_backends

    topic = sns_backends[ACCOUNT][REGION].topics[stack.outputs["OperationsTopicArn"]]
    return [(n[2], n[1]) for n in topic.sent_notifications]


def reconcile(cloud, stack) -> dict:
    """Fires the reconcile function's schedule now, as EventBridge would at its time, and
    returns what the run did."""
    schedules = control(cloud, "schedules")["schedules"]
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{stack.name}-reconcile"
    [rule] = [s for s in schedules if s["targets"] == [function]]
    [fired] = control(cloud, "schedules/fire", {"name": rule["name"], "wait": 300}, "POST")["fired"]
    return fired


def backdate(bucket: str, key: str, minutes: float) -> None:
    """As if the upload had been made `minutes` ago (the reconciler takes up uploads that have
    waited RECONCILE_AFTER_MINUTES): what S3 holds, changed in place."""
    from moto.s3.models import s3_backends

    stored = s3_backends[ACCOUNT]["aws"].buckets[bucket].keys[key]
    stored.last_modified = stored.last_modified - timedelta(minutes=minutes)


def executions_of(pipeline, key: str) -> list[dict]:
    return pipeline.executions_by_key().get(key, [])


def photo_items(stack, key: str) -> list[dict]:
    table = boto3.resource("dynamodb").Table(stack.outputs["PhotosTableName"])
    return [item for item in table.scan()["Items"] if item["sourceKey"] == key]


# -- StartExecution fails -----------------------------------------------------------------------


def test_start_execution_failures_reach_the_failure_queue_and_the_reconciler_processes_them_once(
    cloud, stack, pipeline, s3, unique
):
    starter = f"{stack.name}-startWorkflow"
    control(
        cloud,
        "faults",
        {"api": "states:StartExecution", "caller": starter, "error": "ThrottlingException", "message": "Rate exceeded",
         "times": 1000},
        "POST",
    )  # fmt: skip
    base = pictures.photo("coffee.jpg").resize((160, 120))
    uploads = {
        f"{pipeline.upload_prefix}thr-{unique}/{i}.jpg": pictures.jpeg_bytes(base.rotate(90 * i)) for i in range(3)
    }
    for key, body in uploads.items():
        s3.put_object(Bucket=pipeline.upload_bucket, Key=key, Body=body)
    records = wait_for(lambda: len(records_for(stack, set(uploads))) == 3 and records_for(stack, set(uploads)), 180)
    control(cloud, "faults", method="DELETE")

    # Lambda's destination record: the event, why it was given up on, the last error
    for record in records:
        assert record["version"] == "1.0" and record["timestamp"].endswith("Z")
        context = record["requestContext"]
        assert context["condition"] == "RetriesExhausted" and context["approximateInvokeCount"] == 3
        assert context["functionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{starter}:$LATEST"
        assert record["responseContext"] == {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        }
        assert "ThrottlingException" in record["responsePayload"]["errorMessage"]
    done = control(cloud, "async")
    assert done["waits"].count(60) == 3 and done["waits"].count(120) == 3  # Lambda's 1 and 2 minutes, not waited
    assert [d["delivered"] for d in done["deliveries"] if d["function"] == starter] == [True, True, True]
    assert all(not executions_of(pipeline, key) for key in uploads)

    run = reconcile(cloud, stack)["result"]
    assert run["queue_deleted"] >= 3 and len(run["started"]) >= 3
    assert run["requests"]["sqs.ReceiveMessage"] >= 1 and run["requests"]["s3.HeadObject"] >= 3
    outcomes = pipeline.wait({key: key for key in uploads}, timeout=180)
    assert [o.result.kind for o in outcomes] == ["processed"] * 3, [o.error for o in outcomes]
    for key in uploads:  # exactly once: one execution, one photo, and nothing left waiting
        [execution] = executions_of(pipeline, key)
        assert keys.parse_execution_name(execution["name"]).attempt == 1
        assert len(photo_items(stack, key)) == 1 and not exists(s3, pipeline.upload_bucket, key)
    assert records_for(stack, set(uploads)) == []
    again = reconcile(cloud, stack)["result"]
    assert not [arn for arn in again["started"] if f"thr-{unique}" in arn]


# -- an S3 event lost ---------------------------------------------------------------------------


def test_a_dropped_s3_event_is_picked_up_by_the_next_reconciliation(cloud, stack, pipeline, s3, unique):
    key = f"{pipeline.upload_prefix}drop-{unique}/lost.jpg"
    control(cloud, "faults", {"drop": key, "times": 1}, "POST")
    s3.put_object(
        Bucket=pipeline.upload_bucket, Key=key, Body=pictures.jpeg_bytes(pictures.photo("rocket.jpg").rotate(5))
    )
    assert s3_adapter.pending_drops() == 0  # S3 sent its event (during the PUT) and it was lost
    assert executions_of(pipeline, key) == []
    too_soon = reconcile(cloud, stack)["result"]  # younger than RECONCILE_AFTER_MINUTES: left alone
    assert not [arn for arn in too_soon["started"] if f"drop-{unique}" in arn] and executions_of(pipeline, key) == []

    backdate(pipeline.upload_bucket, key, minutes=20)
    run = reconcile(cloud, stack)["result"]
    [started] = [arn for arn in run["started"] if "lost" in arn]
    [outcome] = pipeline.wait({key: "lost.jpg"}, timeout=120)
    assert outcome.result.kind == "processed" and outcome.execution_arn == started
    assert len(executions_of(pipeline, key)) == 1 and len(photo_items(stack, key)) == 1


# -- a worker killed while it writes ------------------------------------------------------------


def destination_objects(s3, stack, user: str) -> dict[str, list[dict]]:
    """Every version of every object of a user in the destination bucket, by key."""
    bucket = stack.outputs["DestinationBucketName"]
    found: dict[str, list[dict]] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []):
            if f"/{user}/" in version["Key"]:
                found.setdefault(version["Key"], []).append(version)
    return found


def test_a_worker_killed_mid_write_is_retried_and_nothing_is_half_written(cloud, stack, pipeline, s3, unique):
    user = f"kill-{unique}"
    resize = f"{stack.name}-resizeImage"
    control(cloud, "faults", {"api": "s3:PutObject", "caller": resize, "resource": "/png/", "kill": True}, "POST")
    key = f"{pipeline.upload_prefix}{user}/photo.jpg"
    s3.put_object(
        Bucket=pipeline.upload_bucket, Key=key, Body=pictures.jpeg_bytes(pictures.photo("chelsea.jpg").rotate(13))
    )
    [outcome] = pipeline.wait({key: "photo.jpg"}, timeout=120)
    assert outcome.result.kind == "processed", outcome.error
    assert control(cloud, "retries")["waits"] == [5]  # States.TaskFailed took the crash
    history = boto3.client("stepfunctions").get_execution_history(executionArn=outcome.execution_arn)["events"]
    [crash] = [e["lambdaFunctionFailedEventDetails"] for e in history if e["type"] == "LambdaFunctionFailed"]
    assert crash["error"] == "Runtime.ExitError" and "Runtime exited with error: signal: killed" in crash["cause"]
    # exactly the three outputs, each written once (the killed PUT never landed), the PNG whole
    stored = destination_objects(s3, stack, user)
    assert sorted(k.split("/")[0] for k in stored) == ["originals", "png", "thumbnails"]
    assert all(len(versions) == 1 for versions in stored.values()), stored
    [png_key] = [k for k in stored if k.startswith("png/")]
    body = s3.get_object(Bucket=stack.outputs["DestinationBucketName"], Key=png_key)["Body"].read()
    with Image.open(io.BytesIO(body)) as png:
        png.load()
        assert png.format == "PNG"


def test_a_worker_killed_on_every_try_leaves_no_outputs_and_keeps_the_upload(cloud, stack, pipeline, s3, unique):
    user = f"killall-{unique}"
    resize = f"{stack.name}-resizeImage"
    fault = {"api": "s3:PutObject", "caller": resize, "resource": "/png/", "kill": True, "times": 3}
    control(cloud, "faults", fault, "POST")
    key = f"{pipeline.upload_prefix}{user}/photo.jpg"
    s3.put_object(
        Bucket=pipeline.upload_bucket, Key=key, Body=pictures.jpeg_bytes(pictures.photo("astronaut.jpg").rotate(17))
    )
    [outcome] = pipeline.wait({key: "photo.jpg"}, timeout=120)
    assert outcome.status == "FAILED" and outcome.path[-1] == "QuitResize"
    assert outcome.error.startswith("Runtime.ExitError") and "signal: killed" in outcome.error
    bucket = stack.outputs["DestinationBucketName"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="png/").get("Contents", [])
    assert not [o for o in listed if f"/{user}/" in o["Key"]]
    assert not [o for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []) if f"/{user}/" in o["Key"]]
    assert exists(s3, pipeline.upload_bucket, key)


# -- a poison photo -----------------------------------------------------------------------------


def test_a_photo_that_always_fails_is_reported_once_never_retried_for_ever_and_kept(cloud, stack, pipeline, s3, unique):
    key = f"{pipeline.upload_prefix}poison-{unique}/always-fails.jpg"
    control(cloud, "faults", {"drop": key, "times": 1}, "POST")
    control(cloud, "faults", {"function": f"{stack.name}-getFileType", "error": "ClientError", "times": 1000}, "POST")
    s3.put_object(
        Bucket=pipeline.upload_bucket, Key=key, Body=pictures.jpeg_bytes(pictures.photo("coffee.jpg").rotate(29))
    )
    backdate(pipeline.upload_bucket, key, minutes=20)
    max_attempts = 3  # RECONCILE_MAX_ATTEMPTS's default

    for attempt in range(1, max_attempts + 1):
        run = reconcile(cloud, stack)["result"]
        assert [a for a in run["started"] if "always-fails" in a], (attempt, run)
        wait_for(lambda n=attempt: len(executions_of(pipeline, key)) == n, what=f"attempt {attempt}")
        pipeline.wait({key: key}, timeout=120)
    runs = executions_of(pipeline, key)
    assert sorted(keys.parse_execution_name(e["name"]).attempt for e in runs) == [1, 2, 3]
    assert all(e["status"] == "FAILED" for e in runs)

    # Publishing the report fails: the report is taken back, and the next run sends it.
    reconciler = f"{stack.name}-reconcile"
    sns_down = {"api": "sns:Publish", "caller": reconciler, "error": "InternalError", "times": 100}
    control(cloud, "faults", sns_down, "POST")
    failed = reconcile(cloud, stack)
    assert failed["errored"] is True and "InternalError" in json.dumps(failed["result"])
    poison_reports = s3.list_objects_v2(Bucket=pipeline.upload_bucket, Prefix="poison/").get("Contents", [])
    assert not [r for r in poison_reports if "always-fails" in r["Key"]]
    control(cloud, "faults", method="DELETE")
    control(cloud, "faults", {"function": f"{stack.name}-getFileType", "error": "ClientError", "times": 1000}, "POST")

    reported = reconcile(cloud, stack)["result"]
    assert key in reported["poison_reported"] and not [a for a in reported["started"] if "always-fails" in a]
    for _ in range(2):  # later runs: no new execution, no second report
        later = reconcile(cloud, stack)["result"]
        assert key not in later["poison_reported"] and not [a for a in later["started"] if "always-fails" in a]
    assert len(executions_of(pipeline, key)) == max_attempts
    notices = [(s, m) for s, m in operations_messages(stack) if key in m]
    assert len(notices) == 1
    subject, message = notices[0]
    assert subject == "Upload given up on after 3 failed runs"
    assert f"{key} was given up on: its workflow failed 3 times" in message
    assert "Last error: ClientError" in message and message.count("FAILED ") == 3
    assert exists(s3, pipeline.upload_bucket, key)  # the upload is kept
    [report_key] = [
        r["Key"] for r in s3.list_objects_v2(Bucket=pipeline.upload_bucket, Prefix="poison/")["Contents"]
        if "always-fails" in r["Key"]
    ]  # fmt: skip
    report = json.loads(s3.get_object(Bucket=pipeline.upload_bucket, Key=report_key)["Body"].read())
    assert report["key"] == key and [e["attempt"] for e in report["executions"]] == [1, 2, 3]
    assert datetime.fromisoformat(report["lastModified"]) < datetime.now(UTC) - timedelta(minutes=15)
