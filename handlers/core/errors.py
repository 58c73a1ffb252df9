"""Named errors. Lambda reports the class name as `errorType`, which Step Functions uses as
the state's Error: the names here are the ones serverless.yml matches in Retry and Catch."""

from __future__ import annotations


class PhotoWorkflowError(Exception):
    """Base class for errors the workflow names on purpose."""


class ConfigurationError(PhotoWorkflowError):
    """A required setting is missing or invalid."""


class SourceObjectMissing(PhotoWorkflowError):
    """The uploaded object is gone (deleted before the task ran)."""


class InvalidImage(PhotoWorkflowError):
    """The file cannot be processed as a photo; `reason` is a short machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class BackfillItemInvalid(PhotoWorkflowError):
    """A backfill item names no object the backfill can take (no key, or not an original copy)."""


class DuplicatePhoto(PhotoWorkflowError):
    """The same photo (by content hash) is already recorded."""


class UploadRejected(PhotoWorkflowError):
    """An HTTP upload that cannot be accepted; carries the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class QuotaExceeded(UploadRejected):
    """The user has used up today's uploads (answered 429)."""

    def __init__(self, message: str) -> None:
        super().__init__(429, message)


class InvalidRequest(PhotoWorkflowError):
    """A function invoked by hand with an event it cannot take (e.g. the reconciler's options)."""


class ReconcileIncomplete(PhotoWorkflowError):
    """A reconciler run could not handle some uploads (each is tried again by the next run)."""
