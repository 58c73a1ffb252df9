"""Express workflows' executions, read where AWS keeps them: in CloudWatch Logs.

Step Functions keeps no history of an Express execution: ListExecutions, DescribeExecution
and GetExecutionHistory refuse it (the local cloud refuses too, see
adapter.py). What there is, is the state machine's log group, with one
record per history event at logging level ALL. `StepFunctionsView` is the Step Functions
client as the command line and the console use it (list, describe, history), answering for
an Express state machine from its log group instead, in the API's own shapes, so the same
code reads both kinds. An Express execution appears once its log has been delivered (the
local cloud delivers it when the execution ends).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from localcloud.clients import aws_client

_ENDED = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionAborted": "ABORTED",
}


def details_key(event_type: str) -> str:
    """Where GetExecutionHistory puts an event's details (`stateEnteredEventDetails`, ...)."""
    if event_type.endswith("StateEntered"):
        return "stateEnteredEventDetails"
    if event_type.endswith("StateExited"):
        return "stateExitedEventDetails"
    return event_type[0].lower() + event_type[1:] + "EventDetails"


def history_event(record: dict[str, Any]) -> dict[str, Any]:
    """A logged record back in GetExecutionHistory's shape."""
    event: dict[str, Any] = {
        "id": int(record["id"]),
        "type": record["type"],
        "timestamp": datetime.fromtimestamp(int(record["event_timestamp"]) / 1000, tz=UTC),
        "previousEventId": int(record.get("previous_event_id") or 0),
    }
    if record.get("details"):
        event[details_key(record["type"])] = record["details"]
    return event


class LoggedExecutions:
    """The executions one log group holds, read incrementally (a log stream per execution)."""

    def __init__(self, logs: Any, group: str) -> None:
        self.logs, self.group = logs, group
        self.events: dict[str, list[dict[str, Any]]] = {}  # execution ARN -> events
        self._complete: set[str] = set()  # streams whose execution has ended
        self._lock = threading.Lock()

    def refresh(self) -> None:
        with self._lock:
            streams = []
            for page in self.logs.get_paginator("describe_log_streams").paginate(logGroupName=self.group):
                streams += [s["logStreamName"] for s in page["logStreams"]]
            for stream in streams:
                if stream in self._complete:
                    continue
                records = []
                for page in self.logs.get_paginator("filter_log_events").paginate(
                    logGroupName=self.group, logStreamNames=[stream]
                ):
                    records += [json.loads(e["message"]) for e in page["events"]]
                ended = any(record["type"] in _ENDED for record in records)
                for arn in {r["execution_arn"] for r in records}:
                    events = {int(r["id"]): history_event(r) for r in records if r["execution_arn"] == arn}
                    self.events[arn] = [events[i] for i in sorted(events)]
                if ended:
                    self._complete.add(stream)

    def of_machine(self, machine_arn: str) -> list[str]:
        name = machine_arn.split(":")[6]
        return [arn for arn in self.events if arn.split(":")[6] == name]

    def describe(self, arn: str) -> dict[str, Any]:
        events = self.events.get(arn)
        if events is None:
            self.refresh()
            events = self.events.get(arn)
        if not events:
            raise KeyError(f"no logged execution {arn}")
        first, last = events[0], events[-1]
        started = first.get("executionStartedEventDetails") or {}
        described: dict[str, Any] = {
            "executionArn": arn,
            "stateMachineArn": arn.replace(":express:", ":stateMachine:").rsplit(":", 2)[0],
            "name": arn.split(":")[7],
            "status": _ENDED.get(last["type"], "RUNNING"),
            "startDate": first["timestamp"],
            "input": started.get("input"),
        }
        if last["type"] in _ENDED:
            described["stopDate"] = last["timestamp"]
            ended = last.get(details_key(last["type"])) or {}
            for field in ("output", "error", "cause"):
                if ended.get(field) is not None:
                    described[field] = ended[field]
        return described


class _ListPaginator:
    def __init__(self, view: StepFunctionsView) -> None:
        self.view = view

    def paginate(self, stateMachineArn: str, **options: Any) -> Iterator[Mapping[str, Any]]:  # boto3's parameter name
        logged = self.view.logged_for(stateMachineArn)
        if logged is None:
            yield from self.view.sfn.get_paginator("list_executions").paginate(
                stateMachineArn=stateMachineArn, **options
            )
            return
        logged.refresh()
        items = []
        for arn in logged.of_machine(stateMachineArn):
            described = logged.describe(arn)
            items.append({k: described[k] for k in ("executionArn", "stateMachineArn", "name", "status", "startDate")})
            if "stopDate" in described:
                items[-1]["stopDate"] = described["stopDate"]
        yield {"executions": sorted(items, key=lambda i: i["startDate"], reverse=True)}


class StepFunctionsView:
    """The Step Functions client, with Express executions read from their log group. Every
    other call goes to the client as it is."""

    def __init__(self, cloud_env: dict[str, str]) -> None:
        self.sfn = aws_client(cloud_env, "stepfunctions")
        self.logs = aws_client(cloud_env, "logs")
        self._machines: dict[str, LoggedExecutions | None] = {}
        self._lock = threading.Lock()

    def logged_for(self, machine_arn: str) -> LoggedExecutions | None:
        """The log of an Express state machine (None for a Standard one)."""
        with self._lock:
            if machine_arn not in self._machines:
                machine = self.sfn.describe_state_machine(stateMachineArn=machine_arn)
                logged = None
                if machine.get("type") == "EXPRESS":
                    destinations = (machine.get("loggingConfiguration") or {}).get("destinations") or []
                    arns = [(d.get("cloudWatchLogsLogGroup") or {}).get("logGroupArn") for d in destinations]
                    group = next((a.split(":log-group:", 1)[1].removesuffix(":*") for a in arns if a), None)
                    if group is None:
                        raise RuntimeError(f"the Express state machine {machine_arn} logs nowhere: no history to read")
                    logged = LoggedExecutions(self.logs, group)
                self._machines[machine_arn] = logged
            return self._machines[machine_arn]

    def _logged_execution(self, execution_arn: str) -> LoggedExecutions | None:
        if ":express:" not in execution_arn:
            return None
        machine = execution_arn.replace(":express:", ":stateMachine:").rsplit(":", 2)[0]
        return self.logged_for(machine)

    def get_paginator(self, name: str) -> Any:
        # boto3's stubs take only a literal paginator name: any name passes through as to the client.
        paginator: Callable[..., Any] = self.sfn.get_paginator
        return _ListPaginator(self) if name == "list_executions" else paginator(name)

    def describe_execution(self, executionArn: str) -> Mapping[str, Any]:  # boto3's parameter name
        logged = self._logged_execution(executionArn)
        return logged.describe(executionArn) if logged else self.sfn.describe_execution(executionArn=executionArn)

    def get_execution_history(self, executionArn: str, **options: Any) -> Mapping[str, Any]:
        logged = self._logged_execution(executionArn)
        if logged is None:
            return self.sfn.get_execution_history(executionArn=executionArn, **options)
        if executionArn not in logged.events:
            logged.refresh()
        return {"events": list(logged.events.get(executionArn, []))}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sfn, name)
