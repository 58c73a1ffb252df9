"""S3 gaps (moto.s3), closed here:

1. A bucket's NotificationConfiguration in a template is ignored by moto; it is applied.
   Tests: test_template_notifications_become_s3_api_notifications, and every upload in
   tests/test_workflow.py that starts an execution.
2. moto's S3 event records have no `sequencer`, which S3 always sends (it orders events for
   the same key and tells a re-upload from a redelivery); one is added, increasing.
   Test: test_s3_events_carry_a_sequencer.
3. moto calls a notified function synchronously (inside the PUT); S3 invokes it
   asynchronously: the event goes to the local Lambda runtime's async queue.
   Test: test_an_upload_returns_before_its_function_runs.
4. A browser POST upload (what a presigned POST is for) is stored whatever its policy says:
   moto reads neither the expiration nor the conditions, so a presigned POST for one key
   could write any key, any size, any type. The policy is enforced as S3 does: expired ->
   403; each condition (exact or `eq` match, `starts-with`, the bucket, `content-length-range`)
   must hold -> 403 AccessDenied "Policy Condition failed" (sizes: 400 EntityTooLarge /
   EntityTooSmall); every form field must be named by a condition -> 403 "Extra input
   fields"; a POST without a policy -> 403. The signature is not checked: the local cloud
   accepts any credentials, so whoever can reach it could sign a policy of their own anyway.
   Tests: test_a_presigned_post_cannot_write_another_key_or_break_its_conditions,
   test_post_policy_conditions_as_s3_reads_them.

5. moto keeps every object it ever stored: each key and multipart upload is also appended to
   a class-wide list (`instances_tracked`, for moto's dashboard), so an overwritten or deleted
   object's bytes stay in memory, or on disk in a temporary file above 5 MB, until the process
   ends. A run of the suite held ~9 GB of such files at its end and filled a CI machine's disk.
   S3 frees what is deleted: here that list holds its objects weakly, so a key the bucket no
   longer holds is freed (moto's own __del__ closes its file).
   Test: test_a_deleted_or_overwritten_object_lets_go_of_its_bytes.
6. ListObjectVersions deep-copied every version of every key in the bucket, whatever the
   prefix, bytes included (a new temporary file for each above 5 MB), on every call: listing
   one photo's versions copied the whole destination bucket. A listed version now shares its
   key's bytes (it only needs their size and ETag). Test: test_listing_versions_copies_no_bytes.

Fault injection (not a gap: S3 delivers events at least once, and on rare occasions late or
not at all): `drop_notifications` makes the next events for a bucket and key prefix vanish
before any function is invoked. Test: test_a_dropped_s3_event_is_picked_up_by_the_next_reconciliation
(tests/test_delivery.py).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import threading
import time
import uuid
import warnings
import weakref
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus
from xml.sax.saxutils import escape

from moto.s3 import notifications as s3_notifications
from moto.s3.models import FakeBucket, FakeKey, FakeMultipart, s3_backends
from moto.s3.responses import S3Response

from localcloud.services.awslambda import adapter as awslambda
from localcloud.services.cloudformation.adapter import extend_create


class _LiveInstances:
    """moto's instance tracker (a list it appends to and iterates), holding its instances weakly."""

    def __init__(self) -> None:
        self._instances: weakref.WeakSet[Any] = weakref.WeakSet()

    def append(self, instance: Any) -> None:
        self._instances.add(instance)

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._instances))

    def __len__(self) -> int:
        return len(self._instances)


class _ListedVersion(FakeKey):
    """A version as ListObjectVersions lists it: the key's attributes, sharing its bytes (moto
    deep-copies each version to mark the latest without touching the stored keys)."""

    def __new__(cls, key: FakeKey) -> _ListedVersion:
        return object.__new__(cls)  # not one of moto's tracked instances: nothing to dispose of

    def __init__(self, key: FakeKey) -> None:
        key.etag  # noqa: B018 - computed once, from the key's own bytes, before they are shared
        self.__dict__.update(key.__dict__)

    def dispose(self, garbage: bool = False) -> None:
        """The bytes are the stored key's: closing them is its business."""


def _free_what_the_bucket_lets_go() -> None:
    for model in (FakeKey, FakeMultipart):
        # undeclared: moto's InstanceTrackerMeta gives each model class its list when it is made
        model.instances_tracked = _LiveInstances()  # type: ignore[union-attr]
    FakeKey.__deepcopy__ = lambda key, memo: _ListedVersion(key)  # type: ignore[attr-defined]
    # moto's __del__ warns that the key was not disposed of before it was collected: here that
    # is how a key the bucket dropped is disposed of.
    warnings.filterwarnings("ignore", "S3 key was not disposed of in time", ResourceWarning)


