"""MakeThumbnail: an upright sRGB JPEG thumbnail (the workshop's thumbnail step), and from the
same decode the renditions the stage declares (RENDITIONS) and the photo's ThumbHash."""

from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from .core import config, images
from .core.observability import logger
from .core.workflow import Derived, SourceObject, photo_id, store_many

THUMBNAIL = "thumbnail"


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    source = SourceObject.from_state(event)
    max_pixels, size, renditions = config.max_image_pixels(), config.thumbnail_size(), config.renditions()
    keys = source.outputs(photo_id(event), renditions)
    wanted = {THUMBNAIL: (keys.thumbnail, "image/jpeg")}
    wanted |= {r.name: (keys.renditions[r.name], r.content_type) for r in renditions}
    placeholder: dict[str, str] = {}

    def make(path: Path, files: dict[str, Derived]) -> dict[str, dict[str, Any]]:
        pictures = [images.Wanted.thumbnail(files[THUMBNAIL].path, size)]
        pictures += [images.Wanted.rendition(files[r.name].path, r) for r in renditions]
        made = images.web_pictures(path, max_pixels, pictures)
        placeholder["thumbHash"] = made["placeholder"]
        described = dict(zip(wanted, made["sizes"], strict=True))
        return described | {r.name: described[r.name] | {"format": r.format} for r in renditions}

    written = store_many(source, config.destination_bucket(), wanted, make)
    thumbnail = written.pop(THUMBNAIL)
    logger.info("thumbnail and renditions written", extra={"key": source.key, **thumbnail, "renditions": written})
    return {"kind": THUMBNAIL, **thumbnail, **placeholder, "renditions": written}
