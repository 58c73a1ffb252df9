"""Lambda gaps (moto.awslambda), closed here:

1. moto runs function code only in Docker (or echoes the payload without it). Every
   invocation (state-machine Tasks, the Invoke API, S3 notifications, the REST API) runs the
   deployed code in the local Lambda runtime (localcloud/services/awslambda/runtime.py) instead, with the
   function's log group created first, as Lambda does on a first invocation.
   Tests: tests/test_workflow.py end to end; test_invoke_runs_the_deployed_code.
2. moto's Invoke answers an error with `FunctionError: Handled`; Lambda reports `Unhandled`
   for every error a Python function raises or the runtime hits (timeouts, crashes), which
   is what clients such as Step Functions' Lambda integration look at.
   Test: test_invoke_runs_the_deployed_code.
3. A function created from a template loses its `Layers` (moto's CloudFormation passes only a
   few properties on), so it ran as if it had none (and on x86_64, losing `Architectures`);
   a layer version loses its `CompatibleArchitectures`; a stack update that changes a function failed on its layers
   (a Ref to a layer reached moto as the layer object, not its ARN). All three are fixed.
   Test: test_template_functions_keep_their_layers (tests/test_template.py).
4. Asynchronous invocation (S3 notifications, schedules, Invoke with InvocationType=Event).
   moto runs an Event invoke inside the request, never retries one, skips
   AWS::Lambda::EventInvokeConfig in templates (PutFunctionEventInvokeConfig appends a
   configuration and keeps reading the first) and never delivers to a destination. Here, as on
   Lambda: the event is queued and the call answers 202 at once; an invocation that fails is
   retried MaximumRetryAttempts times (default 2), about one and then two minutes later (the
   waits go through an AsyncClock: recorded, and scaled like the Step Functions RetryClock, so
   tests do not wait); an event that would be older than MaximumEventAgeInSeconds (default 6
   hours) at its next try is not retried; then the OnFailure destination (OnSuccess after a
   success), an SQS queue, SNS topic or function, gets Lambda's destination record (version,
   timestamp, requestContext with requestId, functionArn, condition RetriesExhausted or
   EventAgeExceeded, approximateInvokeCount; requestPayload, responseContext,
   responsePayload), sent with the function's execution role, so IAM checks the send. A
   delivery that fails (denied, no such queue) is dropped, as Lambda drops it, and recorded.
   An event the local cloud itself fails on (an unexpected error) is logged and ends as a
   failure (OnFailure, a `Runtime.Unknown` error) rather than vanishing.
   EventInvokeConfig resources of a template are created; a put replaces the configuration.
   Tests: test_an_event_invoke_config_comes_from_the_template,
   test_async_retries_wait_as_lambda_and_the_destination_gets_lambdas_record (with the 202),
   test_an_event_too_old_to_retry_goes_to_the_destination_at_once (tests/test_moto_adapter.py);
   test_a_destination_the_role_may_not_send_to_gets_nothing (tests/test_iam_enforcement.py);
   tests/test_delivery.py end to end.
5. moto ignores a function's reserved concurrency (PutFunctionConcurrency, or the template's
   ReservedConcurrentExecutions): it never throttles. The local runtime refuses an invocation
   over it, and Invoke answers 429 TooManyRequestsException, as Lambda does (a Step Functions
   Task sees `Lambda.TooManyRequestsException`; an asynchronous event stays queued and is
   tried again, after waits that double from 1 s up to 5 minutes (scaled by the AsyncClock),
   for up to its maximum event age, without counting as a retry).
   Test: test_a_function_is_throttled_over_its_reserved_concurrency (tests/test_alarms.py).

Not emulated: EventBridge destinations.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3.session
from botocore.config import Config
from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.models import LambdaBackend, LambdaFunction, LayerVersion, lambda_backends

from localcloud.clients import client_of
from localcloud.services.cloudformation import adapter as cloudformation
from localcloud.services.cloudformation.adapter import TemplateResource, register
from localcloud.services.stepfunctions.adapter import RetryClock

from .runtime import Invocation, LambdaRuntime

# Lambda's waits between tries of an asynchronous event: about one minute, then two.
RETRY_WAITS = (60.0, 120.0)
DEFAULT_RETRIES = 2
DEFAULT_MAX_EVENT_AGE = 21600
# A throttled event is tried again after about a second, and Lambda backs off from there up to
# 5 minutes (doubling here, as long as it stays throttled); never sooner than THROTTLE_FLOOR
# here, even with the waits scaled to nothing.
THROTTLE_WAIT, THROTTLE_MAX_WAIT, THROTTLE_FLOOR = 1.0, 300.0, 0.2


@dataclass
class AsyncClock(RetryClock):
    """The RetryClock of asynchronous retries: a wait is recorded, and the next try is queued
    after the wait times `scale`, without holding a thread meanwhile. `stop` drops the tries
    still waiting (the local cloud stops: its runtime would refuse them anyway)."""

    _timers: set[threading.Timer] = field(default_factory=set)

    def after(self, seconds: float, action: Callable[[], None], floor: float = 0.0) -> None:
        def fire() -> None:
            with self._lock:
                self._timers.discard(timer)
            action()

        timer = threading.Timer(max(floor, seconds * self.scale), fire)
        timer.daemon = True
        with self._lock:
            self.waits.append(seconds)
            self._timers.add(timer)
        timer.start()

    def stop(self) -> None:
        with self._lock:
            timers, self._timers = self._timers, set()
        for timer in timers:
            timer.cancel()


LOG = logging.getLogger(__name__)
_runtime: list[LambdaRuntime] = []
_clock: list[AsyncClock] = [AsyncClock()]
_deliveries: list[dict[str, Any]] = []
_lock = threading.Lock()


def use(runtime: LambdaRuntime, clock: AsyncClock | None = None) -> None:
    _runtime[:] = [runtime]
    if clock is not None:
        _clock[:] = [clock]


def deliveries() -> list[dict[str, Any]]:
    """What destinations were sent since the last call (function, condition, destination,
    delivered, error), and forgets them."""
    with _lock:
        taken = list(_deliveries)
        _deliveries.clear()
    return taken


class EventInvokeConfigFromTemplate(TemplateResource):
    """AWS::Lambda::EventInvokeConfig: the function's asynchronous invocation settings."""

    resource_type = "AWS::Lambda::EventInvokeConfig"

    def __init__(self, function_arn: str) -> None:
        self.function_arn = function_arn

    @property
    def physical_resource_id(self) -> str:
        return self.function_arn

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> EventInvokeConfigFromTemplate:
        properties = cloudformation_json.get("Properties", {})
        settings = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
        config = {name: properties[name] for name in settings if name in properties}
        for name in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
            if name in config:
                config[name] = int(config[name])
        backend = lambda_backends[account_id][region_name]
        backend.put_function_event_invoke_config(properties["FunctionName"], config)
        return cls(backend.get_function(properties["FunctionName"]).function_arn)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: EventInvokeConfigFromTemplate,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> EventInvokeConfigFromTemplate:
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        function = cloudformation_json.get("Properties", {}).get("FunctionName", resource_name)
        lambda_backends[account_id][region_name].get_function(function).event_invoke_config = []


