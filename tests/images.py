"""Test pictures made from the bundled sample photographs (real photographic content)."""

from __future__ import annotations

import hashlib
import io
import random
import struct
import subprocess
from pathlib import Path

from PIL import ExifTags, Image, ImageCms, ImageEnhance, ImageOps
from PIL.TiffImagePlugin import IFDRational

from handlers.core import icc
from tests import jpeg_writer

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


# --- photos as phones and cameras write them ---------------------------------------------


def segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def insert_segments(jpeg: bytes, *segments: bytes) -> bytes:
    """Marker segments placed right after SOI."""
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def camera_exif(
    orientation: int | None = None,
    taken: str | None = "2024:05:01 14:03:22",
    offset: str | None = "+02:00",
    subseconds: str | None = "12",
    gps: tuple[float, float] | None = (48.8581, 2.2945),
    colour_space: int | None = None,
    interop: str | None = None,
) -> bytes:
    """EXIF as a phone writes it: camera, lens, serial numbers, capture time and a location."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Google"
    exif[ExifTags.Base.Model] = "Pixel 9 Pro"
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    details = exif.get_ifd(ExifTags.IFD.Exif)
    details[ExifTags.Base.LensModel] = "Pixel 9 Pro back camera 6.9mm f/1.68"
    details[ExifTags.Base.BodySerialNumber] = SERIAL_NUMBER
    details[ExifTags.Base.LensSerialNumber] = "LENS-" + SERIAL_NUMBER
    if taken:
        details[ExifTags.Base.DateTimeOriginal] = taken
    if offset:
        details[ExifTags.Base.OffsetTimeOriginal] = offset
    if subseconds:
        details[ExifTags.Base.SubsecTimeOriginal] = subseconds
    if colour_space is not None:
        details[ExifTags.Base.ColorSpace] = colour_space
    if interop is not None:
        details[ExifTags.IFD.Interop] = {ExifTags.Interop.InteropIndex: interop}
    if gps:
        latitude, longitude = gps
        location = exif.get_ifd(ExifTags.IFD.GPSInfo)
        location[ExifTags.GPS.GPSLatitudeRef] = "N" if latitude >= 0 else "S"
        location[ExifTags.GPS.GPSLatitude] = _dms(abs(latitude))
        location[ExifTags.GPS.GPSLongitudeRef] = "E" if longitude >= 0 else "W"
        location[ExifTags.GPS.GPSLongitude] = _dms(abs(longitude))
    return exif.tobytes()


SERIAL_NUMBER = "SN8472016354"


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600 * 10000)
    return IFDRational(degrees), IFDRational(minutes), IFDRational(seconds, 10000)


def with_exif_thumbnail(exif: bytes, thumbnail: bytes) -> bytes:
    """Adds IFD1 with an embedded JPEG thumbnail, as cameras do (Pillow writes IFD0 only)."""
    tiff = bytearray(exif[6:])  # after "Exif\0\0"
    endian = "<" if tiff[:2] == b"II" else ">"
    (ifd0,) = struct.unpack_from(endian + "I", tiff, 4)
    (count,) = struct.unpack_from(endian + "H", tiff, ifd0)
    ifd1 = len(tiff)
    struct.pack_into(endian + "I", tiff, ifd0 + 2 + 12 * count, ifd1)
    data_at = ifd1 + 2 + 3 * 12 + 4
    tiff += struct.pack(endian + "H", 3)
    tiff += struct.pack(endian + "HHIHH", 0x0103, 3, 1, 6, 0)  # compression: JPEG
    tiff += struct.pack(endian + "HHII", 0x0201, 4, 1, data_at)
    tiff += struct.pack(endian + "HHII", 0x0202, 4, 1, len(thumbnail))
    tiff += struct.pack(endian + "I", 0) + thumbnail
    return exif[:6] + bytes(tiff)


def oriented_jpeg(orientation: int, upright: Image.Image | None = None, **save: object) -> bytes:
    """A JPEG stored the way a camera held in that position stores it, with the EXIF
    orientation that tells a viewer how to turn it upright."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    stored = stored_as(orientation, upright or photo().resize((96, 64)))
    return jpeg_bytes(stored, **({"exif": exif.tobytes(), "quality": 95} | save))


