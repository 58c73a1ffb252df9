"""startWorkflow: one execution per uploaded object. The execution name is derived from
the S3 event, so a duplicate delivery of the same event cannot process a photo twice."""

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.typing import LambdaContext

from .core import aws, config, keys
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
        name = keys.execution_name(source.bucket, source.key, source.sequencer)
        arn, started = aws.start_execution(config.state_machine_arn(), name, source.to_state(source.user_id))
        logger.info(
            "execution started" if started else "event already handled", extra={"key": source.key, "execution": arn}
        )
        executions.append({"key": source.key, "executionArn": arn, "started": started})
    return {"executions": executions}
