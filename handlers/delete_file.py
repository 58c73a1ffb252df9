"""DeleteSourceFile: removes the upload once it has been processed, rejected or found to
be a duplicate (the workflow only gets here after those steps succeeded)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from .core import aws
from .core.observability import logger
from .core.workflow import SourceObject


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    source = SourceObject.from_state(event)
    aws.delete(source.bucket, source.key)
    logger.info("source deleted", extra={"key": source.key})
    return {"bucket": source.bucket, "key": source.key}
