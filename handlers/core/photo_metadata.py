"""What a photo's file says about itself: the JPEG's structure (coding process, sample
precision, the MPF index of a multi-picture file and what its secondary images are), and
the EXIF fields that tie the user to the photo (capture time, camera, lens, orientation,
whether it carries a location).

Capture time and location are read in the Metadata Working Group's order (Guidelines for
Handling Image Metadata 2.0): EXIF first, then XMP (what Lightroom and Photoshop exports carry:
`exif:DateTimeOriginal`, `photoshop:DateCreated`, `exif:GPSLatitude`), then IPTC IIM
(DateCreated + TimeCreated; IIM holds no coordinates).

Everything here is parsed defensively: cameras, phones and editors write odd and broken
metadata, and a malformed block must never cost the photo. A field that cannot be read is
left out. Values are small strings, ints and booleans (they travel in the workflow state
and become DynamoDB attributes: no floats, no raw blobs)."""

from __future__ import annotations

import math
import re
import struct
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, TypeVar
from xml.etree import ElementTree

from PIL import ExifTags, Image, ImageFile, IptcImagePlugin

from .observability import logger

_SOI = b"\xff\xd8"
_SOS, _EOI, _DRI = 0xDA, 0xD9, 0xDD
# Start-of-frame markers (C4 DHT, C8 JPG and CC DAC are not frames).
_FRAMES = {
    0xC0: "baseline",
    0xC1: "extended-sequential",
    0xC2: "progressive",
    0xC3: "lossless",
    0xC5: "hierarchical",
    0xC6: "hierarchical-progressive",
    0xC7: "hierarchical-lossless",
    0xC9: "arithmetic-sequential",
    0xCA: "arithmetic-progressive",
    0xCB: "arithmetic-lossless",
    0xCD: "arithmetic-hierarchical",
    0xCE: "arithmetic-hierarchical-progressive",
    0xCF: "arithmetic-hierarchical-lossless",
}
# What libjpeg-turbo cannot decode through the 8-bit API Pillow uses (hierarchical coding,
# other sample precisions): rejected by name before Pillow, which would call a 12-bit JPEG
# "not an image". 8-bit lossless and arithmetic coding decode.
_NEVER_DECODED = {v for k, v in _FRAMES.items() if k in (0xC5, 0xC6, 0xC7, 0xCD, 0xCE, 0xCF)}
_READ_PAYLOAD = {0xE1, 0xE2, 0xEE, _DRI, *_FRAMES}
_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
_MPF = b"MPF\x00"
_MAX_SECONDARY = 16
_TEXT_CHARS = 100

# MPF (CIPA DC-007) image types, and markers that tell a secondary image's kind from its
# own metadata when the MPF type is "undefined" (Ultra HDR, Apple and ISO 21496-1 gain maps,
# Apple depth and matte images).
_MP_TYPES = {
    0x010001: "preview",
    0x010002: "preview",
    0x010003: "preview",
    0x010004: "preview",
    0x020001: "panorama-frame",
    0x020002: "second-view",
    0x020003: "multi-angle-view",
}
_KIND_MARKERS = (
    (b"hdrgm:", "gain-map"),
    (b"HDRGainMap", "gain-map"),
    (b"aux:hdrgainmap", "gain-map"),
    (b"urn:iso:std:iso:ts:21496:-1", "gain-map"),
    (b"aux:depth", "depth"),
    (b"aux:disparity", "depth"),
    (b"aux:portraiteffectsmatte", "matte"),
    (b"aux:semanticsegmentation", "matte"),
)

# auxC URNs that name a HEIF auxiliary image's kind, beyond the markers above: MPEG's (HEVC
# and CICP) alpha and depth, and Apple's mattes (skin, hair, teeth, sky, glasses, ...).
_AUX_URN_MARKERS = (
    (b"hevc:2015:auxid:1", "alpha"),
    (b"auxiliary:alpha", "alpha"),
    (b"hevc:2015:auxid:2", "depth"),
    (b"auxiliary:depth", "depth"),
    (b"matte", "matte"),
)

T = TypeVar("T")


