"""Image logic with Pillow: inspect and validate an upload, convert it to PNG, make the
thumbnail and the stage's renditions from one decode, and hash it. Works on files (Lambda's
/tmp) rather than bytes: opening from a file and saving to a file avoids the extra full-size
copies Pillow makes for in-memory buffers, which is what a 24 MP photo needs to fit a small
function.

JPEG and HEIF photos go through the same steps: what differs is read in `photo_metadata`
(JPEG structure) and `heif` (HEIF boxes). A HEIF picture comes out of libheif already
turned upright, 8 bits per channel whatever the file's bit depth."""

from __future__ import annotations

import hashlib
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypedDict

from PIL import Image, ImageFile, UnidentifiedImageError

from . import colour, heif, photo_metadata, thumbhash
from .errors import InvalidImage
from .observability import logger
from .renditions import Rendition

# A truncated JPEG must fail, never decode into a half-grey picture.
ImageFile.LOAD_TRUNCATED_IMAGES = False

_HASH_CHUNK = 1024 * 1024


_JPEG_FORMATS = ("JPEG", "MPO")  # Pillow calls a JPEG whose MPF index lists several images MPO
DEFAULT_FORMATS = frozenset({"jpeg"})  # the article's rule: JPEG in, everything else rejected
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, RuntimeError, EOFError)  # libheif raises the last three
# EXIF orientation -> the transposition that makes the picture upright (EXIF 2.32, 4.6.4).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_LOCATION_FIELDS = ("latitude", "longitude")


@dataclass(frozen=True)
class FileType:
    """What GetFileType found: `accepted` is true only for a decodable JPEG within limits.
    `width`/`height` are as stored; `metadata` has the upright ones and what the file says
    about the photo (photo_metadata.describe, plus the colour fields)."""

    accepted: bool
    format: str | None
    extension: str
    reason: str | None = None
    width: int | None = None
    height: int | None = None
    mode: str | None = None
    metadata: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def log_fields(self) -> dict[str, Any]:
        """The result without coordinates: logs are kept apart from the table's rules."""
        found = self.to_dict()
        if found["metadata"]:
            found["metadata"] = {k: v for k, v in found["metadata"].items() if k not in _LOCATION_FIELDS}
        return found


class _Size(TypedDict):
    """A FileType's size fields, as stored."""

    width: int | None
    height: int | None
    mode: str


@contextmanager
def open_image(path: Path, max_pixels: int) -> Iterator[ImageFile.ImageFile]:
    """Opens an image with a pixel limit checked on the header, before anything is decoded.

    Raises InvalidImage for empty, unidentifiable and over-limit files.
    """
    if path.stat().st_size == 0:
        raise InvalidImage("empty-file", "the file has no content")
    formats = None
    family = _family(path)
    if family == "avif":
        raise InvalidImage("avif-not-accepted", "an AVIF file")
    if family == "heif":
        heif.check(path, max_pixels)
        heif.register()
        formats = ["HEIF"]  # never Pillow's AVIF plugin or another opener
    # Pillow warns about damage it works around (a malformed MPO index, a truncated EXIF
    # block) with Python warnings, which would reach the function's log as bare stderr lines:
    # they are collected while the image is in use and logged once, as a structured record.
    with warnings.catch_warnings(record=True) as worked_around:
        warnings.simplefilter("always")
        # Pillow only warns between its limit and twice its limit: make that an error too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(path, formats=formats)
        except UnidentifiedImageError:
            raise InvalidImage("not-an-image", "the content is not an image format we know") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InvalidImage("too-many-pixels", f"more than {max_pixels} pixels") from None
        try:
            with image:
                pixels = image.width * image.height
                if pixels > max_pixels:
                    raise InvalidImage(
                        "too-many-pixels",
                        f"{image.width}x{image.height} is {pixels} pixels, the limit is {max_pixels}",
                    )
                if image.format in _JPEG_FORMATS:
                    _whole_stream_if_arithmetic(image, path)
                yield image
        finally:
            if worked_around:
                found = sorted({str(warning.message).strip() for warning in worked_around})
                logger.warning("the decoder worked around damage in the file", extra={"decoderWarnings": found})


