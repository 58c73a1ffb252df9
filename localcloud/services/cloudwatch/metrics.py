"""CloudWatch metrics that AWS services publish by themselves, published here into moto's
CloudWatch (which only stores what PutMetricData sends it), so that `get-metric-statistics`
answers as on AWS and the alarms of the stack have data to evaluate (localcloud/services/cloudwatch/alarms.py):

- AWS/Lambda, per FunctionName, after every invocation of the local Lambda runtime:
  Invocations, Errors (a function error, a timeout or a crash), Duration (milliseconds) and
  Throttles (an invocation refused over the function's reserved concurrency; a throttled
  request counts in Throttles only, as on AWS).
- AWS/States, per StateMachineArn, as executions start and end: ExecutionsStarted,
  ExecutionsSucceeded, ExecutionsFailed, ExecutionsAborted, ExecutionsTimedOut,
  ExecutionsRedriven and ExecutionTime (milliseconds).
- AWS/SQS, per QueueName, sampled each time alarms are evaluated (SQS sends them every
  minute): ApproximateNumberOfMessagesVisible, ApproximateNumberOfMessagesNotVisible and
  ApproximateAgeOfOldestMessage (seconds).

Not published: ExecutionThrottled (Step Functions throttles state transitions over an
account quota the local cloud does not have, so an alarm on it never sees a datapoint), and
every other metric of these namespaces.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from localcloud.services.awslambda.runtime import Invocation, LambdaRuntime

_EXECUTION_ENDS = {
    "SUCCEEDED": "ExecutionsSucceeded",
    "FAILED": "ExecutionsFailed",
    "ABORTED": "ExecutionsAborted",
    "TIMED_OUT": "ExecutionsTimedOut",
}


def put(
    account: str,
    region: str,
    namespace: str,
    name: str,
    dimensions: dict[str, str],
    value: float,
    unit: str,
    at: datetime | None = None,
) -> None:
    """One datapoint into moto's CloudWatch, as the service itself would send it."""
    from moto.cloudwatch.models import cloudwatch_backends

    datum = {
        "MetricName": name,
        "Dimensions": [{"Name": key, "Value": text} for key, text in dimensions.items()],
        "Value": value,
        "Unit": unit,
        # naive UTC, as moto keeps the datapoints PutMetricData sends (it compares them so)
        "Timestamp": (at or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None),
    }
    cloudwatch_backends[account][region].put_metric_data(namespace, [datum])


class Metrics:
    """Publishes the metrics above; `clock` gives the datapoints' time (seconds since the
    epoch), so a test can place them."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # -- Lambda -----------------------------------------------------------------------
    def attach(self, runtime: LambdaRuntime) -> None:
        runtime.observe(self.lambda_invocation)

    def lambda_invocation(self, function: Any, invocation: Invocation) -> None:
        account, region = function.account_id, function.region
        dimensions = {"FunctionName": function.function_name}
        at = self.now()
        if getattr(invocation, "throttled", False):
            put(account, region, "AWS/Lambda", "Throttles", dimensions, 1, "Count", at)
            return
        put(account, region, "AWS/Lambda", "Invocations", dimensions, 1, "Count", at)
        put(account, region, "AWS/Lambda", "Errors", dimensions, 1 if invocation.errored else 0, "Count", at)
        # Lambda's Duration is the handler's time: a cold start's INIT and the wait for a free
        # worker are not in it (duration_ms, the runtime's whole time, would count them).
        handler_ms = invocation.handler_ms if invocation.handler_ms is not None else invocation.duration_ms
        put(account, region, "AWS/Lambda", "Duration", dimensions, round(handler_ms, 2), "Milliseconds", at)

    # -- Step Functions ---------------------------------------------------------------
    def execution_event(self, event: str, execution: Any) -> None:
        """`event`: "started", "redriven" or "ended" (the Step Functions adapter tells)."""
        arn = execution.state_machine_arn
        account, region = arn.split(":")[4], arn.split(":")[3]
        dimensions = {"StateMachineArn": arn}
        at = self.now()
        if event == "started":
            put(account, region, "AWS/States", "ExecutionsStarted", dimensions, 1, "Count", at)
        elif event == "redriven":
            put(account, region, "AWS/States", "ExecutionsRedriven", dimensions, 1, "Count", at)
        elif event == "ended" and execution.status in _EXECUTION_ENDS:
            put(account, region, "AWS/States", _EXECUTION_ENDS[execution.status], dimensions, 1, "Count", at)
            if execution.stop_date and execution.start_date:
                elapsed = (execution.stop_date - execution.start_date).total_seconds() * 1000
                put(account, region, "AWS/States", "ExecutionTime", dimensions, round(elapsed, 1), "Milliseconds", at)

    # -- SQS --------------------------------------------------------------------------
    def sample_queues(self) -> None:
        """The queue gauges SQS publishes every minute, as they stand now."""
        from moto.sqs.models import sqs_backends

        at = self.now()
        now_ms = at.timestamp() * 1000
        for account, regions in list(sqs_backends.items()):
            for region, backend in list(regions.items()):
                for queue in list(backend.queues.values()):
                    dimensions = {"QueueName": queue.name}
                    messages = list(queue._messages)
                    visible = [m for m in messages if m.visible and not m.delayed]
                    # moto declares it None (its value until the message is sent, an int after)
                    sent: list[int | None] = [m.sent_timestamp for m in messages]
                    oldest = min((stamp for stamp in sent if stamp), default=None)
                    age = max(0.0, (now_ms - oldest) / 1000) if oldest else 0.0
                    for name, value, unit in (
                        ("ApproximateNumberOfMessagesVisible", len(visible), "Count"),
                        ("ApproximateNumberOfMessagesNotVisible", len(messages) - len(visible), "Count"),
                        ("ApproximateAgeOfOldestMessage", round(age), "Seconds"),
                    ):
                        put(account, region, "AWS/SQS", name, dimensions, value, unit, at)
