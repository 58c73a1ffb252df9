"""Following a stage's workflow executions with the Step Functions API only: the execution an
upload started (found by its name, which starts with a readable part of the key), waiting for
executions to start and to end, what each one's result means, and, for one that failed, the
state and function that failed and the error they got (read from its history); for an
operator, the stage's executions that did not succeed since a moment, and where each stopped
(redrive)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from handlers.core.keys import execution_name_prefix
from localcloud.tools.results import Result, result_of

from .stage import Stage

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions.literals import ExecutionStatusType
    from mypy_boto3_stepfunctions.type_defs import (
        DescribeExecutionOutputTypeDef,
        ExecutionListItemTypeDef,
        HistoryEventTypeDef,
    )

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
POLL_SECONDS = 1.0
CLOCK_SKEW = timedelta(minutes=5)  # this machine's clock against the service's, for `since`
_FAILED_EVENTS = ("LambdaFunctionFailed", "LambdaFunctionTimedOut", "TaskFailed", "TaskTimedOut")
_DENIED = re.compile(r"(assumed-role/(?P<role>[^/\s]+)/\S*)? ?is not authorized to perform: (?P<action>\S+)")


@dataclass
class Execution:
    key: str
    arn: str
    name: str
    status: str
    started: datetime
    described: DescribeExecutionOutputTypeDef

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL

    @property
    def seconds(self) -> float | None:
        stopped = self.described.get("stopDate")
        return (stopped - self.started).total_seconds() if stopped else None

    @property
    def result(self) -> Result:
        return result_of(self.described)

    @property
    def output(self) -> dict[str, Any]:
        output: dict[str, Any] = json.loads(self.described.get("output") or "{}")
        return output


@dataclass(frozen=True)
class Failure:
    """Where an execution failed: the state, the function it ran (if any) and its error."""

    state: str | None
    function: str | None
    error: str
    cause: str

    @property
    def missing_permission(self) -> tuple[str | None, str] | None:
        """(role, action) when the error is an IAM denial, as AWS words it."""
        match = _DENIED.search(self.cause)
        return (match["role"], match["action"]) if match else None

    def __str__(self) -> str:
        where = f"state {self.state}" if self.state else "an unknown state"
        if self.function:
            where += f" (function {self.function})"
        text = f"{where} failed with {self.error}: {_message(self.cause)}"
        denied = self.missing_permission
        if denied:
            role, action = denied
            text += f" - the role {role or 'it runs with'} lacks {action}"
        return text


class Executions:
    """The executions that uploads of given keys started on the stage's state machine since
    `since` (ListExecutions returns the newest first: the listing stops at older ones)."""

    def __init__(self, stage: Stage, since: datetime) -> None:
        self.stage, self.since = stage, since
        self.sfn = stage.client("stepfunctions")
        self.machine = stage.output("ImageWorkflowArn")
        self._key_of: dict[str, str | None] = {}  # execution ARN -> the key in its input
        self._fresh: dict[str, DescribeExecutionOutputTypeDef] = {}  # descriptions read by this refresh
        self._latest: dict[str, Execution] = {}

    def refresh(self, keys: Iterable[str]) -> dict[str, Execution]:
        """The latest execution of each of `keys` that has one, described."""
        wanted = {key: execution_name_prefix(key) for key in keys}
        found: dict[str, ExecutionListItemTypeDef] = {}
        self._fresh.clear()
        pages = self.sfn.get_paginator("list_executions").paginate(stateMachineArn=self.machine)
        for page in pages:
            for listed in page["executions"]:
                for key, prefix in wanted.items():
                    if not listed["name"].startswith(prefix) or self._input_key(listed["executionArn"]) != key:
                        continue
                    if key not in found or listed["startDate"] > found[key]["startDate"]:
                        found[key] = listed
            if page["executions"] and page["executions"][-1]["startDate"] < self.since:
                break
        for key, listed in found.items():
            known = self._latest.get(key)
            if known and known.arn == listed["executionArn"] and known.ended:
                continue
            described = self._fresh.get(listed["executionArn"]) or self.sfn.describe_execution(
                executionArn=listed["executionArn"]
            )
            self._latest[key] = Execution(
                key, listed["executionArn"], listed["name"], described["status"], described["startDate"], described
            )
        return {key: self._latest[key] for key in wanted if key in self._latest}

    def wait(
        self,
        keys: Iterable[str],
        until: Callable[[Execution], bool],
        timeout: float,
        on_change: Callable[[Execution], None] | None = None,
    ) -> dict[str, Execution]:
        """Polls until every key has an execution for which `until` holds, or the timeout;
        `on_change` hears of each one when it first holds."""
        keys = list(keys)
        done: set[str] = set()
        deadline = time.monotonic() + timeout
        while True:
            current = self.refresh(keys)
            for key, execution in current.items():
                if key not in done and until(execution):
                    done.add(key)
                    if on_change:
                        on_change(execution)
            if len(done) == len(keys) or time.monotonic() >= deadline:
                return current
            time.sleep(POLL_SECONDS)

    def wait_started(self, keys: Iterable[str], timeout: float, **options: Any) -> dict[str, Execution]:
        return self.wait(keys, lambda execution: True, timeout, **options)

    def wait_ended(self, keys: Iterable[str], timeout: float, **options: Any) -> dict[str, Execution]:
        return self.wait(keys, lambda execution: execution.ended, timeout, **options)

    def failure(self, execution: Execution) -> Failure:
        """The last failed Task of the execution (the attempt that made it give up), from its
        history; the execution's own error when no Task failed (a Fail state)."""
        pages = self.sfn.get_paginator("get_execution_history").paginate(executionArn=execution.arn)
        events = {event["id"]: event for page in pages for event in page["events"]}
        failed = [event for event in events.values() if event["type"] in _FAILED_EVENTS]
        if not failed:
            entered = [e for e in events.values() if "stateEnteredEventDetails" in e]
            state = entered[-1]["stateEnteredEventDetails"]["name"] if entered else None
            return Failure(state, None, execution.described.get("error") or "", execution.described.get("cause") or "")
        last = max(failed, key=lambda event: event["id"])
        details = next(
            value for name, value in last.items() if name.endswith("EventDetails") and isinstance(value, dict)
        )
        state, function = None, details.get("resource")
        event: HistoryEventTypeDef | None = last
        while event and state is None:  # back along the chain to the state that ran the Task
            if "lambdaFunctionScheduledEventDetails" in event:
                function = event["lambdaFunctionScheduledEventDetails"].get("resource")
            if "stateEnteredEventDetails" in event:
                state = event["stateEnteredEventDetails"]["name"]
            event = events.get(event.get("previousEventId", 0))
        return Failure(state, _function_name(function), details.get("error", ""), details.get("cause", ""))

    def _input_key(self, execution_arn: str) -> str | None:
        if execution_arn not in self._key_of:
            described = self.sfn.describe_execution(executionArn=execution_arn)
            self._fresh[execution_arn] = described
            state = json.loads(described.get("input") or "{}")
            self._key_of[execution_arn] = state.get("s3", {}).get("object", {}).get("key")
        return self._key_of[execution_arn]


