"""The photos table (one item per photo of a user: user + content hash, so two users can
each have the same bytes) and the uniqueness index beside it; the lookup that reads them
for CheckForDuplicate and the all-or-nothing write of WriteToDynamoDb. The policy itself,
and the index's layout, are `uniqueness`'s."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from . import aws, uniqueness
from .observability import logger
from .uniqueness import Found, Near, Photo, Policy
from .workflow import SourceObject, user_of

USER = "userId"  # the photos table's partition key
KEY = "photoId"  # its sort key: the content hash (SHA-256)
BY_USER_INDEX = "byUser"  # userId + uploadedAt: a user's photos in the order they were uploaded
BY_CAPTURE_TIME_INDEX = "byCaptureTime"  # userId + capturedAt: a user's photos in the order they were taken
# The uniqueness index: partition `entry` (a band of a perceptual hash, or a content claim),
# sort key `photo` (`<user>/<content hash>`, or "owner" for a claim).
ENTRY, MEMBER = "entry", "photo"
# On the photo's item: the index entries written with it, so that whoever removes the photo
# removes them too (their keys depend on the scope and distance in force when it was recorded).
INDEX_ENTRIES = "uniquenessIndex"
BAND_READ_LIMIT = 100  # entries read per band at most: a band holds ~n / 2**13 of n photos at k=4
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
# What the record keeps of each rendition (name -> these).
RENDITION_FIELDS = ("key", "format", "width", "height", "bytes")
# Present only when the stage keeps locations (KEEP_LOCATION=true): decimal degrees.
LOCATION_FIELDS = ("latitude", "longitude")


def key(user_id: str, photo_id: str) -> dict[str, str]:
    return {USER: user_id, KEY: photo_id}


def find(
    photos_table: str, index_table: str, policy: Policy, user_id: str, content_hash: str, perceptual_hash: str
) -> Found:
    """The uploader's own exact copy (a consistent read: a photo recorded a moment ago
    counts), then another user's (all-users scope), then near duplicates through the k+1
    band partitions of the index. At most k+4 requests, whatever the size of the library."""
    # Imported here: writeToDynamoDB and discardOutputs use this module without the Pillow layer.
    from . import images

    own = aws.get_item(photos_table, key(user_id, content_hash), consistent=True)
    if own:
        return Found(own_exact=Photo(user_id, content_hash, own.get("sourceKey")))
    if policy.scope == uniqueness.ALL_USERS_SCOPE:
        # The claim's partition holds that one item: a Query of it costs what a GetItem would
        # (one strongly consistent read unit), and the role needs no other action on the index.
        claims, _ = aws.query_partition(
            index_table, ENTRY, uniqueness.claim_entry(content_hash), [USER, KEY], 1, consistent=True
        )
        if claims and claims[0][USER] != user_id:
            return Found(other_exact=Photo(claims[0][USER], claims[0][KEY]))
    candidates: dict[str, Near] = {}
    for entry in uniqueness.band_entries(policy, user_id, perceptual_hash):
        items, more = aws.query_partition(index_table, ENTRY, entry, [MEMBER, "perceptualHash"], BAND_READ_LIMIT)
        if more:
            logger.warning("band partition read in part", extra={"entry": entry, "read": len(items)})
        for item in items:
            other_user, photo_id = uniqueness.photo_of_member(item[MEMBER])
            distance = images.hamming_distance(item["perceptualHash"], perceptual_hash)
            if distance <= policy.distance and (other_user, photo_id) != (user_id, content_hash):
                candidates[item[MEMBER]] = Near(Photo(other_user, photo_id), distance)
    near = sorted(candidates.values(), key=lambda n: (n.distance, n.photo.user_id, n.photo.photo_id))
    named = uniqueness.closest(near, user_id)
    if named and named.photo.user_id == user_id:  # a notice or a flag names it: read its upload key
        recorded = aws.get_item(photos_table, key(user_id, named.photo.photo_id)) or {}
        found = Photo(user_id, named.photo.photo_id, recorded.get("sourceKey"))
        near = [Near(found, n.distance) if n is named else n for n in near]
    return Found(near=near)


def new_item(source: SourceObject, state: dict[str, Any]) -> dict[str, Any]:
    """The item WriteToDynamoDb stores, from the workflow state after ProcessFile."""
    results = state["results"]
    outputs = results["outputs"]
    checked = results["uniqueness"]
    file_type = results["fileType"]
    metadata = file_type.get("metadata") or {}
    return {
        KEY: checked["contentHash"],
        "userId": user_of(state, source),
        "uploadedAt": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "sourceKey": source.key,
        "sourceBytes": source.size,
        "perceptualHash": checked["perceptualHash"],
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
        # The stage's renditions (RENDITIONS), by name, and the placeholder a client paints first.
        "renditions": {
            name: {field: made[field] for field in RENDITION_FIELDS}
            for name, made in (outputs["thumbnail"].get("renditions") or {}).items()
        },
        "thumbHash": outputs["thumbnail"].get("thumbHash"),
        **{name: metadata.get(name) for name in PHOTO_FIELDS},
        # DynamoDB numbers from the exact decimal text (never floats).
        # (None, not left out: a regeneration with KEEP_LOCATION off removes stored ones.)
        **{name: Decimal(metadata[name]) if metadata.get(name) else None for name in LOCATION_FIELDS},
        # A flagged near duplicate: which photo it is close to, and how many bits apart.
        "similarTo": checked.get("similarTo"),
    }


def record(photos_table: str, index_table: str, item: dict[str, Any], index: dict[str, Any]) -> None:
    """Stores a new photo with its index entries, all or nothing. Raises DuplicatePhoto if
    the user recorded the same bytes from another upload meanwhile, or (all-users scope)
    another user claimed them; a retry of this very upload succeeds."""
    photo = {k: v for k, v in item.items() if v is not None}
    photo[INDEX_ENTRIES] = {name: value for name, value in index.items() if value}
    puts = [
        aws.Put(
            photos_table,
            photo,
            "attribute_not_exists(#id) OR #source = :source",
            {"#id": KEY, "#source": "sourceKey"},
            {":source": photo["sourceKey"]},
        )
    ]
    if index.get("claim"):
        claim = {ENTRY: index["claim"], MEMBER: uniqueness.CLAIM_MEMBER, USER: photo[USER], KEY: photo[KEY]}
        names, values = {"#e": ENTRY, "#u": USER}, {":u": photo[USER]}
        puts.append(aws.Put(index_table, claim, "attribute_not_exists(#e) OR #u = :u", names, values))
    puts += [
        aws.Put(index_table, {ENTRY: entry, MEMBER: index["member"], "perceptualHash": photo["perceptualHash"]})
        for entry in index["bands"]
    ]
    aws.put_together(puts)


# Kept as first recorded when a backfill makes a photo's outputs again: who, when, from where.
_FIRST_RECORDED = ("uploadedAt", "sourceKey", "sourceBytes")
# Kept unless found again: a regeneration's uniqueness check finds the photo itself, so it
# cannot tell which other photo this one is close to.
_KEPT_UNLESS_FOUND = ("similarTo",)


def rerecord(table: str, item: dict[str, Any]) -> None:
    """Records a photo whose outputs were made again (a regenerating backfill): the outputs and
    what was read from the file replace the old values (fields now absent are removed), the
    upload's own fields stay as first recorded (or are set, for a photo that had no record)."""
    replaced = {k: v for k, v in item.items() if k not in (USER, KEY) and k not in _FIRST_RECORDED and v is not None}
    replaced["regeneratedAt"] = datetime.now(UTC).isoformat(timespec="milliseconds")
    first = {k: item[k] for k in _FIRST_RECORDED if item.get(k) is not None}
    gone = [k for k, v in item.items() if v is None and k not in _FIRST_RECORDED + _KEPT_UNLESS_FOUND]
    aws.update_item(table, key(item[USER], item[KEY]), replaced, first, gone)


def index_keys(item: dict[str, Any]) -> list[dict[str, str]]:
    """The uniqueness table's keys of a recorded photo's index entries (its band entries and,
    with the all-users scope, its content claim), read from its item."""
    index = item.get(INDEX_ENTRIES) or {}
    found = [{ENTRY: band, MEMBER: index["member"]} for band in index.get("bands", [])]
    if index.get("claim"):
        found.append({ENTRY: index["claim"], MEMBER: uniqueness.CLAIM_MEMBER})
    return found


def recorded_keys(table: str, user_id: str, photo_id: str) -> set[str]:
    """Output keys that a recorded photo refers to (which must never be discarded)."""
    # Strongly consistent: after a lost conditional write, the winner's item was written a moment ago.
    item = aws.get_item(table, key(user_id, photo_id), consistent=True) or {}
    found = {item[name] for name in ("originalKey", "pngKey", "thumbnailKey") if name in item}
    return found | {made["key"] for made in (item.get("renditions") or {}).values() if "key" in made}