def _family(path: Path) -> str | None:
    """'heif' or 'avif' from the file's brands (never its name); None for anything else."""
    found = heif.brands(path)
    return found.family if found is not None else None


def _draft(image: Image.Image, path: Path, mode: str | None, size: tuple[int, int]) -> None:
    """Asks libjpeg to decode at a reduced scale (DCT scaling). Lossless JPEGs have no DCT
    to scale: they decode in full."""
    if image.format in _JPEG_FORMATS:
        structure = photo_metadata.scan(path)
        if structure is None or not (structure.variant or "").endswith("lossless"):
            image.draft(mode, size)


def _whole_stream_if_arithmetic(image: ImageFile.ImageFile, path: Path) -> None:
    """libjpeg-turbo's arithmetic decoder cannot suspend for more input, and Pillow feeds
    the decoder 64 KiB at a time: an arithmetic-coded JPEG larger than that fails as a
    "broken data stream". Handing it the whole file at once decodes it (one file-sized
    buffer, only for these rare files)."""
    structure = photo_metadata.scan(path)
    if structure is not None and (structure.variant or "").startswith("arithmetic"):
        image.decodermaxblock = max(image.decodermaxblock, path.stat().st_size)


def _decode(image: Image.Image) -> None:
    try:
        image.load()
    except _DECODE_ERRORS as error:
        raise InvalidImage("corrupt-image", f"the image data cannot be decoded ({error})") from None


def _colour_plan(image: Image.Image) -> colour.ColourPlan:
    space, interop = photo_metadata.colour_hints(image)
    nclx = image.info.get("nclx_profile") or None
    described = (nclx["color_primaries"], nclx["transfer_characteristics"]) if nclx else None
    found = colour.plan(image.mode, image.info.get("icc_profile"), space, interop, described)
    if found.problem:
        logger.warning("colour profile not used as it is", extra={"problem": found.problem})
    return found


def _colour_fields(found: colour.ColourPlan) -> dict[str, str]:
    fields = {
        "colourProfile": found.description,
        "colourSpace": found.colour_space,
        "colourProfileProblem": found.problem,
    }
    return {name: value for name, value in fields.items() if value}


