"""Executions of a stage's state machines, through the public Step Functions API."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from .stage import Stage

# Outputs naming the stage's state machines, and what an operator calls them.
STATE_MACHINES = {"workflow": "ImageWorkflowArn", "backfill": "BackfillWorkflowArn"}
UNSUCCESSFUL = ("FAILED", "TIMED_OUT", "ABORTED")
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


def unsuccessful(stage: Stage, machine_arn: str, since: datetime) -> Iterator[dict[str, Any]]:
    """Failed, timed-out and aborted executions started since `since`, newest first."""
    sfn = stage.client("stepfunctions")
    for status in UNSUCCESSFUL:
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine_arn, statusFilter=status):
            for execution in page["executions"]:
                if execution["startDate"] >= since:
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
