"""What an execution's result means to the user who uploaded the photo: processed, rejected
(and why), duplicate (and of which upload), failed (and with which error), or still running.

One place derives it from the execution as the Step Functions API describes it, so the
command line (`demo`, `run`, `run --json`) and the console say the same thing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

RUNNING = "running"
PROCESSED = "processed"
REJECTED = "rejected"
DUPLICATE = "duplicate"
FAILED = "failed"


@dataclass(frozen=True)
class Result:
    kind: str  # one of the constants above
    detail: str | None = None  # the rejection reason, the duplicated upload's key, the error

    def __str__(self) -> str:
        if not self.detail:
            return self.kind
        return f"duplicate of {self.detail}" if self.kind == DUPLICATE else f"{self.kind}: {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return {"result": self.kind, "reason": self.detail, "summary": str(self)}


def result_of(execution: dict[str, Any]) -> Result:
    """From a DescribeExecution response (status, output, error, cause)."""
    status = execution.get("status")
    if status == "RUNNING":
        return Result(RUNNING)
    if status != "SUCCEEDED":
        return Result(FAILED, _error_text(execution.get("error"), execution.get("cause")))
    state = _json(execution.get("output"))
    results = state.get("results") or {}
    file_type = results.get("fileType") or {}
    if file_type.get("accepted") is False:
        return Result(REJECTED, file_type.get("reason") or "not accepted")
    uniqueness = results.get("uniqueness") or {}
    if uniqueness.get("duplicate"):
        return Result(DUPLICATE, uniqueness.get("ofKey") or uniqueness.get("of"))
    error = state.get("error") or {}
    if error.get("Error") == "DuplicatePhoto":  # the same photo was recorded by a concurrent run
        return Result(DUPLICATE, uniqueness.get("contentHash"))
    return Result(PROCESSED)


def _error_text(error: str | None, cause: str | None) -> str:
    """`Error: message`, with the message taken out of a Lambda error's JSON cause."""
    message = cause or ""
    parsed = _json(cause)
    if parsed.get("errorMessage"):
        message = parsed["errorMessage"]
    return ": ".join(part for part in (error, message.strip()) if part) or "unknown error"


def _json(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