def stored_as(orientation: int, upright: Image.Image) -> Image.Image:
    """The pixels a camera held in that position stores: they follow the EXIF definition of
    each orientation value (which visual side row 0 and column 0 are), pixel by pixel."""
    w, h = upright.size
    # stored (x, y) -> upright (x, y); 5-8 swap width and height.
    where = {
        1: lambda x, y: (x, y),
        2: lambda x, y: (w - 1 - x, y),
        3: lambda x, y: (w - 1 - x, h - 1 - y),
        4: lambda x, y: (x, h - 1 - y),
        5: lambda x, y: (y, x),
        6: lambda x, y: (w - 1 - y, x),
        7: lambda x, y: (w - 1 - y, h - 1 - x),
        8: lambda x, y: (y, h - 1 - x),
    }[orientation]
    size = (h, w) if orientation >= 5 else (w, h)
    stored = Image.new("RGB", size)
    source = upright.load()
    stored.putdata([source[where(x, y)] for y in range(size[1]) for x in range(size[0])])
    return stored


def multi_picture_jpeg(primary: bytes, secondaries: list[tuple[int, bytes]]) -> bytes:
    """A CIPA DC-007 multi-picture file: the primary JPEG with an MPF index in APP2, then
    each secondary JPEG, typed as given (0 = undefined, 0x020002 = disparity, ...)."""
    count = 1 + len(secondaries)
    ifd_size = 2 + 3 * 12 + 4
    index_size = 8 + ifd_size + 16 * count
    placeholder = segment(0xE2, b"MPF\x00" + bytes(index_size))
    head = insert_segments(primary, placeholder)
    header_at = 2 + 4 + 4  # SOI, marker and length, "MPF\0": where offsets count from
    entries = struct.pack(">IIIHH", 0x20000000 | 0x030000, len(head), 0, 0, 0)
    position = len(head)
    for mp_type, data in secondaries:
        entries += struct.pack(">IIIHH", mp_type, len(data), position - header_at, 0, 0)
        position += len(data)
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 3)
    tiff += struct.pack(">HHI4s", 0xB000, 7, 4, b"0100")
    tiff += struct.pack(">HHII", 0xB001, 4, 1, count)
    tiff += struct.pack(">HHII", 0xB002, 7, 16 * count, 8 + ifd_size)
    tiff += struct.pack(">I", 0) + entries
    return insert_segments(primary, segment(0xE2, b"MPF\x00" + tiff)) + b"".join(d for _, d in secondaries)


def xmp_segment(xmp: str) -> bytes:
    return segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + xmp.encode())


def xmp_packet(attributes: str = "", elements: str = "") -> str:
    """A whole XMP packet as Lightroom and Photoshop exports write it (xpacket wrapper, the
    exif, photoshop and xmp namespaces), with rdf:Description's `attributes` and child
    `elements`."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/"'
        ' xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
        f' xmp:CreatorTool="Adobe Photoshop Lightroom Classic 13.0" {attributes}>{elements}</rdf:Description>'
        "</rdf:RDF></x:xmpmeta>" + " " * 200 + '<?xpacket end="w"?>'
    )


def iptc_segment(records: dict[int, str]) -> bytes:
    """An APP13 segment (Photoshop's image resources) holding an IPTC IIM block of
    application records (2:55 DateCreated, 2:60 TimeCreated, ...)."""
    iim = b"".join(
        b"\x1c\x02" + bytes([tag]) + struct.pack(">H", len(value)) + value.encode() for tag, value in records.items()
    )
    padded = iim + b"\0" * (len(iim) % 2)
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\0\0" + struct.pack(">I", len(iim)) + padded
    return segment(0xED, b"Photoshop 3.0\x00" + resource)


_HDRGM = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description xmlns:hdrgm="http://ns.adobe.com/hdr-gain-map/1.0/" hdrgm:Version="1.0"{extra}/>'
    "</rdf:RDF></x:xmpmeta>"
)


def ultra_hdr_jpeg(exif: bytes | None = None) -> bytes:
    """An Android Ultra HDR photo: the SDR primary image (XMP names the gain map) and a
    quarter-size greyscale gain map as the MPF's second image."""
    primary = jpeg_bytes(photo("coffee.jpg"), **({"exif": exif} if exif else {}))
    primary = insert_segments(primary, xmp_segment(_HDRGM.format(extra="")))
    gain_map = jpeg_bytes(Image.new("L", (150, 100), 200))
    gain_map = insert_segments(gain_map, xmp_segment(_HDRGM.format(extra=' hdrgm:GainMapMax="2.3"')))
    return multi_picture_jpeg(primary, [(0, gain_map)])


def stereo_jpeg() -> bytes:
    """A stereo camera's file: left view primary, right view typed 'disparity'."""
    left = photo("rocket.jpg")
    right = left.transform(left.size, Image.Transform.AFFINE, (1, 0, 6, 0, 1, 0))
    return multi_picture_jpeg(jpeg_bytes(left), [(0x020002, jpeg_bytes(right))])


def pillow_mpo() -> bytes:
    """What Pillow writes with save_all: two frames, the second typed 'undefined'."""
    buffer = io.BytesIO()
    first = photo("astronaut.jpg")
    first.save(buffer, "MPO", save_all=True, append_images=[first.resize((128, 128)).rotate(90)])
    return buffer.getvalue()


# ICC profiles, generated: matrix/TRC ones with the project's own writer, a CMYK printer
# profile (lut16 table) here; the Adobe RGB one is the profile samples/rocket.jpg carries,
# the HP/Microsoft sRGB one is in samples/not-a-jpeg.png.
DISPLAY_P3 = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))


