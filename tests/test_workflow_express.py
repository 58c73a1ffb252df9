"""The image workflow as an Express workflow (WORKFLOW_TYPE=EXPRESS) in the local cloud: on a
stage of its own, `express`, deployed with the real `sls deploy`. Express runs keep their
history only in CloudWatch Logs (level ALL), Step Functions refuses to list, describe or
give the history of them as AWS does, and a start is at-least-once: the same upload started
twice still ends with one record and one set of outputs."""

from __future__ import annotations

import json
import os
import time

import boto3
import pytest
from botocore.exceptions import ClientError
from PIL import Image

from handlers.core.workflow import SourceObject
from localcloud.tools.deploy import Stack, deploy
from localcloud.tools.pipeline import Pipeline
from tests.conftest import ARTIFACTS
from tests.test_workflow import control

STAGE = "express"
SAMPLE = ARTIFACTS.parent / "samples" / "coffee.jpg"


@pytest.fixture(scope="module")
def express_stack(cloud, stack) -> Stack:
    environment = cloud.client_environment() | {"WORKFLOW_TYPE": "EXPRESS"}
    return deploy(environment, STAGE, log=ARTIFACTS / "deploy-express.log")


@pytest.fixture(scope="module")
def express_pipeline(cloud, express_stack) -> Pipeline:
    return Pipeline(cloud.client_environment(), express_stack.outputs)


def _log_records(group: str) -> list[dict]:
    logs = boto3.client("logs")
    pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group)
    return [json.loads(event["message"]) for page in pages for event in page["events"]]


def test_express_runs_log_their_history(express_stack, express_pipeline):
    machine = boto3.client("stepfunctions").describe_state_machine(
        stateMachineArn=express_stack.outputs["ImageWorkflowArn"]
    )
    assert machine["type"] == "EXPRESS"
    assert machine["loggingConfiguration"]["level"] == "ALL"
    key = express_pipeline.upload(SAMPLE, user="express-" + os.urandom(4).hex())
    [outcome] = express_pipeline.wait({key: SAMPLE.name}, timeout=180)
    assert outcome.result.kind == "processed", outcome.error
    assert ":express:" in outcome.execution_arn
    # the whole history is in the log group, one record per event, in AWS's record format
    group = machine["loggingConfiguration"]["destinations"][0]["cloudWatchLogsLogGroup"]["logGroupArn"]
    records = [r for r in _log_records(group.split(":log-group:")[1].removesuffix(":*"))]
    mine = [r for r in records if r["execution_arn"] == outcome.execution_arn]
    assert mine[0]["type"] == "ExecutionStarted" and mine[-1]["type"] == "ExecutionSucceeded"
    assert {"id", "type", "details", "previous_event_id", "event_timestamp", "execution_arn"} <= set(mine[0])
    assert json.loads(mine[0]["details"]["input"])["s3"]["object"]["key"] == key  # includeExecutionData
    entered = [r["details"]["name"] for r in mine if r["type"].endswith("StateEntered")]
    assert entered[:2] == ["GetFileType", "CheckFileType"] and "WriteToDynamoDb" in entered
    # read back from the log, the path is the one the pipeline reported
    assert outcome.path == entered


def test_express_executions_are_not_listed_or_described(express_stack, express_pipeline):
    sfn = boto3.client("stepfunctions")
    key = express_pipeline.upload(SAMPLE, name="listed.jpg", user="express-" + os.urandom(4).hex())
    [outcome] = express_pipeline.wait({key: "listed.jpg"}, timeout=180)
    with pytest.raises(ClientError) as listed:
        sfn.list_executions(stateMachineArn=express_stack.outputs["ImageWorkflowArn"])
    assert listed.value.response["Error"]["Code"] == "StateMachineTypeNotSupported"
    for call in (sfn.describe_execution, sfn.get_execution_history):
        with pytest.raises(ClientError) as refused:
            call(executionArn=outcome.execution_arn)
        assert refused.value.response["Error"]["Code"] == "InvalidArn"


def test_an_express_upload_run_twice_at_once_is_recorded_once(cloud, express_stack, express_pipeline, tmp_path):
    """Express starts are at-least-once: Step Functions may run one start more than once, and
    StartExecution is not idempotent by name for Express. Two runs of one upload at the same
    time write the same objects (named by the photo's content hash); the record is written
    with a condition, so one is kept, and the run that loses the write discards nothing the
    record names."""
    s3, sfn = boto3.client("s3"), boto3.client("stepfunctions")
    user = "twice-" + os.urandom(4).hex()
    photo = tmp_path / "twice.jpg"
    with Image.open(SAMPLE) as sample:  # a photo of its own: not a duplicate of the other tests'
        sample.crop((0, 0, 300 + os.urandom(1)[0], 200)).save(photo, quality=90)
    bucket = express_pipeline.upload_bucket
    key = f"{express_pipeline.upload_prefix}{user}/{photo.name}"
    # S3's own event is lost: the two runs below are the only ones.
    control(cloud, "faults", {"drop": key, "times": 1}, "POST")
    assert express_pipeline.upload(photo, user=user) == key
    stored = s3.head_object(Bucket=bucket, Key=key)
    source = SourceObject(bucket, key, stored["ContentLength"], stored["ETag"].strip('"'))
    state = json.dumps(source.to_state(user))
    name = f"{user}-twice"
    arns = [
        sfn.start_execution(stateMachineArn=express_stack.outputs["ImageWorkflowArn"], name=name, input=state)
        for _ in range(2)
    ]
    assert len({started["executionArn"] for started in arns}) == 2, "the same name started two runs"
    deadline = time.monotonic() + 180
    runs: list[dict] = []
    while time.monotonic() < deadline:
        runs = express_pipeline.executions_by_key().get(key, [])
        if len(runs) == 2 and all(run["status"] != "RUNNING" for run in runs):
            break
        time.sleep(0.5)
    assert len(runs) == 2 and all(run["status"] != "RUNNING" for run in runs), runs
    table = boto3.resource("dynamodb").Table(express_stack.outputs["PhotosTableName"])
    items = [i for i in table.scan()["Items"] if i.get("sourceKey") == key]
    assert len(items) == 1, "one record for the photo"
    item = items[0]
    destination = express_stack.outputs["DestinationBucketName"]
    for output in ("pngKey", "thumbnailKey", "originalKey"):
        assert s3.head_object(Bucket=destination, Key=item[output])["ContentLength"] > 0, output
    pngs = s3.list_object_versions(Bucket=destination, Prefix=item["pngKey"]).get("Versions", [])
    assert len({v["ETag"] for v in pngs}) == 1, "every run wrote the same bytes"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=key), "the upload is deleted"


def test_the_reconciler_of_an_express_stage_says_it_needs_a_standard_workflow(cloud, express_stack, express_pipeline):
    """A lost event on an Express stage cannot be found from executions: the reconciler says
    so, rather than failing on the refused ListExecutions."""
    key = f"{express_pipeline.upload_prefix}lost-{os.urandom(4).hex()}/a.jpg"
    control(cloud, "faults", {"drop": key, "times": 1}, "POST")
    boto3.client("s3").put_object(Bucket=express_pipeline.upload_bucket, Key=key, Body=SAMPLE.read_bytes())
    answer = boto3.client("lambda").invoke(
        FunctionName=f"{express_stack.name}-reconcile", Payload=json.dumps({"olderThanMinutes": 0})
    )
    error = json.loads(answer["Payload"].read())
    assert answer.get("FunctionError") and error["errorType"] == "ConfigurationError", error
    assert "reconciliation needs WORKFLOW_TYPE=STANDARD" in error["errorMessage"]
