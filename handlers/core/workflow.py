"""The workflow's input: the article's shape (`s3.bucket.name`, `s3.object.key`, ...), the
key already URL-decoded by the starter, plus the uploader. Every Task reads its source object
from here, and the local file it works on lives in a per-invocation temporary folder."""

from __future__ import annotations

import posixpath
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_plus

from . import aws, config, keys
from .renditions import Rendition


@dataclass(frozen=True)
class SourceObject:
    bucket: str
    key: str
    size: int | None = None
    etag: str | None = None
    sequencer: str | None = None

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SourceObject:
        """From the workflow input; an S3 notification event is accepted too (its first
        record, key decoded), so any Task can be tried with `events/s3-put-jpeg.json`."""
        if "Records" in state:
            record = state["Records"][0]
            decoded = dict(record["s3"]["object"], key=unquote_plus(record["s3"]["object"]["key"]))
            state = {"s3": {"bucket": record["s3"]["bucket"], "object": decoded}}
        try:
            obj = state["s3"]["object"]
            return cls(
                bucket=state["s3"]["bucket"]["name"],
                key=obj["key"],
                size=obj.get("size"),
                etag=obj.get("eTag"),
                sequencer=obj.get("sequencer"),
            )
        except (KeyError, TypeError):
            raise ValueError("state input must have s3.bucket.name and s3.object.key") from None

    def to_state(self, user_id: str) -> dict[str, Any]:
        obj = {"key": self.key, "size": self.size, "eTag": self.etag, "sequencer": self.sequencer}
        return {"s3": {"bucket": {"name": self.bucket}, "object": obj}, "userId": user_id}

    @property
    def extension(self) -> str:
        name = self.key.rsplit("/", 1)[-1]
        return name.rsplit(".", 1)[-1].lower() if "." in name else ""

    def outputs(self, photo_id: str, renditions: tuple[Rendition, ...] = ()) -> keys.OutputKeys:
        return keys.output_keys(self.key, config.upload_prefix(), photo_id, config.staging_prefix(), renditions)

    @property
    def user_id(self) -> str:
        return keys.user_id_of(self.key, config.upload_prefix(), config.staging_prefix())


def user_of(state: dict[str, Any], source: SourceObject) -> str:
    """Whose photo it is: the state's `userId` (the starter's, or a backfill's), else the user
    folder of its key."""
    return state.get("userId") or source.user_id


def regenerating(state: dict[str, Any]) -> bool:
    """A backfill that makes a recorded photo's outputs again (`backfill.mode`, see
    handlers/core/backfill.py): its record is updated rather than refused as a duplicate."""
    return (state.get("backfill") or {}).get("mode") == "regenerate"


def photo_id(state: dict[str, Any]) -> str:
    """The photo's id (its content hash), found by CheckForDuplicate."""
    try:
        content_hash: str = state["results"]["uniqueness"]["contentHash"]
    except (KeyError, TypeError):
        raise ValueError("state input has no results.uniqueness.contentHash") from None
    return content_hash


@contextmanager
def local_copy(source: SourceObject) -> Iterator[Path]:
    """Downloads the source object into a private temporary folder, removed afterwards
    (warm Lambdas share /tmp between invocations)."""
    with tempfile.TemporaryDirectory(prefix="photo-") as folder:
        path = Path(folder) / "source"
        aws.download(source.bucket, source.key, path)
        yield path


@contextmanager
def scratch_file(suffix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="output-") as folder:
        yield Path(folder) / f"output{suffix}"


def store_derived(
    source: SourceObject,
    bucket: str,
    key: str,
    content_type: str,
    convert: Callable[[Path, Path], dict[str, int]],
) -> dict[str, Any]:
    """Downloads the source, lets `convert(source_path, output_path)` write an output file,
    uploads it in one PUT (never a partial object) and describes what was written."""
    suffix = posixpath.splitext(key)[1]
    with local_copy(source) as path, scratch_file(suffix) as output:
        size = convert(path, output)
        written = output.stat().st_size
        # S3 metadata must be ASCII: keys may not be.
        aws.upload(output, bucket, key, content_type, {"source-key": quote(source.key)})
    return {"bucket": bucket, "key": key, "bytes": written, **size}


@dataclass(frozen=True)
class Derived:
    """One object a function writes: its key and Content-Type, and the local file it is made in."""

    key: str
    content_type: str
    path: Path


def store_many(
    source: SourceObject,
    bucket: str,
    outputs: dict[str, tuple[str, str]],
    convert: Callable[[Path, dict[str, Derived]], dict[str, dict[str, Any]]],
) -> dict[str, dict[str, Any]]:
    """`store_derived` for a function that makes several objects from one download (the
    thumbnail and the renditions): `outputs` is name -> (key, Content-Type); `convert` writes
    every file and describes each. Each object is uploaded in one PUT once all are made."""
    with local_copy(source) as path, tempfile.TemporaryDirectory(prefix="output-") as folder:
        made = {
            name: Derived(key, content_type, Path(folder) / f"{index}{posixpath.splitext(key)[1]}")
            for index, (name, (key, content_type)) in enumerate(outputs.items())
        }
        described = convert(path, made)
        written: dict[str, dict[str, Any]] = {}
        for name, derived in made.items():
            aws.upload(derived.path, bucket, derived.key, derived.content_type, {"source-key": quote(source.key)})
            written[name] = {"bucket": bucket, "key": derived.key, "bytes": derived.path.stat().st_size}
            written[name] |= described[name]
    return written
