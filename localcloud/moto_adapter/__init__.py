"""Where moto falls short of AWS for this project's stack, and how the local cloud adapts it:
one module per AWS service, as moto itself is laid out. Each module's docstring lists the
gaps it closes, each with the test that shows it closed (tests/test_moto_adapter.py).

Everything else is moto as it is. What the local cloud adds beyond emulating a service (the
Lambda runtime, the REST API, the console) lives beside this package in `localcloud/`.
"""

from __future__ import annotations

from ..runtime import LambdaRuntime
from . import apigateway, awslambda, cloudformation, cloudwatch, cognitoidp, dynamodb, iam, s3, stepfunctions
from .awslambda import AsyncClock
from .cloudfront import install as install_cloudfront  # the photo app's distribution (docs/app.md)
from .stepfunctions import RetryClock

__all__ = ["AsyncClock", "RetryClock", "install"]

_installed: set[str] = set()


def install(runtime: LambdaRuntime, clock: RetryClock, async_clock: AsyncClock | None = None) -> None:
    """Applies every adaptation once per process; a later call (another LocalCloud in the same
    process, as the tests start) swaps in its runtime and clocks (Step Functions' Retry waits,
    Lambda's asynchronous retry waits)."""
    awslambda.use(runtime, async_clock)
    stepfunctions.use(clock, runtime.iam)
    cloudformation.use(runtime.iam)
    if _installed:
        return
    _installed.add("moto")
    for service in (cloudformation, stepfunctions, s3, awslambda, apigateway, cognitoidp, dynamodb, iam, cloudwatch):
        service.install()
    install_cloudfront()
