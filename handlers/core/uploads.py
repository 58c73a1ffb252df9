"""HTTP uploads: who is uploading (the verified token's `sub`, never a header or a
parameter), checks on an uploaded body before it reaches the bucket, the daily quota, and
presigned POSTs for files larger than API Gateway and Lambda accept (about 6 MB)."""

from __future__ import annotations

from collections.abc import Mapping
from email import policy
from email.parser import BytesParser
from typing import Any

from . import aws, config, keys, quota, upload_status
from .errors import UploadRejected

JPEG_MAGIC = b"\xff\xd8\xff"
ACCEPTED_CONTENT_TYPES = {"image/jpeg", "image/jpg", "image/pjpeg", "application/octet-stream"}


def owner(claims: Mapping[str, Any] | None) -> str:
    """The uploading user: the `sub` of the token API Gateway's Cognito authoriser verified.
    The function is only reached through that authoriser; without its claims nobody is
    signed in, whatever the request says."""
    sub = (claims or {}).get("sub")
    if not sub:
        raise UploadRejected(401, "not signed in: send a Cognito ID token in the Authorization header")
    try:
        return keys.normalise_user_id(str(sub))
    except ValueError:
        raise UploadRejected(401, "the token's subject cannot name an upload folder") from None


def posted_photo(
    body: bytes, content_type: str | None, disposition: str | None
) -> tuple[bytes, str | None, str | None]:
    """(photo, its content type, the name it was sent with) from a request body: the file part
    of a multipart/form-data body (a browser's <form> or FormData, `curl -F file=@a.jpg`), or
    the body itself, named by a Content-Disposition header (`attachment; filename="a.jpg"`,
    RFC 6266). Read with the standard library's MIME parser (RFC 2231 names included):
    Powertools has no multipart parser for a plain handler."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != "multipart/form-data":
        return body, content_type, _header_filename(disposition)
    message = BytesParser(policy=policy.HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    if not message.is_multipart() or message.defects:
        raise UploadRejected(400, "the multipart/form-data body cannot be read: is its boundary right?")
    for part in message.iter_parts():
        if part.get_content_disposition() == "form-data" and part.get_filename() is not None:
            payload = part.get_payload(decode=True)  # a file part's decoded bytes (None for a nested multipart)
            return payload if isinstance(payload, bytes) else b"", part.get("Content-Type"), part.get_filename()
    raise UploadRejected(400, "the form has no file field: send the photo as a file (a field with a filename)")


def _header_filename(disposition: str | None) -> str | None:
    if not disposition:
        return None
    return (
        BytesParser(policy=policy.HTTP)
        .parsebytes(f"Content-Disposition: {disposition}\r\n\r\n".encode())
        .get_filename()
    )


def store(body: bytes, content_type: str | None, filename: str | None, user: str) -> dict[str, Any]:
    """Stores a posted photo under a new key of the user's folder, counted against the user's
    daily quota (over it, nothing is stored); the workflow starts from the S3 event."""
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
    key = keys.new_upload_key(prefix, user, filename)
    counted = quota.take(user)
    try:
        aws.put_bytes(bucket, key, body, "image/jpeg", {"user-id": user})
    except Exception:
        quota.give_back(counted)
        raise
    answer = {"bucket": bucket, "key": key, "uploadId": upload_status.upload_id_of(key), "userId": user}
    return answer | {"bytes": len(body), **_quota_left(counted)}


def presign(filename: str | None, user: str) -> dict[str, Any]:
    """A presigned POST for one new key of the user's folder, limited in size, type and time;
    it counts as an upload (it may be used once, until it expires)."""
    bucket, prefix = config.upload_bucket(), config.upload_prefix()
    key = keys.new_upload_key(prefix, user, filename)
    expiry = config.presigned_expiry_seconds()
    counted = quota.take(user)
    post = aws.presigned_post(bucket, key, config.presigned_max_bytes(), expiry)
    answer = {"bucket": bucket, "key": key, "uploadId": upload_status.upload_id_of(key), "userId": user}
    return answer | {"expiresIn": expiry, "upload": post, **_quota_left(counted)}


def _quota_left(counted: quota.Counted) -> dict[str, int]:
    return {"uploadsToday": counted.used, "dailyQuota": counted.limit}


def cors_headers(origin: str | None) -> dict[str, str]:
    """The answer's CORS headers: the request's origin only if it is an allowed one (the
    browser then lets that page read the answer), never `*`."""
    headers = {"Vary": "Origin"}
    if origin and origin.rstrip("/") in config.allowed_origins():
        headers["Access-Control-Allow-Origin"] = origin
    return headers
