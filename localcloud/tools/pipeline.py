"""Drives the deployed workflow like a user would, with boto3 against the local cloud:
upload files to the upload bucket, find the execution each upload started, wait for it and
summarise it (status, the states it went through, what it wrote)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from handlers.core import renditions
from handlers.core.keys import relative_key
from localcloud.clients import aws_client
from localcloud.services.stepfunctions.express import StepFunctionsView

from . import cost
from .results import FAILED, RUNNING, Result, result_of

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
CLOCK_SKEW = timedelta(minutes=5)  # this machine's clock against the service's


@dataclass
class Outcome:
    file: str
    key: str
    status: str = "NOT_STARTED"
    result: Result = field(default_factory=lambda: Result(FAILED, "no execution started for this upload"))
    path: list[str] = field(default_factory=list)
    path_summary: str = ""
    outputs: list[dict[str, Any]] = field(default_factory=list)
    photo_id: str | None = None
    user_id: str | None = None  # with photo_id, the key of the photo's item
    error: str | None = None
    seconds: float | None = None
    started: str | None = None
    execution_arn: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, with the result spelled out: `result` (processed / rejected / duplicate /
        failed), `reason` (why, or of which upload) and `summary` (both in one phrase)."""
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "result"}
        return fields | self.result.to_dict()


class ExecutionKeys:
    """The uploaded key each execution works on, read once per execution (an execution's
    input never changes, and ListExecutions does not return it)."""

    def __init__(self, sfn: Any) -> None:
        self.sfn = sfn
        self._keys: dict[str, str | None] = {}

    def of(self, execution_arn: str) -> str | None:
        if execution_arn not in self._keys:
            described = self.sfn.describe_execution(executionArn=execution_arn)
            state = json.loads(described.get("input") or "{}")
            self._keys[execution_arn] = state.get("s3", {}).get("object", {}).get("key")
        return self._keys[execution_arn]


