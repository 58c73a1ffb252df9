"""What every photo's outputs must be, checked the same way on the image functions' files
and on what the deployed workflow wrote."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageChops, ImageCms, ImageStat

from handlers.core import colour, icc, keys, renditions
from handlers.core.images import fit
from tests import libpng

SRGB = ImageCms.createProfile("sRGB")


# -- what a stage writes: the article's outputs and the renditions it declares -------------------
def declared(stack_outputs: dict[str, str]) -> tuple[renditions.Rendition, ...]:
    """The renditions a deployed stage declares (its Renditions output)."""
    return renditions.parse(stack_outputs.get("Renditions") or renditions.NONE)


def output_folders(stack_outputs: dict[str, str]) -> list[str]:
    """The destination bucket's folders one processed photo gets an object in, e.g.
    `originals`, `png`, `thumbnails`, `renditions/preview`."""
    return sorted(prefix.rstrip("/") for prefix in keys.output_prefixes(declared(stack_outputs)))


def folder_of(key: str, stack_outputs: dict[str, str]) -> str:
    """Which of `output_folders` an output key is in."""
    [folder] = [f for f in output_folders(stack_outputs) if key.startswith(f + "/")]
    return folder


def profile_space(image: Image.Image) -> str | None:
    embedded = image.info.get("icc_profile")
    return icc.header(embedded).colour_space if embedded else None


def srgb(image: Image.Image) -> Image.Image:
    """The image in sRGB, read through its own embedded profile (untagged = sRGB)."""
    embedded = image.info.get("icc_profile")
    if not embedded:
        return image.convert("RGB")
    source = ImageCms.ImageCmsProfile(io.BytesIO(embedded))
    return ImageCms.profileToProfile(image, source, SRGB, outputMode="RGB")


def mean(image: Image.Image) -> list[float]:
    return ImageStat.Stat(image).mean


def difference(first: Image.Image, second: Image.Image) -> float:
    return max(ImageStat.Stat(ImageChops.difference(first, second)).mean)


def check_outputs(png_path: Path, thumb_path: Path, levels: float = 3) -> tuple[Image.Image, Image.Image]:
    """A PNG libpng reads without a warning, profiles that fit their image's mode, a thumbnail
    in 8-bit sRGB with the compact sRGB profile, and PNG and thumbnail agreeing in mean colour
    once each is read through its own profile. Returns both, decoded."""
    png, thumb = Image.open(png_path), Image.open(thumb_path)
    png.load()
    thumb.load()
    size, warning = libpng.read(png_path)
    assert warning is None, warning
    assert size == png.size and png.mode in ("RGB", "L")
    assert profile_space(png) in (None, {"RGB": "RGB", "L": "GRAY"}[png.mode])
    assert thumb.format == "JPEG" and thumb.mode == "RGB" and thumb.info["icc_profile"] == colour.SRGB_ICC
    png_mean, thumb_mean = mean(srgb(png)), mean(srgb(thumb))
    assert all(abs(p - t) <= levels for p, t in zip(png_mean, thumb_mean, strict=True)), (png_mean, thumb_mean)
    return png, thumb


def check_rendition(png: Image.Image, path: Path, rendition: renditions.Rendition, levels: float = 4) -> Image.Image:
    """A rendition as docs/renditions.md promises it: its format, 8-bit sRGB with the compact
    sRGB profile, no EXIF or XMP, the PNG's shape with its longest side the declared one (or the
    photo's: never enlarged), and region by region (both shrunk to 64 px: colours, not the
    encoder's loss of fine detail) within `levels` (mean, per channel) of the PNG read through
    its own profile. Returns it, decoded."""
    picture = Image.open(path)
    picture.load()
    assert picture.format == rendition.pillow_format and picture.mode == "RGB"
    assert picture.info.get("icc_profile") == colour.SRGB_ICC
    assert not picture.info.get("exif") and not picture.info.get("xmp"), sorted(picture.info)
    assert max(picture.size) == min(rendition.size, max(png.size)) and max(picture.size) <= max(png.size)
    assert abs(picture.width / picture.height - png.width / png.height) < 0.01 * png.width / png.height
    regions = fit(picture.size, 64)
    reference, found = (srgb(p).resize(regions, Image.Resampling.BOX) for p in (png, picture))
    assert difference(reference, found) <= levels, (rendition, difference(reference, found))
    return picture
