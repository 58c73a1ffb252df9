"""Nothing is lost: fault tests in the local cloud. Each breaks something AWS may break
(StartExecution throttled, an S3 event lost, a sandbox killed mid-write, a photo that always
fails) and checks that every photo ends processed exactly once or is reported, and which
queue, alarm or notice was used on the way (handlers/core/delivery.py, docs/operations.md)."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import quote_plus

import boto3
import pytest
from PIL import Image

from handlers.core import delivery, keys
from localcloud.services.s3 import adapter as s3_adapter
from tests import images as pictures
from tests.photo_checks import folder_of, output_folders, stored_outputs
from tests.test_workflow import control, exists

ACCOUNT, REGION = "123456789012", "us-east-1"


@pytest.fixture(autouse=True)
def clean_faults(cloud, stack):
    # The reconciler takes up any upload of the stage that has waited too long, other tests'
    # failed ones too: let what it started end, so no other execution's retries or writes
    # mingle with a test's (before each test, and after the last).
    quiet(stack)
    control(cloud, "retries")
    control(cloud, "async")
    yield
    control(cloud, "faults", method="DELETE")
    quiet(stack)


def quiet(stack) -> None:
    sfn = boto3.client("stepfunctions")

    def none_running() -> bool:
        running = sfn.list_executions(stateMachineArn=stack.outputs["ImageWorkflowArn"], statusFilter="RUNNING")
        return not running["executions"]

    wait_for(none_running, 300, "the stage's executions to end")


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


def test_failure_queue_messages_are_read_as_lambda_and_s3_write_them():
    event = {"Records": [{"s3": {"bucket": {"name": "b"}, "object": {"key": "uploads/u/a+b%C3%A9.jpg"}}}]}
    record = {"version": "1.0", "requestContext": {"condition": "RetriesExhausted"}, "requestPayload": event}
    assert delivery.failed_event_objects(json.dumps(record)) == [("b", "uploads/u/a bé.jpg")]
    assert delivery.failed_event_objects(json.dumps(event)) == [("b", "uploads/u/a bé.jpg")]  # a plain S3 event
    for unreadable in ("not json", "[]", '{"requestPayload": {}}', '{"Records": [{"s3": {}}]}', '{"Records": []}'):
        assert delivery.failed_event_objects(unreadable) is None, unreadable


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

    # a message naming an object the reconciler may not read stays, and does not stop the run
    queue_url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{stack.name}-failed-events"
    elsewhere = {"requestPayload": {"Records": [{"s3": {"bucket": {"name": "elsewhere"}, "object": {"key": unique}}}]}}
    boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps(elsewhere))
    run = reconcile(cloud, stack)["result"]
    assert run["queue_deleted"] >= 3 and len(run["started"]) >= 3
    assert [e for e in run["queue_errors"] if e.startswith(f"s3://elsewhere/{unique}: ") and "(403)" in e], run
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


def test_a_photo_uploaded_again_during_a_run_is_not_deleted_by_it(cloud, stack, pipeline, s3, unique):
    """DeleteSourceFile deletes the version its run worked on, on condition of its ETag: a
    newer upload of the same key (its own run processes it) stays."""
    key = f"{pipeline.upload_prefix}again-{unique}/a.jpg"
    photo = pictures.jpeg_bytes(pictures.photo("coffee.jpg").resize((64, 48)))
    control(cloud, "faults", {"drop": key, "times": 2}, "POST")  # no workflow runs: this test is the run
    first = s3.put_object(Bucket=pipeline.upload_bucket, Key=key, Body=photo)["ETag"]
    second = s3.put_object(Bucket=pipeline.upload_bucket, Key=key, Body=photo + b"\0")["ETag"]
    lambdas = boto3.client("lambda")

    def delete_source(etag: str) -> dict:
        state = {"s3": {"bucket": {"name": pipeline.upload_bucket}, "object": {"key": key, "eTag": etag.strip('"')}}}
        answer = lambdas.invoke(FunctionName=f"{stack.name}-deleteFile", Payload=json.dumps(state))
        assert "FunctionError" not in answer
        return json.loads(answer["Payload"].read())

    assert delete_source(first)["deleted"] is False  # the first upload's run, finishing late
    assert s3.head_object(Bucket=pipeline.upload_bucket, Key=key)["ETag"] == second
    assert delete_source(second)["deleted"] is True and not exists(s3, pipeline.upload_bucket, key)
    assert delete_source(second)["deleted"] is True  # gone already: done


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


def test_an_upload_the_reconciler_fails_on_does_not_stop_the_others(cloud, stack, pipeline, s3, unique):
    """StartExecution refused for one upload: the run starts the others, then fails (its Errors
    alarm tells someone), and the next run takes the refused one up."""
    uploads = [f"{pipeline.upload_prefix}iso-{unique}/{n}.jpg" for n in range(2)]
    for n, key in enumerate(uploads):
        control(cloud, "faults", {"drop": key, "times": 1}, "POST")
        s3.put_object(
            Bucket=pipeline.upload_bucket, Key=key, Body=pictures.jpeg_bytes(pictures.photo("coffee.jpg").rotate(7 + n))
        )
        backdate(pipeline.upload_bucket, key, minutes=20)
    reconciler = f"{stack.name}-reconcile"
    refused = {"api": "states:StartExecution", "caller": reconciler, "error": "AccessDeniedException", "times": 1}
    control(cloud, "faults", refused, "POST")
    failed = reconcile(cloud, stack)
    assert failed["errored"] and failed["result"]["errorType"] == "ReconcileIncomplete", failed
    started_first = [key for key in uploads if executions_of(pipeline, key)]
    assert len(started_first) == 1  # the other upload's start was refused; this one went ahead
    reconcile(cloud, stack)
    assert all(executions_of(pipeline, key) for key in uploads)
    outcomes = pipeline.wait({key: key for key in uploads}, timeout=180)
    assert [o.result.kind for o in outcomes] == ["processed"] * 2, [o.error for o in outcomes]


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
    fault = {"api": "s3:PutObject", "caller": resize, "resource": f"/png/{user}/", "kill": True}
    control(cloud, "faults", fault, "POST")
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
    # exactly the outputs, each written once (the killed PUT never landed), the PNG whole
    stored = destination_objects(s3, stack, user)
    assert sorted(folder_of(k, stack.outputs) for k in stored) == output_folders(stack.outputs)
    assert all(len(versions) == 1 for versions in stored.values()), stored
    [png_key] = [k for k in stored if k.startswith("png/")]
    body = s3.get_object(Bucket=stack.outputs["DestinationBucketName"], Key=png_key)["Body"].read()
    with Image.open(io.BytesIO(body)) as png:
        png.load()
        assert png.format == "PNG"


def test_a_worker_killed_on_every_try_leaves_no_outputs_and_keeps_the_upload(cloud, stack, pipeline, s3, unique):
    user = f"killall-{unique}"
    resize = f"{stack.name}-resizeImage"
    fault = {"api": "s3:PutObject", "caller": resize, "resource": f"/png/{user}/", "kill": True, "times": 3}
    control(cloud, "faults", fault, "POST")
    key = f"{pipeline.upload_prefix}{user}/photo.jpg"
    s3.put_object(
        Bucket=pipeline.upload_bucket, Key=key, Body=pictures.jpeg_bytes(pictures.photo("astronaut.jpg").rotate(17))
    )
    [outcome] = pipeline.wait({key: "photo.jpg"}, timeout=120)
    assert outcome.status == "FAILED" and outcome.path[-1] == "QuitResize"
    assert outcome.error.startswith("Runtime.ExitError") and "signal: killed" in outcome.error
    assert stored_outputs(s3, stack.outputs, user) == []
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


# -- the local cloud stopped and started again --------------------------------------------------


@pytest.fixture
def restart_stage():
    """A stage of its own whose reconciler takes up every waiting upload at once, and fires only
    when told (so the test decides when it runs)."""
    from localcloud.tools.deploy import PROJECT

    stage = "restart"
    dotenv = PROJECT / f".env.{stage}"
    assert not dotenv.exists()
    dotenv.write_text("RECONCILE_AFTER_MINUTES=0\nRECONCILE_SCHEDULE=rate(1 day)\n")
    try:
        yield stage
    finally:
        dotenv.unlink(missing_ok=True)


def start_up(stage: str, port: int, state, log):
    """`python -m localcloud up --state DIR` in a process of its own (moto's state lives in its
    process: a cloud in this one would survive a stop), once its banner is out."""
    import subprocess
    import sys

    from localcloud.tools.deploy import PROJECT
    from tests.test_readme import users_shell

    command = [sys.executable, "-m", "localcloud", "up", "--stage", stage, "--port", str(port)]
    command += ["--state", str(state), "--retry-scale", "0"]
    banners = log.read_text().count("Ctrl-C stops it") if log.exists() else 0
    with log.open("a") as output:
        process = subprocess.Popen(command, cwd=PROJECT, env=users_shell(), stdout=output, stderr=subprocess.STDOUT)
    started = lambda: log.read_text().count("Ctrl-C stops it") > banners or process.poll() is not None  # noqa: E731
    wait_for(started, 900, "`up` to deploy")
    assert process.poll() is None, log.read_text()[-3000:]
    return process


def stop_up(process, log) -> None:
    import signal

    process.send_signal(signal.SIGTERM)  # what `up` gets from Ctrl-C's sibling, `kill`
    assert process.wait(timeout=120) == 0, log.read_text()[-3000:]


def test_uploads_waiting_when_the_cloud_stops_are_processed_after_it_starts_again(restart_stage, tmp_path):
    import subprocess
    import sys

    from localcloud.clients import aws_client
    from localcloud.cloud import LocalCloud
    from localcloud.tools.deploy import PROJECT, stack_outputs
    from localcloud.tools.pipeline import Pipeline
    from tests.test_readme import free_port, users_shell

    port, state, log = free_port(), tmp_path / "state", tmp_path / "up.log"
    env = LocalCloud.client_environment_for(f"http://127.0.0.1:{port}")
    stack_name = f"image-converter-{restart_stage}"

    def cloud_control(route: str, body: dict) -> None:
        control(SimpleNamespace(endpoint=env["AWS_ENDPOINT_URL"]), route, body, "POST")

    process = start_up(restart_stage, port, state, log)
    try:
        outputs = stack_outputs(env, stack_name)
        pipeline, s3 = Pipeline(env, outputs), aws_client(env, "s3")
        base = pictures.photo("astronaut.jpg").resize((200, 200))

        def upload(name: str, turn: int) -> str:
            key = f"{outputs['UploadPrefix']}batch/{name}.jpg"
            s3.put_object(Bucket=outputs["UploadBucketName"], Key=key, Body=pictures.jpeg_bytes(base.rotate(turn)))
            return key

        early = [upload(f"early-{i}", 10 + i) for i in range(3)]
        assert [o.result.kind for o in pipeline.wait({k: k for k in early}, timeout=180)] == ["processed"] * 3
        cloud_control("faults", {"drop": f"{outputs['UploadPrefix']}batch/late-", "times": 3})
        late = [upload(f"late-{i}", 20 + i) for i in range(3)]  # their events are lost
        in_flight = upload("in-flight", 30)  # may or may not finish before the stop
    finally:
        stop_up(process, log)
    saved = json.loads((state / "s3" / outputs["UploadBucketName"] / "index.json").read_text())
    assert {o["key"] for o in saved["objects"]} >= set(late)

    process = start_up(restart_stage, port, state, log)
    try:
        banner = log.read_text().split("Local cloud running")[-1]
        assert "Restored from" in banner and "the reconciler takes them up at its next run" in banner
        waiting = {k for k in pipeline.waiting_uploads()}
        assert set(late) <= waiting and not set(early) & waiting  # as S3 held them when it stopped
        table = outputs["PhotosTableName"]
        recorded = aws_client(env, "dynamodb").scan(TableName=table)["Items"]
        assert {item["sourceKey"]["S"] for item in recorded} >= set(early)  # the table survived too

        command = [sys.executable, "-m", "localcloud", "schedule", "reconcile", "--stage", restart_stage]
        fired = subprocess.run(
            [*command, "--port", str(port)], cwd=PROJECT, env=users_shell(), capture_output=True, text=True, timeout=600
        )
        assert fired.returncode == 0, fired.stdout + fired.stderr
        run = json.loads(fired.stdout)
        assert len(run["started"]) == len(waiting) and run["candidates"] == len(waiting)
        everything = [*early, *late, in_flight]
        wait_for(lambda: not pipeline.waiting_uploads(), 300, "every upload to be processed")
        items = aws_client(env, "dynamodb").scan(TableName=table)["Items"]
        sources = [item["sourceKey"]["S"] for item in items]
        assert sorted(sources) == sorted(everything)  # each photo recorded exactly once
        pngs = s3.list_objects_v2(Bucket=outputs["DestinationBucketName"], Prefix="png/batch/")["Contents"]
        assert len(pngs) == len(everything)
    finally:
        stop_up(process, log)


def test_saved_objects_and_items_come_back_as_they_were_and_newer_ones_are_kept(cloud, s3, unique, tmp_path):
    """localcloud/persistence.py on this cloud's own moto: an object keeps its ETag (a multipart
    upload's too, which is not the MD5 of its bytes); an item written after the save is kept."""
    from localcloud import persistence

    bucket, table = f"persisted-{unique}", f"persisted-{unique}"
    dynamodb = boto3.client("dynamodb")
    s3.create_bucket(Bucket=bucket)
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        s3.put_object(Bucket=bucket, Key="plain.txt", Body=b"plain")
        upload = s3.create_multipart_upload(Bucket=bucket, Key="parts.txt")["UploadId"]
        part = s3.upload_part(Bucket=bucket, Key="parts.txt", UploadId=upload, PartNumber=1, Body=b"parts")
        parts = {"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]}
        s3.complete_multipart_upload(Bucket=bucket, Key="parts.txt", UploadId=upload, MultipartUpload=parts)
        etags = {key: s3.head_object(Bucket=bucket, Key=key)["ETag"] for key in ("plain.txt", "parts.txt")}
        binary = {"blob": {"B": b"\x00\xff"}, "nested": {"M": {"s": {"BS": [b"\x01"]}, "l": {"L": [{"B": b"\x02"}]}}}}
        for name in ("gone", "changed"):
            dynamodb.put_item(TableName=table, Item={"id": {"S": name}, "value": {"S": "saved"}, **binary})

        everything, mine = tmp_path / "everything", tmp_path / "mine"
        persistence.save(everything)
        (mine / "s3").mkdir(parents=True)
        (mine / "dynamodb").mkdir()
        (everything / "s3" / bucket).rename(mine / "s3" / bucket)  # only this test's: not the stack's
        (everything / "dynamodb" / f"{ACCOUNT}-{REGION}-{table}.json").rename(mine / "dynamodb" / f"{table}.json")
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in etags]})
        dynamodb.delete_item(TableName=table, Key={"id": {"S": "gone"}})
        dynamodb.put_item(TableName=table, Item={"id": {"S": "changed"}, "value": {"S": "newer"}})

        restored = persistence.restore(mine)
        assert (restored.objects, restored.items) == (2, 1)
        assert {key: s3.head_object(Bucket=bucket, Key=key)["ETag"] for key in etags} == etags
        assert etags["parts.txt"].endswith('-1"') and etags["plain.txt"].count('"') == 2
        values = {i["id"]["S"]: i["value"]["S"] for i in dynamodb.scan(TableName=table)["Items"]}
        assert values == {"gone": "saved", "changed": "newer"}
        gone = dynamodb.get_item(TableName=table, Key={"id": {"S": "gone"}})["Item"]
        assert {name: gone[name] for name in binary} == binary  # binary values, nested too
    finally:
        for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"])
        s3.delete_bucket(Bucket=bucket)
        dynamodb.delete_table(TableName=table)


# -- the REST API's function throttled ------------------------------------------------------------


def test_a_throttled_api_function_gets_api_gateways_internal_server_error(cloud, stack, unique):
    """Lambda refuses the upload function (reserved concurrency 0): API Gateway's call to it
    fails and the client gets 500, never the local cloud's own error."""
    from tests.api import as_user, post, user

    client, name = boto3.client("lambda"), f"{stack.name}-upload"
    headers = as_user(user(cloud, stack, f"throttled-{unique}"), Content_Type="image/jpeg")
    client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    try:
        answer = post(cloud, stack, pictures.jpeg_bytes(pictures.photo("coffee.jpg")), headers)
    finally:
        client.delete_function_concurrency(FunctionName=name)
    assert (answer.status, answer.body) == (500, {"message": "Internal server error"})
