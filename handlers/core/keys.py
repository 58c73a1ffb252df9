"""Object key naming: where uploads go, where each output of a photo goes, the execution
names of an upload and where its poison report goes. The only module that knows the layout
of the buckets and how names are made."""

from __future__ import annotations

import hashlib
import posixpath
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .renditions import Rendition

ORIGINALS_PREFIX = "originals/"
PNG_PREFIX = "png/"
THUMBNAILS_PREFIX = "thumbnails/"
ANONYMOUS_USER = "anonymous"
PHOTO_TAG_LENGTH = 16

_USER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_UNSAFE_FILENAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_EXECUTION_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
# Execution names: up to 80 characters. 40 + 1 + 20 + 1 + 12 + 1 + 2 = 77.
READABLE_LENGTH = 40
KEY_TAG_LENGTH = 20  # 80 bits: no two keys of a bucket share one
VERSION_TAG_LENGTH = 12
MAX_ATTEMPT = 99
_EXECUTION_NAME = re.compile(r"(?:^|-)(?P<key>[0-9a-f]{20})-(?P<version>[0-9a-f]{12})-(?P<attempt>[1-9][0-9]?)$")


@dataclass(frozen=True)
class OutputKeys:
    """Keys, in the destination bucket, of everything the workflow writes for one upload: the
    article's three outputs and the stage's renditions (name -> key, RENDITIONS)."""

    original: str
    png: str
    thumbnail: str
    renditions: dict[str, str] = field(default_factory=dict)

    def all(self) -> list[str]:
        return [self.original, self.png, self.thumbnail, *self.renditions.values()]


def relative_key(source_key: str, upload_prefix: str, staging_prefix: str = "") -> str:
    """The part of an upload key below the upload prefix (`uploads/a/b.jpg` -> `a/b.jpg`). A
    backfill's staged copy (`<staging prefix><run>/<item>/a/b.jpg`, see `staged_key`) stands
    for an upload of `a/b.jpg`."""
    if staging_prefix and source_key.startswith(staging_prefix):
        parts = source_key[len(staging_prefix) :].split("/", 2)
        if len(parts) == 3 and all(parts):
            return parts[2]
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


def output_keys(
    source_key: str,
    upload_prefix: str,
    photo_id: str,
    staging_prefix: str = "",
    renditions: Iterable[Rendition] = (),
) -> OutputKeys:
    """Outputs keep the upload's folders and name, tagged with the photo's content hash: a
    different photo uploaded later under the same key never overwrites an earlier one. Each
    rendition has a folder of its own (`renditions/<name>/`), as each article output does."""
    relative = relative_key(source_key, upload_prefix, staging_prefix)
    stem = strip_extension(relative)
    extension = relative[len(stem) :]
    tagged = f"{stem}-{photo_id[:PHOTO_TAG_LENGTH]}"
    return OutputKeys(
        original=ORIGINALS_PREFIX + tagged + extension,
        png=PNG_PREFIX + tagged + ".png",
        thumbnail=THUMBNAILS_PREFIX + tagged + ".jpg",
        renditions={r.name: r.prefix + tagged + r.extension for r in renditions},
    )


def output_prefixes(renditions: Iterable[Rendition] = ()) -> list[str]:
    """The destination bucket's folders the workflow writes into (each followed by the user)."""
    return [ORIGINALS_PREFIX, PNG_PREFIX, THUMBNAILS_PREFIX, *(r.prefix for r in renditions)]


def normalise_user_id(raw: str | None) -> str:
    """A user id safe to use as a key segment; `None`/empty means anonymous."""
    if raw is None or raw == "":
        return ANONYMOUS_USER
    if not _USER_ID.match(raw):
        raise ValueError("user id must be 1-64 characters of letters, digits, '_' or '-'")
    return raw


def user_id_of(source_key: str, upload_prefix: str, staging_prefix: str = "") -> str:
    """The owner of an upload: the first key segment below the upload prefix."""
    relative = relative_key(source_key, upload_prefix, staging_prefix)
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


def object_version(last_modified: datetime, etag: str) -> str:
    """One stored version of an object, as both S3's notification path and a bucket listing can
    tell it: its Last-Modified time to the second (HeadObject gives seconds, a listing may give
    milliseconds) and its ETag. A new upload of the same key has a new time; a redelivered
    event names the same object, so the same version."""
    stamp = last_modified.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return stamp + "/" + etag.strip('"')


@dataclass(frozen=True)
class ExecutionName:
    """What a workflow execution's name says: which key (`key_tag`), which version of it
    (`version_tag`) and which attempt at that version (1 = the S3 event, then the reconciler's)."""

    key_tag: str
    version_tag: str
    attempt: int

    @property
    def upload(self) -> tuple[str, str]:
        return self.key_tag, self.version_tag