@dataclass
class JpegStructure:
    """The primary image's frame and the segments that matter, read up to its first scan."""

    variant: str | None = None
    precision: int | None = None
    width: int | None = None
    height: int | None = None
    restart_interval: int | None = None
    adobe_transform: int | None = None
    image_count: int = 1
    secondary: list[str] = field(default_factory=list)

    @property
    def unsupported(self) -> str | None:
        """Why this JPEG cannot be decoded here at all, if it cannot."""
        if self.precision not in (None, 8):
            return f"{self.precision}-bit samples"
        if self.variant in _NEVER_DECODED:
            return f"{self.variant} coding"
        return None


def _segments(stream: BinaryIO, start: int) -> Iterator[tuple[int, int, bytes]]:
    """(marker, payload offset, payload) of each segment from SOI to the first scan. Only
    the payloads this module reads are loaded; the rest are skipped."""
    stream.seek(start)
    if stream.read(2) != _SOI:
        return
    while True:
        byte = stream.read(1)
        if not byte:
            return
        if byte != b"\xff":
            continue  # junk between segments: decoders skip it too
        marker = stream.read(1)
        while marker == b"\xff":  # fill bytes
            marker = stream.read(1)
        if not marker or marker[0] == _EOI:
            return
        code = marker[0]
        if code in (0x00, 0x01) or 0xD0 <= code <= 0xD7:
            continue  # markers without a length
        size = stream.read(2)
        if len(size) < 2 or int.from_bytes(size, "big") < 2:
            return
        length = int.from_bytes(size, "big") - 2
        offset = stream.tell()
        payload = stream.read(length) if code in _READ_PAYLOAD else b""
        if code not in _READ_PAYLOAD:
            stream.seek(length, 1)
        yield code, offset, payload
        if code == _SOS:
            return


