"""A user's own library, as the photos API shows it: pages of their photos (newest first, by
upload or capture time, optionally of one month) behind an opaque cursor, one photo with
short-lived download links, and which outputs a recorded photo has.

Every read is of the caller's own partition of the photos table (`userId` = the verified
token's `sub`): another user's photo id finds nothing, exactly as a missing one does.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import posixpath
import re
from dataclasses import dataclass
from typing import Any

from . import aws, config, keys, photos

MAX_PAGE = 100
ORDERS = {"uploaded": (photos.BY_USER_INDEX, "uploadedAt"), "captured": (photos.BY_CAPTURE_TIME_INDEX, "capturedAt")}
# The output a listing links to for each entry (one of OutputKeys' fields): the small one.
PREVIEW = "thumbnail"
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_PHOTO_ID = re.compile(r"^[0-9a-f]{64}$")
_CURSOR_VERSION = 1
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}-")


class BadRequest(ValueError):
    """A request the API refuses with 400 (the message says why)."""


class PhotoNotFound(LookupError):
    """The user has no photo of that id (missing, or another user's: the same answer)."""


@dataclass(frozen=True)
class Query:
    """What a listing asks for; a cursor is valid only for the same user and query."""

    user: str
    order: str = "uploaded"
    month: str | None = None

    def binding(self) -> str:
        return hashlib.sha256(f"{self.user}\n{self.order}\n{self.month or ''}".encode()).hexdigest()[:32]


def output_fields() -> list[str]:
    """The names of a photo's article outputs (OutputKeys' fields: original, png, thumbnail);
    the record holds each one's key as `<name>Key`. The stage's renditions are recorded by name
    under `renditions` (docs/renditions.md)."""
    return [f.name for f in dataclasses.fields(keys.OutputKeys) if f.name != "renditions"]


def output_keys_of(item: dict[str, Any]) -> dict[str, str]:
    """The recorded output keys of a photo's item, by output name, its renditions included."""
    found = {name: item[f"{name}Key"] for name in output_fields() if item.get(f"{name}Key")}
    return found | {name: made["key"] for name, made in (item.get("renditions") or {}).items() if made.get("key")}


def file_name(item: dict[str, Any]) -> str:
    """The file name the photo was uploaded under (its upload key's last segment, without the
    unique prefix POST /upload adds: `uploads/<user>/<32 hex>-beach.jpg` -> `beach.jpg`)."""
    name = posixpath.basename(item.get("sourceKey") or "") or "photo.jpg"
    return _UPLOAD_ID.sub("", name, count=1) or name


def download_name(item: dict[str, Any], output: str, key: str) -> str:
    """The name a download of one output is saved under: the upload's name, with the
    output's own extension, and the output's name for any but the original."""
    stem = keys.strip_extension(file_name(item))
    extension = key[len(keys.strip_extension(key)) :]
    return f"{stem}{extension}" if output == "original" else f"{stem}-{output}{extension}"


def _check_month(month: str | None) -> str | None:
    if month is not None and not _MONTH.match(month):
        raise BadRequest("month must be YYYY-MM, e.g. 2026-12")
    return month


def check_photo_id(photo_id: str) -> bool:
    """Whether the text can be a photo id at all (a SHA-256 in hex)."""
    return bool(_PHOTO_ID.match(photo_id))


# -- the cursor ------------------------------------------------------------------------------
def encode_cursor(query: Query, last: dict[str, Any]) -> str:
    """An opaque cursor: where the page ended (the index key without the user) and which
    user and query it belongs to (a hash, so a cursor names neither)."""
    _, sort_key = ORDERS[query.order]
    position = {photos.KEY: last[photos.KEY], sort_key: last[sort_key]}
    text = json.dumps({"v": _CURSOR_VERSION, "b": query.binding(), "k": position}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(query: Query, cursor: str) -> dict[str, Any]:
    """The start key a cursor stands for; BadRequest for a cursor this API did not give this
    user for this query (another user's, another order or month, or altered)."""
    refused = BadRequest("the cursor does not belong to this listing: start again without one")
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise refused from None
    _, sort_key = ORDERS[query.order]
    if not isinstance(data, dict) or data.get("v") != _CURSOR_VERSION or data.get("b") != query.binding():
        raise refused
    position = data.get("k")
    if not isinstance(position, dict) or set(position) != {photos.KEY, sort_key}:
        raise refused
    if not all(isinstance(value, str) and 0 < len(value) <= 100 for value in position.values()):
        raise refused
    return {photos.USER: query.user, **position}


# -- reading ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    cursor: str | None


def page(query: Query, limit: int, cursor: str | None) -> Page:
    """One page of the user's photos, newest first: one Query of the order's index (keys
    only), then one BatchGetItem of the page's records. Two requests whatever the library's
    size; a cursor for the next page when there may be one."""
    if query.order not in ORDERS:
        raise BadRequest(f"order must be one of {', '.join(ORDERS)}")
    _check_month(query.month)
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"limit must be 1-{MAX_PAGE}")
    start = decode_cursor(query, cursor) if cursor else None
    index, sort_key = ORDERS[query.order]
    condition = "#u = :u"
    names, values = {"#u": photos.USER}, {":u": query.user}
    if query.month:
        condition += " AND begins_with(#t, :m)"
        names["#t"], values[":m"] = sort_key, query.month
    found, following = aws.query_page(
        config.photos_table(), index, condition, names, values, limit, start, newest_first=True
    )
    records = aws.get_items(config.photos_table(), [photos.key(query.user, item[photos.KEY]) for item in found])
    by_id = {record[photos.KEY]: record for record in records}
    # In the index's order; a photo erased between the two reads is left out.
    ordered = [by_id[item[photos.KEY]] for item in found if item[photos.KEY] in by_id]
    return Page(ordered, encode_cursor(query, following) if following else None)


def record(user: str, photo_id: str) -> dict[str, Any] | None:
    """The user's own record of a photo, or None (missing, or another user's: the same)."""
    if not check_photo_id(photo_id):
        return None
    return aws.get_item(config.photos_table(), photos.key(user, photo_id))


def download_links(item: dict[str, Any], only: list[str] | None = None) -> dict[str, str]:
    """Presigned GET URLs for the photo's outputs (those named in `only`, or all), each for
    one object, expiring after DOWNLOAD_URL_SECONDS, saved under the upload's file name."""
    bucket, expiry = item.get("bucket") or config.destination_bucket(), config.download_url_seconds()
    return {
        name: aws.presigned_get(bucket, key, expiry, download_name(item, name, key))
        for name, key in output_keys_of(item).items()
        if only is None or name in only
    }


def rendition_links(item: dict[str, Any]) -> list[dict[str, Any]]:
    """The photo's web-ready renditions (RENDITIONS), smallest first, each with a presigned GET
    URL and its size: what a browser's `srcset` chooses from."""
    bucket, expiry = item.get("bucket") or config.destination_bucket(), config.download_url_seconds()
    made = sorted((item.get("renditions") or {}).items(), key=lambda entry: int(entry[1]["width"]))
    return [
        {
            "name": name,
            "format": rendition["format"],
            "width": int(rendition["width"]),
            "height": int(rendition["height"]),
            "url": aws.presigned_get(bucket, rendition["key"], expiry, download_name(item, name, rendition["key"])),
        }
        for name, rendition in made
    ]


def near_duplicate_of(item: dict[str, Any]) -> str | None:
    """The user's own photo this one is a near duplicate of (never another user's)."""
    similar = item.get("similarTo") or {}
    return similar.get("photoId") if similar.get("owner") == "self" else None
