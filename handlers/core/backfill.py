"""Backfills (the backfill state machine in serverless.yml): an existing object becomes the input
of one image workflow execution, as an upload would.

Each object is first copied into the upload bucket under the staging prefix (never under the
upload prefix, which would start a second execution), so the workflow works on a copy: it
deletes that copy when done, never the object it came from. Two modes:

- `import`: any object of the import bucket, processed as an upload of `<user>/<its path below
  the listed prefix>` (duplicates and rejections as for uploads);
- `regenerate`: an original copy the workflow wrote (`originals/<user>/<name>-<tag>.<ext>`),
  processed again as an upload of `<user>/<name>.<ext>`: the same content gives the same output
  keys, which are overwritten, and the workflow updates the photo's record instead of refusing
  it as a duplicate (`workflow.regenerating`).
"""

from __future__ import annotations

from typing import Any

from . import aws, keys
from .errors import BackfillItemInvalid
from .workflow import SourceObject

MODES = ("import", "regenerate")


def item_key(item: object) -> str:
    """The object key of a Map item: an S3 listing's or a CSV manifest's `Key` column, a JSON
    manifest's object (`Key` or `key`) or plain string."""
    if isinstance(item, str):
        key = item
    elif isinstance(item, dict):
        key = item.get("Key") or item.get("key") or ""
    else:
        key = ""
    if not isinstance(key, str) or not key.strip() or key.endswith("/"):
        raise BackfillItemInvalid(f"the item names no object: {item!r}")
    return key.strip()


def upload_path(mode: str, key: str, prefix: str, user: str) -> tuple[str, str]:
    """(user, path below the upload prefix) the object is processed as."""
    if mode == "regenerate":
        try:
            path = keys.upload_path_of_original(key)
        except ValueError as error:
            raise BackfillItemInvalid(str(error)) from None
        return keys.user_id_of(path, ""), path
    if mode != "import":
        raise BackfillItemInvalid(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    below = key[len(prefix) :] if prefix and key.startswith(prefix) else key
    owner = keys.normalise_user_id(user or None)
    return owner, f"{owner}/{below.lstrip('/')}"


def refuse_workflow_objects(bucket: str, key: str, upload_bucket: str, own_prefixes: tuple[str, ...]) -> None:
    """An import from the upload bucket never takes the workflow's own objects as photos: other
    users' pending uploads, staged copies, manifests, reports, poison reports."""
    if bucket == upload_bucket and any(key.startswith(prefix) for prefix in own_prefixes):
        raise BackfillItemInvalid(
            f"{key} is the workflow's own (under {', '.join(own_prefixes)}), not a photo to import"
        )


def stage(
    request: dict[str, Any], upload_bucket: str, staging_prefix: str, own_prefixes: tuple[str, ...]
) -> dict[str, Any]:
    """Copies one item's object into the staging area; returns the image workflow's input.
    `own_prefixes`: the areas of the upload bucket an import refuses (refuse_workflow_objects)."""
    key = item_key(request.get("item"))
    source_bucket = request["sourceBucket"]
    if request["mode"] == "import":
        refuse_workflow_objects(source_bucket, key, upload_bucket, own_prefixes)
    user, path = upload_path(request["mode"], key, request.get("prefix") or "", request.get("user") or "")
    staged = keys.staged_key(staging_prefix, request["run"], source_bucket, key, path)
    aws.copy(source_bucket, key, upload_bucket, staged)
    item = request.get("item")
    size = item.get("Size") if isinstance(item, dict) else None
    state = SourceObject(upload_bucket, staged, size=int(size) if size not in (None, "") else None).to_state(user)
    state["backfill"] = {"mode": request["mode"], "source": f"s3://{source_bucket}/{key}", "run": request["run"]}
    return state
