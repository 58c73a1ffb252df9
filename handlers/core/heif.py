"""HEIF (HEIC) files as phones write them: which family a file's brands put it in, what its
box structure says before anything is decoded, and the decoder's registration.

Read here, from the ISO base media file format boxes, without the decoder:
- the brands (`ftyp`): HEIC stills (`heic`, `heix`, ...), generic HEIF (`mif1`), image
  sequences (`msf1`, `hevc`, ...) and AVIF (`avif`, `avis`), which no setting accepts;
- whether the file is whole: the top-level boxes must add up to the file's length and every
  item's data must lie inside the file. libheif decodes a truncated tiled (grid) picture
  without an error, the missing tiles filled in green, so truncation is caught here;
- the primary image: its coding (HEVC; an AV1-coded primary makes the file an AVIF), its
  stored size (`ispe`, checked against the pixel limit before libheif parses anything), and
  its rotation and mirroring (`irot`, `imir`, applied by libheif when it decodes);
- the other images: auxiliary images (depth, HDR gain map, matte, alpha), thumbnails, other
  pictures and sequence tracks, recorded by kind and never used for the outputs.

The decoder (pillow-heif, libheif with libde265) is registered only when a HEIF file is met,
and only as an opener: the layer never encodes HEIF."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image

from . import photo_metadata
from .errors import InvalidImage

# Brands (ISO/IEC 23008-12 and 23000-22): HEVC stills, HEVC sequences, generic HEIF, AVIF.
HEVC_STILL_BRANDS = frozenset({"heic", "heix", "heim", "heis"})
HEVC_SEQUENCE_BRANDS = frozenset({"hevc", "hevx", "hevm", "hevs"})
GENERIC_BRANDS = frozenset({"mif1", "mif2", "msf1"})
AVIF_BRANDS = frozenset({"avif", "avis"})
_HEVC_BRANDS = HEVC_STILL_BRANDS | HEVC_SEQUENCE_BRANDS

_BRAND_BYTES = 4096  # an ftyp box longer than this is not a real file's
_META_LIMIT = 16 * 1024 * 1024  # item information, properties and references; the pictures are in mdat
_MAX_BOXES = 100_000
_MAX_SECONDARY = 16
_NOT_IMAGES = frozenset({"Exif", "mime", "uri "})
_DERIVED = frozenset({"grid", "iovl", "iden"})  # made from the images they reference (dimg)
_CODINGS = {
    "hvc1": "hevc",
    "av01": "av1",
    "jpeg": "jpeg",
    "j2k1": "jpeg-2000",
    "vvc1": "vvc",
    "avc1": "avc",
    "unci": "uncompressed",
    "lhv1": "layered-hevc",
}


@dataclass(frozen=True)
class Brands:
    major: str
    compatible: tuple[str, ...]

    @property
    def family(self) -> str | None:
        """'heif', 'avif' or None (another ISO media file: MP4, QuickTime, ...). A generic
        `mif1` file is HEIF here; its primary image's coding decides later if it is an AVIF."""
        every = {self.major, *self.compatible}
        if self.major in AVIF_BRANDS or (every & AVIF_BRANDS and not every & _HEVC_BRANDS):
            return "avif"
        if every & (_HEVC_BRANDS | GENERIC_BRANDS):
            return "heif"
        return None


@dataclass
class Item:
    type: str
    properties: list[int] = field(default_factory=list)  # 1-based indexes into ipco, in ipma order


@dataclass
class HeifStructure:
    """What the boxes say about the file and its primary image. `damage` is why the file is
    not whole (the picture cannot be trusted); `unsupported` why it cannot be decoded here."""

    brands: Brands
    damage: str | None = None
    coding: str | None = None
    width: int | None = None
    height: int | None = None
    orientation: int = 1
    secondary: list[str] = field(default_factory=list)
    has_primary: bool = False
    has_tracks: bool = False

    @property
    def unsupported(self) -> str | None:
        if not self.has_primary:
            if self.has_tracks:
                return "an image sequence without a still image"
            return "no primary image"
        if self.coding != "hevc":
            return f"a {self.coding or 'unknown'}-coded primary image"
        return None

    def fields(self) -> dict[str, Any]:
        """The photos table's fields that come from the structure."""
        return {
            "orientation": self.orientation,
            "heifBrand": self.brands.major,
            "imageCount": 1 + len(self.secondary),
            "secondaryImages": self.secondary or None,
        }


class _Damaged(Exception):
    """The boxes do not fit the file."""


def brands(path: Path) -> Brands | None:
    """The `ftyp` box's brands, or None when the file does not start with one."""
    with path.open("rb") as stream:
        head = stream.read(_BRAND_BYTES)
    if len(head) < 16 or head[4:8] != b"ftyp":
        return None
    size = min(struct.unpack(">I", head[:4])[0], len(head))
    compatible = [head[i : i + 4] for i in range(16, size - 3, 4)]
    return Brands(_fourcc(head[8:12]), tuple(_fourcc(brand) for brand in compatible))


