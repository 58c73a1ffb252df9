"""Where an upload is (GET /uploads/{id}): waiting, processing, processed (with the photo's id),
rejected (why), duplicate (of which of the user's own photos) or failed.

An upload's id is the unique part of its key (`uploads/<user>/<id>-<name>`, POST /upload's
answer gives it). While the upload is in the upload bucket, its workflow executions say where it
is: their names follow from the object's version (keys.execution_name), so each is read by name
(DescribeExecution), never looked for in a listing. Once the workflow deletes the upload
(processed, rejected, or an exact copy of the user's own photo), DeleteSourceFile first records
the outcome in the upload status table, kept UPLOAD_STATUS_DAYS days (TTL). Every read is of
the caller's own folder and partition: another user's upload id is a missing one.

On an EXPRESS stage executions cannot be described, so an upload still in the bucket is
`waiting` until its outcome is recorded.
"""

from __future__ import annotations

import json
import posixpath
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from . import aws, config, keys
from .workflow import SourceObject

WAITING, PROCESSING, PROCESSED, REJECTED, DUPLICATE, FAILED = (
    "waiting",
    "processing",
    "processed",
    "rejected",
    "duplicate",
    "failed",
)
USER, UPLOAD = "userId", "uploadId"  # the status table's keys
EXPIRES_AT = "expiresAt"  # its TimeToLiveSpecification attribute
MAX_ATTEMPTS = keys.MAX_ATTEMPT
_ID = re.compile(r"^[0-9a-f]{32}$")
_ID_IN_NAME = re.compile(r"^([0-9a-f]{32})-")


class UploadNotFound(LookupError):
    """The user has no upload of that id (another user's is the same: a missing one)."""


def upload_id_of(key: str) -> str | None:
    """The id of an upload key that POST /upload made (`uploads/<user>/<id>-<name>`)."""
    match = _ID_IN_NAME.match(posixpath.basename(key))
    return match.group(1) if match else None


def outcome(state: dict[str, Any]) -> dict[str, Any]:
    """What a finished run's state says about its upload (the run's output, or the state
    DeleteSourceFile gets)."""
    results = state.get("results") or {}
    file_type = results.get("fileType") or {}
    if file_type and not file_type.get("accepted"):
        return {"status": REJECTED, "reason": file_type.get("reason")}
    checked = results.get("uniqueness") or {}
    if checked.get("duplicate"):
        if checked.get("owner") == "self":
            return {"status": DUPLICATE, "duplicateOf": checked.get("of")}
        return {"status": REJECTED, "reason": "duplicate-of-another-users-photo"}
    return {"status": PROCESSED, "photoId": checked.get("contentHash")}


def record(state: dict[str, Any], now: datetime | None = None) -> bool:
    """Records a run's outcome before DeleteSourceFile deletes its upload (only uploads that
    POST /upload named: a backfill's staged copy has no upload id)."""
    source = SourceObject.from_state(state)
    upload_id = upload_id_of(source.key)
    if not source.key.startswith(config.upload_prefix()) or upload_id is None:
        return False
    now = now or datetime.now(UTC)
    expires = int((now + timedelta(days=config.upload_status_days())).timestamp())
    item = {USER: source.user_id, UPLOAD: upload_id, "finishedAt": now.isoformat(timespec="seconds")}
    item |= {name: value for name, value in outcome(state).items() if value is not None}
    aws.put_item(config.upload_status_table(), item | {EXPIRES_AT: expires})
    return True


def status(user: str, upload_id: str) -> dict[str, Any] | None:
    """Where the user's upload is; None if the user has no upload of that id."""
    if not _ID.match(upload_id):
        return None
    recorded = aws.get_item(config.upload_status_table(), {USER: user, UPLOAD: upload_id})
    if recorded:
        return {k: v for k, v in recorded.items() if k in ("status", "photoId", "reason", "duplicateOf")}
    bucket = config.upload_bucket()
    found = aws.first_keys(bucket, f"{config.upload_prefix()}{user}/{upload_id}-", 1)
    stored = aws.head(bucket, found[0]) if found else None
    if stored is None:
        return None
    version = keys.object_version(stored.last_modified, stored.etag)
    latest = None
    for attempt in range(1, MAX_ATTEMPTS + 1):
        name = keys.execution_name(bucket, stored.key, version, attempt)
        execution = aws.find_execution(config.state_machine_arn(), name)
        if execution is None:
            break
        latest = execution
    if latest is None:
        return {"status": WAITING}
    if latest["status"] == "RUNNING":
        return {"status": PROCESSING}
    if latest["status"] == "SUCCEEDED":  # ended keeping the upload: a duplicate kept by the policy
        return outcome(json.loads(latest.get("output") or "{}"))
    return {"status": FAILED, "reason": latest.get("error") or latest["status"].lower()}
