"""A tiny raw GIF89a writer for crafting test files, block by block.

Independent of the decoder under test: its own LZW encoder, with knobs to produce the
odd-but-legal streams real files contain (deferred clear, early end-of-information)
and raw access to every block so tests can break files on purpose.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DISPOSE_UNSPECIFIED, DISPOSE_NONE, DISPOSE_BACKGROUND, DISPOSE_PREVIOUS = 0, 1, 2, 3


def lzw_encode(
    indices: bytes, min_code_size: int, *, deferred_clear: bool = False, stop_after: int | None = None
) -> bytes:
    """GIF-variant LZW (LSB-first codes). `deferred_clear`: keep going with a full table
    instead of emitting a clear code; `stop_after`: end-of-information after that many pixels."""
    clear, eoi = 1 << min_code_size, (1 << min_code_size) + 1
    data = indices if stop_after is None else indices[:stop_after]
    out = bytearray()
    acc = nbits = 0

    def emit(code: int, size: int) -> None:
        nonlocal acc, nbits
        acc |= code << nbits
        nbits += size
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8

    def reset() -> tuple[dict[bytes, int], int, int]:
        return {bytes([i]): i for i in range(clear)}, eoi + 1, min_code_size + 1

    table, next_code, size = reset()
    emit(clear, size)
    prefix = b""
    for value in data:
        candidate = prefix + bytes([value])
        if candidate in table:
            prefix = candidate
            continue
        emit(table[prefix], size)
        if next_code < 4096:
            table[candidate] = next_code
            next_code += 1
            # The decoder adds its entry one code later, so it widens at next_code > 2**size.
            if next_code > (1 << size) and size < 12:
                size += 1
        elif not deferred_clear:
            emit(clear, size)
            table, next_code, size = reset()
        prefix = bytes([value])
    if prefix:
        emit(table[prefix], size)
        # The decoder adds an entry after this code too; it may widen the end code.
        if next_code < 4096 and next_code + 1 > (1 << size) and size < 12:
            size += 1
    emit(eoi, size)
    if nbits:
        out.append(acc & 0xFF)
    return bytes(out)


def sub_blocks(data: bytes) -> bytes:
    """Split data into <=255-byte sub-blocks followed by the block terminator."""
    chunks = [bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, len(data), 255)]
    return b"".join(chunks) + b"\x00"


def _table_bits(palette: np.ndarray) -> int:
    """Size field of a colour table: the table holds 2**(bits+1) entries."""
    n = len(palette)
    bits = max(0, (n - 1).bit_length() - 1)
    assert 2 ** (bits + 1) == n, f"colour table must have 2..256 power-of-two entries, got {n}"
    return bits


def _table_bytes(palette: np.ndarray) -> bytes:
    return np.ascontiguousarray(palette, dtype=np.uint8).tobytes()


def pad_palette(colours) -> np.ndarray:
    """Pad a list of RGB triples with black to the next power of two (>= 2)."""
    pal = np.asarray(colours, dtype=np.uint8).reshape(-1, 3)
    size = max(2, 1 << (len(pal) - 1).bit_length())
    return np.concatenate([pal, np.zeros((size - len(pal), 3), np.uint8)])


def interlace_rows(height: int) -> list[int]:
    """Source row order of an interlaced image (the order rows are stored in the file)."""
    return [*range(0, height, 8), *range(4, height, 8), *range(2, height, 4), *range(1, height, 2)]


@dataclass(frozen=True)
class Frame:
    indices: np.ndarray  # h x w uint8 colour indices
    left: int = 0
    top: int = 0
    palette: np.ndarray | None = None  # local colour table (power-of-two entries)
    delay_cs: int = 10
    disposal: int = DISPOSE_UNSPECIFIED
    transparent: int | None = None
    interlace: bool = False
    min_code_size: int | None = None  # default: from the palette size, at least 2
    gce: bool = True
    deferred_clear: bool = False
    stop_after: int | None = None


def graphic_control(delay_cs: int, disposal: int = 0, transparent: int | None = None) -> bytes:
    packed = (disposal & 7) << 2 | (transparent is not None)
    return b"\x21\xf9\x04" + struct.pack("<BHB", packed, delay_cs, transparent or 0) + b"\x00"


def netscape_loop(loop: int) -> bytes:
    return b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", loop) + b"\x00"


def comment(text: bytes) -> bytes:
    return b"\x21\xfe" + sub_blocks(text)


def plain_text(text: bytes) -> bytes:
    header = struct.pack("<HHHHBBBB", 0, 0, 8, 8, 8, 8, 1, 0)
    return b"\x21\x01\x0c" + header + sub_blocks(text)


def image_block(frame: Frame, palette_bits: int) -> bytes:
    """Graphic control extension (optional), image descriptor, local table, LZW data."""
    h, w = frame.indices.shape
    packed = 0
    if frame.palette is not None:
        palette_bits = _table_bits(frame.palette)
        packed |= 0x80 | palette_bits
    if frame.interlace:
        packed |= 0x40
    out = graphic_control(frame.delay_cs, frame.disposal, frame.transparent) if frame.gce else b""
    out += b"\x2c" + struct.pack("<HHHHB", frame.left, frame.top, w, h, packed)
    if frame.palette is not None:
        out += _table_bytes(frame.palette)
    rows = frame.indices[interlace_rows(h)] if frame.interlace else frame.indices
    code_size = frame.min_code_size or max(2, palette_bits + 1)
    data = lzw_encode(
        np.ascontiguousarray(rows, np.uint8).tobytes(),
        code_size,
        deferred_clear=frame.deferred_clear,
        stop_after=frame.stop_after,
    )
    return out + bytes([code_size]) + sub_blocks(data)


def make_gif(
    width: int,
    height: int,
    frames: list[Frame],
    *,
    global_palette: np.ndarray | None = None,
    background: int = 0,
    loop: int | None = None,
    extras: bytes = b"",
    trailer: bool = True,
) -> bytes:
    """A whole GIF89a file. `extras` (comment/plain-text blocks) go before the first frame."""
    packed, bits = 0, 0
    if global_palette is not None:
        bits = _table_bits(global_palette)
        packed = 0x80 | 0x70 | bits  # colour resolution 8 bits
    out = b"GIF89a" + struct.pack("<HHBBB", width, height, packed, background, 0)
    if global_palette is not None:
        out += _table_bytes(global_palette)
    if loop is not None:
        out += netscape_loop(loop)
    out += extras
    out += b"".join(image_block(f, bits) for f in frames)
    return out + (b"\x3b" if trailer else b"")


def write(path: Path, data: bytes) -> Path:
    Path(path).write_bytes(data)
    return Path(path)
