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
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from moto.s3 import notifications as s3_notifications
from moto.s3.models import FakeBucket, s3_backends

from . import awslambda
from .cloudformation import extend_create


def install() -> None:
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
        awslambda.invoke_async(account_id, region_name, fn_arn, event_body)

    s3_notifications._invoke_awslambda = invoke_from_s3


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
