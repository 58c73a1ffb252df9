"""The uniqueness policy: what an upload that matches a recorded photo becomes, and the keys
of the uniqueness index that make the near-duplicate lookup cost the same for any library.

No AWS here: `photos` reads and writes the tables, this module decides. The policy never
loses a distinct photo the operator did not ask to lose: every upload ends processed (maybe
flagged as close to another photo), skipped because its very bytes are already in the
user's library, or rejected with a notice and its upload kept or deleted as configured.

Near duplicates are found by banding the 64-bit perceptual hash: split into k+1 bands
(k = the distance setting), two hashes at most k bits apart agree on at least one whole band
(k differing bits can touch at most k bands). Each recorded photo writes one index entry per
band; a lookup reads the k+1 entries' partitions that match the upload's bands and checks
each candidate's full distance. A band of b bits has 2**b values, so a library of n photos
puts about n / 2**b photos in each partition read: 12 to 24 for 100,000 photos at k=4.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

HASH_BITS = 64
MAX_DISTANCE = 10  # beyond this, bands are too narrow (6 bits) to keep a lookup small

USER_SCOPE, ALL_USERS_SCOPE = "user", "all-users"
SCOPES = (USER_SCOPE, ALL_USERS_SCOPE)
SKIP, SKIP_SILENTLY = "skip", "skip-silently"
OWN_EXACT_CHOICES = (SKIP, SKIP_SILENTLY)
FLAG, REJECT = "flag", "reject"
NEAR_CHOICES = (FLAG, REJECT)
KEEP, DELETE = "keep", "delete"
REJECTED_UPLOAD_CHOICES = (KEEP, DELETE)

PROCESS = "process"  # the other actions are SKIP and REJECT
CLAIM_MEMBER = "owner"  # the sort key of a content claim: one claim per content hash


@dataclass(frozen=True)
class Policy:
    """One stage's settings (see .env.example). The defaults lose nothing: an exact copy of
    the user's own photo is skipped (its bytes are already stored), near duplicates are
    processed and flagged, and a rejected upload would be kept."""

    scope: str = USER_SCOPE  # whose photos an upload is compared with
    own_exact: str = SKIP  # an exact copy of the user's own photo: notice or not (never processed twice)
    near: str = FLAG  # a near duplicate: processed and flagged, or rejected
    rejected_upload: str = KEEP  # what becomes of a rejected upload
    distance: int = 4  # bits out of 64 at or under which two perceptual hashes are near

    def __post_init__(self) -> None:
        for value, choices in (
            (self.scope, SCOPES),
            (self.own_exact, OWN_EXACT_CHOICES),
            (self.near, NEAR_CHOICES),
            (self.rejected_upload, REJECTED_UPLOAD_CHOICES),
        ):
            if value not in choices:
                raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        if not 0 <= self.distance <= MAX_DISTANCE:
            raise ValueError(f"the near-duplicate distance must be 0 to {MAX_DISTANCE}, got {self.distance}")


@dataclass(frozen=True)
class Photo:
    """A recorded photo that an upload matches. `source_key` is only read for the uploader's
    own photos: another user's upload key is never shown to the uploader."""

    user_id: str
    photo_id: str
    source_key: str | None = None


@dataclass(frozen=True)
class Near:
    photo: Photo
    distance: int


@dataclass(frozen=True)
class Found:
    """What the lookup found: at most one exact match (the uploader's own first), and the
    near matches within the distance, closest first."""

    own_exact: Photo | None = None
    other_exact: Photo | None = None
    near: list[Near] = field(default_factory=list)


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    user_id: str


def band_widths(distance: int) -> list[int]:
    """k+1 bands as even as 64 bits allow (the wider ones first): 13, 13, 13, 13, 12 at k=4."""
    count = distance + 1
    base, wider = divmod(HASH_BITS, count)
    return [base + 1] * wider + [base] * (count - wider)


def bands(perceptual_hash: str, distance: int) -> list[str]:
    """The hash's band values, each as `<band number>.<hex value>`, from the top bits down."""
    value = int(perceptual_hash, 16)
    found, shift = [], HASH_BITS
    for number, width in enumerate(band_widths(distance)):
        shift -= width
        found.append(f"{number}.{(value >> shift) & ((1 << width) - 1):x}")
    return found


def namespace(policy: Policy, user_id: str) -> str:
    """Whose photos share index partitions: one user's, or everybody's (all-users scope)."""
    return "all-users" if policy.scope == ALL_USERS_SCOPE else f"user/{user_id}"


def band_entries(policy: Policy, user_id: str, perceptual_hash: str) -> list[str]:
    """Partition keys of the index entries of a hash. The distance is part of the key: a
    band layout only finds entries written with the same layout."""
    prefix = f"{namespace(policy, user_id)}/d{policy.distance}/b"
    return [prefix + band for band in bands(perceptual_hash, policy.distance)]


