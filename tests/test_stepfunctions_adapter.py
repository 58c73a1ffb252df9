"""The Step Functions gaps localcloud/services/stepfunctions/adapter.py closes beyond the deployed
workflow: states:startExecution Tasks, Distributed Map (S3 listing, tolerated failures, result
files) and RedriveExecution. Small state machines of their own, run as a role of their own
(IAM is enforced on it as on the stack's roles)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.workflow_states import (
    distributed_map,
    fail,
    get_object,
    machine,
    parallel,
    pass_state,
    start_execution,
    wait,
)


@pytest.fixture(scope="module")
def bucket(cloud) -> str:
    name = f"sfn-adapter-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def role(cloud, bucket) -> str:
    iam = boto3.client("iam")
    name = f"sfn-adapter-{uuid.uuid4().hex[:8]}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            },
            {
                "Effect": "Allow",
                "Action": ["states:StartExecution", "states:DescribeExecution", "states:StopExecution"],
                "Resource": "*",
            },
        ],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    return arn


@pytest.fixture
def create(role):
    sfn = boto3.client("stepfunctions")

    def create(definition: dict, kind: str = "STANDARD") -> str:
        name = f"m-{uuid.uuid4().hex[:10]}"
        return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role, type=kind)[
            "stateMachineArn"
        ]

    return create


def finished(execution_arn: str, timeout: float = 120) -> dict:
    sfn = boto3.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        time.sleep(0.1)


def run(machine_arn: str, payload: object = None) -> dict:
    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=machine_arn, input=json.dumps(payload or {}))["executionArn"]
    return finished(arn)


def history(execution_arn: str) -> list[dict]:
    return boto3.client("stepfunctions").get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]


def entered(events: list[dict], state: str) -> int:
    return sum(1 for e in events if (e.get("stateEnteredEventDetails") or {}).get("name") == state)


def put(bucket: str, key: str, body: bytes = b"x") -> None:
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body)


# -- states:startExecution Tasks -------------------------------------------------------------------


def test_start_execution_tasks_pass_the_apis_parameters_and_answer_in_its_shape(create):
    child = create(machine({"Echo": pass_state(Result={"done": True}, End=True)}))
    given = {"Parameters": {"Input": {"from": "parent"}}}
    parent = create(
        machine(
            {
                "Plain": start_execution(child, "", **given, ResultPath="$.plain", Next="Sync2"),
                "Sync2": start_execution(child, ".sync:2", **given, ResultPath="$.sync2", Next="Sync"),
                "Sync": start_execution(child, ".sync", **given, ResultPath="$.sync", End=True),
            }
        )
    )
    done = run(parent)
    assert done["status"] == "SUCCEEDED", done.get("cause")
    output = json.loads(done["output"])
    assert set(output["plain"]) == {"ExecutionArn", "StartDate"} and isinstance(output["plain"]["StartDate"], int)
    assert output["sync2"]["Status"] == "SUCCEEDED" and output["sync2"]["Output"] == {"done": True}
    assert output["sync2"]["Input"] == {"from": "parent"} and isinstance(output["sync2"]["StopDate"], int)
    assert json.loads(output["sync"]["Output"]) == {"done": True}  # .sync gives the child's output as text


def test_a_failing_child_fails_the_task_with_its_description(create):
    child = create(machine({"No": fail("Nope", Cause="on purpose")}))
    parent = create(machine({"Child": start_execution(child, Parameters={"Input": {}}, End=True)}))
    done = run(parent)
    assert (done["status"], done["error"]) == ("FAILED", "States.TaskFailed")
    described = json.loads(done["cause"])
    assert (described["Status"], described["Error"], described["Cause"]) == ("FAILED", "Nope", "on purpose")


# -- Distributed Map -------------------------------------------------------------------------------


def each(bucket: str, prefix: str, processor: dict, **settings) -> dict:
    """A machine of one Distributed Map over the objects under `prefix`."""
    return machine({"Each": distributed_map(bucket, prefix, processor, MaxConcurrency=10, **settings, End=True)})


PASS = machine({"Seen": pass_state(End=True)})


def test_an_s3_listing_is_read_whole_and_as_aws_gives_each_object(create, bucket):
    prefix = f"many-{uuid.uuid4().hex[:6]}/"
    s3 = boto3.client("s3")
    for number in range(1005):  # more than one page of ListObjectsV2
        s3.put_object(Bucket=bucket, Key=f"{prefix}{number:04d}", Body=b"x" * (number % 7))
    counted = run(create(each(bucket, prefix, PASS, ResultSelector={"count.$": "States.ArrayLength($)"})))
    assert counted["status"] == "SUCCEEDED", counted.get("cause")
    assert json.loads(counted["output"]) == {"count": 1005}

    few = f"few-{uuid.uuid4().hex[:6]}/"
    put(bucket, f"{few}a.jpg", b"abc")
    [item] = json.loads(run(create(each(bucket, few, PASS)))["output"])
    assert set(item) == {"Etag", "Key", "LastModified", "Size", "StorageClass"}
    assert (item["Key"], item["Size"], item["StorageClass"]) == (f"{few}a.jpg", 3, "STANDARD")
    assert isinstance(item["LastModified"], int)  # epoch seconds (a datetime broke DescribeExecution)

    empty = run(create(each(bucket, f"nothing-{uuid.uuid4().hex}/", PASS)))
    assert (empty["status"], json.loads(empty["output"])) == ("SUCCEEDED", [])


@pytest.fixture
def half_missing(bucket):
    """10 items listed under `<tag>/in/`; the processor reads `<tag>/found/<name>`, missing for 2."""
    tag = f"items-{uuid.uuid4().hex[:6]}"
    for number in range(10):
        put(bucket, f"{tag}/in/{number}")
        if number not in (3, 7):
            put(bucket, f"{tag}/found/{number}")
    processor = machine({"Read": get_object(bucket, f"States.Format('{tag}/found/{{}}', $.name)", True, End=True)})
    selector = {"name.$": "States.ArrayGetItem(States.StringSplit($$.Map.Item.Value.Key, '/'), 2)"}
    return f"{tag}/in/", processor, selector


def test_failed_items_fail_the_map_over_its_tolerated_failures(create, bucket, half_missing):
    prefix, processor, selector = half_missing

    def outcome(**tolerance) -> dict:
        return run(create(each(bucket, prefix, processor, ItemSelector=selector, **tolerance)))

    failed = outcome()  # no threshold set: any failed item fails the Map
    assert (failed["status"], failed["error"]) == ("FAILED", "States.ExceedToleratedFailureThreshold")
    assert failed["cause"] == "The specified tolerated failure threshold was exceeded"
    assert outcome(ToleratedFailurePercentage=20)["status"] == "SUCCEEDED"  # 2 of 10: 20% is not over 20
    assert outcome(ToleratedFailurePercentage=10)["status"] == "FAILED"  # an integer percentage parses
    assert outcome(ToleratedFailureCount=2)["status"] == "SUCCEEDED"
    assert outcome(ToleratedFailureCount=1)["status"] == "FAILED"
    assert outcome(ToleratedFailureCount=5, ToleratedFailurePercentage=10)["status"] == "FAILED"  # either one


def test_the_result_writer_reports_every_item_and_the_failures_exactly(create, bucket, half_missing):
    prefix, processor, selector = half_missing
    writer = {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": bucket, "Prefix": "reports"}}
    definition = each(
        bucket, prefix, processor, ItemSelector=selector, ToleratedFailurePercentage=50, ResultWriter=writer
    )
    done = run(create(definition))
    assert done["status"] == "SUCCEEDED", done.get("cause")
    details = json.loads(done["output"])["ResultWriterDetails"]
    s3 = boto3.client("s3")
    manifest = json.loads(s3.get_object(Bucket=details["Bucket"], Key=details["Key"])["Body"].read())
    assert manifest["DestinationBucket"] == bucket and manifest["ResultFiles"]["PENDING"] == []

    def read(status: str) -> list[dict]:
        [listed] = manifest["ResultFiles"][status]
        return json.loads(s3.get_object(Bucket=bucket, Key=listed["Key"])["Body"].read())

    failed, succeeded = read("FAILED"), read("SUCCEEDED")
    assert sorted(json.loads(f["Input"])["name"] for f in failed) == ["3", "7"]
    assert {f["Status"] for f in failed} == {"FAILED"}
    assert all(f["Error"].endswith("NoSuchKeyException") for f in failed)
    assert len(succeeded) == 8 and json.loads(succeeded[0]["Output"]) == {"bytes": 1}


# -- RedriveExecution -------------------------------------------------------------------------------


def test_a_redriven_execution_goes_on_from_the_failed_state(create, bucket):
    tag = uuid.uuid4().hex[:6]
    put(bucket, f"{tag}/a")
    definition = machine(
        {
            "First": pass_state(Result=1, ResultPath="$.first", Next="Both"),
            "Both": parallel(
                machine({"A": get_object(bucket, f"{tag}/a", End=True)}),
                machine({"B1": pass_state(Next="B"), "B": get_object(bucket, f"{tag}/b", End=True)}),
                ResultPath="$.both",
                Next="Last",
            ),
            "Last": get_object(bucket, f"{tag}/c", ResultPath="$.last", End=True),
        }
    )
    sfn = boto3.client("stepfunctions")
    first = run(create(definition))
    arn = first["executionArn"]
    assert (first["status"], first["redriveCount"], first["redriveStatus"]) == ("FAILED", 0, "REDRIVABLE")
    # Branch A runs beside B: if B failed first, A was stopped unfinished, and a redrive runs it again.
    a_finished = any((e.get("stateExitedEventDetails") or {}).get("name") == "A" for e in history(arn))

    put(bucket, f"{tag}/b")
    sfn.redrive_execution(executionArn=arn)
    second = finished(arn)
    assert (second["status"], second["error"], second["redriveCount"]) == ("FAILED", first["error"], 1)
    assert "The specified key does not exist" in second["cause"]
    put(bucket, f"{tag}/c")
    sfn.redrive_execution(executionArn=arn)
    third = finished(arn)
    assert (third["status"], third["redriveCount"]) == ("SUCCEEDED", 2)
    assert json.loads(third["output"]) == {
        "first": 1,
        "both": [{"bytes": 1}, {"bytes": 1}],
        "last": {"bytes": 1},
    }
    events = history(arn)
    redriven = [e["executionRedrivenEventDetails"]["redriveCount"] for e in events if e["type"] == "ExecutionRedriven"]
    assert redriven == [1, 2]
    # What succeeded ran once; the failed branch (and A if it was stopped) and the failed state again.
    assert [entered(events, s) for s in ("First", "A", "B1", "B", "Last")] == [1, 1 if a_finished else 2, 1, 2, 2]
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    listed = sfn.list_executions(stateMachineArn=first["stateMachineArn"], redriveFilter="REDRIVEN")["executions"]
    assert [(e["executionArn"], e["redriveCount"]) for e in listed] == [(arn, 2)]


def test_redrive_follows_awss_rules(create, bucket, cloud):
    sfn = boto3.client("stepfunctions")
    waiting = create(machine({"Wait": wait(30, End=True)}))
    running = sfn.start_execution(stateMachineArn=waiting)["executionArn"]
    assert sfn.describe_execution(executionArn=running)["redriveStatusReason"] == (
        "Execution is RUNNING and cannot be redriven"
    )
    with pytest.raises(ClientError) as refused:
        sfn.redrive_execution(executionArn=running)
    assert refused.value.response["Error"]["Code"] == "ExecutionNotRedrivable"
    sfn.stop_execution(executionArn=running)
    assert finished(running)["status"] == "ABORTED"
    sfn.redrive_execution(executionArn=running)  # an aborted execution may be redriven
    sfn.stop_execution(executionArn=running)

    succeeded = run(create(PASS))
    assert succeeded["redriveStatusReason"] == "Execution is SUCCEEDED and cannot be redriven"

    tag = uuid.uuid4().hex[:6]
    old = run(create(machine({"Read": get_object(bucket, f"{tag}/missing", End=True)})))
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    execution = stepfunctions_parser_backends["123456789012"]["us-east-1"].describe_execution(old["executionArn"])
    execution.stop_date -= timedelta(days=15)  # stopped 15 days ago: past the redrivable period
    with pytest.raises(ClientError) as refused:
        sfn.redrive_execution(executionArn=old["executionArn"])
    assert "Execution redrivable period exceeded" in str(refused.value)

    failed = run(create(machine({"Read": get_object(bucket, f"{tag}/late", End=True)})))
    token = str(uuid.uuid4())
    put(bucket, f"{tag}/late")
    once = sfn.redrive_execution(executionArn=failed["executionArn"], clientToken=token)["redriveDate"]
    again = sfn.redrive_execution(executionArn=failed["executionArn"], clientToken=token)["redriveDate"]
    assert once == again  # the same request twice redrives once
    assert finished(failed["executionArn"])["redriveCount"] == 1


def test_a_redriven_distributed_map_runs_only_its_failed_items(create, bucket):
    sfn = boto3.client("stepfunctions")
    tag = uuid.uuid4().hex[:6]
    child = create(machine({"Read": get_object(bucket, "unused", End=True)}))
    child_definition = machine(
        {"Read": get_object(bucket, f"States.Format('{tag}/found/{{}}', $.name)", True, End=True)}
    )
    sfn.update_state_machine(stateMachineArn=child, definition=json.dumps(child_definition))
    for number in range(12):
        put(bucket, f"{tag}/in/{number:02d}")
        if number % 4:
            put(bucket, f"{tag}/found/{number:02d}")
    processor = machine({"Child": start_execution(child, Parameters={"Input.$": "$"}, OutputPath="$.Output", End=True)})
    definition = each(
        bucket,
        f"{tag}/in/",
        processor,
        ItemSelector={"name.$": "States.ArrayGetItem(States.StringSplit($$.Map.Item.Value.Key, '/'), 2)"},
        ResultWriter={"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": bucket, "Prefix": tag}},
    )
    first = run(create(definition))
    assert (first["status"], first["error"]) == ("FAILED", "States.ExceedToleratedFailureThreshold")

    def children() -> int:
        pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=child)
        return sum(len(page["executions"]) for page in pages)

    assert children() == 12
    [map_run] = sfn.list_map_runs(executionArn=first["executionArn"])["mapRuns"]
    for number in (0, 4, 8):
        put(bucket, f"{tag}/found/{number:02d}")
    sfn.redrive_execution(executionArn=first["executionArn"])
    done = finished(first["executionArn"])
    assert done["status"] == "SUCCEEDED", done.get("cause")
    assert children() == 15  # only the 3 failed items ran again
    described = sfn.describe_map_run(mapRunArn=map_run["mapRunArn"])  # the same Map Run, redriven
    assert (described["status"], described["redriveCount"], described["itemCounts"]["succeeded"]) == (
        "SUCCEEDED",
        1,
        12,
    )
    assert json.loads(done["output"])["MapRunArn"] == map_run["mapRunArn"]


def test_an_express_execution_cannot_be_redriven(create):
    sfn = boto3.client("stepfunctions")
    express = create(machine({"No": fail("E")}), kind="EXPRESS")
    arn = sfn.start_execution(stateMachineArn=express)["executionArn"]
    with pytest.raises(ClientError) as refused:  # whatever its state (Express runs cannot be described)
        sfn.redrive_execution(executionArn=arn)
    assert refused.value.response["Error"]["Code"] == "ExecutionNotRedrivable"
