"""CheckForDuplicate: the stage's uniqueness policy applied to an upload (content hash, then
perceptual hash). Also run again after a concurrent run recorded the same photo first."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from .core import config, images, photos, uniqueness
from .core.observability import logger
from .core.workflow import SourceObject, local_copy, user_of


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    source = SourceObject.from_state(event)
    policy = config.uniqueness_policy()
    user_id = user_of(event, source)
    with local_copy(source) as path:
        content_hash = images.content_hash(path)
        perceptual_hash = images.perceptual_hash(path, config.max_image_pixels())
    found = photos.find(
        config.photos_table(), config.uniqueness_table(), policy, user_id, content_hash, perceptual_hash
    )
    decision = uniqueness.decide(policy, uniqueness.Upload(source.bucket, source.key, user_id), found)
    result = {
        "contentHash": content_hash,
        "perceptualHash": perceptual_hash,
        **decision,
        "index": uniqueness.index_to_write(policy, user_id, content_hash, perceptual_hash),
    }
    logger.info("uniqueness checked", extra={"key": source.key, **{k: v for k, v in result.items() if k != "index"}})
    return result
