"""Configuration from the environment that serverless.yml declares.

serverless.yml (with `.env.example`) is the single place that holds defaults; this module
only reads and validates, so a function that is missing a variable fails with a clear
message instead of running with a guessed value.
"""

from __future__ import annotations

import os

from . import renditions as declared_renditions
from . import uniqueness
from .errors import ConfigurationError


def _require(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set (see .env.example)")
    return value


def _require_int(name: str, minimum: int = 1) -> int:
    raw = _require(name)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


def upload_bucket() -> str:
    return _require("UPLOAD_BUCKET")


def upload_prefix() -> str:
    return _require("UPLOAD_PREFIX")


def backfill_prefix() -> str:
    """Everything of the backfills in the upload bucket: staged copies, manifests, reports."""
    return _require("BACKFILL_PREFIX")


def staging_prefix() -> str:
    """Where backfills stage copies in the upload bucket (keys.staged_key)."""
    return _require("BACKFILL_STAGING_PREFIX")


def destination_bucket() -> str:
    return _require("DESTINATION_BUCKET")


def photos_table() -> str:
    return _require("PHOTOS_TABLE")


def state_machine_arn() -> str:
    return _require("STATE_MACHINE_ARN")


def max_image_pixels() -> int:
    return _require_int("MAX_IMAGE_PIXELS")


def thumbnail_size() -> int:
    return _require_int("THUMBNAIL_SIZE", minimum=16)


def renditions() -> tuple[declared_renditions.Rendition, ...]:
    """The renditions the stage declares (RENDITIONS), largest first; `none` for none."""
    try:
        return declared_renditions.parse(_require("RENDITIONS"))
    except declared_renditions.RenditionsError as error:
        raise ConfigurationError(str(error)) from None


def png_compression() -> str:
    choice = _require("PNG_COMPRESSION")
    if choice not in ("fast", "small"):
        raise ConfigurationError(f"PNG_COMPRESSION must be 'fast' or 'small', got {choice!r}")
    return choice


def max_upload_bytes() -> int:
    return _require_int("MAX_UPLOAD_BYTES")


def presigned_max_bytes() -> int:
    return _require_int("PRESIGNED_MAX_BYTES")


def presigned_expiry_seconds() -> int:
    return _require_int("PRESIGNED_EXPIRY_SECONDS", minimum=60)


def uniqueness_table() -> str:
    return _require("UNIQUENESS_TABLE")


def uniqueness_policy() -> uniqueness.Policy:
    """The stage's uniqueness settings, each checked against its choices."""
    distance = _require_int("NEAR_DUPLICATE_DISTANCE", minimum=0)
    if distance > uniqueness.MAX_DISTANCE:
        raise ConfigurationError(f"NEAR_DUPLICATE_DISTANCE must be at most {uniqueness.MAX_DISTANCE}, got {distance}")
    return uniqueness.Policy(
        scope=_choice("DUPLICATE_SCOPE", uniqueness.SCOPES),
        own_exact=_choice("OWN_EXACT_DUPLICATE", uniqueness.OWN_EXACT_CHOICES),
        near=_choice("NEAR_DUPLICATE", uniqueness.NEAR_CHOICES),
        rejected_upload=_choice("REJECTED_DUPLICATE_UPLOAD", uniqueness.REJECTED_UPLOAD_CHOICES),
        distance=distance,
    )


def _choice(name: str, choices: tuple[str, ...]) -> str:
    choice = _require(name).lower()
    if choice not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, got {choice!r}")
    return choice


def keep_location() -> bool:
    """Whether GPS coordinates may leave GetFileType (into the state and the photos table).
    Off by default: only the fact that a photo carried a location is recorded."""
    choice = _require("KEEP_LOCATION").lower()
    if choice not in ("true", "false"):
        raise ConfigurationError(f"KEEP_LOCATION must be 'true' or 'false', got {choice!r}")
    return choice == "true"


_FORMATS = ("jpeg", "heif")  # the photo formats images.inspect knows


def accepted_formats() -> frozenset[str]:
    """The photo formats GetFileType accepts, e.g. `jpeg` (the article's rule) or
    `jpeg,heif` (iPhone and other HEIC photos too). AVIF is not one of them: Pillow reports
    its orientation and colour differently, and nothing here handles that yet."""
    raw = _require("ACCEPTED_FORMATS").lower()
    chosen = {name.strip() for name in raw.split(",") if name.strip()}
    unknown = sorted(chosen - set(_FORMATS))
    if unknown or not chosen:
        raise ConfigurationError(
            f"ACCEPTED_FORMATS must list one or more of {', '.join(_FORMATS)} (comma-separated), got {raw!r}"
        )
    return frozenset(chosen)


def quota_table() -> str:
    return _require("QUOTA_TABLE")


def daily_upload_quota() -> int:
    return _require_int("DAILY_UPLOAD_QUOTA")


def allowed_origins() -> frozenset[str]:
    """Browser origins that may read POST /upload's answers (CORS); `*` is refused, since the
    endpoint takes a user's credentials."""
    origins = frozenset(o.strip().rstrip("/") for o in _require("ALLOWED_ORIGINS").split(",") if o.strip())
    if "*" in origins:
        raise ConfigurationError("ALLOWED_ORIGINS must list origins, not '*'")
    return origins


# -- delivery: the failure queue and the reconciler ----------------------------------------
def failed_events_queue_url() -> str:
    return _require("FAILED_EVENTS_QUEUE_URL")


def operations_topic_arn() -> str:
    return _require("OPERATIONS_TOPIC_ARN")


def poison_prefix() -> str:
    return _require("POISON_PREFIX")


def reconcile_after_minutes() -> int:
    """How old an upload must be before the reconciler takes it up (0: at once)."""
    return _require_int("RECONCILE_AFTER_MINUTES", minimum=0)


def reconcile_max_attempts() -> int:
    """Executions of one upload that may fail before it is given up on and reported."""
    value = _require_int("RECONCILE_MAX_ATTEMPTS")
    if value > 20:
        raise ConfigurationError(f"RECONCILE_MAX_ATTEMPTS must be at most 20, got {value}")
    return value


def reconcile_max_starts() -> int:
    """Executions one reconciler run may start (and failure-queue messages it may take)."""
    return _require_int("RECONCILE_MAX_STARTS")


# -- the photos API ------------------------------------------------------------------------
def download_url_seconds() -> int:
    """How long the photos API's presigned download links work (60 s to 1 hour)."""
    value = _require_int("DOWNLOAD_URL_SECONDS", minimum=60)
    if value > 3600:
        raise ConfigurationError(f"DOWNLOAD_URL_SECONDS must be at most 3600, got {value}")
    return value


def user_pool_id() -> str:
    return _require("USER_POOL_ID")


def upload_status_table() -> str:
    return _require("UPLOAD_STATUS_TABLE")


def upload_status_days() -> int:
    """How long a finished upload's outcome is kept for GET /uploads/{id} (TTL)."""
    return _require_int("UPLOAD_STATUS_DAYS")