def _fourcc(raw: bytes) -> str:
    return raw.decode("latin-1")


def scan(path: Path) -> HeifStructure:
    """The file's structure. Never raises for malformed content: `damage` says what is wrong."""
    stat = path.stat()
    return _scan(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4)
def _scan(path: str, file_size: int, _modified: int) -> HeifStructure:
    found = brands(Path(path))
    structure = HeifStructure(found or Brands("", ()))
    try:
        with open(path, "rb") as stream:
            meta = None
            for kind, start, end in _top_level(stream, file_size):
                if kind == "meta" and meta is None:
                    if end - start > _META_LIMIT:
                        raise _Damaged(f"a {end - start}-byte meta box")
                    stream.seek(start)
                    meta = stream.read(end - start)
                elif kind == "moov":
                    structure.has_tracks = True
        if meta is not None:
            _read_meta(meta, file_size, structure)
    except _Damaged as damage:
        structure.damage = str(damage)
    except (struct.error, IndexError, ValueError, KeyError) as error:
        structure.damage = f"malformed boxes ({error})"
    if structure.has_tracks and len(structure.secondary) < _MAX_SECONDARY:
        structure.secondary.append("sequence")
    return structure


def _top_level(stream: BinaryIO, file_size: int) -> Iterator[tuple[str, int, int]]:
    """(type, payload start, end) of each top-level box. A box that runs past the end of
    the file means the file was cut short. Bytes after the last box that do not start like a
    box are left alone, as bytes after a JPEG's end are."""
    position, count = 0, 0
    while position < file_size:
        stream.seek(position)
        head = stream.read(16)
        if len(head) < 8 or not _is_fourcc(head[4:8]):
            return  # bytes after the last box (an app's trailer): the items' extents are checked apart
        size, kind = struct.unpack(">I4s", head[:8])
        header = 8
        if size == 1:
            if len(head) < 16:
                raise _Damaged("a box header cut short")
            (size,), header = struct.unpack(">Q", head[8:16]), 16
        elif size == 0:  # the last box runs to the end of the file
            size = file_size - position
        name = _fourcc(kind)
        if size < header:
            raise _Damaged(f"the {name!r} box has an impossible size ({size})")
        if position + size > file_size:
            raise _Damaged(f"truncated: the {name!r} box needs {size} bytes, {file_size - position} remain")
        yield name, position + header, position + size
        position += size
        count += 1
        if count > _MAX_BOXES:
            raise _Damaged("too many boxes")


def _is_fourcc(raw: bytes) -> bool:
    return all(0x20 <= byte <= 0x7E for byte in raw)


def _children(data: bytes, start: int, end: int) -> Iterator[tuple[str, int, int]]:
    """(type, payload start, end) of the boxes inside data[start:end]."""
    position = start
    while position + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, position)
        header = 8
        if size == 1:
            (size,), header = struct.unpack_from(">Q", data, position + 8), 16
        if not _is_fourcc(kind) or size < header or position + size > end:  # size 0 is for top-level boxes only
            raise _Damaged(f"a {_fourcc(kind)!r} box does not fit in its parent")
        yield _fourcc(kind), position + header, position + size
        position += size


def _full_box(data: bytes, start: int) -> tuple[int, int, int]:
    """(version, flags, payload start) of a FullBox."""
    return data[start], int.from_bytes(data[start + 1 : start + 4], "big"), start + 4


def _uint(data: bytes, position: int, size: int) -> int:
    return int.from_bytes(data[position : position + size], "big") if size else 0


def _read_meta(data: bytes, file_size: int, structure: HeifStructure) -> None:
    boxes = {kind: (start, end) for kind, start, end in _children(data, 4, len(data))}  # meta is a FullBox
    items, references, properties = {}, {}, []
    if "iinf" in boxes:
        items = _item_info(data, *boxes["iinf"])
    if "iloc" in boxes:
        _check_locations(data, *boxes["iloc"], file_size)
    if "iprp" in boxes:
        properties = _properties(data, *boxes["iprp"], items)
    if "iref" in boxes:
        references = _references(data, *boxes["iref"])
    primary = _primary(data, *boxes["pitm"]) if "pitm" in boxes else None
    if primary is None or primary not in items:
        return
    structure.has_primary = True
    structure.coding = _coding(primary, items, references)
    own = [properties[index - 1] for index in items[primary].properties if 0 < index <= len(properties)]
    for kind, body in own:
        if kind == "ispe":
            structure.width, structure.height = struct.unpack_from(">II", body, 4)
        elif kind == "clap" and structure.width is not None and structure.height is not None:
            # the clean aperture: the size libheif keeps (ispe gave both sides before it)
            structure.width, structure.height = _clean_aperture(body, structure.width, structure.height)
    structure.orientation = _orientation([(kind, body) for kind, body in own if kind in ("irot", "imir")])
    structure.secondary = _secondary(primary, items, references, properties)[:_MAX_SECONDARY]
    if structure.width is None:
        raise _Damaged("the primary image has no size (ispe)")


