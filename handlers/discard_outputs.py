"""DiscardOutputs: after a failed or duplicate run, removes what ProcessFile may have
written, so no half-finished set of outputs is left. Outputs that a recorded photo refers
to are kept (a concurrent run of the same photo may have finished first), and so is the
original copy a regenerating backfill works from: it may be the only copy of the photo.
The renditions are those the stage declares (RENDITIONS), so a new one is discarded too."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from .core import aws, config, photos
from .core.observability import logger
from .core.workflow import SourceObject, photo_id, regenerating, user_of


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    source = SourceObject.from_state(event)
    identifier = photo_id(event)
    bucket = config.destination_bucket()
    kept = photos.recorded_keys(config.photos_table(), user_of(event, source), identifier)
    outputs = source.outputs(identifier, config.renditions())
    if regenerating(event):
        kept.add(outputs.original)
    removed = [key for key in outputs.all() if key not in kept]
    for key in removed:
        aws.delete(bucket, key)
    logger.info("outputs discarded", extra={"key": source.key, "removed": removed})
    return {"bucket": bucket, "removed": removed, "kept": sorted(kept)}
