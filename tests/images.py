"""Test pictures made from the bundled sample photographs (real photographic content)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def photo(name: str = "chelsea.jpg") -> Image.Image:
    with Image.open(SAMPLES / name) as image:
        return image.convert("RGB")


def jpeg_bytes(image: Image.Image | None = None, **save: object) -> bytes:
    buffer = io.BytesIO()
    (image or photo()).save(buffer, format="JPEG", **({"quality": 90} | save))
    return buffer.getvalue()


def rotated_jpeg() -> bytes:
    """A landscape photo stored sideways with EXIF orientation 6 (rotate 90° clockwise to
    display): upright it is taller than wide."""
    image = photo()  # 451 x 300, landscape
    stored = image.transpose(Image.Transpose.ROTATE_90)  # what a camera held sideways stores
    exif = Image.Exif()
    exif[0x0112] = 6
    return jpeg_bytes(stored, exif=exif.tobytes())


def cmyk_jpeg() -> bytes:
    return jpeg_bytes(photo().convert("CMYK"))


def greyscale_jpeg() -> bytes:
    return jpeg_bytes(photo().convert("L"))


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    photo().save(buffer, format="PNG")
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    data = jpeg_bytes(photo("coffee.jpg"))
    return data[: len(data) // 2]


def bomb_png(side: int = 20000) -> bytes:
    """400 megapixels in a few kilobytes: a decompression bomb."""
    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, format="PNG")
    return buffer.getvalue()


def bomb_jpeg_header(width: int = 30000, height: int = 30000) -> bytes:
    """A real JPEG whose frame header claims width x height (900 MP)."""
    data = bytearray(jpeg_bytes(Image.new("RGB", (8, 8), "white")))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)
