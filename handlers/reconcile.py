"""reconcile (scheduled): uploads that have waited too long without an execution, and the events
in the failure queue, get one; uploads that failed too often are reported once. See
handlers/core/delivery.py."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from .core import delivery
from .core.observability import logger


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # A scheduled event carries nothing to read; an operator may invoke it with
    # {"olderThanMinutes": 0} to take up every waiting upload at once.
    older_than = event.get("olderThanMinutes") if isinstance(event, dict) else None
    run = delivery.reconcile(older_than_minutes=int(older_than) if older_than is not None else None)
    logger.info("reconciled", extra=run.to_dict())
    return run.to_dict()
