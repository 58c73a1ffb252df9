"""CopyToDestination: the original, byte for byte, into the destination bucket."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from .core import aws, config
from .core.observability import logger
from .core.workflow import SourceObject, photo_id


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    source = SourceObject.from_state(event)
    bucket, key = config.destination_bucket(), source.outputs(photo_id(event)).original
    aws.copy(source.bucket, source.key, bucket, key)
    logger.info("original copied", extra={"key": source.key, "to": key})
    return {"kind": "original", "bucket": bucket, "key": key, "bytes": source.size}
