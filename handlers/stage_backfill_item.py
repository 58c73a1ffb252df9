"""StageCopy (backfill workflow): one object of a backfill, copied into the upload bucket's
staging area; its result is the input of the image workflow execution that processes it."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from .core import backfill, config
from .core.observability import logger


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    own = (config.upload_prefix(), config.backfill_prefix(), config.poison_prefix())
    state = backfill.stage(event, config.upload_bucket(), config.staging_prefix(), own)
    staged = {"source": state["backfill"]["source"], "key": state["s3"]["object"]["key"]}
    logger.info("backfill item staged", extra=staged)
    return state
