"""Every service's moto adapter (`services/<service>/adapter.py`), applied to moto once per
process: where moto falls short of AWS for this project's stack. Each adapter's docstring lists
the gaps it closes, each with the test that shows it closed (tests/test_moto_adapter.py).
Everything else is moto as it is.
"""

from __future__ import annotations

from .apigateway import adapter as apigateway
from .awslambda import adapter as awslambda
from .awslambda.adapter import AsyncClock
from .awslambda.runtime import LambdaRuntime
from .cloudformation import adapter as cloudformation
from .cloudfront.adapter import install as install_cloudfront
from .cloudwatch import adapter as cloudwatch
from .cognitoidp import adapter as cognitoidp
from .dynamodb import adapter as dynamodb
from .iam import adapter as iam
from .s3 import adapter as s3
from .stepfunctions import adapter as stepfunctions
from .stepfunctions.adapter import RetryClock

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
