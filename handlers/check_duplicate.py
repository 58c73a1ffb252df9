"""CheckForDuplicate: the workshop's uniqueness check (content hash, then perceptual hash)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from .core import config, images, photos
from .core.observability import logger
from .core.workflow import SourceObject, local_copy


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    source = SourceObject.from_state(event)
    with local_copy(source) as path:
        content_hash = images.content_hash(path)
        perceptual_hash = images.perceptual_hash(path, config.max_image_pixels())
    result = photos.find_duplicate(
        config.photos_table(),
        content_hash,
        perceptual_hash,
        event.get("userId") or source.user_id,
        config.near_duplicate_distance(),
    )
    logger.info("uniqueness checked", extra={"key": source.key, **result})
    return result