def display_p3_profile() -> bytes:
    """A Display P3 profile as phones embed it: ICC v4, parametric sRGB curves."""
    return icc.rgb_profile("Display P3", DISPLAY_P3, version=4)


def adobe_rgb_profile() -> bytes:
    with Image.open(SAMPLES / "rocket.jpg") as image:
        return image.info["icc_profile"]


def hp_srgb_profile() -> bytes:
    with Image.open(SAMPLES / "not-a-jpeg.png") as image:
        return image.info["icc_profile"]


def grey_profile() -> bytes:
    return icc.grey_profile("Gray Gamma 2.2", 2.2)


def lcms_srgb_v4_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _ink(c: float, m: float, y: float, k: float) -> tuple[float, float, float]:
    """Linear-light RGB reflectance of a print with impure inks and an off-white paper: far
    enough from the naive 255 - C conversion that a test can tell them apart."""
    paper = (0.94, 0.93, 0.90)
    r = (1 - 0.95 * c) * (1 - 0.12 * m) * (1 - 0.03 * y)
    g = (1 - 0.40 * c) * (1 - 0.92 * m) * (1 - 0.10 * y)
    b = (1 - 0.18 * c) * (1 - 0.55 * m) * (1 - 0.90 * y)
    dark = 1 - 0.93 * k
    return tuple(p * v * dark for p, v in zip(paper, (r, g, b), strict=True))


def cmyk_profile(grid: int = 9) -> bytes:
    """A CMYK printer profile: A2B0 as a lut16 table, CMYK -> XYZ (D50, media-relative)."""
    to_xyz = icc.colorants(icc.SRGB_PRIMARIES, icc.D65)
    steps = [i / (grid - 1) for i in range(grid)]
    clut = bytearray()
    for c in steps:
        for m in steps:
            for y in steps:
                for k in steps:
                    linear = _ink(c, m, y, k)
                    xyz = [sum(to_xyz[row][col] * linear[col] for col in range(3)) for row in range(3)]
                    clut += struct.pack(">3H", *(min(65535, round(v * 32768)) for v in xyz))
    identity = b"".join(icc.s15(1.0 if i % 4 == 0 else 0.0) for i in range(9))
    linear_table = struct.pack(">2H", 0, 65535)
    lut = b"mft2" + bytes(4) + struct.pack(">BBBB", 4, 3, grid, 0) + identity + struct.pack(">HH", 2, 2)
    lut += linear_table * 4 + bytes(clut) + linear_table * 3
    tags = [*icc.common_tags("Test CMYK (impure inks)", icc.D65, 2), (b"A2B0", lut)]
    tags = [(sig, _d50_white() if sig == b"wtpt" else data) for sig, data in tags]  # a print's white is the paper
    return icc.assemble(b"CMYK", 2, tags, device_class=b"prtr")


def _d50_white() -> bytes:
    return b"XYZ " + bytes(4) + b"".join(icc.s15(v) for v in icc.D50)