def install() -> None:
    _free_what_the_bucket_lets_go()

    def apply_notifications(bucket: FakeBucket, properties: dict[str, Any], account_id: str) -> None:
        config = properties.get("NotificationConfiguration")
        if config:
            s3_backends[account_id][bucket.partition].put_bucket_notification_configuration(
                bucket.name, notification_from_template(config)
            )

    extend_create(FakeBucket, after=apply_notifications)

    original_s3_event = s3_notifications._get_s3_event
    sequence = itertools.count(1)

    def s3_event_with_sequencer(*args: Any, **kwargs: Any) -> dict[str, Any]:
        event = original_s3_event(*args, **kwargs)
        for record in event.get("Records", []):
            record["s3"]["object"].setdefault("sequencer", f"{time.time_ns():016X}{next(sequence):08X}")
        return event

    s3_notifications._get_s3_event = s3_event_with_sequencer

    def invoke_from_s3(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
        if _dropped(event_body):
            return
        awslambda.invoke_async(account_id, region_name, fn_arn, event_body)

    s3_notifications._invoke_awslambda = invoke_from_s3

    original_post = S3Response._bucket_response_post

    def bucket_response_post(self: S3Response, request: Any, bucket_name: str) -> Any:
        form = {name: value for name, value in self.form_data.items()}
        if "key" in form and "delete" not in self.querystring:
            body = self.body if isinstance(self.body, bytes | str) else b""
            refused = post_policy_violation(form, bucket_name, len(body), datetime.now(UTC))
            if refused:
                status, code, message = refused
                return status, {"Content-Type": "application/xml"}, _error_xml(code, message)
        return original_post(self, request, bucket_name)

    S3Response._bucket_response_post = bucket_response_post  # type: ignore[method-assign]


_drops: list[dict[str, Any]] = []
_drops_lock = threading.Lock()


def drop_notifications(bucket: str | None, prefix: str, times: int) -> None:
    """The next `times` events for objects under `prefix` (in `bucket`, or any) are lost."""
    with _drops_lock:
        _drops.append({"bucket": bucket, "prefix": prefix, "times": times})


def pending_drops() -> int:
    """Events still to be dropped."""
    with _drops_lock:
        return sum(drop["times"] for drop in _drops)


def clear_drops() -> None:
    with _drops_lock:
        _drops.clear()


def _dropped(event: dict[str, Any]) -> bool:
    record = event["Records"][0]["s3"]
    bucket, key = record["bucket"]["name"], unquote_plus(record["object"]["key"])
    with _drops_lock:
        for drop in _drops:
            if drop["times"] > 0 and drop["bucket"] in (None, bucket) and key.startswith(drop["prefix"]):
                drop["times"] -= 1
                return True
    return False


def notification_from_template(config: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's NotificationConfiguration in the shape moto's S3 API stores."""

    def rules(item: dict[str, Any]) -> dict[str, Any]:
        found = item.get("Filter", {}).get("S3Key", {}).get("Rules", [])
        return {"Filter": {"S3Key": {"FilterRule": found}}} if found else {}

    def events(item: dict[str, Any]) -> list[str]:
        return [item["Event"]] if isinstance(item["Event"], str) else list(item["Event"])

    return {
        "CloudFunctionConfiguration": [
            {"CloudFunction": item["Function"], "Event": events(item), **rules(item)}
            for item in config.get("LambdaConfigurations", [])
        ],
        "QueueConfiguration": [
            {"Queue": item["Queue"], "Event": events(item), **rules(item)}
            for item in config.get("QueueConfigurations", [])
        ],
        "TopicConfiguration": [
            {"Topic": item["Topic"], "Event": events(item), **rules(item)}
            for item in config.get("TopicConfigurations", [])
        ],
    }


# Form fields a POST policy need not name (S3's POST upload documentation).
_UNCHECKED_FIELDS = {"policy", "x-amz-signature", "awsaccesskeyid", "signature", "file"}


def post_policy_violation(
    form: Mapping[str, str], bucket: str, size: int, now: datetime
) -> tuple[int, str, str] | None:
    """Why S3 would refuse a browser POST upload (status, error code, message), or None."""
    fields = {name.lower(): value for name, value in form.items()}
    if "policy" not in fields:
        return 403, "AccessDenied", "Bucket POST must contain a field named 'policy' (the bucket is not public)"
    try:
        policy = json.loads(base64.b64decode(fields["policy"], validate=True))
        expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
        conditions = list(policy["conditions"])
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError):
        return 400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON."
    if expiration <= now:
        return 403, "AccessDenied", "Invalid according to Policy: Policy expired."
    values = fields | {"bucket": bucket}
    named: set[str] = set()
    for condition in conditions:
        if isinstance(condition, dict) and len(condition) == 1:
            [(name, expected)] = condition.items()
            condition = ["eq", f"${name}", expected]
        if not isinstance(condition, list) or len(condition) != 3:
            return 400, "InvalidPolicyDocument", f"Invalid Policy: Invalid Condition: {json.dumps(condition)}"
        operator = str(condition[0]).lower()
        if operator == "content-length-range":
            low, high = int(condition[1]), int(condition[2])
            if size > high:
                return 400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"
            if size < low:
                return 400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size"
            continue
        name = str(condition[1]).lstrip("$").lower()
        named.add(name)
        actual, expected = values.get(name, ""), str(condition[2])
        holds = actual == expected if operator == "eq" else actual.startswith(expected)
        if operator not in ("eq", "starts-with") or not holds:
            return 403, "AccessDenied", f"Invalid according to Policy: Policy Condition failed: {json.dumps(condition)}"
    extra = sorted(n for n in fields if n not in named and n not in _UNCHECKED_FIELDS and not n.startswith("x-ignore-"))
    if extra:
        return 403, "AccessDenied", f"Invalid according to Policy: Extra input fields: {', '.join(extra)}"
    return None


def _error_xml(code: str, message: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>"
        f"<RequestId>{uuid.uuid4().hex}</RequestId></Error>"
    )
