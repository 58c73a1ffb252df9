"""A small sequential-DCT JPEG encoder (ITU-T T.81), for the variants no tool here writes:
12-bit samples (Pillow cannot write them and the Debian tools are 8-bit builds) and YCCK
(Pillow writes CMYK only). Components are not subsampled; Huffman tables are built from
the symbols used. Slow and plain on purpose: test pictures are a few blocks."""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

Plane = Sequence[Sequence[int]]

# (row, column) in zig-zag order: odd diagonals run down-left, even ones up-right.
_ZIGZAG = sorted(
    ((r, c) for r in range(8) for c in range(8)), key=lambda rc: (rc[0] + rc[1], rc[1 - ((rc[0] + rc[1]) & 1)])
)
_COS = [[math.cos((2 * x + 1) * u * math.pi / 16) for x in range(8)] for u in range(8)]


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def _dct(block: list[list[float]]) -> list[int]:
    out = []
    for v, u in _ZIGZAG:
        total = sum(block[y][x] * _COS[u][x] * _COS[v][y] for y in range(8) for x in range(8))
        scale = (1 / math.sqrt(2) if u == 0 else 1) * (1 / math.sqrt(2) if v == 0 else 1)
        out.append(round(total * scale / 4))
    return out


def _category(value: int) -> int:
    return abs(value).bit_length()


def _bits(value: int, size: int) -> int:
    return value if value >= 0 else value + (1 << size) - 1


class _BitWriter:
    def __init__(self) -> None:
        self.data, self.acc, self.count = bytearray(), 0, 0

    def write(self, value: int, size: int) -> None:
        for bit in range(size - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> bit) & 1)
            self.count += 1
            if self.count == 8:
                self.data.append(self.acc)
                if self.acc == 0xFF:
                    self.data.append(0)  # byte stuffing
                self.acc, self.count = 0, 0

    def finish(self) -> bytes:
        if self.count:
            self.write((1 << (8 - self.count)) - 1, 8 - self.count)
        return bytes(self.data)


def _table(symbols: set[int]) -> tuple[dict[int, tuple[int, int]], bytes]:
    """Equal-length canonical codes (never all ones): valid, if not optimal."""
    ordered = sorted(symbols)
    length = 1
    while (1 << length) <= len(ordered):
        length += 1
    counts = [0] * 16
    counts[length - 1] = len(ordered)
    codes = {symbol: (index, length) for index, symbol in enumerate(ordered)}
    return codes, bytes(counts) + bytes(ordered)


def encode(
    planes: Sequence[Plane],
    precision: int = 8,
    quantiser: int = 2,
    adobe_transform: int | None = None,
    app_segments: Sequence[tuple[int, bytes]] = (),
) -> bytes:
    """Planes of samples (0 .. 2**precision - 1), all the same size, a multiple of 8."""
    height, width = len(planes[0]), len(planes[0][0])
    shift = 1 << (precision - 1)
    blocks = []  # per component: quantised zig-zag coefficients of each block, row by row
    for plane in planes:
        coefficients = []
        for by in range(0, height, 8):
            for bx in range(0, width, 8):
                block = [[plane[by + y][bx + x] - shift for x in range(8)] for y in range(8)]
                coefficients.append([round(c / quantiser) for c in _dct(block)])
        blocks.append(coefficients)
    # Symbols first (to build the tables), then the entropy-coded data.
    events: list[list[tuple[str, int, int, int]]] = []  # per MCU: (table, symbol, extra bits, size)
    previous = [0] * len(planes)
    for index in range(len(blocks[0])):
        mcu = []
        for component, coefficients in enumerate(blocks):
            block = coefficients[index]
            diff, previous[component] = block[0] - previous[component], block[0]
            size = _category(diff)
            mcu.append(("dc", size, _bits(diff, size), size))
            run = 0
            for value in block[1:]:
                if value == 0:
                    run += 1
                    continue
                while run > 15:
                    mcu.append(("ac", 0xF0, 0, 0))
                    run -= 16
                size = _category(value)
                mcu.append(("ac", (run << 4) | size, _bits(value, size), size))
                run = 0
            if run:
                mcu.append(("ac", 0x00, 0, 0))
        events.append(mcu)
    dc_codes, dc_spec = _table({s for mcu in events for t, s, _, _ in mcu if t == "dc"})
    ac_codes, ac_spec = _table({s for mcu in events for t, s, _, _ in mcu if t == "ac"})
    writer = _BitWriter()
    for mcu in events:
        for table, symbol, extra, size in mcu:
            code, length = (dc_codes if table == "dc" else ac_codes)[symbol]
            writer.write(code, length)
            writer.write(extra, size)
    count = len(planes)
    frame = struct.pack(">BHHB", precision, height, width, count) + b"".join(
        bytes([i + 1, 0x11, 0]) for i in range(count)
    )
    scan = bytes([count]) + b"".join(bytes([i + 1, 0x00]) for i in range(count)) + bytes([0, 63, 0])
    out = b"\xff\xd8" + b"".join(_segment(marker, payload) for marker, payload in app_segments)
    if adobe_transform is not None:
        out += _segment(0xEE, b"Adobe" + struct.pack(">HHHB", 100, 0, 0, adobe_transform))
    out += _segment(0xDB, bytes([0]) + bytes([quantiser] * 64))
    out += _segment(0xC0 if precision == 8 else 0xC1, frame)
    out += _segment(0xC4, bytes([0x00]) + dc_spec + bytes([0x10]) + ac_spec)
    out += _segment(0xDA, scan) + writer.finish() + b"\xff\xd9"
    return out


def encode_lossless(planes: Sequence[Plane], precision: int = 8) -> bytes:
    """Lossless JPEG (SOF3, T.81 annex H), predictor 1 (the sample to the left), no point
    transform: what DNG and some scanners store."""
    height, width = len(planes[0]), len(planes[0][0])
    events: list[tuple[int, int]] = []  # (difference category, extra bits), interleaved per sample
    for y in range(height):
        for x in range(width):
            for plane in planes:
                first_row_start = 1 << (precision - 1)
                above = plane[y - 1][0] if y else first_row_start
                predicted = plane[y][x - 1] if x else above
                diff = (plane[y][x] - predicted) % 65536
                diff = diff - 65536 if diff >= 32768 else diff
                size = _category(diff)
                events.append((size, _bits(diff, size) if size < 16 else 0))
    codes, spec = _table({size for size, _ in events})
    writer = _BitWriter()
    for size, extra in events:
        code, length = codes[size]
        writer.write(code, length)
        if 0 < size < 16:
            writer.write(extra, size)
    count = len(planes)
    frame = struct.pack(">BHHB", precision, height, width, count) + b"".join(
        bytes([i + 1, 0x11, 0]) for i in range(count)
    )
    scan = bytes([count]) + b"".join(bytes([i + 1, 0x00]) for i in range(count)) + bytes([1, 0, 0])
    out = b"\xff\xd8" + _segment(0xC3, frame) + _segment(0xC4, bytes([0x00]) + spec)
    return out + _segment(0xDA, scan) + writer.finish() + b"\xff\xd9"