def cmyk_photo() -> Image.Image:
    """CMYK pixels made from a photo by a simple separation (complements, some black)."""
    rgb = photo("coffee.jpg").resize((240, 160))
    return Image.merge("CMYK", [*(channel.point(lambda v: 255 - v) for channel in rgb.split()), _black(rgb)])


def _black(rgb: Image.Image) -> Image.Image:
    return rgb.convert("L").point(lambda v: max(0, 120 - v))


def cmyk_jpeg_with_profile() -> bytes:
    """Pillow writes CMYK JPEGs the Adobe way: APP14 with inverted samples."""
    return jpeg_bytes(cmyk_photo(), icc_profile=cmyk_profile())


def ycck_jpeg(cmyk: Image.Image | None = None, profile: bytes | None = None) -> bytes:
    """A YCCK JPEG (Adobe APP14 transform 2), as Photoshop writes CMYK: C, M, Y stored as
    YCbCr of their complements' complements (libjpeg turns them back into CMYK), K inverted."""
    cmyk = cmyk or cmyk_photo().crop((0, 0, 64, 48))
    w, h = cmyk.size
    pixels = [cmyk.getpixel((x, y)) for y in range(h) for x in range(w)]
    y_, cb, cr, k_ = [], [], [], []
    for c, m, y, k in pixels:
        y_.append(round(0.299 * c + 0.587 * m + 0.114 * y))
        cb.append(round(-0.168736 * c - 0.331264 * m + 0.5 * y + 128))
        cr.append(round(0.5 * c - 0.418688 * m - 0.081312 * y + 128))
        k_.append(255 - k)
    planes = [
        [[min(255, max(0, values[row * w + col])) for col in range(w)] for row in range(h)]
        for values in (y_, cb, cr, k_)
    ]
    segments = [(0xE2, chunk) for chunk in _icc_chunks(profile)] if profile else []
    return jpeg_writer.encode(planes, adobe_transform=2, app_segments=segments)


def _icc_chunks(profile: bytes) -> list[bytes]:
    parts = [profile[i : i + 65000] for i in range(0, len(profile), 65000)]
    return [b"ICC_PROFILE\x00" + bytes([n + 1, len(parts)]) + part for n, part in enumerate(parts)]


def twelve_bit_jpeg() -> bytes:
    """A real 12-bit greyscale JPEG (extended sequential, SOF1), as medical and some
    industrial cameras write."""
    grey = photo().convert("L").resize((64, 48))
    planes = [[[grey.getpixel((x, y)) * 16 for x in range(64)] for y in range(48)]]
    return jpeg_writer.encode(planes, precision=12, quantiser=8)


def jpegtran(data: bytes, *options: str) -> bytes:
    """libjpeg-turbo's jpegtran (Debian libjpeg-turbo-progs): lossless re-encoding, e.g.
    to arithmetic coding, which Pillow cannot write."""
    result = subprocess.run(["jpegtran", *options], input=data, capture_output=True, check=True)
    return result.stdout


# --- HEIF (HEIC) files, encoded here with pillow-heif's x265 encoder ----------------------
# A test-only use of the encoder (the layer never encodes). Its private CtxEncode is the
# only way to set the rotation/mirroring transform and the EXIF orientation independently;
# requirements.txt pins the version it comes with. Encoding is slow (~0.4 s at 640x480):
# keep the pictures small.


def heic(
    stored: Image.Image | None = None,
    orientation: int = 1,
    quality: int = 92,
    bits: int = 8,
    tile: int | None = None,
    **options: object,
) -> bytes:
    """One HEVC-coded picture: `stored` as the pixels, `orientation` as the transform
    (irot/imir) the file asks libheif to apply. Other options go to libheif as pillow-heif
    names them: exif, xmp, icc_profile, color_primaries, transfer_characteristics,
    matrix_coefficients, full_range_flag, save_nclx_profile, thumbnails. `bits=10` stores
    the picture at 10 bits per channel (heix); `tile` makes a grid of tiles as iPhones do."""
    from pillow_heif.constants import HeifCompressionFormat
    from pillow_heif.misc import CtxEncode

    stored = stored or photo().resize((96, 64))
    context = CtxEncode(HeifCompressionFormat.HEVC, quality=quality)
    mode, data = stored.mode, stored.tobytes()
    if bits != 8:
        mode, data = "RGB;16", sixteen_bit(stored)
        options["bit_depth"] = bits
    if tile:
        options["tiling"] = {"tile_width": tile, "tile_height": tile}
    context.add_image(stored.size, mode, data, image_orientation=orientation, primary=True, **options)
    buffer = io.BytesIO()
    context.save(buffer)
    return buffer.getvalue()


