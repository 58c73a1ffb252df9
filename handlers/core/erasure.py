"""Erasure: one photo (DELETE /photos/{id}), or a whole account (DELETE /me, and the operator's
`python -m ops erase-user`).

A photo goes in an order that can be resumed: every version of each of its outputs (the
destination bucket is versioned: deleting the current version alone would keep the bytes as
a noncurrent one), then its uniqueness index entries, then its record last, since the record
is what names the rest. A crash anywhere leaves the record, so running the erasure again
finishes it; once the record is gone, the photo is gone.

An account goes photo by photo (each as above, a fixed number of requests per photo: the cost
never grows with the library's size), then the recorded outcomes of its uploads, its uploads
still in the upload bucket (waiting, failed or kept as duplicates), its quota counters, and
last the user in the pool, so that a user who is stopped half-way can still sign in and ask
again, and the operator's command can always finish it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from . import aws, config, library, photos, quota, upload_status

# Quota counters are kept one per day (`<user>#<YYYY-MM-DD>`) and TTL removes them a day after
# their day; DynamoDB's TTL may take a few days more. Every counter that can still exist is
# one of the last ERASED_COUNTER_DAYS days: that many DeleteItems, whatever the account's age.
ERASED_COUNTER_DAYS = 10
PHOTOS_PER_PAGE = 25  # photo records read per Query while erasing an account
UPLOADS_PER_REQUEST = 1000


def erase_photo(user: str, photo_id: str) -> bool:
    """Erases one of the user's photos; False if the user has no such photo (another user's
    is never touched: the record is looked up in the caller's own partition)."""
    item = library.record(user, photo_id)
    if item is None:
        return False
    _erase_recorded(item)
    return True


def _erase_recorded(item: dict[str, Any]) -> None:
    bucket = item.get("bucket") or config.destination_bucket()
    for key in library.output_keys_of(item).values():
        aws.delete_versions(bucket, aws.object_versions(bucket, key))
    for entry in photos.index_keys(item):
        aws.delete_item(config.uniqueness_table(), entry)
    aws.delete_item(config.photos_table(), photos.key(item[photos.USER], item[photos.KEY]))


@dataclass
class Erased:
    """What one pass of an account's erasure removed, and whether it finished."""

    photos: int = 0
    uploads: int = 0
    counters: int = 0
    pool_user: bool = False
    done: bool = False


def erase_account(
    user: str, username: str | None, keep_going: Callable[[], bool] = lambda: True, pool_id: str | None = None
) -> Erased:
    """Erases everything of `user` (a `sub`) while `keep_going()` holds: photos, uploads,
    quota counters, then the pool user `username` (if given). Call again until `done`: each
    call goes on from what is left."""
    erased = Erased()
    while True:
        found, _ = aws.query_page(
            config.photos_table(), None, "#u = :u", {"#u": photos.USER}, {":u": user}, PHOTOS_PER_PAGE, None, False
        )
        if not found:
            break
        for item in found:
            if not keep_going():
                return erased
            _erase_recorded(item)
            erased.photos += 1
    while True:
        outcomes, _ = aws.query_page(
            config.upload_status_table(), None, "#u = :u", {"#u": upload_status.USER}, {":u": user}, 100, None, False
        )
        if not outcomes:
            break
        for item in outcomes:
            if not keep_going():
                return erased
            aws.delete_item(
                config.upload_status_table(), {k: item[k] for k in (upload_status.USER, upload_status.UPLOAD)}
            )
    prefix = f"{config.upload_prefix()}{user}/"
    while keep_going():
        waiting = aws.first_keys(config.upload_bucket(), prefix, UPLOADS_PER_REQUEST)
        if not waiting:
            break
        aws.delete_versions(config.upload_bucket(), [{"Key": key} for key in waiting])
        erased.uploads += len(waiting)
    else:
        return erased
    today = datetime.now(UTC).date()
    for days_ago in range(ERASED_COUNTER_DAYS):
        day = today - timedelta(days=days_ago)
        aws.delete_item(config.quota_table(), quota.counter_key(user, day))
        erased.counters += 1
    if username:
        erased.pool_user = aws.delete_pool_user(pool_id or config.user_pool_id(), username)
    erased.done = True
    return erased
