"""WriteToDynamoDb: the photo's metadata, tying the uploader to the photo and its outputs,
written with its uniqueness index entries (all or nothing)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from .core import config, photos
from .core.observability import logger
from .core.workflow import SourceObject, regenerating


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    source = SourceObject.from_state(event)
    item = photos.new_item(source, event)
    if regenerating(event):  # a backfill made the outputs of a recorded photo again
        photos.rerecord(config.photos_table(), item)
    else:
        index = (event.get("results", {}).get("uniqueness") or {}).get("index")
        if not index:
            raise ValueError("state input has no results.uniqueness.index (CheckForDuplicate's index entries)")
        photos.record(config.photos_table(), config.uniqueness_table(), item, index)
    logger.info("photo recorded", extra={"photoId": item[photos.KEY], "key": source.key})
    return {"photoId": item[photos.KEY], "userId": item[photos.USER], "uploadedAt": item["uploadedAt"]}
