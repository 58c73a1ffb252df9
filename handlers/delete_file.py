"""DeleteSourceFile: removes the upload once it has been processed, rejected or found to
be a duplicate (the workflow only gets here after those steps succeeded), having recorded the
outcome for GET /uploads/{id} first (core/upload_status.py). Only the version
this run worked on: a photo uploaded again under the same key meanwhile is another upload,
which its own run processes, and is never deleted here."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from .core import aws, upload_status
from .core.observability import logger
from .core.workflow import SourceObject


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    source = SourceObject.from_state(event)
    upload_status.record(event)
    deleted = aws.delete_if_unchanged(source.bucket, source.key, source.etag)
    if deleted:
        logger.info("source deleted", extra={"key": source.key})
    else:
        logger.info("source kept: uploaded again since this run began", extra={"key": source.key})
    return {"bucket": source.bucket, "key": source.key, "deleted": deleted}
