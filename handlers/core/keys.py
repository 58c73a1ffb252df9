"""Object key naming: where uploads go, where each output of a photo goes, and the
execution name of an upload. The only module that knows the layout of the buckets."""

from __future__ import annotations

import hashlib
import posixpath
import re
import uuid
from dataclasses import dataclass

ORIGINALS_PREFIX = "originals/"
PNG_PREFIX = "png/"
THUMBNAILS_PREFIX = "thumbnails/"
ANONYMOUS_USER = "anonymous"
PHOTO_TAG_LENGTH = 16

_USER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_UNSAFE_FILENAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_EXECUTION_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class OutputKeys:
    """Keys, in the destination bucket, of everything the workflow writes for one upload."""

    original: str
    png: str
    thumbnail: str

    def all(self) -> list[str]:
        return [self.original, self.png, self.thumbnail]


def relative_key(source_key: str, upload_prefix: str) -> str:
    """The part of an upload key below the upload prefix (`uploads/a/b.jpg` -> `a/b.jpg`)."""
    if upload_prefix and source_key.startswith(upload_prefix):
        return source_key[len(upload_prefix) :]
    return source_key


def strip_extension(key: str) -> str:
    """Drops the file extension of the last path segment only, whatever its case
    (`a/b.JPG` -> `a/b`, `a.jpg/b` -> `a.jpg/b`, `a/my.jpg.jpeg` -> `a/my.jpg`)."""
    head, name = posixpath.split(key)
    stem, dot, _ = name.rpartition(".")
    if not dot or not stem:
        return key
    return posixpath.join(head, stem) if head else stem


def output_keys(source_key: str, upload_prefix: str, photo_id: str) -> OutputKeys:
    """Outputs keep the upload's folders and name, tagged with the photo's content hash: a
    different photo uploaded later under the same key never overwrites an earlier one."""
    relative = relative_key(source_key, upload_prefix)
    stem = strip_extension(relative)
    extension = relative[len(stem) :]
    tagged = f"{stem}-{photo_id[:PHOTO_TAG_LENGTH]}"
    return OutputKeys(
        original=ORIGINALS_PREFIX + tagged + extension,
        png=PNG_PREFIX + tagged + ".png",
        thumbnail=THUMBNAILS_PREFIX + tagged + ".jpg",
    )


def normalise_user_id(raw: str | None) -> str:
    """A user id safe to use as a key segment; `None`/empty means anonymous."""
    if raw is None or raw == "":
        return ANONYMOUS_USER
    if not _USER_ID.match(raw):
        raise ValueError("user id must be 1-64 characters of letters, digits, '_' or '-'")
    return raw


def user_id_of(source_key: str, upload_prefix: str) -> str:
    """The owner of an upload: the first key segment below the upload prefix."""
    relative = relative_key(source_key, upload_prefix)
    first, sep, _ = relative.partition("/")
    if sep and _USER_ID.match(first):
        return first
    return ANONYMOUS_USER


def safe_filename(filename: str | None, default_extension: str = ".jpg") -> str:
    """A filename that can go into a key: no path, no control or shell-special characters."""
    name = posixpath.basename((filename or "").replace("\\", "/"))
    name = _UNSAFE_FILENAME_CHARS.sub("-", name).strip(".-")[:100]
    return name or f"photo{default_extension}"


def new_upload_key(upload_prefix: str, user_id: str, filename: str | None) -> str:
    """A fresh, collision-free upload key: `<prefix><user>/<uuid>-<safe name>`."""
    return f"{upload_prefix}{user_id}/{uuid.uuid4().hex}-{safe_filename(filename)}"


def execution_name(bucket: str, key: str, sequencer: str | None) -> str:
    """A deterministic Step Functions execution name for one S3 event.

    S3 may deliver an event more than once; the same bucket/key/sequencer always gives the
    same name, so a second StartExecution is refused instead of processing twice. A new
    upload of the same key has a new sequencer and gets a new execution. Names allow 80
    characters of [A-Za-z0-9_-]; a readable part of the key is kept for the console.
    """
    digest = hashlib.sha256(f"{bucket}\n{key}\n{sequencer or ''}".encode()).hexdigest()[:32]
    readable = execution_name_prefix(key)
    return f"{readable}{digest}"


def execution_name_prefix(key: str) -> str:
    """What every execution name of an upload key starts with (`photo-` for `uploads/u/photo.jpg`,
    empty for a key without a readable part): operators find an upload's executions by it
    without reading every execution's input."""
    readable = _EXECUTION_NAME_CHARS.sub("-", strip_extension(posixpath.basename(key))).strip("-")
    return f"{readable[:40]}-" if readable else ""