def sixteen_bit(image: Image.Image) -> bytes:
    """RGB at 16 bits per channel (native byte order, as pillow-heif takes it), with a
    smooth ramp below the 8-bit steps so a 10-bit file holds more than 8 bits of detail."""
    import array

    samples = array.array("H")
    width = image.width
    for index, value in enumerate(image.tobytes()):
        x = (index // 3) % width
        samples.append(min(65535, value * 257 + (x * 255 // max(1, width - 1))))
    return samples.tobytes()


def two_pictures(primary: Image.Image, other: Image.Image) -> bytes:
    """A HEIF with two top-level pictures, the first the primary one (as a burst or a
    multi-view file stores them)."""
    import pillow_heif

    heif_file = pillow_heif.from_pillow(primary)
    heif_file.add_from_pillow(other)
    buffer = io.BytesIO()
    heif_file.save(buffer, quality=90, primary_index=0)
    return buffer.getvalue()


def boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of the ISO media boxes in data[start:end] (32-bit sizes)."""
    end = len(data) if end is None else end
    found = []
    while start + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, start)
        size = size or end - start
        found.append((kind, start, size))
        start += size
    return found


def _box(kind: bytes, payload: bytes, full: int | None = None) -> bytes:
    head = b"" if full is None else struct.pack(">I", full)
    return struct.pack(">I4s", 8 + len(head) + len(payload), kind) + head + payload


def with_auxiliary(data: bytes, urn: str) -> bytes:
    """Makes the second picture of a `two_pictures` file an auxiliary image of the first
    (pillow-heif has no writer for them): an `auxl` reference, an `auxC` property with the
    URN (depth: urn:mpeg:hevc:2015:auxid:2; Apple's HDR gain map:
    urn:com:apple:photo:2020:aux:hdrgainmap), and the item locations shifted to match."""
    [(_, meta_at, meta_size)] = [b for b in boxes(data) if b[0] == b"meta"]
    assert any(kind == b"mdat" and at > meta_at for kind, at, _ in boxes(data)), "mdat must follow meta"
    children = [(kind, data[at : at + size]) for kind, at, size in boxes(data, meta_at + 12, meta_at + meta_size)]
    rebuilt = []
    for kind, raw in children:
        if kind == b"iprp":
            ipco, ipma = (raw[at : at + size] for _, at, size in boxes(raw, 8))
            count = len(boxes(ipco, 8))
            ipco = _box(b"ipco", ipco[8:] + _box(b"auxC", urn.encode() + b"\0", full=0))
            assert ipma[8] == 0 and not ipma[11] & 1, "ipma version 0 with one-byte associations"
            (entries,), position, body = struct.unpack_from(">I", ipma, 12), 16, b""
            for _ in range(entries):
                item, n = struct.unpack_from(">HB", ipma, position)
                associations = ipma[position + 3 : position + 3 + n]
                position += 3 + n
                if item == 2:
                    associations, n = associations + bytes([0x80 | (count + 1)]), n + 1
                body += struct.pack(">HB", item, n) + associations
            raw = _box(b"iprp", ipco + _box(b"ipma", struct.pack(">I", entries) + body, full=0))
        rebuilt.append((kind, raw))
        if kind == b"pitm":
            rebuilt.append((b"iref", _box(b"iref", _box(b"auxl", struct.pack(">HHH", 2, 1, 1)), full=0)))
    shift = 12 + sum(len(raw) for _, raw in rebuilt) - meta_size
    rebuilt = [(kind, _shift_locations(raw, shift) if kind == b"iloc" else raw) for kind, raw in rebuilt]
    meta = _box(b"meta", b"".join(raw for _, raw in rebuilt), full=struct.unpack_from(">I", data, meta_at + 8)[0])
    return data[:meta_at] + meta + data[meta_at + meta_size :]


def _shift_locations(iloc: bytes, shift: int) -> bytes:
    """Moves every file-offset extent of an iloc box by `shift` bytes."""
    raw = bytearray(iloc)
    version, position = raw[8], 12
    offset_size, length_size, base_size = raw[position] >> 4, raw[position] & 15, raw[position + 1] >> 4
    index_size = raw[position + 1] & 15 if version in (1, 2) else 0
    position += 2
    wide = 4 if version == 2 else 2
    count = int.from_bytes(raw[position : position + wide], "big")
    position += wide
    sizes = {4: ">I", 8: ">Q"}
    for _ in range(count):
        position += wide
        method = 0
        if version in (1, 2):
            method = int.from_bytes(raw[position : position + 2], "big") & 15
            position += 2
        position += 2
        base_at = position
        position += base_size
        extents = int.from_bytes(raw[position : position + 2], "big")
        position += 2
        for _ in range(extents):
            position += index_size
            if method == 0 and not base_size:
                (value,) = struct.unpack_from(sizes[offset_size], raw, position)
                struct.pack_into(sizes[offset_size], raw, position, value + shift)
            position += offset_size + length_size
        if method == 0 and base_size:
            (value,) = struct.unpack_from(sizes[base_size], raw, base_at)
            struct.pack_into(sizes[base_size], raw, base_at, value + shift)
    return bytes(raw)


def with_brands(data: bytes, major: bytes, compatible: list[bytes]) -> bytes:
    """The same file under other brands (the ftyp box rewritten, every offset kept: the new
    box has the same length, padded with repeats of the major brand)."""
    (_, _, size) = boxes(data)[0]
    slots = (size - 16) // 4
    brands = (compatible + [major] * slots)[:slots]
    return struct.pack(">I4s4sI", size, b"ftyp", major, 0) + b"".join(brands) + data[size:]


def as_sequence(still: bytes, keep_still: bool = True) -> bytes:
    """A HEIF image sequence (burst, or a Live-Photo-style clip) as `msf1` files are laid
    out: the still image items, and a `moov` box holding the track. With keep_still=False
    only the track is left (no primary image)."""
    moov = _box(b"moov", _box(b"mvhd", bytes(96), full=0))
    parts = [still[at : at + size] for kind, at, size in boxes(still) if keep_still or kind != b"meta"]
    head = with_brands(parts[0] + b"".join(parts[1:]), b"msf1", [b"msf1", b"hevc", b"iso8", b"mif1", b"heic"])
    return head + moov


def avif(image: Image.Image | None = None) -> bytes:
    """An AVIF (AV1-coded HEIF), written by Pillow's own AVIF plugin."""
    buffer = io.BytesIO()
    (image or photo().resize((96, 64))).save(buffer, format="AVIF", quality=80)
    return buffer.getvalue()


# --- burst shots and edited copies (the uniqueness policy) -----------------------------------


def burst_and_edits(image: Image.Image | None = None) -> dict[str, bytes]:
    """What lands in a photo library beside a photo, as JPEG bytes: the next shot of a burst
    (the scene shifted by 2%), copies edited or re-saved, a distinct photo that shares the
    layout but not the colours, and copies different enough to be other photos."""
    picture = image or photo()
    width, height = picture.size
    return {
        "burst (scene shifted 2%)": jpeg_bytes(picture.crop((width // 50, 0, width, height))),
        "brightened 20%": jpeg_bytes(ImageEnhance.Brightness(picture).enhance(1.2)),
        "re-encoded at quality 50": jpeg_bytes(picture, quality=50),
        "resized to half": jpeg_bytes(picture.resize((width // 2, height // 2), Image.Resampling.LANCZOS)),
        "recoloured (another photo, same layout)": jpeg_bytes(Image.merge("RGB", picture.split()[::-1])),
        "cropped 5% on every side": jpeg_bytes(
            picture.crop((width // 20, height // 20, width - width // 20, height - height // 20))
        ),
        "mirrored": jpeg_bytes(ImageOps.mirror(picture)),
    }


def random_picture(seed: bytes, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A picture with a layout of its own (blocks of random grey levels, smoothed): its
    perceptual hash is about 32 bits from any other's, so tests do not match each other."""
    blocks = Image.frombytes("L", (16, 12), random.Random(hashlib.sha256(seed).digest()).randbytes(16 * 12))
    return blocks.resize(size, Image.Resampling.BICUBIC).convert("RGB")
