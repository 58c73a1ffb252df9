"""Drives the deployed workflow like a user would, with boto3 against the local cloud:
upload files to the upload bucket, find the execution each upload started, wait for it and
summarise it (status, the states it went through, what it wrote)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .clients import aws_client

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


@dataclass
class Outcome:
    file: str
    key: str
    status: str = "NOT_STARTED"
    path: list[str] = field(default_factory=list)
    path_summary: str = ""
    outputs: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    seconds: float | None = None
    execution_arn: str | None = None

    @property
    def result(self) -> str:
        """processed, rejected, duplicate or failed: what the design says happened."""
        if self.status != "SUCCEEDED":
            return "failed"
        if "NotifyRejected" in self.path:
            return "rejected"
        if "NotifyDuplicate" in self.path:
            return "duplicate"
        return "processed"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"result": self.result}


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
        self.s3, self.sfn = aws_client(cloud_env, "s3"), aws_client(cloud_env, "stepfunctions")
        self.keys = ExecutionKeys(self.sfn)
        self.upload_bucket = outputs["UploadBucketName"]
        self.upload_prefix = outputs["UploadPrefix"]
        self.state_machine_arn = outputs["ImageWorkflowArn"]

    def upload(self, path: Path, name: str | None = None, user: str = "demo") -> str:
        """Uploads a file as `<upload prefix><user>/<name>` (its own name by default)."""
        key = f"{self.upload_prefix}{user}/{name or path.name}"
        self.s3.upload_file(str(path), self.upload_bucket, key)
        return key

    def executions_by_key(self) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        pages = self.sfn.get_paginator("list_executions").paginate(stateMachineArn=self.state_machine_arn)
        for page in pages:
            for execution in page["executions"]:
                found.setdefault(self.keys.of(execution["executionArn"]), []).append(execution)
        return found

    def wait(
        self,
        uploads: dict[str, str],
        timeout: float = 120,
        progress: Callable[[Outcome, int, int], None] | None = None,
    ) -> list[Outcome]:
        """Waits until the execution of every uploaded key (key -> file) has ended."""
        outcomes = {key: Outcome(file=file, key=key) for key, file in uploads.items()}
        done: set[str] = set()
        deadline = time.monotonic() + timeout
        while len(done) < len(outcomes) and time.monotonic() < deadline:
            for key, executions in self.executions_by_key().items():
                if key not in outcomes or key in done:
                    continue
                latest = max(executions, key=lambda e: e["startDate"])
                outcome = outcomes[key]
                outcome.status, outcome.execution_arn = latest["status"], latest["executionArn"]
                if latest["status"] in TERMINAL:
                    self._summarise(outcome, self.sfn.describe_execution(executionArn=latest["executionArn"]))
                    done.add(key)
                    if progress:
                        progress(outcome, len(done), len(outcomes))
            if len(done) < len(outcomes):
                time.sleep(0.2)
        return list(outcomes.values())

    def _summarise(self, outcome: Outcome, execution: dict[str, Any]) -> None:
        outcome.seconds = (execution["stopDate"] - execution["startDate"]).total_seconds()
        outcome.path, outcome.path_summary = self.states_entered(execution["executionArn"])
        if execution["status"] == "SUCCEEDED":
            results = json.loads(execution["output"]).get("results", {})
            outcome.outputs = [
                {"bucket": o["bucket"], "key": o["key"], "bytes": o.get("bytes")}
                for o in results.get("outputs", {}).values()
            ]
        else:
            outcome.error = f"{execution.get('error', '')}: {execution.get('cause', '')}".strip(": ")

    def states_entered(self, execution_arn: str) -> tuple[list[str], str]:
        """Every state entered, in order, and a summary with each Parallel state's branches
        folded into it: `ProcessFile(CopyToDestination | ResizeImage | MakeThumbnail)`."""
        events = self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
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
