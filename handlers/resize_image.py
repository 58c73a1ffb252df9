"""ResizeImage: the article's JPEG -> PNG conversion (and HEIF -> PNG where the stage
accepts HEIF), full size, written as a real PNG object to the destination bucket (the
article wrote base64 text over the source)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from .core import config, images
from .core.observability import logger
from .core.workflow import SourceObject, photo_id, store_derived


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    source = SourceObject.from_state(event)
    max_pixels, compression = config.max_image_pixels(), config.png_compression()
    written = store_derived(
        source,
        config.destination_bucket(),
        source.outputs(photo_id(event)).png,
        "image/png",
        lambda path, png: images.to_png(path, png, max_pixels, compression),
    )
    logger.info("png written", extra={"key": source.key, **written})
    return {"kind": "png", **written}
