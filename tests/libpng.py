"""Reads a PNG with the system's libpng (ctypes, simplified API), which is what most
viewers and browsers do: Pillow is lenient where libpng warns (an iCCP chunk whose profile
does not fit the image, a known-bad sRGB profile, ...). Needs libpng16 (Debian libpng16-16,
present wherever a browser or freetype is)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

import pytest


class _PngImage(ctypes.Structure):
    _fields_ = [
        ("opaque", ctypes.c_void_p),
        ("version", ctypes.c_uint32),
        ("width", ctypes.c_uint32),
        ("height", ctypes.c_uint32),
        ("format", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("colormap_entries", ctypes.c_uint32),
        ("warning_or_error", ctypes.c_uint32),
        ("message", ctypes.c_char * 64),
    ]


_VERSION = 1  # PNG_IMAGE_VERSION
_FORMAT_RGBA = 3


def _library() -> ctypes.CDLL:
    name = ctypes.util.find_library("png16") or "libpng16.so.16"
    try:
        return ctypes.CDLL(name)
    except OSError:
        if os.environ.get("CI") == "true":
            raise  # CI must check PNGs with libpng, never skip it
        pytest.skip("libpng16 is not installed (Debian: libpng16-16)")


def read(path: Path) -> tuple[tuple[int, int], str | None]:
    """Decodes the whole PNG; returns its size and libpng's first warning (None if silent).
    An error fails the test."""
    lib = _library()
    image = _PngImage(version=_VERSION)
    if not lib.png_image_begin_read_from_file(ctypes.byref(image), str(path).encode()):
        raise AssertionError(f"libpng cannot read {path}: {image.message.decode()}")
    image.format = _FORMAT_RGBA
    buffer = ctypes.create_string_buffer(image.width * image.height * 4)
    if not lib.png_image_finish_read(ctypes.byref(image), None, buffer, 0, None):
        raise AssertionError(f"libpng cannot decode {path}: {image.message.decode()}")
    warning = image.message.decode() if image.warning_or_error else None
    return (image.width, image.height), warning
