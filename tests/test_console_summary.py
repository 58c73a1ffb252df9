"""The console's JSON API: what the graph shows for each state (from an execution history),
the result of each execution in the polled list, and DynamoDB's types in what it returns."""

import json
from collections import Counter
from decimal import Decimal

from boto3.dynamodb.types import Binary

from localcloud.tools.console import Console, _json_response, state_summary
from localcloud.tools.pipeline import TERMINAL
from localcloud.tools.results import result_of
from tests import images as pictures


def event(event_id: int, previous: int, kind: str, **details):
    found = {"id": event_id, "previousEventId": previous, "type": kind}
    if details:
        key = {
            "TaskStateEntered": "stateEnteredEventDetails",
            "TaskStateExited": "stateExitedEventDetails",
            "FailStateEntered": "stateEnteredEventDetails",
            "PassStateEntered": "stateEnteredEventDetails",
            "LambdaFunctionFailed": "lambdaFunctionFailedEventDetails",
            "ExecutionFailed": "executionFailedEventDetails",
        }[kind]
        found[key] = details
    return found


HISTORY = [
    event(1, 0, "ExecutionStarted"),
    event(2, 1, "TaskStateEntered", name="Copy", input="{}"),
    event(3, 1, "TaskStateEntered", name="Resize", input="{}"),
    event(4, 2, "LambdaFunctionScheduled"),
    event(5, 3, "LambdaFunctionScheduled"),
    event(6, 5, "LambdaFunctionFailed", error="ClientError", cause="slow down"),
    event(7, 4, "LambdaFunctionFailed", error="ClientError", cause="down"),  # interleaved branches
    event(8, 6, "LambdaFunctionScheduled"),
    event(9, 8, "LambdaFunctionSucceeded"),
    event(10, 9, "TaskStateExited", name="Resize", output='{"ok": true}'),
    event(11, 7, "TaskStateExited", name="Copy", output='{"Error": "ClientError"}'),
    event(12, 11, "PassStateEntered", name="CopyFailed", input="{}"),
    event(13, 12, "FailStateEntered", name="QuitCopy", input="{}"),
    event(14, 13, "ExecutionFailed", error="ClientError", cause="down"),
]


def test_statuses_follow_what_happened_to_each_state():
    states = state_summary(HISTORY, "FAILED")
    assert states["Resize"]["status"] == "retried" and states["Resize"]["attempts"] == 2
    assert states["Resize"]["output"] == {"ok": True}
    assert states["Copy"]["status"] == "caught" and states["Copy"]["error"] == "ClientError"
    assert states["Copy"]["cause"] == "down"  # not the other branch's failure
    assert states["QuitCopy"]["status"] == "failed" and states["QuitCopy"]["error"] == "ClientError"
    assert "NeverReached" not in states


def test_a_state_still_open_is_running_or_failed_by_the_execution_status():
    opened = HISTORY[:4]
    assert state_summary(opened, "RUNNING")["Copy"]["status"] == "running"
    assert state_summary(opened, "TIMED_OUT")["Copy"]["status"] == "failed"


def test_dynamodb_values_keep_their_types_in_json():
    def served(value):
        return json.loads(_json_response(value).get_data())

    item = {"width": Decimal(451), "ratio": Decimal("1.5"), "ok": True, "colourMode": "RGB"}
    assert served(item) == {"width": 451, "ratio": 1.5, "ok": True, "colourMode": "RGB"}
    assert served({"tags": {"b", "a"}, "raw": Binary(b"\x00\x01")}) == {"tags": ["a", "b"], "raw": "AAE="}


class CountingDescribes:
    """The Step Functions client, counting DescribeExecution calls per execution."""

    def __init__(self, client):
        self.client, self.described = client, []

    def describe_execution(self, executionArn):  # boto3's parameter name
        self.described.append(executionArn)
        return self.client.describe_execution(executionArn=executionArn)

    def __getattr__(self, name):
        return getattr(self.client, name)


def test_the_polled_list_gives_each_result_and_describes_an_ended_execution_once(cloud, stack, pipeline, unique):
    photo = f"{pipeline.upload_prefix}summary-{unique}/{unique}.jpg"
    drawing = f"{pipeline.upload_prefix}summary-{unique}/{unique}.png"
    pipeline.s3.put_object(
        Bucket=pipeline.upload_bucket, Key=photo, Body=pictures.jpeg_bytes(pictures.photo("coffee.jpg").rotate(13))
    )
    pipeline.s3.put_object(Bucket=pipeline.upload_bucket, Key=drawing, Body=pictures.png_bytes())
    assert {o.status for o in pipeline.wait({photo: "photo", drawing: "drawing"}, timeout=60)} == {"SUCCEEDED"}
    console = Console(cloud.client_environment())
    counting = CountingDescribes(console.sfn)
    console.described.sfn = counting

    listed = {row["key"]: row for row in console.executions()}
    assert listed[photo]["result"] == {"result": "processed", "reason": None, "summary": "processed"}
    assert listed[drawing]["result"]["summary"] == "rejected: not-a-jpeg"
    for row in listed.values():  # the same result the command line derives
        assert row["result"] == result_of(pipeline.sfn.describe_execution(executionArn=row["arn"])).to_dict()
    ended = {row["arn"] for row in listed.values() if row["status"] in TERMINAL}
    assert ended and max(Counter(counting.described).values()) == 1  # the key and the result from one call

    counting.described.clear()
    again = console.executions()
    assert not set(counting.described) & ended  # polled again: nothing ended is described again
    assert {row["key"]: row["result"] for row in again if row["arn"] in ended} == {
        row["key"]: row["result"] for row in listed.values() if row["arn"] in ended
    }
    rejected = console.executions(result="rejected")
    assert drawing in {row["key"] for row in rejected} and {row["result"]["result"] for row in rejected} == {"rejected"}
    assert photo not in {row["key"] for row in console.executions(status="SUCCEEDED", result="rejected")}


def test_a_lambda_tasks_details_say_what_it_used_here_and_would_take_on_lambda(cloud, stack, pipeline, unique):
    from pathlib import Path

    sample = Path(__file__).resolve().parent.parent / "samples" / "rocket.jpg"
    key = pipeline.upload(sample, name=f"{unique}.jpg", user=f"usage-{unique}")
    [outcome] = pipeline.wait({key: sample.name}, timeout=180)
    assert outcome.result.kind == "processed", outcome.error
    states = cloud.console.execution(outcome.execution_arn)["states"]
    resize = states["ResizeImage"]["usage"]
    assert resize["memoryMb"] == 1769 and 20 < resize["peakMb"] < resize["memoryMb"]
    assert resize["localMs"] > 0 and resize["lambdaMs"] > 0 and resize["billedGbSeconds"] > 0 and resize["usd"] > 0
    copy = states["CopyToDestination"]["usage"]
    assert copy["memoryMb"] == 256
    assert "usage" not in states["CheckFileType"]  # a Choice runs no function
