"""HTTP uploads: checks an uploaded body before it reaches the bucket, and hands out
presigned POSTs for files larger than API Gateway and Lambda accept (about 6 MB)."""

from __future__ import annotations

from typing import Any

from . import aws, config, keys
from .errors import UploadRejected

JPEG_MAGIC = b"\xff\xd8\xff"
ACCEPTED_CONTENT_TYPES = {"image/jpeg", "image/jpg", "image/pjpeg", "application/octet-stream"}


def user_id(raw: str | None) -> str:
    try:
        return keys.normalise_user_id(raw)
    except ValueError as error:
        raise UploadRejected(400, str(error)) from None


def store(body: bytes, content_type: str | None, filename: str | None, owner: str) -> dict[str, Any]:
    """Stores a posted photo under a new key; the workflow starts from the S3 event."""
    limit = config.max_upload_bytes()
    if not body:
        raise UploadRejected(400, "the request has no body: post the JPEG bytes")
    if len(body) > limit:
        raise UploadRejected(
            413, f"{len(body)} bytes is over the {limit}-byte limit: ask for a presigned upload (?presign=true)"
        )
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type not in ACCEPTED_CONTENT_TYPES:
        raise UploadRejected(415, f"content type {media_type or 'missing'!r} is not accepted: send image/jpeg")
    if not body.startswith(JPEG_MAGIC):
        raise UploadRejected(415, "the body is not a JPEG file")
    bucket, prefix = config.upload_bucket(), config.upload_prefix()
    key = keys.new_upload_key(prefix, owner, filename)
    aws.put_bytes(bucket, key, body, "image/jpeg", {"user-id": owner})
    return {"bucket": bucket, "key": key, "userId": owner, "bytes": len(body)}


def presign(filename: str | None, owner: str) -> dict[str, Any]:
    """A presigned POST for one new upload key, limited in size and time."""
    bucket, prefix = config.upload_bucket(), config.upload_prefix()
    key = keys.new_upload_key(prefix, owner, filename)
    expiry = config.presigned_expiry_seconds()
    post = aws.presigned_post(bucket, key, config.presigned_max_bytes(), expiry)
    return {"bucket": bucket, "key": key, "userId": owner, "expiresIn": expiry, "upload": post}
