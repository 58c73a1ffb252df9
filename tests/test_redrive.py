"""`python -m ops redrive` on the image workflow's executions: an aborted one goes on from the
state it was in (what succeeded is not run again); one that ended in its Fail state is skipped,
saying why; a dry run changes nothing. (A backfill's redrive: tests/test_backfill.py.)"""

from __future__ import annotations

import json
import random
import time
import uuid

import boto3
from PIL import Image

from tests import images as pictures
from tests.test_backfill import run_ops
from tests.test_workflow import exists


def big_noise_jpeg() -> bytes:
    """A photo whose PNG takes seconds to write (noise does not compress)."""
    generator = random.Random(uuid.uuid4().int)
    width, height = 2400, 1600
    image = Image.frombytes("RGB", (width, height), generator.randbytes(width * height * 3))
    return pictures.jpeg_bytes(image, quality=85)


def events(execution_arn: str) -> list[dict]:
    pages = boto3.client("stepfunctions").get_paginator("get_execution_history").paginate(executionArn=execution_arn)
    return [event for page in pages for event in page["events"]]


def entered(history: list[dict], state: str) -> int:
    return sum(1 for e in history if (e.get("stateEnteredEventDetails") or {}).get("name") == state)


def test_an_aborted_execution_goes_on_from_the_state_it_was_in(stack, pipeline, s3, capsys):
    sfn = boto3.client("stepfunctions")
    key = f"{pipeline.upload_prefix}redrive-{uuid.uuid4().hex[:8]}/big.jpg"
    s3.put_object(Bucket=pipeline.upload_bucket, Key=key, Body=big_noise_jpeg())
    deadline = time.monotonic() + 120
    arn = None
    while time.monotonic() < deadline:  # wait until the photo is being converted, then stop it
        [outcome] = pipeline.wait({key: "big.jpg"}, timeout=0)
        arn = outcome.execution_arn
        if arn and entered(events(arn), "ProcessFile"):
            break
        time.sleep(0.1)
    assert arn, "no execution started"
    sfn.stop_execution(executionArn=arn, error="Operator", cause="stopped to test redrive")
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
    assert exists(s3, pipeline.upload_bucket, key)  # nothing was finished: the upload is kept

    code, lines = run_ops(capsys, "redrive", "--execution", arn)
    assert code == 0, lines
    name = arn.rsplit(":", 1)[-1]
    assert lines[0] == f"redriven      workflow {name}  from ProcessFile"
    assert lines[-1] == "redriven 1 of 1: 1 succeeded, 0 failed again, 0 skipped"
    described = sfn.describe_execution(executionArn=arn)
    assert (described["status"], described["redriveCount"], described["name"]) == ("SUCCEEDED", 1, name)
    history = events(arn)
    # Checked and found unique once; the conversion went on; the rest ran after it, once.
    assert [entered(history, s) for s in ("GetFileType", "CheckForDuplicate", "ProcessFile")] == [1, 1, 2]
    assert [entered(history, s) for s in ("WriteToDynamoDb", "DeleteSourceFile")] == [1, 1]
    assert not exists(s3, pipeline.upload_bucket, key)
    outputs = json.loads(described["output"])["results"]["outputs"]
    assert all(exists(s3, stack.outputs["DestinationBucketName"], o["key"]) for o in outputs.values())


def test_an_execution_that_ended_in_its_fail_state_is_skipped_and_a_dry_run_redrives_nothing(stack, pipeline, capsys):
    sfn = boto3.client("stepfunctions")
    key = f"{pipeline.upload_prefix}redrive-{uuid.uuid4().hex[:8]}/gone.jpg"
    state = {"s3": {"bucket": {"name": pipeline.upload_bucket}, "object": {"key": key}}}
    arn = sfn.start_execution(stateMachineArn=pipeline.state_machine_arn, input=json.dumps(state))["executionArn"]
    [outcome] = pipeline.wait({key: "gone.jpg"}, timeout=60)
    assert outcome.status == "FAILED"  # SourceObjectMissing, caught, then QuitMain
    name = arn.rsplit(":", 1)[-1]

    code, lines = run_ops(capsys, "redrive", "--since", "15m", "--dry-run")
    assert code == 0, lines
    [at] = [number for number, line in enumerate(lines) if name in line]
    assert lines[at] == f"skipped       workflow {name}"
    assert lines[at + 1] == "    ended in its Fail state QuitMain: a redrive fails there again"
    assert lines[-1].startswith("dry run: ") and lines[-1].endswith(" skipped")
    assert sfn.describe_execution(executionArn=arn)["redriveCount"] == 0

    code, lines = run_ops(capsys, "redrive", "--execution", arn)
    assert (code, lines[-1]) == (0, "redriven 0 of 1: 0 succeeded, 0 failed again, 1 skipped")

    done = next(
        e
        for e in sfn.list_executions(stateMachineArn=pipeline.state_machine_arn, statusFilter="SUCCEEDED")["executions"]
    )
    code, lines = run_ops(capsys, "redrive", "--execution", done["executionArn"])
    assert code == 0 and lines[1] == "    Execution is SUCCEEDED and cannot be redriven"
    code, lines = run_ops(capsys, "redrive", "--execution", arn + "-typo")  # named, and not there: not 0
    assert code == 1 and "DescribeExecution got ExecutionDoesNotExist" in " ".join(lines), lines

    code, lines = run_ops(capsys, "redrive", "--since", "last tuesday")
    assert code == 2 and lines[0].startswith("redrive: --since takes 30m, 6h, 3d or an ISO date")