class Pipeline:
    def __init__(self, cloud_env: dict[str, str], outputs: dict[str, str]) -> None:
        # Standard executions through the API, Express ones from their log group (services/stepfunctions/express.py)
        self.s3, self.sfn = aws_client(cloud_env, "s3"), StepFunctionsView(cloud_env)
        self.keys = ExecutionKeys(self.sfn)
        self.shapes: dict[str, cost.ExecutionShape] = {}  # execution ARN -> what its history says it costs
        self.upload_bucket = outputs["UploadBucketName"]
        self.upload_prefix = outputs["UploadPrefix"]
        self.staging_prefix = outputs.get("StagingPrefix", "")
        self.state_machine_arn = outputs["ImageWorkflowArn"]

    @property
    def workflow_type(self) -> str:
        """STANDARD or EXPRESS, as deployed (WORKFLOW_TYPE)."""
        if not hasattr(self, "_workflow_type"):
            described = self.sfn.describe_state_machine(stateMachineArn=self.state_machine_arn)
            self._workflow_type: str = described.get("type", "STANDARD")
        return self._workflow_type

    def upload(self, path: Path, name: str | None = None, user: str = "demo") -> str:
        """Uploads a file as `<upload prefix><user>/<name>` (its own name by default)."""
        key = f"{self.upload_prefix}{user}/{name or path.name}"
        self.s3.upload_file(str(path), self.upload_bucket, key)
        return key

    def executions_by_key(self, since: datetime | None = None) -> dict[str | None, list[dict[str, Any]]]:
        """Every execution by the key it works on; with `since`, the listing (newest first)
        stops at older ones: on a deployed stage with a long history, a wait reads only what
        it needs."""
        found: dict[str | None, list[dict[str, Any]]] = {}  # None: an execution with no upload's key
        pages = self.sfn.get_paginator("list_executions").paginate(stateMachineArn=self.state_machine_arn)
        for page in pages:
            for execution in page["executions"]:
                found.setdefault(self.keys.of(execution["executionArn"]), []).append(execution)
            if since and page["executions"] and page["executions"][-1]["startDate"] < since:
                break
        return found

    def wait(
        self,
        uploads: dict[str, str],
        timeout: float = 120,
        progress: Callable[[Outcome, int, int], None] | None = None,
        since: datetime | None = None,
    ) -> list[Outcome]:
        """Waits until the execution of every uploaded key (key -> file) has ended, or the
        timeout; looks at least once (timeout 0: how things stand now). `since`: when the
        uploads were made (executions that started well before are not read)."""
        since = since - CLOCK_SKEW if since else None
        outcomes = {key: Outcome(file=file, key=key) for key, file in uploads.items()}
        done: set[str] = set()
        deadline = time.monotonic() + timeout
        while True:
            for key, executions in self.executions_by_key(since).items():
                if key not in outcomes or key in done:
                    continue
                latest = max(executions, key=lambda e: e["startDate"])
                outcome = outcomes[key]
                outcome.status, outcome.execution_arn = latest["status"], latest["executionArn"]
                outcome.started = latest["startDate"].isoformat()
                if latest["status"] not in TERMINAL:
                    outcome.result = Result(RUNNING)
                    continue
                self._summarise(outcome, self.sfn.describe_execution(executionArn=latest["executionArn"]))
                done.add(key)
                if progress:
                    progress(outcome, len(done), len(outcomes))
            if len(done) == len(outcomes) or time.monotonic() >= deadline:
                return list(outcomes.values())
            time.sleep(0.2)

    def waiting_uploads(self) -> list[str]:
        """Keys under the upload prefix still in the bucket: not taken up yet, in progress,
        or kept because their run failed (the workflow deletes what it has finished with)."""
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.upload_bucket, Prefix=self.upload_prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def every_upload(
        self,
        timeout: float = 0,
        progress: Callable[[Outcome, int, int], None] | None = None,
        user: str | None = None,
        since: datetime | None = None,
    ) -> list[Outcome]:
        """Every upload the stage has seen (an execution, or still waiting in the bucket),
        after waiting up to `timeout` for all of them to end; oldest first. Each is named
        `<user>/<file>` (a backfill's staged copy by the upload it stands for). `user`: only
        that user's folder; `since`: only executions started since then (and uploads waiting)."""
        keys = [key for key in self.executions_by_key(since - CLOCK_SKEW if since else None) if key]
        keys += self.waiting_uploads()
        uploads = {key: relative_key(key, self.upload_prefix, self.staging_prefix) for key in dict.fromkeys(keys)}
        if user is not None:
            uploads = {key: name for key, name in uploads.items() if name.partition("/")[0] == user}
        outcomes = self.wait(uploads, timeout=timeout, progress=progress, since=since)
        if since is not None:
            outcomes = [o for o in outcomes if o.started is None or datetime.fromisoformat(o.started) >= since]
        return sorted(outcomes, key=lambda o: (o.started is None, o.started or "", o.key))

    def _summarise(self, outcome: Outcome, execution: Mapping[str, Any]) -> None:
        outcome.seconds = (execution["stopDate"] - execution["startDate"]).total_seconds()
        outcome.path, outcome.path_summary = self.states_entered(execution["executionArn"])
        outcome.result = result_of(execution)
        if execution["status"] == "SUCCEEDED":
            state = json.loads(execution["output"])
            results = state.get("results", {})
            outcome.photo_id = (results.get("uniqueness") or {}).get("contentHash")
            outcome.user_id = state.get("userId")
            # The article's outputs and, beside the thumbnail, the stage's renditions (RENDITIONS).
            outcome.outputs = [
                {"kind": kind, "bucket": o["bucket"], "key": o["key"], "bytes": o.get("bytes")}
                for kind, o in renditions.written(results.get("outputs", {}))
            ]
        else:
            outcome.error = f"{execution.get('error', '')}: {execution.get('cause', '')}".strip(": ")

    def states_entered(self, execution_arn: str) -> tuple[list[str], str]:
        """Every state entered, in order, and a summary with each Parallel state's branches
        folded into it: `ProcessFile(CopyToDestination | ResizeImage | MakeThumbnail)`."""
        events = self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        self.shapes[execution_arn] = cost.shape(events)
        entered: list[str] = []
        summary: list[str] = []
        branches: list[str] = []
        depth = 0  # how many Parallel states we are inside
        for event in events:
            if event["type"] == "ParallelStateExited":
                depth -= 1
                if depth == 0:
                    summary[-1] += f"({' | '.join(branches)})"
                    branches = []
                continue
            details = event.get("stateEnteredEventDetails")
            if not details:
                continue
            entered.append(details["name"])
            (branches if depth else summary).append(details["name"])
            if event["type"] == "ParallelStateEntered":
                depth += 1
        return entered, " > ".join(summary)


def run(pipeline: Pipeline, files: Iterable[Path], user: str = "demo", **wait_options: Any) -> list[Outcome]:
    uploads = {pipeline.upload(path, user=user): path.name for path in files}
    return pipeline.wait(uploads, **wait_options)
