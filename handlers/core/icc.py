"""ICC profiles as bytes: what a profile says about itself, whether libpng accepts it in a
PNG as it is, and small matrix/TRC profiles written here (the compact sRGB profile every
output carries, and the Adobe-RGB-compatible profile for cameras that only say so in EXIF).

The PNG check follows libpng 1.6's own checks of an iCCP chunk (png.c: icc_check_length,
png_icc_check_header, png_icc_check_tag_table, png_compare_ICC_profile_with_sRGB): a
profile that fails any of them makes libpng warn and viewers ignore it, so it never goes
into a PNG unchanged."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

HEADER_BYTES = 128
# The PCS illuminant every profile header must carry (D50 as s15Fixed16), byte for byte.
D50_BYTES = bytes.fromhex("0000f6d6 00010000 0000d32d")
D50 = (0xF6D6 / 65536, 1.0, 0xD32D / 65536)

# The sRGB profiles libpng recognises without an MD5 id; it reports them when embedded
# (adler32, length, rendering intent -> libpng's complaint).
_LIBPNG_SRGB_WARNINGS = {
    (0xA054D762, 3024, 1): "out-of-date sRGB profile with no signature",
    (0xF784F3FB, 3144, 0): "known incorrect sRGB profile",
    (0x0398F3FC, 3144, 1): "known incorrect sRGB profile",
}
_FINE_CLASSES = {b"scnr", b"mntr", b"prtr", b"spac"}


class ProfileError(ValueError):
    """The bytes are not a usable ICC profile."""


@dataclass(frozen=True)
class Header:
    """The fields of a profile header the workflow decides on."""

    size: int
    version: str
    device_class: str
    colour_space: str
    connection_space: str
    intent: int


def _sig(data: bytes) -> str:
    return data.decode("latin-1").strip()


def header(icc: bytes) -> Header:
    if len(icc) < HEADER_BYTES + 4:
        raise ProfileError(f"{len(icc)} bytes is too short for an ICC profile")
    if icc[36:40] != b"acsp":
        raise ProfileError("no 'acsp' signature")
    major, minor = icc[8], icc[9] >> 4
    return Header(
        size=struct.unpack(">I", icc[0:4])[0],
        version=f"{major}.{minor}",
        device_class=_sig(icc[12:16]),
        colour_space=_sig(icc[16:20]),
        connection_space=_sig(icc[20:24]),
        intent=struct.unpack(">I", icc[64:68])[0],
    )


def png_problem(icc: bytes, grey: bool) -> str | None:
    """Why libpng would warn about (or drop) this profile in a PNG whose pixels are grey or
    RGB; None when it would take it silently."""
    try:
        head = header(icc)
    except ProfileError as error:
        return str(error)
    if head.size != len(icc):
        return f"the header says {head.size} bytes, the profile has {len(icc)}"
    if icc[8] > 3 and len(icc) % 4:
        return "length not a multiple of 4"
    tags = struct.unpack(">I", icc[128:132])[0]
    if len(icc) < 132 + 12 * tags:
        return "tag count too large"
    if head.intent >= 4:
        return f"rendering intent {head.intent} outside the defined range"
    if icc[68:80] != D50_BYTES:
        return "PCS illuminant is not D50"
    wanted = "GRAY" if grey else "RGB"
    if head.colour_space != wanted:
        return f"a {head.colour_space} profile cannot describe {'grey' if grey else 'RGB'} pixels"
    if icc[12:16] not in _FINE_CLASSES:
        return f"profile class {head.device_class!r} does not belong in an image"
    if head.connection_space not in ("XYZ", "Lab"):
        return f"connection space {head.connection_space!r}"
    for index in range(tags):
        _, start, length = struct.unpack(">4sII", icc[132 + 12 * index : 144 + 12 * index])
        if start % 4:
            return "a tag does not start on a multiple of 4"
        if start > len(icc) or length > len(icc) - start:
            return "a tag lies outside the profile"
    if icc[84:100] == bytes(16):
        return _LIBPNG_SRGB_WARNINGS.get((zlib.adler32(icc), len(icc), head.intent))
    return None


def is_known_srgb(icc: bytes) -> bool:
    """One of the old sRGB profiles libpng recognises and complains about (the HP/Microsoft
    one is in countless camera and editor JPEGs): the pixels are sRGB all the same."""
    try:
        intent = header(icc).intent
    except ProfileError:
        return False
    return (zlib.adler32(icc), len(icc), intent) in _LIBPNG_SRGB_WARNINGS


# --- writing matrix/TRC profiles -------------------------------------------------------

Chromaticity = tuple[float, float]
Matrix = list[list[float]]

D65: Chromaticity = (0.3127, 0.3290)
SRGB_PRIMARIES: tuple[Chromaticity, Chromaticity, Chromaticity] = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))
ADOBE_RGB_PRIMARIES: tuple[Chromaticity, Chromaticity, Chromaticity] = ((0.64, 0.33), (0.21, 0.71), (0.15, 0.06))
ADOBE_RGB_GAMMA = 563 / 256
# The sRGB transfer function as an ICC parametric curve (type 3: g, a, b, c, d).
SRGB_CURVE = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)
_BRADFORD: Matrix = [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]]


def _multiply(a: Matrix, b: Matrix) -> Matrix:
    return [[sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)] for i in range(3)]


def _apply(m: Matrix, v: tuple[float, float, float]) -> tuple[float, float, float]:
    return (
        m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2],
        m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
        m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2],
    )


def _inverse(m: Matrix) -> Matrix:
    (a, b, c), (d, e, f), (g, h, i) = m
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    cofactors = [
        [e * i - f * h, c * h - b * i, b * f - c * e],
        [f * g - d * i, a * i - c * g, c * d - a * f],
        [d * h - e * g, b * g - a * h, a * e - b * d],
    ]
    return [[value / det for value in row] for row in cofactors]


def _xyz(xy: Chromaticity) -> tuple[float, float, float]:
    x, y = xy
    return (x / y, 1.0, (1 - x - y) / y)


def _adaptation_to_d50(white: Chromaticity) -> Matrix:
    """Bradford chromatic adaptation from `white` to the D50 connection space."""
    source, target = _apply(_BRADFORD, _xyz(white)), _apply(_BRADFORD, D50)
    scale = [[target[i] / source[i] if i == j else 0.0 for j in range(3)] for i in range(3)]
    return _multiply(_inverse(_BRADFORD), _multiply(scale, _BRADFORD))


def colorants(primaries: tuple[Chromaticity, Chromaticity, Chromaticity], white: Chromaticity) -> Matrix:
    """Columns: the D50-adapted XYZ of the red, green and blue primaries."""
    columns = [_xyz(p) for p in primaries]
    m = [[columns[j][i] for j in range(3)] for i in range(3)]
    weights = _apply(_inverse(m), _xyz(white))
    rgb_to_xyz = [[m[i][j] * weights[j] for j in range(3)] for i in range(3)]
    return _multiply(_adaptation_to_d50(white), rgb_to_xyz)


def s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz_tag(xyz: tuple[float, float, float]) -> bytes:
    return b"XYZ " + bytes(4) + b"".join(s15(v) for v in xyz)


def _text_tag(text: str, version: int, description: bool) -> bytes:
    if version >= 4:
        encoded = text.encode("utf-16-be")
        return b"mluc" + bytes(4) + struct.pack(">II2s2sII", 1, 12, b"en", b"US", len(encoded), 28) + encoded
    ascii_text = text.encode("ascii") + b"\0"
    if not description:
        return b"text" + bytes(4) + ascii_text
    return b"desc" + bytes(4) + struct.pack(">I", len(ascii_text)) + ascii_text + bytes(4 + 4 + 2 + 1 + 67)


def _curve_tag(curve: float | tuple[float, ...], version: int) -> bytes:
    """A gamma, or the sRGB curve: parametric in v4, a 256-point table in v2 (v2 has no
    parametric curves; linear interpolation between 256 points is exact to 0.01 levels)."""
    if isinstance(curve, float):
        if version >= 4:
            return b"para" + bytes(4) + struct.pack(">HH", 0, 0) + s15(curve)
        return b"curv" + bytes(4) + struct.pack(">IH", 1, round(curve * 256)) + bytes(2)
    if version >= 4:
        return b"para" + bytes(4) + struct.pack(">HH", 3, 0) + b"".join(s15(v) for v in curve)
    g, a, b, c, d = curve
    points = [(a * x + b) ** g if x >= d else c * x for x in (i / 255 for i in range(256))]
    return b"curv" + bytes(4) + struct.pack(">I", 256) + b"".join(struct.pack(">H", round(p * 65535)) for p in points)


def assemble(
    colour_space: bytes, version: int, tags: list[tuple[bytes, bytes]], device_class: bytes = b"mntr"
) -> bytes:
    """Header, tag table and 4-byte-aligned tag data; identical tag bodies are stored once.
    (The tests build their CMYK printer profile with it too.)"""
    table, body, stored = [], b"", {}
    data_start = HEADER_BYTES + 4 + 12 * len(tags)
    for signature, data in tags:
        if data not in stored:
            stored[data] = data_start + len(body)
            body += data + bytes(-len(data) % 4)
        table.append(struct.pack(">4sII", signature, stored[data], len(data)))
    size = data_start + len(body)
    version_bytes = bytes([version, 0x30 if version >= 4 else 0x10, 0, 0])
    head = (
        struct.pack(">I", size)
        + bytes(4)
        + version_bytes
        + device_class
        + colour_space
        + b"XYZ "
        + struct.pack(">6H", 2026, 1, 1, 0, 0, 0)
        + b"acsp"
        + bytes(24)
        + struct.pack(">I", 0)  # perceptual
        + D50_BYTES
        + bytes(48)
    )
    return head + struct.pack(">I", len(tags)) + b"".join(table) + body


def common_tags(description: str, white: Chromaticity, version: int) -> list[tuple[bytes, bytes]]:
    tags = [
        (b"desc", _text_tag(description, version, description=True)),
        (b"cprt", _text_tag("No copyright, use freely", version, description=False)),
    ]
    if version >= 4:
        adaptation = b"".join(s15(value) for row in _adaptation_to_d50(white) for value in row)
        tags += [(b"wtpt", _xyz_tag(D50)), (b"chad", b"sf32" + bytes(4) + adaptation)]
    else:
        tags.append((b"wtpt", _xyz_tag(_xyz(white))))
    return tags


def rgb_profile(
    description: str,
    primaries: tuple[Chromaticity, Chromaticity, Chromaticity],
    white: Chromaticity = D65,
    curve: float | tuple[float, ...] = SRGB_CURVE,
    version: int = 2,
) -> bytes:
    """A display profile for an RGB space given by its primaries, white point and curve."""
    columns = colorants(primaries, white)
    tags = common_tags(description, white, version)
    for name, index in ((b"rXYZ", 0), (b"gXYZ", 1), (b"bXYZ", 2)):
        tags.append((name, _xyz_tag((columns[0][index], columns[1][index], columns[2][index]))))
    trc = _curve_tag(curve, version)
    tags += [(b"rTRC", trc), (b"gTRC", trc), (b"bTRC", trc)]
    return assemble(b"RGB ", version, tags)


def grey_profile(description: str, curve: float | tuple[float, ...] = SRGB_CURVE, version: int = 2) -> bytes:
    tags = [*common_tags(description, D65, version), (b"kTRC", _curve_tag(curve, version))]
    return assemble(b"GRAY", version, tags)