def inspect(
    path: Path,
    extension: str,
    max_pixels: int,
    keep_location: bool = False,
    accepted: frozenset[str] = DEFAULT_FORMATS,
) -> FileType:
    """Finds the file type from the content (the extension is only reported), checks that
    the photo can be decoded and reads its metadata. A JPEG is decoded at 1/8 scale (libjpeg
    DCT scaling), so a 24 MP photo is validated in tens of milliseconds; truncation is still
    detected. Multi-picture JPEGs are JPEGs: their primary image is checked. A HEIF is
    checked from its boxes (see `heif`) and not decoded: HEVC has no reduced-scale decoding,
    and libde265 turns damaged data into wrong pixels, not errors, so a full decode here
    would cost ~0.5 s per 12 MP and find nothing the box check does not. A format the stage
    does not accept (`accepted`, from ACCEPTED_FORMATS) is rejected before it is parsed."""
    try:
        family = _family(path) if path.stat().st_size else None
        if family is not None:
            return _inspect_heif(path, extension, family, max_pixels, keep_location, accepted)
        structure = photo_metadata.scan(path) if path.stat().st_size else None
        if structure is not None and structure.unsupported:
            return FileType(False, "JPEG", extension, "unsupported-jpeg", structure.width, structure.height, None)
        with open_image(path, max_pixels) as image:
            size = _Size(width=image.width, height=image.height, mode=image.mode)
            if image.format not in _JPEG_FORMATS:
                return FileType(False, image.format, extension, "not-a-jpeg", **size)
            if "jpeg" not in accepted:
                return FileType(False, "JPEG", extension, "jpeg-not-accepted", **size)
            metadata = photo_metadata.describe(image, structure, keep_location) | _colour_fields(_colour_plan(image))
            _draft(image, path, None, (max(1, image.width // 8), max(1, image.height // 8)))
            _decode(image)
            return FileType(True, "JPEG", extension, **size, metadata=metadata)
    except InvalidImage as rejected:
        return FileType(False, None, extension, rejected.reason)


def _inspect_heif(
    path: Path, extension: str, family: str, max_pixels: int, keep_location: bool, accepted: frozenset[str]
) -> FileType:
    """A HEIF-family file: AVIF and HEIF the stage does not accept are rejected from the
    brands alone; then the boxes are checked (heif.check) before libheif opens the file."""
    if family == "avif":
        return FileType(False, "AVIF", extension, "avif-not-accepted")
    if "heif" not in accepted:
        return FileType(False, "HEIF", extension, "heif-not-accepted")
    try:
        structure = heif.check(path, max_pixels)
    except InvalidImage as rejected:
        logger.info("HEIF file rejected", extra={"reason": rejected.reason, "detail": rejected.detail})
        found = heif.scan(path)
        file_format = "AVIF" if rejected.reason.startswith("avif") else "HEIF"
        return FileType(False, file_format, extension, rejected.reason, width=found.width, height=found.height)
    with open_image(path, max_pixels) as image:
        metadata = photo_metadata.describe(image, None, keep_location) | structure.fields()
        # Decoded upright: the picture's size is the upright one, whatever EXIF says.
        metadata |= {"width": image.width, "height": image.height, "bitDepth": image.info.get("bit_depth")}
        metadata |= _colour_fields(_colour_plan(image))
        known = {name: value for name, value in metadata.items() if value is not None}
        size = _Size(width=structure.width, height=structure.height, mode=image.mode)
        return FileType(True, "HEIF", extension, **size, metadata=known)


def _upright_method(image: Image.Image) -> Image.Transpose | None:
    """The transposition that turns a JPEG upright by its EXIF orientation. A HEIF picture is
    already upright: libheif applies the file's rotation and mirroring, which HEIF makes the
    rule (an EXIF orientation tag there is informative), so it is never turned a second time."""
    if image.format == "HEIF":
        return None
    return _UPRIGHT.get(photo_metadata.orientation(image))


def _upright(image: Image.Image) -> Image.Image:
    method = _upright_method(image)
    return image.transpose(method) if method is not None else image


def _replaced(old: Image.Image, new: Image.Image) -> Image.Image:
    """Frees the full-size buffer a step no longer needs, so a rotated or CMYK photo holds at
    most two of them at once."""
    if new is not old:
        old.close()
    return new


def _without_metadata(image: Image.Image) -> Image.Image:
    """Outputs are published: they carry no EXIF (GPS, serial numbers), XMP or comments
    from the original. The table keeps what the photo's metadata says."""
    image.info = {}
    return image


PNG_SETTINGS = {
    # zlib's run-length strategy on Pillow's filtered rows: about 4x faster than the default
    # (level 6) for about 9% more bytes; the level hardly matters with it.
    "fast": {"compress_level": 1, "compress_type": zlib.Z_RLE},
    # Pillow's default: the smallest files short of optimize=True, about 4 s per 12 MP.
    "small": {"compress_level": 6},
}


def to_png(source: Path, destination: Path, max_pixels: int, compression: str) -> dict[str, int]:
    """Full-size PNG of the (primary) image, upright, in the colours the photo means
    (colour.plan decides the profile). Returns its width and height."""
    with open_image(source, max_pixels) as image:
        _decode(image)
        plan = _colour_plan(image)
        upright = _replaced(image, _upright(image))
        picture = _without_metadata(_replaced(upright, plan.png_pixels(upright)))
        picture.save(destination, format="PNG", icc_profile=plan.png_profile, **PNG_SETTINGS[compression])
        return {"width": picture.width, "height": picture.height}


# Resampling filters (bench/renditions.py measures them). After libjpeg's DCT scaling, which is
# itself a good low-pass filter, the largest picture is at most 2x smaller than the decode:
# Hamming (support 1) does that step sharply at a sixth of Lanczos' cost on 24 MP (60 against
# 370 ms); each next picture is 2-3x smaller than the one before: bicubic.
FIRST_STEP = Image.Resampling.HAMMING
NEXT_STEPS = Image.Resampling.BICUBIC


@dataclass(frozen=True)
class Wanted:
    """One picture the thumbnail's function makes: where to write it, its longest side, how
    to encode it (Pillow's format name and save options)."""

    path: Path
    size: int
    format: str
    options: dict[str, Any]

    @classmethod
    def thumbnail(cls, path: Path, size: int) -> Wanted:
        return cls(path, size, "JPEG", {"quality": 85, "optimize": True})

    @classmethod
    def rendition(cls, path: Path, rendition: Rendition) -> Wanted:
        """Encoder settings per format: WebP at libwebp's default effort (method 4; 6 costs
        ~2x for a few percent), AVIF at libavif speed 8 (speed 6 took ~4x longer for a few
        percent fewer bytes: docs/renditions.md), JPEG optimised like the thumbnail."""
        per_format: dict[str, dict[str, int | bool]] = {
            "webp": {"method": 4},
            "avif": {"speed": 8},
            "jpeg": {"optimize": True},
        }
        extra = per_format[rendition.format]
        return cls(path, rendition.size, rendition.pillow_format, {"quality": rendition.quality, **extra})


def fit(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """`size` shrunk (never enlarged) so that its longest side is at most `longest`."""
    width, height = size
    scale = longest / max(width, height)
    if scale >= 1:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


class WebPictures(TypedDict):
    """What `web_pictures` made: each picture's size, in the order asked, and a ThumbHash."""

    sizes: list[dict[str, int]]
    placeholder: str


def web_pictures(source: Path, max_pixels: int, wanted: list[Wanted]) -> WebPictures:
    """The thumbnail and the renditions of one photo from one decode: libjpeg decodes at the
    smallest DCT scale that still serves the largest picture (draft), the picture is shrunk to
    that size, turned upright and converted to sRGB once (the photo's colour plan, as for the
    PNG), then each smaller picture is resized from the one before it. Every picture is 8-bit
    sRGB with the compact sRGB profile embedded and no EXIF/XMP. Returns each picture's width
    and height (in `wanted`'s order) and the ThumbHash of the smallest one."""
    largest = max(w.size for w in wanted)
    sizes: list[dict[str, int]] = [{} for _ in wanted]
    with open_image(source, max_pixels) as image:
        _draft(image, source, None, fit(image.size, largest))
        _decode(image)
        plan = _colour_plan(image)
        method = _upright_method(image)
        # Shrunk first: turning and the colour transform then work on the fewest pixels.
        picture = _shrunk(image, largest, FIRST_STEP)
        if method is not None:
            picture = _replaced(picture, picture.transpose(method))
        picture = _without_metadata(_replaced(picture, plan.srgb(picture)))
        for index in sorted(range(len(wanted)), key=lambda i: -wanted[i].size):
            one = wanted[index]
            picture = _replaced(picture, _shrunk(picture, one.size, NEXT_STEPS))
            extra: dict[str, bytes] = {} if one.format == "JPEG" else {"exif": b"", "xmp": b""}
            picture.save(one.path, format=one.format, icc_profile=colour.SRGB_ICC, **extra, **one.options)
            sizes[index] = {"width": picture.width, "height": picture.height}
        return {"sizes": sizes, "placeholder": thumbhash.encode(picture)}


def _shrunk(image: Image.Image, longest: int, resampling: Image.Resampling) -> Image.Image:
    size = fit(image.size, longest)
    return image if size == image.size else image.resize(size, resampling)


def thumbnail(source: Path, destination: Path, max_pixels: int, size: int) -> dict[str, int]:
    """An upright 8-bit sRGB JPEG that fits in size x size, with the compact sRGB profile
    embedded so every browser shows the same colours. libjpeg decodes at a reduced scale
    (draft), so the full-size picture is never in memory."""
    made = web_pictures(source, max_pixels, [Wanted.thumbnail(destination, size)])
    return made["sizes"][0]


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
        _draft(image, path, "L", (64, 64))
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