class TooManyRequests(LambdaClientError):
    code = 429

    def __init__(self) -> None:
        super().__init__("TooManyRequestsException", "Rate Exceeded.")


def install() -> None:
    def invoke_lambda(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        self.logs_backend.ensure_log_group(self.logs_group_name)
        result = _runtime[0].invoke(self, event if event is not None else {})
        if result.throttled:
            raise TooManyRequests()
        return result.payload, result.errored, result.logs

    LambdaFunction._invoke_lambda = invoke_lambda  # type: ignore[method-assign]

    original_invoke = LambdaFunction.invoke

    def invoke(self: LambdaFunction, body: str, request_headers: Any, response_headers: Any) -> str | bytes:
        if request_headers.get("x-amz-invocation-type") == "Event":
            queue(self, json.loads(body) if body else {})
            return b""
        answer = original_invoke(self, body, request_headers, response_headers)
        if "x-amz-function-error" in response_headers:
            response_headers["x-amz-function-error"] = "Unhandled"
        return answer

    LambdaFunction.invoke = invoke  # type: ignore[method-assign]

    def layer_arns(properties: dict[str, Any]) -> list[str]:
        # a Ref to a layer in the same template resolves to the LayerVersion itself
        return [getattr(layer, "arn", layer) for layer in properties.get("Layers") or []]

    def keep_layers(function: LambdaFunction, properties: dict[str, Any], account_id: str) -> None:
        if properties.get("Layers"):
            function.layers = function._get_layers_data(layer_arns(properties))
        # the CPU the runtime runs it on (localcloud/services/awslambda/runtime.py); moto's template path drops it
        function.architectures = list(properties.get("Architectures") or ["x86_64"])

    original_update = cloudformation.classmethod_function(LambdaFunction.update_from_cloudformation_json)

    def update(cls: type, /, *args: Any, **kw: Any) -> Any:
        template = kw["cloudformation_json"] if "cloudformation_json" in kw else args[2]
        properties = template.get("Properties", {})
        if properties.get("Layers"):
            properties["Layers"] = layer_arns(properties)
        return original_update(cls, *args, **kw)

    LambdaFunction.update_from_cloudformation_json = classmethod(update)  # type: ignore[method-assign,assignment]

    def keep_architectures(layer: LayerVersion, properties: dict[str, Any], account_id: str) -> None:
        layer.compatible_architectures = properties.get("CompatibleArchitectures", [])

    cloudformation.extend_create(LambdaFunction, after=keep_layers)
    cloudformation.extend_create(LayerVersion, after=keep_architectures)

    original_put = LambdaBackend.put_function_event_invoke_config

    def put_config(self: LambdaBackend, function_name: str, config: dict[str, Any]) -> dict[str, Any]:
        self.get_function(function_name).event_invoke_config = []
        return original_put(self, function_name, config)

    LambdaBackend.put_function_event_invoke_config = put_config  # type: ignore[method-assign]
    register(EventInvokeConfigFromTemplate)


def invoke_async(
    account_id: str, region: str, function_arn: str, event: Any, done: Callable[[Invocation], None] | None = None
) -> None:
    """An asynchronous invocation (Lambda queues the event and answers at once); `done` is
    called with the last try's result once Lambda is finished with the event."""
    queue(lambda_backends[account_id][region].get_function(function_arn), event, done)


def queue(function: LambdaFunction, event: Any, done: Callable[[Invocation], None] | None = None) -> None:
    function.logs_backend.ensure_log_group(function.logs_group_name)
    _AsyncEvent(_runtime[0], _clock[0], function, event, done).submit()


class _AsyncEvent:
    """One event on Lambda's asynchronous queue, from its first try to its destination."""

    def __init__(
        self,
        runtime: LambdaRuntime,
        clock: AsyncClock,
        function: LambdaFunction,
        event: Any,
        done: Callable[[Invocation], None] | None,
    ) -> None:
        self.runtime, self.clock, self.function, self.event, self.done = runtime, clock, function, event, done
        self.request_id = str(uuid.uuid4())
        self.attempts = 0
        self.throttles = 0  # in a row, since the last try: how far the next wait has backed off
        self.finished = False
        self.age = 0.0  # seconds since queued, with the waits as Lambda would wait them

    def submit(self) -> None:
        with contextlib.suppress(RuntimeError):  # the runtime stopped: the cloud is shutting down
            self.runtime.submit(self.safe_attempt)

    def safe_attempt(self) -> None:
        """`attempt`, on the runtime's thread pool, which keeps what a task raises to itself: an
        unexpected error is logged and the event finishes as a failure instead of vanishing."""
        try:
            self.attempt()
        except Exception as error:
            LOG.exception("asynchronous invocation of %s failed", self.function.function_name)
            if self.finished:  # the destination was sent or `done` called already: not twice
                return
            message = f"RequestId: {self.request_id} Error: localcloud failed to invoke the function: {error!r}"
            payload = json.dumps({"errorType": "Runtime.Unknown", "errorMessage": message})
            result = Invocation(payload, True, message + "\n")
            try:
                self.finish(_invoke_config(self.function), "OnFailure", "RetriesExhausted", result)
            except Exception:
                LOG.exception(
                    "asynchronous invocation of %s: its failure was not delivered", self.function.function_name
                )

    def attempt(self) -> None:
        config = _invoke_config(self.function)
        started = time.monotonic()
        result = self.runtime.invoke(self.function, self.event)
        self.age += time.monotonic() - started
        if result.throttled:  # still queued: not a try, as long as the event is young enough
            wait = min(THROTTLE_MAX_WAIT, THROTTLE_WAIT * 2**self.throttles)
            if self.age + wait > int(config.get("MaximumEventAgeInSeconds", DEFAULT_MAX_EVENT_AGE)):
                self.finish(config, "OnFailure", "EventAgeExceeded", result)
                return
            self.throttles += 1
            self.age += wait
            self.clock.after(wait, self.submit, floor=THROTTLE_FLOOR)
            return
        self.attempts += 1
        self.throttles = 0  # it ran: a later throttle backs off from the start again
        if not result.errored:
            self.finish(config, "OnSuccess", "Success", result)
            return
        if self.attempts > int(config.get("MaximumRetryAttempts", DEFAULT_RETRIES)):
            self.finish(config, "OnFailure", "RetriesExhausted", result)
            return
        wait = RETRY_WAITS[min(self.attempts, len(RETRY_WAITS)) - 1]
        if self.age + wait > int(config.get("MaximumEventAgeInSeconds", DEFAULT_MAX_EVENT_AGE)):
            self.finish(config, "OnFailure", "EventAgeExceeded", result)
            return
        self.age += wait
        self.clock.after(wait, self.submit)

    def finish(self, config: dict[str, Any], kind: str, condition: str, result: Invocation) -> None:
        self.finished = True
        try:
            self.deliver(config, kind, condition, result)
        finally:
            if self.done:
                self.done(result)

    def deliver(self, config: dict[str, Any], kind: str, condition: str, result: Invocation) -> None:
        destination = config.get("DestinationConfig", {}).get(kind, {}).get("Destination")
        if not destination:
            return
        record = self.record(condition, result)
        outcome: dict[str, Any] = {"function": self.function.function_name, "condition": condition}
        outcome |= {"destination": destination, "delivered": True, "error": None}
        try:
            send(self.runtime, self.function, destination, record)
        except Exception as error:  # Lambda drops a record it cannot deliver
            outcome |= {"delivered": False, "error": str(error)}
            self.function.save_logs(f"localcloud: the {kind} destination {destination} was not sent: {error}\n")
        with _lock:
            _deliveries.append(outcome)

    def record(self, condition: str, result: Invocation) -> dict[str, Any]:
        """Lambda's destination record (the AWS Lambda Developer Guide, "Invocation records")."""
        try:
            payload = json.loads(result.payload)
        except ValueError:
            payload = result.payload
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if result.errored:
            response["functionError"] = "Unhandled"
        return {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "requestContext": {
                "requestId": self.request_id,
                "functionArn": f"{self.function.function_arn}:$LATEST",
                "condition": condition,
                "approximateInvokeCount": self.attempts,
            },
            "requestPayload": self.event,
            "responseContext": response,
            "responsePayload": payload,
        }


def _invoke_config(function: LambdaFunction) -> dict[str, Any]:
    configs = getattr(function, "event_invoke_config", [])
    return dict(configs[0].config) if configs else {}


def send(runtime: LambdaRuntime, function: LambdaFunction, destination: str, record: dict[str, Any]) -> None:
    """Sends a record to a destination as Lambda does: with the function's execution role."""
    service, region, account, resource = destination.split(":", 5)[2:6]
    credentials = runtime.iam.function_credentials(function) if runtime.iam else None
    keys = (credentials.access_key, credentials.secret_key, credentials.session_token) if credentials else None
    # A session of its own: boto3's default session is not thread-safe, and records of many
    # events may be sent at once (from the runtime's pool and the retry timers).
    client = client_of(
        {"sqs": "sqs", "sns": "sns", "lambda": "lambda"}.get(service, service),
        boto3.session.Session(),
        region_name=region or function.region,
        endpoint_url=runtime.endpoint,
        aws_access_key_id=keys[0] if keys else "localcloud",
        aws_secret_access_key=keys[1] if keys else "localcloud",
        aws_session_token=keys[2] if keys else None,
        config=Config(retries={"max_attempts": 2, "mode": "standard"}),
    )
    body = json.dumps(record)
    if service == "sqs":
        client.send_message(QueueUrl=f"{runtime.endpoint}/{account}/{resource}", MessageBody=body)
    elif service == "sns":
        client.publish(TopicArn=destination, Message=body)
    elif service == "lambda":
        client.invoke(FunctionName=destination, InvocationType="Event", Payload=body)
    else:
        raise ValueError(f"destinations of type {service} are not emulated locally")