def key_tag(bucket: str, key: str) -> str:
    return hashlib.sha256(f"{bucket}\n{key}".encode()).hexdigest()[:KEY_TAG_LENGTH]


def version_tag(bucket: str, key: str, version: str) -> str:
    return hashlib.sha256(f"{bucket}\n{key}\n{version}".encode()).hexdigest()[:VERSION_TAG_LENGTH]


def _readable(key: str) -> str:
    readable = _EXECUTION_NAME_CHARS.sub("-", strip_extension(posixpath.basename(key))).strip("-")
    return readable[:READABLE_LENGTH].rstrip("-")


def execution_name_prefix(key: str) -> str:
    """What every execution name of an upload key starts with (`photo-` for `uploads/u/photo.jpg`,
    empty for a key without a readable part): operators find an upload's executions by it
    without reading every execution's input."""
    readable = _readable(key)
    return f"{readable}-" if readable else ""


def upload_name(bucket: str, key: str, version: str) -> str:
    """The name shared by every execution of one version of an upload (and its poison report):
    `<readable part of the key>-<key tag>-<version tag>`."""
    readable = _readable(key)
    tags = f"{key_tag(bucket, key)}-{version_tag(bucket, key, version)}"
    return f"{readable}-{tags}" if readable else tags


def execution_name(bucket: str, key: str, version: str, attempt: int = 1) -> str:
    """The Step Functions execution name of attempt `attempt` at one version of an upload.

    Deterministic, so whoever starts an execution (the S3-triggered starter, a redelivery of
    its event, Lambda's retries of it, or any reconciler run) asks for the same name and Step
    Functions refuses the second StartExecution: a version is never processed twice at the
    same attempt. Names carry the key's and the version's tags, so ListExecutions alone tells
    which executions belong to an upload. At most 80 characters of [A-Za-z0-9_-].
    """
    if not 1 <= attempt <= MAX_ATTEMPT:
        raise ValueError(f"attempt must be 1-{MAX_ATTEMPT}, got {attempt}")
    return f"{upload_name(bucket, key, version)}-{attempt}"


def parse_execution_name(name: str) -> ExecutionName | None:
    """The tags and attempt in an execution name; None for a name this module did not make
    (an execution started by hand, or before names carried them)."""
    match = _EXECUTION_NAME.search(name)
    if not match:
        return None
    return ExecutionName(match["key"], match["version"], int(match["attempt"]))


def poison_report_key(poison_prefix: str, bucket: str, key: str, version: str) -> str:
    """Where the report of an upload version that was given up on is kept (it is written once:
    its existence is what makes the report go out once)."""
    return f"{poison_prefix}{upload_name(bucket, key, version)}.json"


def parse_poison_report_key(poison_prefix: str, report_key: str) -> tuple[str, str] | None:
    """(key tag, version tag) of a poison report's key."""
    name = report_key.removeprefix(poison_prefix).removesuffix(".json")
    match = _EXECUTION_NAME.search(f"{name}-1")
    return (match["key"], match["version"]) if match else None


# -- backfills ------------------------------------------------------------------------------
def staged_key(staging_prefix: str, run: str, source_bucket: str, source_key: str, upload_path: str) -> str:
    """Where a backfill stages its copy of an object, to be processed like an upload of
    `upload_path` (`<user>/<name>`): `<staging prefix><run>/<item>/<upload path>`, `<item>`
    telling apart objects of the run that would be the same upload (and the same copy again
    when the run is redriven)."""
    item = hashlib.sha256(f"{source_bucket}\n{source_key}".encode()).hexdigest()[:12]
    return f"{staging_prefix}{run}/{item}/{upload_path}"


def upload_path_of_original(original_key: str) -> str:
    """The upload an original copy was made from, below the upload prefix
    (`originals/alice/a-0123456789abcdef.jpg` -> `alice/a.jpg`); ValueError for any other key."""
    if not original_key.startswith(ORIGINALS_PREFIX):
        raise ValueError(f"{original_key} is not under {ORIGINALS_PREFIX}")
    relative = original_key[len(ORIGINALS_PREFIX) :]
    stem = strip_extension(relative)
    extension = relative[len(stem) :]
    name, dash, tag = stem.rpartition("-")
    if not dash or not name or not re.fullmatch(rf"[0-9a-f]{{{PHOTO_TAG_LENGTH}}}", tag):
        raise ValueError(f"{original_key} is not an original copy this workflow wrote")
    return name + extension
