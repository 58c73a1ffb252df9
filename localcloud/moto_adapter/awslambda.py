"""Lambda gaps (moto.awslambda), closed here:

1. moto runs function code only in Docker (or echoes the payload without it). Every
   invocation (state-machine Tasks, the Invoke API, S3 notifications, the REST API) runs the
   deployed code in the local Lambda runtime (localcloud/runtime.py) instead, with the
   function's log group created first, as Lambda does on a first invocation.
   Tests: tests/test_workflow.py end to end; test_invoke_runs_the_deployed_code.
2. moto's Invoke answers an error with `FunctionError: Handled`; Lambda reports `Unhandled`
   for every error a Python function raises or the runtime hits (timeouts, crashes), which
   is what clients such as Step Functions' Lambda integration look at.
   Test: test_invoke_runs_the_deployed_code.
3. moto ignores a function's reserved concurrency (PutFunctionConcurrency, or the template's
   ReservedConcurrentExecutions): it never throttles. The local runtime refuses an invocation
   over it, and Invoke answers 429 TooManyRequestsException, as Lambda does (a Step Functions
   Task sees `Lambda.TooManyRequestsException`; S3's asynchronous events stay queued).
   Test: test_a_function_is_throttled_over_its_reserved_concurrency (tests/test_alarms.py).
"""

from __future__ import annotations

from typing import Any

from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.models import LambdaFunction

from ..runtime import LambdaRuntime

_runtime: list[LambdaRuntime] = []


def use(runtime: LambdaRuntime) -> None:
    _runtime[:] = [runtime]


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
        answer = original_invoke(self, body, request_headers, response_headers)
        if "x-amz-function-error" in response_headers:
            response_headers["x-amz-function-error"] = "Unhandled"
        return answer

    LambdaFunction.invoke = invoke  # type: ignore[method-assign]


class TooManyRequests(LambdaClientError):
    code = 429

    def __init__(self) -> None:
        super().__init__("TooManyRequestsException", "Rate Exceeded.")


def invoke_async(account_id: str, region: str, function_arn: str, event: Any) -> None:
    """An asynchronous invocation (Lambda queues the event and answers at once)."""
    from moto.awslambda.utils import get_backend

    function = get_backend(account_id, region).get_function(function_arn)
    function.logs_backend.ensure_log_group(function.logs_group_name)
    _runtime[0].invoke_async(function, event)