def _function_name(resource: str | None) -> str | None:
    """`image-converter-dev-resizeImage` from a function ARN (or a Task's resource)."""
    if not resource:
        return None
    if ":function:" in resource:
        return resource.split(":function:", 1)[1].split(":", 1)[0]
    return resource


def _message(cause: str) -> str:
    """A Lambda error's message out of its JSON cause; any other cause as it is."""
    try:
        parsed = json.loads(cause)
    except ValueError:
        return cause.strip()
    return str(parsed.get("errorMessage") or cause).strip() if isinstance(parsed, dict) else cause.strip()


# -- an operator's view: what did not succeed, and where it stopped -------------------------------
# Outputs naming the stage's state machines, and what an operator calls them.
STATE_MACHINES = {"workflow": "ImageWorkflowArn", "backfill": "BackfillWorkflowArn"}
UNSUCCESSFUL: tuple[ExecutionStatusType, ...] = ("FAILED", "TIMED_OUT", "ABORTED")
_RELATIVE = re.compile(r"^(\d+)\s*([mhd])$")


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`30m`, `6h`, `3d` (ago) or an ISO date/time (UTC unless it says otherwise)."""
    now = now or datetime.now(UTC)
    relative = _RELATIVE.match(text.strip().lower())
    if relative:
        units = {"m": "minutes", "h": "hours", "d": "days"}
        return now - timedelta(**{units[relative.group(2)]: int(relative.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since takes 30m, 6h, 3d or an ISO date such as 2024-05-01T10:00, got {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def state_machines(stage: Stage) -> dict[str, str]:
    """The stage's state machines (name -> ARN) that its stack has."""
    return {name: stage.outputs[output] for name, output in STATE_MACHINES.items() if output in stage.outputs}


def unsuccessful(stage: Stage, machine_arn: str, since: datetime) -> Iterator[ExecutionListItemTypeDef]:
    """Failed, timed-out and aborted executions started since `since`, by status, newest first
    within each (ListExecutions lists newest first: the listing stops at the first older one)."""
    sfn = stage.client("stepfunctions")
    for status in UNSUCCESSFUL:
        pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=machine_arn, statusFilter=status)
        for execution in (execution for page in pages for execution in page["executions"]):
            if execution["startDate"] < since:
                break
            yield execution


def stopped_at(stage: Stage, execution_arn: str) -> tuple[str | None, str | None, str | None]:
    """Where the execution stopped: (its top-level state, the last state entered at any depth,
    that state's type), from its history and its state machine's definition."""
    sfn = stage.client("stepfunctions")
    definition = json.loads(sfn.describe_state_machine_for_execution(executionArn=execution_arn)["definition"])
    top = set(definition.get("States", {}))
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
    entered = [
        (event["stateEnteredEventDetails"]["name"], event["type"].removesuffix("StateEntered"))
        for page in pages
        for event in page["events"]
        if event.get("stateEnteredEventDetails")
    ]
    if not entered:
        return None, None, None
    last, kind = entered[-1]
    outer = next((name for name, _ in reversed(entered) if name in top), None)
    return outer, last, kind


def output_of(described: dict[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(described.get("output") or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