def claim_entry(content_hash: str) -> str:
    """Partition key of the content claim (all-users scope): the first user to record these
    bytes owns it, so a second user's concurrent copy cannot be recorded too."""
    return f"all-users/sha256/{content_hash}"


def member(user_id: str, photo_id: str) -> str:
    """Sort key of a band entry: which photo it indexes."""
    return f"{user_id}/{photo_id}"


def photo_of_member(value: str) -> tuple[str, str]:
    user_id, _, photo_id = value.partition("/")
    return user_id, photo_id


def index_to_write(policy: Policy, user_id: str, content_hash: str, perceptual_hash: str) -> dict[str, Any]:
    """The index entries WriteToDynamoDb writes with the photo: decided here, with the
    lookup, so that the layout written is the one that was read."""
    return {
        "member": member(user_id, content_hash),
        "bands": band_entries(policy, user_id, perceptual_hash),
        "claim": claim_entry(content_hash) if policy.scope == ALL_USERS_SCOPE else None,
    }


def closest(candidates: list[Near], user_id: str) -> Near | None:
    """The match a decision names: the uploader's own closest photo if there is one (a
    notice can name it), otherwise the closest of another user's."""
    own = [near for near in candidates if near.photo.user_id == user_id]
    ranked = sorted(own or candidates, key=lambda near: (near.distance, near.photo.photo_id))
    return ranked[0] if ranked else None


def decide(policy: Policy, upload: Upload, found: Found) -> dict[str, Any]:
    """CheckForDuplicate's answer, as the state machine routes on it: `duplicate` (not
    processed), `notify`, `keepUpload` and the `notice` to send; `similarTo` for a
    flagged photo. Another user's photo is described, never named, in the notice."""
    if found.own_exact:
        notice = _notice(
            "Duplicate photo",
            f"{upload.key} is a duplicate of {found.own_exact.source_key or 'a photo'} already in your library: "
            "it was not processed again, and the upload was deleted (its bytes are already stored).",
        )
        # The upload's own record (an earlier run recorded it, then failed before deleting the
        # upload): nothing to tell the user, who would read that a photo duplicates itself.
        itself = found.own_exact.source_key == upload.key
        return _answer(SKIP, "exact", found.own_exact, upload, None, notice) | {
            "notify": policy.own_exact == SKIP and not itself,
            "keepUpload": False,
        }
    if found.other_exact:
        return _rejected(policy, upload, "exact", found.other_exact, None)
    near = closest(found.near, upload.user_id)
    processed = {"duplicate": False, "action": PROCESS, "match": None, "notify": False, "keepUpload": False}
    if near is None:
        return processed
    if policy.near == REJECT:
        return _rejected(policy, upload, "near", near.photo, near.distance)
    return processed | {"match": "near", "similarTo": _similar(near, upload.user_id)}


def _rejected(policy: Policy, upload: Upload, match: str, photo: Photo, distance: int | None) -> dict[str, Any]:
    own = photo.user_id == upload.user_id
    if match == "exact":
        what = "the same photo is already in another user's library"
    elif own:
        what = f"it is {distance} bits of 64 away from your photo {photo.source_key} (near duplicates are not accepted)"
    else:
        what = f"a photo {distance} bits of 64 away is already in another user's library"
    kept = policy.rejected_upload == KEEP
    handled = f"Your upload was kept: s3://{upload.bucket}/{upload.key}" if kept else "The upload was deleted"
    notice = _notice("Duplicate photo not accepted", f"{upload.key} was not processed: {what}. {handled}.")
    return _answer(REJECT, match, photo, upload, distance, notice) | {"notify": True, "keepUpload": kept}


def _answer(
    action: str, match: str, photo: Photo, upload: Upload, distance: int | None, notice: dict[str, str]
) -> dict[str, Any]:
    own = photo.user_id == upload.user_id
    answer: dict[str, Any] = {"duplicate": True, "action": action, "match": match, "owner": "self" if own else "other"}
    if own:  # names the photo: the uploader's own only
        answer |= {"of": photo.photo_id, "ofKey": photo.source_key}
    if distance is not None:
        answer["distance"] = distance
    return answer | {"notice": notice}


def _similar(near: Near, user_id: str) -> dict[str, Any]:
    """What a flagged photo's item records about the photo it is close to (operators read
    the table; notices never name another user's photo)."""
    photo = near.photo
    if photo.user_id == user_id:
        return {"owner": "self", "photoId": photo.photo_id, "sourceKey": photo.source_key, "distance": near.distance}
    return {"owner": "other", "userId": photo.user_id, "photoId": photo.photo_id, "distance": near.distance}


def _notice(subject: str, message: str) -> dict[str, str]:
    return {"subject": subject, "message": message}