def _clean_aperture(body: bytes, width: int, height: int) -> tuple[int, int]:
    width_n, width_d, height_n, height_d = struct.unpack_from(">IIII", body, 0)
    if not width_d or not height_d:
        return width, height
    return min(width, int(width_n / width_d + 0.5)), min(height, int(height_n / height_d + 0.5))


def _primary(data: bytes, start: int, _end: int) -> int:
    version, _, position = _full_box(data, start)
    return _uint(data, position, 2 if version == 0 else 4)


def _item_info(data: bytes, start: int, end: int) -> dict[int, Item]:
    version, _, position = _full_box(data, start)
    position += 2 if version == 0 else 4  # entry count: the boxes themselves are counted
    items = {}
    for kind, entry, entry_end in _children(data, position, end):
        if kind != "infe":
            continue
        entry_version, _, at = _full_box(data, entry)
        if entry_version < 2 or entry_end - at < 8:
            continue  # versions 0 and 1 describe files, not images
        id_size = 2 if entry_version == 2 else 4
        item_id = _uint(data, at, id_size)
        items[item_id] = Item(_fourcc(data[at + id_size + 2 : at + id_size + 6]))
    return items


def _check_locations(data: bytes, start: int, end: int, file_size: int) -> None:
    """Every item stored in the file (construction method 0) must lie inside it."""
    version, _, position = _full_box(data, start)
    offset_size, length_size = data[position] >> 4, data[position] & 15
    base_size, index_size = data[position + 1] >> 4, (data[position + 1] & 15 if version in (1, 2) else 0)
    position += 2
    id_size = 2 if version < 2 else 4
    count = _uint(data, position, id_size)
    position += id_size
    for _ in range(count):
        item_id = _uint(data, position, id_size)
        position += id_size
        method = 0
        if version in (1, 2):
            method = _uint(data, position, 2) & 15
            position += 2
        reference = _uint(data, position, 2)
        base = _uint(data, position + 2, base_size)
        position += 2 + base_size
        extents = _uint(data, position, 2)
        position += 2
        for _ in range(extents):
            position += index_size
            offset = base + _uint(data, position, offset_size)
            length = _uint(data, position + offset_size, length_size)
            position += offset_size + length_size
            if position > end:
                raise _Damaged("the iloc box is cut short")
            if method == 0 and reference == 0 and (offset > file_size or offset + length > file_size):
                raise _Damaged(f"truncated: item {item_id}'s data lies outside the file")


def _properties(data: bytes, start: int, end: int, items: dict[int, Item]) -> list[tuple[str, bytes]]:
    """The property boxes (ipco) in order, and each item's associations (ipma)."""
    found: list[tuple[str, bytes]] = []
    for kind, box, box_end in _children(data, start, end):
        if kind == "ipco":
            found = [(name, data[at:at_end]) for name, at, at_end in _children(data, box, box_end)]
        elif kind == "ipma":
            version, flags, position = _full_box(data, box)
            count = _uint(data, position, 4)
            position += 4
            for _ in range(count):
                id_size = 2 if version < 1 else 4
                item_id = _uint(data, position, id_size)
                associations = data[position + id_size]
                position += id_size + 1
                wide = flags & 1
                indexes = []
                for _ in range(associations):
                    value = _uint(data, position, 2 if wide else 1)
                    indexes.append(value & (0x7FFF if wide else 0x7F))
                    position += 2 if wide else 1
                if item_id in items:
                    items[item_id].properties = indexes
    return found


