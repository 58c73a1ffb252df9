"""The photos table: one item per unique photo (keyed by its content hash) that ties the
uploader to the photo and its outputs, and the uniqueness check that reads it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from . import aws
from .workflow import SourceObject

KEY = "photoId"
BY_USER_INDEX = "byUser"
BY_CAPTURE_TIME_INDEX = "byCaptureTime"  # userId + capturedAt: a user's photos in the order they were taken
# What GetFileType read from the file (photo_metadata.describe and the colour fields), stored as is.
PHOTO_FIELDS = (
    "capturedAt",
    "cameraMake",
    "cameraModel",
    "lens",
    "orientation",
    "colourProfile",
    "colourSpace",
    "colourProfileProblem",
    "hasLocation",
    "jpegVariant",
    "imageCount",
    "secondaryImages",
    "heifBrand",
    "bitDepth",
)
# Present only when the stage keeps locations (KEEP_LOCATION=true): decimal degrees.
LOCATION_FIELDS = ("latitude", "longitude")


def find_duplicate(
    table: str, content_hash: str, perceptual_hash: str, user_id: str, max_distance: int
) -> dict[str, Any]:
    """Exact duplicates anywhere (same bytes), near duplicates among the uploader's own
    photos (perceptual hashes at most `max_distance` bits apart). `of` is the recorded
    photo's id and `ofKey` the upload it was recorded from, so a notice can name it."""
    # Imported here: writeToDynamoDB and discardOutputs use this module without the Pillow layer.
    from . import images

    found: dict[str, Any] = {
        "duplicate": False,
        "contentHash": content_hash,
        "perceptualHash": perceptual_hash,
    }
    existing = aws.get_item(table, {KEY: content_hash})
    if existing:
        return found | {"duplicate": True, "match": "exact", "of": existing[KEY], "ofKey": existing.get("sourceKey")}
    fields = [KEY, "perceptualHash", "sourceKey"]
    for photo in aws.query_index(table, BY_USER_INDEX, "userId", user_id, fields):
        other = photo.get("perceptualHash")
        distance = images.hamming_distance(other, perceptual_hash) if other else None
        if distance is not None and distance <= max_distance:
            near = {"match": "near", "of": photo[KEY], "ofKey": photo.get("sourceKey"), "distance": distance}
            return found | {"duplicate": True, **near}
    return found


def new_item(source: SourceObject, state: dict[str, Any]) -> dict[str, Any]:
    """The item WriteToDynamoDb stores, from the workflow state after ProcessFile."""
    results = state["results"]
    outputs = results["outputs"]
    uniqueness = results["uniqueness"]
    file_type = results["fileType"]
    metadata = file_type.get("metadata") or {}
    return {
        KEY: uniqueness["contentHash"],
        "userId": state.get("userId") or source.user_id,
        "uploadedAt": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "sourceKey": source.key,
        "sourceBytes": source.size,
        "perceptualHash": uniqueness["perceptualHash"],
        # Upright (after the EXIF orientation), as the outputs are; then as stored in the file.
        "width": metadata.get("width", file_type["width"]),
        "height": metadata.get("height", file_type["height"]),
        "storedWidth": file_type["width"],
        "storedHeight": file_type["height"],
        "colourMode": file_type["mode"],
        "bucket": outputs["original"]["bucket"],
        "originalKey": outputs["original"]["key"],
        "pngKey": outputs["png"]["key"],
        "pngBytes": outputs["png"]["bytes"],
        "thumbnailKey": outputs["thumbnail"]["key"],
        "thumbnailWidth": outputs["thumbnail"]["width"],
        "thumbnailHeight": outputs["thumbnail"]["height"],
        **{name: metadata.get(name) for name in PHOTO_FIELDS},
        # DynamoDB numbers from the exact decimal text (never floats).
        **{name: Decimal(metadata[name]) for name in LOCATION_FIELDS if metadata.get(name)},
    }


def record(table: str, item: dict[str, Any]) -> None:
    """Stores a new photo; raises DuplicatePhoto if the same photo was recorded meanwhile."""
    aws.put_new_item(table, {k: v for k, v in item.items() if v is not None}, KEY)


def recorded_keys(table: str, photo_id: str) -> set[str]:
    """Output keys that a recorded photo refers to (which must never be discarded)."""
    item = aws.get_item(table, {KEY: photo_id}) or {}
    return {item[name] for name in ("originalKey", "pngKey", "thumbnailKey") if name in item}
