"""A temporary SQS queue subscribed to a stage's notifications topic, to read the notices
(rejections, duplicates) that the workflow publishes, as any subscriber gets them, with
public APIs only. Whoever creates one removes it (`remove`); `find` finds one that a killed
process left, by its name."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from .stage import Stage

if TYPE_CHECKING:
    from mypy_boto3_sqs.literals import QueueAttributeNameType


class NoticeQueue:
    def __init__(self, stage: Stage, name: str) -> None:
        self.stage, self.name = stage, name
        self.topic = stage.output("NotificationsTopicArn")
        self.url: str | None = None
        self.subscription: str | None = None
        self.received: dict[str, str] = {}  # SNS message id -> the message

    @property
    def arn(self) -> str:
        partition, _, _, region, account = self.topic.split(":")[:5]
        return f"arn:{partition}:sqs:{region}:{account}:{self.name}"

    def create(self) -> NoticeQueue:
        """The queue, which only the topic may send to (SNS delivers as its service principal),
        and its subscription to the topic."""
        sqs = self.stage.client("sqs")
        self.url = sqs.create_queue(QueueName=self.name)["QueueUrl"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": self.arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": self.topic}},
                }
            ],
        }
        # Attributes set apart, so that what it needs is plainly sqs:CreateQueue and sqs:SetQueueAttributes.
        attributes: dict[QueueAttributeNameType, str] = {
            "Policy": json.dumps(policy),
            "SqsManagedSseEnabled": "true",
            "VisibilityTimeout": "900",
        }
        sqs.set_queue_attributes(QueueUrl=self.url, Attributes=attributes)
        answer = self.stage.client("sns").subscribe(
            TopicArn=self.topic, Protocol="sqs", Endpoint=self.arn, ReturnSubscriptionArn=True
        )
        self.subscription = answer["SubscriptionArn"]
        return self

    @property
    def confirmed(self) -> bool:
        """Subscribed (a queue of the topic's own account needs no confirmation)."""
        return bool(self.subscription and self.subscription.startswith("arn:"))

    def wait_for(self, wanted: list[str], timeout: float) -> list[str]:
        """Reads notices until one contains each of `wanted` or the timeout; returns those not
        received (every notice read stays in `received`)."""
        sqs = self.stage.client("sqs")
        deadline = time.monotonic() + timeout
        while True:
            missing = [text for text in wanted if not any(text in notice for notice in self.received.values())]
            remaining = deadline - time.monotonic()
            if not missing or remaining <= 0 or not self.url:
                return missing
            answer = sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=max(1, min(10, int(remaining)))
            )
            for message in answer.get("Messages", []):
                envelope = json.loads(message["Body"])
                self.received[envelope.get("MessageId", message["MessageId"])] = envelope.get("Message", "")

    def remove(self) -> list[str]:
        """Unsubscribes and deletes the queue; what it removed (`subscription`, `queue`)."""
        removed = []
        try:
            if self.confirmed and self.subscription:
                self.stage.client("sns").unsubscribe(SubscriptionArn=self.subscription)
                self.subscription = None
                removed.append("subscription")
        finally:  # the queue goes even if the subscription cannot
            if self.url:
                self.stage.client("sqs").delete_queue(QueueUrl=self.url)
                self.url = None
                removed.append("queue")
        return removed

    @classmethod
    def find(cls, stage: Stage, name: str) -> NoticeQueue | None:
        """The queue of that name and its subscription, if they exist."""
        found = cls(stage, name)
        sqs = stage.client("sqs")
        try:
            found.url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except ClientError as error:
            if error.response["Error"]["Code"] in ("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"):
                return None
            raise
        pages = stage.client("sns").get_paginator("list_subscriptions_by_topic").paginate(TopicArn=found.topic)
        for page in pages:
            for subscription in page["Subscriptions"]:
                if subscription["Endpoint"] == found.arn:
                    found.subscription = subscription["SubscriptionArn"]
        return found