def _references(data: bytes, start: int, end: int) -> dict[str, list[tuple[int, list[int]]]]:
    version, _, position = _full_box(data, start)
    id_size = 2 if version == 0 else 4
    found: dict[str, list[tuple[int, list[int]]]] = {}
    for kind, box, box_end in _children(data, position, end):
        source = _uint(data, box, id_size)
        count = _uint(data, box + id_size, 2)
        at = box + id_size + 2
        targets = [_uint(data, at + id_size * n, id_size) for n in range(min(count, (box_end - at) // id_size))]
        found.setdefault(kind, []).append((source, targets))
    return found


def _coding(item_id: int, items: dict[int, Item], references: dict[str, list[tuple[int, list[int]]]]) -> str:
    """How the picture's pixels are coded; a grid (or overlay) is coded as its tiles are."""
    for _ in range(8):
        kind = items[item_id].type
        if kind not in _DERIVED:
            return _CODINGS.get(kind, kind.strip() or "unknown")
        inputs = [targets for source, targets in references.get("dimg", []) if source == item_id and targets]
        if not inputs or inputs[0][0] not in items:
            return "unknown"
        item_id = inputs[0][0]
    return "unknown"


# Each orientation as what it does to (x, y) with y pointing down, row-major 2x2, and the
# EXIF value that names it. HEIF's irot turns anticlockwise by 90 degrees per step; imir
# mirrors as libheif reads it (axis 1: left-right, axis 0: top-bottom).
_Matrix = tuple[int, int, int, int]
_EXIF_ORIENTATION: dict[_Matrix, int] = {
    (1, 0, 0, 1): 1,
    (-1, 0, 0, 1): 2,
    (-1, 0, 0, -1): 3,
    (1, 0, 0, -1): 4,
    (0, 1, 1, 0): 5,
    (0, -1, 1, 0): 6,
    (0, -1, -1, 0): 7,
    (0, 1, -1, 0): 8,
}
_ANTICLOCKWISE: _Matrix = (0, 1, -1, 0)
_MIRROR: dict[int, _Matrix] = {1: (-1, 0, 0, 1), 0: (1, 0, 0, -1)}


def _after(first: _Matrix, then: _Matrix) -> _Matrix:
    a, b, c, d = then
    e, f, g, h = first
    return (a * e + b * g, a * f + b * h, c * e + d * g, c * f + d * h)


def _orientation(transforms: list[tuple[str, bytes]]) -> int:
    """The EXIF orientation that names what libheif does to the stored picture: the
    transforms in the order the item lists them."""
    matrix: _Matrix = (1, 0, 0, 1)
    for kind, body in transforms:
        if kind == "irot":
            for _ in range(body[0] & 3):
                matrix = _after(matrix, _ANTICLOCKWISE)
        else:
            matrix = _after(matrix, _MIRROR[body[0] & 1])
    return _EXIF_ORIENTATION[matrix]


def _secondary(
    primary: int,
    items: dict[int, Item],
    references: dict[str, list[tuple[int, list[int]]]],
    properties: list[tuple[str, bytes]],
) -> list[str]:
    """The kinds of the file's other images: auxiliary images by their URN, thumbnails,
    gain maps (ISO 21496-1 `tmap`), other pictures. Tiles and a derived image's inputs are
    parts of an image, not images."""
    parts = {target for _, targets in references.get("dimg", []) for target in targets}
    auxiliary = {source for source, _ in references.get("auxl", [])}
    thumbnails = {source for source, _ in references.get("thmb", [])}
    kinds = []
    for item_id in sorted(items):
        item = items[item_id]
        if item_id == primary or item.type in _NOT_IMAGES or item_id in parts:
            continue
        if item_id in auxiliary:
            kinds.append(_aux_kind(item, properties))
        elif item_id in thumbnails:
            kinds.append("preview")
        elif item.type == "tmap":
            kinds.append("gain-map")
        else:
            kinds.append("image")
    return kinds


def _aux_kind(item: Item, properties: list[tuple[str, bytes]]) -> str:
    for index in item.properties:
        if 0 < index <= len(properties) and properties[index - 1][0] == "auxC":
            return photo_metadata.auxiliary_kind(properties[index - 1][1][4:].split(b"\0")[0].decode("latin-1"))
    return "unknown"


def check(path: Path, max_pixels: int) -> HeifStructure:
    """The structure of a HEIF file that can be decoded here, or InvalidImage: damaged
    (`corrupt-image`), AV1-coded (`avif-not-accepted`), not decodable (`unsupported-heif`),
    over the pixel limit (`too-many-pixels`, from the header, before libheif parses it)."""
    structure = scan(path)
    if structure.damage:
        raise InvalidImage("corrupt-image", structure.damage)
    if structure.coding == "av1":
        raise InvalidImage("avif-not-accepted", "an AV1-coded (AVIF) primary image")
    if structure.unsupported:
        raise InvalidImage("unsupported-heif", structure.unsupported)
    pixels = (structure.width or 0) * (structure.height or 0)
    if pixels > max_pixels:
        raise InvalidImage(
            "too-many-pixels", f"{structure.width}x{structure.height} is {pixels} pixels, the limit is {max_pixels}"
        )
    return structure


_registered = False


def register() -> None:
    """pillow-heif as Pillow's HEIF opener. Embedded thumbnails are never decoded instead of
    the picture (an editor may leave a stale one, showing what was cropped out), and the
    auxiliary images are read from the boxes above. Its encoder (x265) stays unreachable."""
    global _registered
    if _registered:
        return
    import pillow_heif  # a few MB of shared libraries: loaded only when a HEIF file is met

    pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
    Image.SAVE.pop("HEIF", None)
    Image.SAVE_ALL.pop("HEIF", None)
    _registered = True
