"""What an execution's result means to the user who uploaded the photo: processed (and, if
flagged, close to which photo), regenerated (a backfill made a recorded photo's outputs again
from its original copy, and updated its record), rejected (and why), duplicate (of which of the user's own uploads, or
of another user's photo, never named), failed (and with which error), or still running.

One place derives it from the execution as the Step Functions API describes it, so the
command line (`demo`, `run`, `run --json`) and the console say the same thing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from handlers.core.workflow import regenerating

RUNNING = "running"
PROCESSED = "processed"
REGENERATED = "regenerated"
REJECTED = "rejected"
DUPLICATE = "duplicate"
FAILED = "failed"
# Every kind, in the order a user's filter offers them (the console and `executions --result`).
KINDS = (PROCESSED, REGENERATED, REJECTED, DUPLICATE, FAILED, RUNNING)


@dataclass(frozen=True)
class Result:
    kind: str  # one of the constants above
    detail: str | None = None  # the rejection reason, what it duplicates or is close to, the error

    def __str__(self) -> str:
        if not self.detail:
            return self.kind
        joined = {DUPLICATE: "duplicate of", REGENERATED: "regenerated from"}
        return f"{joined[self.kind]} {self.detail}" if self.kind in joined else f"{self.kind}: {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return {"result": self.kind, "reason": self.detail, "summary": str(self)}


def result_of(execution: Mapping[str, Any]) -> Result:
    """From a DescribeExecution response (status, output, error, cause)."""
    status = execution.get("status")
    if status == "RUNNING":
        return Result(RUNNING)
    if status != "SUCCEEDED":
        return Result(FAILED, _error_text(execution.get("error"), execution.get("cause")))
    state = json_object(execution.get("output"))
    results = state.get("results") or {}
    file_type = results.get("fileType") or {}
    if file_type.get("accepted") is False:
        return Result(REJECTED, file_type.get("reason") or "not accepted")
    if regenerating(state):  # its uniqueness check found the photo's own record: not a duplicate
        source = str((state.get("backfill") or {}).get("source") or "")  # s3://<destination>/originals/...
        return Result(REGENERATED, source.removeprefix("s3://").partition("/")[2] or None)
    uniqueness = results.get("uniqueness") or {}
    if uniqueness.get("duplicate"):
        return Result(DUPLICATE, _duplicate_detail(uniqueness))
    error = state.get("error") or {}
    if error.get("Error") == "DuplicatePhoto":  # the same photo was recorded by a concurrent run
        return Result(DUPLICATE, uniqueness.get("contentHash"))
    similar = uniqueness.get("similarTo")
    if similar:  # a flagged near duplicate: processed
        named = _photo(similar.get("owner"), similar.get("sourceKey"))
        return Result(PROCESSED, f"similar to {named} ({similar.get('distance')} bits apart)")
    return Result(PROCESSED)


def _duplicate_detail(uniqueness: dict[str, Any]) -> str:
    """`<key>` for an exact copy of the user's own upload; a near one says how near; another
    user's photo is described, not named; a kept upload says so."""
    named = _photo(uniqueness.get("owner"), uniqueness.get("ofKey") or uniqueness.get("of"))
    notes = [f"{uniqueness['distance']} bits apart"] if uniqueness.get("match") == "near" else []
    notes += ["upload kept"] if uniqueness.get("keepUpload") else []
    return f"{named} ({', '.join(notes)})" if notes else named


def _photo(owner: str | None, key: str | None) -> str:
    return "another user's photo" if owner == "other" else key or "an earlier photo"


def _error_text(error: str | None, cause: str | None) -> str:
    """`Error: message`, with the message taken out of a Lambda error's JSON cause."""
    message = cause or ""
    parsed = json_object(cause)
    if parsed.get("errorMessage"):
        message = parsed["errorMessage"]
    return ": ".join(part for part in (error, message.strip()) if part) or "unknown error"


def json_object(text: str | None) -> dict[str, Any]:
    """A JSON document's object, or {} for anything else (no text, not JSON, not an object)."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
