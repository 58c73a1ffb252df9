"""reconcile (scheduled): uploads that have waited too long without an execution, and the events
in the failure queue, get one; uploads that failed too often are reported once. See
handlers/core/delivery.py."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from .core import delivery
from .core.errors import InvalidRequest, ReconcileIncomplete
from .core.observability import logger


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # A scheduled event carries nothing to read; an operator may invoke it with
    # {"olderThanMinutes": 0} to take up every waiting upload at once.
    older_than = event.get("olderThanMinutes") if isinstance(event, dict) else None
    if older_than is not None and (not isinstance(older_than, int) or isinstance(older_than, bool) or older_than < 0):
        raise InvalidRequest(f"olderThanMinutes must be a whole number of minutes, 0 or more, got {older_than!r}")
    run = delivery.reconcile(older_than_minutes=older_than)
    if run.upload_errors:
        # The run did all it could for the other uploads; failing it sets off its Errors alarm.
        logger.error("reconciled, with errors", extra=run.to_dict())
        raise ReconcileIncomplete(f"{len(run.upload_errors)} upload(s) could not be handled: {run.upload_errors[0]}")
    logger.info("reconciled", extra=run.to_dict())
    return run.to_dict()
