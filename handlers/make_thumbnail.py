"""MakeThumbnail: an upright sRGB JPEG thumbnail (the workshop's thumbnail step)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from .core import config, images
from .core.observability import logger
from .core.workflow import SourceObject, photo_id, store_derived


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    source = SourceObject.from_state(event)
    max_pixels, size = config.max_image_pixels(), config.thumbnail_size()
    written = store_derived(
        source,
        config.destination_bucket(),
        source.outputs(photo_id(event)).thumbnail,
        "image/jpeg",
        lambda path, thumb: images.thumbnail(path, thumb, max_pixels, size),
    )
    logger.info("thumbnail written", extra={"key": source.key, **written})
    return {"kind": "thumbnail", **written}
