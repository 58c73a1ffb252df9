"""ResizeImage: the article's JPEG -> PNG conversion, full size, written as a real PNG
object to the destination bucket (the article wrote base64 text over the source)."""

from typing import Any
from urllib.parse import quote

from aws_lambda_powertools.utilities.typing import LambdaContext

from .core import aws, config, images
from .core.observability import logger
from .core.workflow import SourceObject, local_copy, photo_id, scratch_file


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    source = SourceObject.from_state(event)
    bucket, key = config.destination_bucket(), source.outputs(photo_id(event)).png
    with local_copy(source) as path, scratch_file(".png") as png:
        size = images.to_png(path, png, config.max_image_pixels(), config.png_compression())
        written = png.stat().st_size
        aws.upload(png, bucket, key, "image/png", {"source-key": quote(source.key)})
    logger.info("png written", extra={"key": source.key, "to": key, "bytes": written})
    return {"kind": "png", "bucket": bucket, "key": key, "bytes": written, **size}
