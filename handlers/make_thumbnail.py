"""MakeThumbnail: an upright sRGB JPEG thumbnail (the workshop's thumbnail step)."""

from typing import Any
from urllib.parse import quote

from aws_lambda_powertools.utilities.typing import LambdaContext

from .core import aws, config, images
from .core.observability import logger
from .core.workflow import SourceObject, local_copy, photo_id, scratch_file


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    source = SourceObject.from_state(event)
    bucket, key = config.destination_bucket(), source.outputs(photo_id(event)).thumbnail
    with local_copy(source) as path, scratch_file(".jpg") as thumb:
        size = images.thumbnail(path, thumb, config.max_image_pixels(), config.thumbnail_size())
        written = thumb.stat().st_size
        aws.upload(thumb, bucket, key, "image/jpeg", {"source-key": quote(source.key)})
    logger.info("thumbnail written", extra={"key": source.key, "to": key, **size})
    return {"kind": "thumbnail", "bucket": bucket, "key": key, "bytes": written, **size}
