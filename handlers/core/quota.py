"""The per-user daily upload quota: how many uploads (stored photos and presigned POSTs) one
signed-in user may make per UTC day, counted in the quota table.

One item per user and day (`<user>#<YYYY-MM-DD>`): the day is in the key, so a new day starts
from zero without any reset, and concurrent uploads are counted by one atomic conditional
update each (never past the limit). The item expires (DynamoDB TTL) a day after its day ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from . import aws, config
from .errors import QuotaExceeded

COUNTER = "uploads"
EXPIRES_AT = "expiresAt"  # the table's TimeToLiveSpecification attribute (serverless.yml)


@dataclass(frozen=True)
class Counted:
    """One upload counted against a user's day: `used` is the day's count with it."""

    key: dict[str, str]
    used: int
    limit: int


def take(user: str, now: datetime | None = None) -> Counted:
    """Counts one upload for `user` today; raises QuotaExceeded (nothing counted) when the
    day's uploads are used up."""
    now = now or datetime.now(UTC)
    limit = config.daily_upload_quota()
    tomorrow = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    key = counter_key(user, now.date())
    expires = int((tomorrow + timedelta(days=1)).timestamp())
    used = aws.add_if_below(config.quota_table(), key, COUNTER, limit, {EXPIRES_AT: expires})
    if used is None:
        raise QuotaExceeded(
            f"daily upload quota reached: {limit} uploads per day; "
            f"more from {tomorrow.strftime('%Y-%m-%d %H:%M')} UTC (nothing was stored)"
        )
    return Counted(key, used, limit)


def counter_key(user: str, day: date) -> dict[str, str]:
    """The key of `user`'s counter for one day."""
    return {"quotaKey": f"{user}#{day.isoformat()}"}


def give_back(counted: Counted) -> None:
    """Uncounts an upload that `take` counted but that was not stored after all."""
    aws.subtract_one(config.quota_table(), counted.key, COUNTER)
