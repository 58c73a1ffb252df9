"""GetFileType: what the upload really is (from its content), whether it is a photo in a
format the stage accepts (ACCEPTED_FORMATS: JPEG, and HEIF when turned on) that the
workflow can process, and what the photo's metadata says (capture time, camera, colour,
JPEG variant or HEIF brand; coordinates only when KEEP_LOCATION=true). A rejection is a
normal result, not an error."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from .core import config, images
from .core.observability import logger
from .core.workflow import SourceObject, local_copy


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    source = SourceObject.from_state(event)
    with local_copy(source) as path:
        found = images.inspect(
            path, source.extension, config.max_image_pixels(), config.keep_location(), config.accepted_formats()
        )
    logger.info("file type found", extra={"key": source.key, **found.log_fields()})
    return found.to_dict()
