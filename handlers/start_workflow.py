"""startWorkflow: one execution per uploaded object. Its name comes from the object as S3
holds it (see handlers/core/delivery.py), so a duplicate delivery of the same event, Lambda's
retries of it and the reconciler cannot process a photo twice."""

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.typing import LambdaContext

from .core import delivery
from .core.observability import logger
from .core.workflow import SourceObject


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    executions = []
    for record in S3Event(event).records:
        s3_object = record.s3.get_object
        source = SourceObject(
            bucket=record.s3.bucket.name,
            # S3 URL-encodes keys in events ('+' for a space); Powertools' S3Event does not decode.
            key=unquote_plus(s3_object.key),
            size=s3_object.size,
            etag=s3_object.get("eTag"),
            sequencer=s3_object.get("sequencer"),
        )
        result = delivery.start_from_event(source)
        message = "execution started" if result["started"] else "event already handled"
        logger.info(result.get("reason", message), extra={"key": source.key, "execution": result["executionArn"]})
        executions.append(result)
    return {"executions": executions}