def _mpf_entries(payload: bytes, header_offset: int) -> tuple[int, list[tuple[int, int, int]]]:
    """The MPF index: (number of images, [(MP type, size, absolute offset)]). Offsets in the
    index count from the MPF header, except the primary image's, which is 0."""
    tiff = payload[len(_MPF) :]
    endian = {b"II": "<", b"MM": ">"}[tiff[:2]]
    (ifd,) = struct.unpack_from(endian + "I", tiff, 4)
    (count,) = struct.unpack_from(endian + "H", tiff, ifd)
    number, entries_at, entries_size = 0, None, 0
    for index in range(count):
        tag, _, size, value = struct.unpack_from(endian + "HHI4s", tiff, ifd + 2 + 12 * index)
        if tag == 0xB001:
            (number,) = struct.unpack(endian + "I", value)
        elif tag == 0xB002:
            (entries_at,) = struct.unpack(endian + "I", value)
            entries_size = size
    entries = []
    if entries_at is not None:
        for index in range(min(entries_size // 16, _MAX_SECONDARY + 1)):
            attribute, size, offset, _, _ = struct.unpack_from(endian + "IIIHH", tiff, entries_at + 16 * index)
            entries.append((attribute & 0xFFFFFF, size, offset + header_offset if offset else 0))
    return number, entries


def _secondary_kind(stream: BinaryIO, mp_type: int, offset: int, file_size: int) -> str:
    if offset <= 0 or offset >= file_size:
        return "missing"
    stream.seek(offset)
    if stream.read(2) != _SOI:
        return "missing"
    if mp_type in _MP_TYPES:
        return _MP_TYPES[mp_type]
    for code, _, payload in _segments(stream, offset):
        if code in (0xE1, 0xE2) and (kind := _marked_kind(payload, _KIND_MARKERS)):
            return kind
    return "unknown"


def _marked_kind(text: bytes, markers: tuple[tuple[bytes, str], ...]) -> str | None:
    return next((kind for marker, kind in markers if marker in text), None)


def auxiliary_kind(urn: str) -> str:
    """The kind of a HEIF auxiliary image from its auxC URN, named as a multi-picture JPEG's
    secondary images are (Apple writes the same URNs in both)."""
    return _marked_kind(urn.lower().encode(), _KIND_MARKERS + _AUX_URN_MARKERS) or "unknown"


def scan(path: Path) -> JpegStructure | None:
    """The JPEG's structure, or None if the file does not start like a JPEG. Never raises
    for malformed content: what was read up to the damage is returned. Each step asks more
    than once (pixel limits, arithmetic coding, reduced-scale decoding): the file is read
    once."""
    stat = path.stat()
    return _scan(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4)
def _scan(path: str, file_size: int, _modified: int) -> JpegStructure | None:
    structure = JpegStructure()
    mpf: tuple[bytes, int] | None = None
    with open(path, "rb") as stream:
        if stream.read(2) != _SOI:
            return None
        try:
            for code, offset, payload in _segments(stream, 0):
                if code in _FRAMES and structure.variant is None and len(payload) >= 6:
                    structure.variant = _FRAMES[code]
                    structure.precision = payload[0]
                    structure.height, structure.width = struct.unpack(">HH", payload[1:5])
                elif code == _DRI and len(payload) >= 2:
                    structure.restart_interval = int.from_bytes(payload[:2], "big") or None
                elif code == 0xEE and payload.startswith(b"Adobe") and len(payload) >= 12:
                    structure.adobe_transform = payload[11]
                elif code == 0xE2 and payload.startswith(_MPF) and mpf is None:
                    mpf = (payload, offset + len(_MPF))
        except OSError as error:
            logger.warning("JPEG structure partly read", extra={"error": str(error)})
        if mpf is not None:
            try:
                number, entries = _mpf_entries(*mpf)
                secondary = [(t, o) for t, _, o in entries[1:]]
                structure.image_count = max(1, len(entries) if entries else number)
                structure.secondary = [_secondary_kind(stream, t, o, file_size) for t, o in secondary]
            except (KeyError, IndexError, struct.error, OSError) as error:
                logger.warning("malformed MPF index ignored", extra={"error": str(error)})
    return structure


def _safely(read: Callable[[], T], what: str) -> T | None:
    """One field's value, or None when the metadata it comes from is malformed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about corrupt EXIF: we log once below
            return read()
    except Exception as error:  # a broken block must never fail the photo, whatever it raises
        logger.warning("metadata field unreadable", extra={"field": what, "error": repr(error)[:200]})
        return None


def _exif(image: Image.Image) -> Image.Exif:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return image.getexif()


def _ifd(image: Image.Image, tag: int) -> dict[int, Any]:
    return _exif(image).get_ifd(tag)


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    text = "".join(ch for ch in value.replace("\x00", " ") if ch.isprintable()).strip()
    return text[:_TEXT_CHARS] or None


def orientation(image: Image.Image) -> int:
    """EXIF orientation 1-8 (1 when absent or invalid)."""
    value = _safely(lambda: _exif(image).get(ExifTags.Base.Orientation), "orientation")
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def colour_hints(image: Image.Image) -> tuple[int | None, str | None]:
    """EXIF ColorSpace (1 = sRGB, 0xFFFF = uncalibrated) and the interoperability index
    (R03 = the DCF option colour space, Adobe RGB)."""
    space = _safely(lambda: _ifd(image, ExifTags.IFD.Exif).get(ExifTags.Base.ColorSpace), "colourSpace")
    index = _safely(lambda: _ifd(image, ExifTags.IFD.Interop).get(ExifTags.Interop.InteropIndex), "interopIndex")
    return (space if isinstance(space, int) else None), _text(index)


_EXIF_TIME = re.compile(r"^(\d{4}):(\d{2}):(\d{2}) (\d{2}):(\d{2}):(\d{2})$")
_OFFSET = re.compile(r"^[+-]\d{2}:\d{2}$")


def _capture_time(exif_ifd: dict[int, Any]) -> str | None:
    """DateTimeOriginal as ISO 8601 local time, with sub-seconds and the UTC offset when the
    camera recorded them: '2024-05-01T14:03:22.120+02:00'. Sorted as text, these order by
    the clock time where the photo was taken."""
    match = _EXIF_TIME.match(_text(exif_ifd.get(ExifTags.Base.DateTimeOriginal)) or "")
    if not match:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    moment = datetime(year, month, day, hour, minute, second)  # raises on 0000:00:00 and the like
    text = moment.isoformat(timespec="seconds")
    subseconds = _text(exif_ifd.get(ExifTags.Base.SubsecTimeOriginal)) or ""
    if subseconds.isdigit():
        text += "." + subseconds[:3].ljust(3, "0")
    offset = _text(exif_ifd.get(ExifTags.Base.OffsetTimeOriginal)) or ""
    return text + offset if _OFFSET.match(offset) else text


_XMP_EXIF = "{http://ns.adobe.com/exif/1.0/}"
_XMP_PHOTOSHOP = "{http://ns.adobe.com/photoshop/1.0/}"
# XMP's capture time, in MWG's order (exif: as Lightroom and Photoshop write it; photoshop:
# DateCreated, MWG's XMP counterpart of EXIF DateTimeOriginal).
_XMP_CAPTURE_TIME = (f"{_XMP_EXIF}DateTimeOriginal", f"{_XMP_PHOTOSHOP}DateCreated")
_XMP_LIMIT = 1024 * 1024  # a real packet is a few KiB; beyond this it is not parsed
_XMP_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")
_XMP_COORDINATE = re.compile(r"^(\d{1,3}),(\d{1,2}(?:\.\d+)?)(?:,(\d{1,2}(?:\.\d+)?))?([NSEW])$")
_IPTC_DATE, _IPTC_TIME = (2, 55), (2, 60)
_IPTC_TIME_TEXT = re.compile(r"^(\d{2})(\d{2})(\d{2})([+-]\d{2})(\d{2})?$")


def _xmp_fields(image: Image.Image) -> dict[str, str]:
    """The XMP packet's simple properties (`{namespace}Name` -> text), whether written as
    attributes of rdf:Description or as elements. A packet with a DTD (XMP has none: it would
    only serve entity tricks) or too large is not parsed."""
    xmp = image.info.get("xmp")
    if not isinstance(xmp, bytes) or not xmp or len(xmp) > _XMP_LIMIT or b"<!DOCTYPE" in xmp or b"<!ENTITY" in xmp:
        return {}
    root = ElementTree.fromstring(xmp.strip(b"\x00 \r\n\t"))
    fields: dict[str, str] = {}
    for element in root.iter():
        for name, value in element.attrib.items():
            fields.setdefault(name, value)
        if element.text and element.text.strip() and not len(element):
            fields.setdefault(str(element.tag), element.text.strip())
    return fields


def _xmp_capture_time(fields: dict[str, str]) -> str | None:
    """An XMP date ('2024-05-01T14:03:22.12+02:00', ISO 8601 as XMP writes it) in the form
    `_capture_time` gives; a date without a time of day is not a capture time."""
    text = next((fields[name] for name in _XMP_CAPTURE_TIME if name in fields), "")
    if not _XMP_TIME.match(text):
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    result = moment.replace(tzinfo=None, microsecond=0).isoformat(timespec="seconds")
    if "." in text:
        result += "." + f"{moment.microsecond:06d}"[:3]
    if moment.utcoffset() is not None:
        result += moment.isoformat()[-6:]
    return result


def _iptc_capture_time(image: ImageFile.ImageFile) -> str | None:
    """IPTC IIM DateCreated (CCYYMMDD) with TimeCreated (HHMMSS±HHMM); a date alone is not a
    capture time."""
    info = IptcImagePlugin.getiptcinfo(image) or {}
    date, time = (_text(info.get(tag)) or "" for tag in (_IPTC_DATE, _IPTC_TIME))
    clock = _IPTC_TIME_TEXT.match(time)
    if not (date.isdigit() and len(date) == 8 and clock):
        return None
    hours, minutes, seconds, offset_hours, offset_minutes = clock.groups()
    moment = datetime(int(date[:4]), int(date[4:6]), int(date[6:]), int(hours), int(minutes), int(seconds))
    return f"{moment.isoformat(timespec='seconds')}{offset_hours}:{offset_minutes or '00'}"


def _xmp_location(fields: dict[str, str]) -> dict[str, str]:
    """exif:GPSLatitude / exif:GPSLongitude ('48,51.486N', '2,17,40.2E') as decimal degrees."""
    found = {}
    for name, limit in (("latitude", 90), ("longitude", 180)):
        match = _XMP_COORDINATE.match(fields.get(f"{_XMP_EXIF}GPS{name.title()}", "").strip())
        if not match:
            return {}
        degrees, minutes, seconds, direction = match.groups()
        value = int(degrees) + float(minutes) / 60 + float(seconds or 0) / 3600
        if value > limit:
            return {}
        found[name] = f"{-value if direction in 'SW' else value:.7f}"
    return found


def _degrees(value: Any, reference: Any, negative: str) -> str | None:
    degrees, minutes, seconds = (float(part) for part in value)
    decimal = degrees + minutes / 60 + seconds / 3600
    if not math.isfinite(decimal):
        return None
    if _text(reference) == negative:
        decimal = -decimal
    return f"{decimal:.7f}"


def _location(gps: dict[int, Any]) -> dict[str, str]:
    latitude = _degrees(gps[ExifTags.GPS.GPSLatitude], gps.get(ExifTags.GPS.GPSLatitudeRef), "S")
    longitude = _degrees(gps[ExifTags.GPS.GPSLongitude], gps.get(ExifTags.GPS.GPSLongitudeRef), "W")
    if latitude is None or longitude is None or abs(float(latitude)) > 90 or abs(float(longitude)) > 180:
        return {}
    return {"latitude": latitude, "longitude": longitude}


def _has_location(image: Image.Image, gps: dict[int, Any] | None) -> bool:
    """Whether the file carries a location: EXIF GPS coordinates, an EXIF GPS block that
    cannot be read (assume it does), or GPS fields in the XMP packet."""
    if gps is None:
        has_pointer = _safely(lambda: ExifTags.IFD.GPSInfo in _exif(image), "gps")
        if has_pointer:
            return True
    elif ExifTags.GPS.GPSLatitude in gps or ExifTags.GPS.GPSLongitude in gps:
        return True
    xmp = image.info.get("xmp") or b""
    return isinstance(xmp, bytes) and (b"GPSLatitude" in xmp or b"GPSLongitude" in xmp)


def describe(image: ImageFile.ImageFile, structure: JpegStructure | None, keep_location: bool) -> dict[str, Any]:
    """The photo's metadata for the workflow state (and then the photos table)."""
    turns = orientation(image)
    width, height = (image.height, image.width) if turns >= 5 else (image.width, image.height)
    exif_ifd = _safely(lambda: _ifd(image, ExifTags.IFD.Exif), "exif") or {}
    ifd0: Mapping[int, Any] = _safely(lambda: _exif(image), "ifd0") or {}
    gps = _safely(lambda: _ifd(image, ExifTags.IFD.GPSInfo), "gps")
    xmp = _safely(lambda: _xmp_fields(image), "xmp") or {}
    captured = (
        _safely(lambda: _capture_time(exif_ifd), "capturedAt")
        or _safely(lambda: _xmp_capture_time(xmp), "capturedAt (XMP)")
        or _safely(lambda: _iptc_capture_time(image), "capturedAt (IPTC)")
    )
    found: dict[str, Any] = {
        "width": width,
        "height": height,
        "orientation": turns,
        "capturedAt": captured,
        "cameraMake": _text(ifd0.get(ExifTags.Base.Make)),
        "cameraModel": _text(ifd0.get(ExifTags.Base.Model)),
        "lens": _text(exif_ifd.get(ExifTags.Base.LensModel)),
        "hasLocation": _has_location(image, gps),
    }
    if keep_location:
        found |= (_safely(lambda: _location(gps), "location") if gps else None) or (
            _safely(lambda: _xmp_location(xmp), "location (XMP)") or {}
        )
    if structure is not None:
        found |= {
            "jpegVariant": structure.variant,
            "imageCount": structure.image_count,
            "secondaryImages": structure.secondary or None,
        }
    return {name: value for name, value in found.items() if value is not None}
