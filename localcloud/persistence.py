"""What survives a restart of the local cloud (`python -m localcloud up --state DIR`).

moto keeps everything in memory, so a stopped cloud forgets it all. With a state folder, the
cloud saves when it stops, and `up` restores after it has deployed the stack again:
- S3 objects of every bucket but the Framework's deployment bucket (the deploy uploads that
  again), as S3 held them: bytes, content type, user metadata, ETag and Last-Modified. They
  are restored without notifications (they were there all along): an upload that was waiting
  when the cloud stopped is found by the reconciler at its next run, like any upload whose
  event was lost.
- DynamoDB items of every table (the photos table, the quota counters).
Not kept: executions and their history, logs, queue messages, SNS deliveries, users of the
user pools, the roles' sessions. An execution that was running is lost with the cloud; its
upload is still in the bucket (the workflow deletes it last), so it is processed again.
Only the latest version of an object is kept. A cloud that is killed (SIGKILL) saves nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

_DEPLOYMENT_BUCKET = "serverlessdeploymentbucket"


@dataclass
class Restored:
    objects: int = 0
    buckets: int = 0
    items: int = 0
    tables: int = 0
    waiting_uploads: int = 0  # objects restored under an upload prefix: the reconciler's to take


def save(folder: Path) -> None:
    """Writes the S3 objects and DynamoDB items of every account and region under `folder`
    (replacing what was there)."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.s3.models import s3_backends

    staging = folder.with_name(folder.name + ".saving")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "s3").mkdir(parents=True)
    (staging / "dynamodb").mkdir()
    for account, partitions in list(s3_backends.items()):
        for s3_backend in list(partitions.values()):
            for bucket in list(s3_backend.buckets.values()):
                if _DEPLOYMENT_BUCKET in bucket.name:
                    continue
                _save_bucket(staging / "s3" / bucket.name, bucket, account)
    for account, regions in list(dynamodb_backends.items()):
        for region, dynamodb_backend in list(regions.items()):
            for table in list(dynamodb_backend.tables.values()):
                items = [item.to_json()["Attributes"] for item in table.all_items()]
                target = staging / "dynamodb" / f"{account}-{region}-{table.name}.json"
                saved = {"account": account, "region": region, "table": table.name, "items": items}
                target.write_text(json.dumps(saved, default=_binary_as_wire_form))
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)


def _binary_as_wire_form(value: Any) -> str:
    """Binary values (B, BS, and any nested in M or L) as DynamoDB's JSON carries them: base64,
    which put_item reads back as it reads a request's."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot save a {type(value).__name__} of a DynamoDB item")


def _save_bucket(folder: Path, bucket: Any, account: str) -> None:
    folder.mkdir(parents=True)
    index = []
    for key in list(bucket.keys.values()):  # the latest version of each key
        if getattr(key, "is_delete_marker", False) or not hasattr(key, "value"):
            continue
        body = hashlib.sha256(key.name.encode()).hexdigest()
        (folder / body).write_bytes(key.value)
        index.append(
            {
                "key": key.name,
                "body": body,
                "metadata": dict(key.metadata),
                "etag": key.etag.strip('"'),  # moto's `etag` is quoted; its `_etag` (restore) is not
                "lastModified": key.last_modified.isoformat(),
            }
        )
    (folder / "index.json").write_text(json.dumps({"account": account, "bucket": bucket.name, "objects": index}))


def restore(folder: Path, upload_prefixes: tuple[str, ...] = ()) -> Restored:
    """Puts back what `save` wrote, into the buckets and tables that exist now (a deploy
    created them again); objects and items already there are left alone (they are newer than
    the saved ones: written since the cloud started)."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.s3.models import s3_backends

    restored = Restored()
    for index_file in sorted((folder / "s3").glob("*/index.json")):
        index = json.loads(index_file.read_text())
        s3_backend = s3_backends[index["account"]]["aws"]
        bucket = s3_backend.buckets.get(index["bucket"])
        if bucket is None:
            continue
        restored.buckets += 1
        for entry in index["objects"]:
            if bucket.keys.get(entry["key"]) is not None:
                continue
            value = (index_file.parent / entry["body"]).read_bytes()
            key = s3_backend.put_object(bucket.name, entry["key"], value, disable_notification=True)
            key.set_metadata(dict(entry["metadata"]))
            key.last_modified = datetime.fromisoformat(entry["lastModified"])
            # A multipart upload's ETag is not the MD5 of its bytes. Unquoted, as moto keeps it
            # (state saved before ETags were saved unquoted had the quotes: stripped too).
            key._etag = entry["etag"].strip('"')
            restored.objects += 1
            restored.waiting_uploads += any(entry["key"].startswith(p) for p in upload_prefixes)
    for table_file in sorted((folder / "dynamodb").glob("*.json")):
        saved = json.loads(table_file.read_text())
        dynamodb_backend = dynamodb_backends[saved["account"]][saved["region"]]
        if saved["table"] not in dynamodb_backend.tables:
            continue
        restored.tables += 1
        table = dynamodb_backend.tables[saved["table"]]
        for item in saved["items"]:
            keys = {name: item[name] for name in (table.hash_key_attr, table.range_key_attr) if name}
            if dynamodb_backend.get_item(saved["table"], keys) is not None:
                continue
            dynamodb_backend.put_item(saved["table"], item)
            restored.items += 1
    return restored
