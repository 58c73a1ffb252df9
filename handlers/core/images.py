"""Image logic with Pillow: inspect and validate an upload, convert it to PNG, make a
thumbnail, and hash it. Works on files (Lambda's /tmp) rather than bytes: opening from a
file and saving to a file avoids the extra full-size copies Pillow makes for in-memory
buffers, which is what a 24 MP photo needs to fit a small function."""

from __future__ import annotations

import hashlib
import io
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

from .errors import InvalidImage

# A truncated JPEG must fail, never decode into a half-grey picture.
ImageFile.LOAD_TRUNCATED_IMAGES = False

_SRGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_HASH_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class FileType:
    """What GetFileType found: `accepted` is true only for a decodable JPEG within limits."""

    accepted: bool
    format: str | None
    extension: str
    reason: str | None = None
    width: int | None = None
    height: int | None = None
    mode: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextmanager
def open_image(path: Path, max_pixels: int) -> Iterator[Image.Image]:
    """Opens an image with a pixel limit checked on the header, before anything is decoded.

    Raises InvalidImage for empty, unidentifiable and over-limit files.
    """
    if path.stat().st_size == 0:
        raise InvalidImage("empty-file", "the file has no content")
    with warnings.catch_warnings():
        # Pillow only warns between its limit and twice its limit: make that an error too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
        except UnidentifiedImageError:
            raise InvalidImage("not-an-image", "the content is not an image format we know") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InvalidImage("too-many-pixels", f"more than {max_pixels} pixels") from None
    with image:
        pixels = image.width * image.height
        if pixels > max_pixels:
            raise InvalidImage(
                "too-many-pixels",
                f"{image.width}x{image.height} is {pixels} pixels, the limit is {max_pixels}",
            )
        yield image


def _decode(image: Image.Image) -> None:
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise InvalidImage("corrupt-image", f"the image data cannot be decoded ({error})") from None


def inspect(path: Path, extension: str, max_pixels: int) -> FileType:
    """Finds the file type from the content (the extension is only reported) and checks a
    JPEG fully decodes. The decode runs at 1/8 scale (libjpeg DCT scaling), so a 24 MP
    photo is validated in tens of milliseconds; truncation is still detected."""
    try:
        with open_image(path, max_pixels) as image:
            size = dict(width=image.width, height=image.height, mode=image.mode)
            if image.format != "JPEG":
                return FileType(False, image.format, extension, "not-a-jpeg", **size)
            image.draft(None, (max(1, image.width // 8), max(1, image.height // 8)))
            _decode(image)
            return FileType(True, "JPEG", extension, **size)
    except InvalidImage as rejected:
        return FileType(False, None, extension, rejected.reason)


def _upright(image: Image.Image) -> Image.Image:
    # in_place: otherwise Pillow returns a full copy even when nothing needs rotating.
    ImageOps.exif_transpose(image, in_place=True)
    return image


def _to_srgb(image: Image.Image) -> Image.Image:
    """Converts to 8-bit sRGB using the embedded ICC profile when there is one (CMYK and
    wide-gamut photos would otherwise come out with wrong colours)."""
    icc = image.info.get("icc_profile")
    if icc and image.mode in ("RGB", "CMYK", "L"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(image, source, _SRGB_PROFILE, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError):
            pass  # a broken profile is not worth losing the photo: fall back to a plain conversion
    return image if image.mode == "RGB" else image.convert("RGB")


PNG_SETTINGS = {
    # zlib's run-length strategy on Pillow's filtered rows: about 4x faster than the default
    # (level 6) for about 9% more bytes; the level hardly matters with it.
    "fast": {"compress_level": 1, "compress_type": zlib.Z_RLE},
    # Pillow's default: the smallest files short of optimize=True, about 4 s per 12 MP.
    "small": {"compress_level": 6},
}


def to_png(source: Path, destination: Path, max_pixels: int, compression: str) -> dict[str, int]:
    """Full-size PNG, upright, colour profile kept. Returns its width and height."""
    with open_image(source, max_pixels) as image:
        _decode(image)
        icc = image.info.get("icc_profile")
        picture = _upright(image)
        if picture.mode not in ("RGB", "L"):
            picture = picture.convert("RGB")  # CMYK (and YCbCr oddities) cannot go into a PNG
        picture.save(destination, format="PNG", icc_profile=icc, **PNG_SETTINGS[compression])
        return {"width": picture.width, "height": picture.height}


def thumbnail(source: Path, destination: Path, max_pixels: int, size: int) -> dict[str, int]:
    """An upright sRGB JPEG that fits in size x size. libjpeg decodes at a reduced scale
    (draft), so the full-size picture is never in memory."""
    with open_image(source, max_pixels) as image:
        if image.format == "JPEG":
            image.draft(None, (size, size))
        _decode(image)
        image.thumbnail((size, size), Image.Resampling.LANCZOS)
        picture = _to_srgb(_upright(image))
        picture.save(destination, format="JPEG", quality=85, optimize=True)
        return {"width": picture.width, "height": picture.height}


def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def perceptual_hash(path: Path, max_pixels: int) -> str:
    """64-bit difference hash (dHash) as 16 hex digits: near-identical pictures (re-encoded,
    resized, lightly edited) differ in a few bits."""
    with open_image(path, max_pixels) as image:
        if image.format == "JPEG":
            image.draft("L", (64, 64))
        _decode(image)
        small = _upright(image).convert("L").resize((9, 8), Image.Resampling.BOX)
        pixels = small.tobytes()
    bits = 0
    for row in range(8):
        for column in range(8):
            left, right = pixels[row * 9 + column], pixels[row * 9 + column + 1]
            bits = (bits << 1) | (left > right)
    return f"{bits:016x}"


def hamming_distance(first: str, second: str) -> int:
    return (int(first, 16) ^ int(second, 16)).bit_count()
