"""Streaming GIF decoder: our own block parser and compositing; LZW by Pillow's C decoder
where its result provably equals our pure-Python reference `lzw_decode`, else by that.

Frames come out one at a time, fully composited, as a browser shows them. Memory is
constant in the number of frames: the file is read block by block and only the canvas
(plus, for disposal=previous, a copy of the frame's rectangle) is kept.

Speed at 480x270 (frames per CPU-second, 2-core dev box, 2026-11-24; see
benchmarks/decode_memory.py): photo-like GIF 598 frames/s (pure-Python LZW: 78),
256-colour noise 328 frames/s (23); Pillow's own decode to RGB 1107 and 810.

Choices where viewers differ (each tested in tests/test_gif_decode.py):
- Transparency. Browsers draw a GIF on a transparent canvas; so do we: each frame carries
  `alpha` (HxW uint8, 0 or 255) as browsers and ImageMagick `-coalesce` show it: the canvas
  starts transparent, disposal=background clears the rectangle to transparent, and
  disposal=previous restores colour and alpha. `alpha` is None when every pixel of the
  composited frame is opaque (most GIFs, including those whose transparent index only
  skips unchanged pixels), so opaque GIFs cost nothing extra. Under alpha 0, `rgb` holds
  the global palette's background colour (black without a global palette), as before.
- Disposal 4 is treated as 3 (restore previous) like Chromium and Firefox; 5..7 as none.
- Sub-rectangles reaching past the logical screen are clipped to it.
- Pixel indices beyond the palette show black.
- A frame whose LZW data ends early (end code, or sub-blocks run out) leaves the
  undecoded pixels untouched (transparent); extra data after the last pixel is ignored.
- A file that ends inside any block or frame is refused (GifDecodeError "truncated GIF"),
  so a damaged download never becomes a silently shorter video; a missing trailer after
  complete frames is fine (many encoders omit it).
- Damage never shortens a GIF silently: stray zero bytes between blocks (a control block
  whose size byte is 3 instead of 4) are skipped, and an unknown block stops decoding as in
  browsers, each with a one-line warning in `GifReader.warnings` that `restore` prints.
- The loop count is read from a NETSCAPE2.0/ANIMEXTS1.0 block before the first image,
  where encoders write it.
"""

from __future__ import annotations

import enum
import functools
import io
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile

from ..clip import GifFrame, GifInfo, effective_delay_ms
from ..config import DEFAULT_LIMITS, Limits
from ..errors import GifDecodeError

_EXTENSION, _IMAGE, _TRAILER = 0x21, 0x2C, 0x3B
_GRAPHIC_CONTROL, _APPLICATION = 0xF9, 0xFF
_MAX_CODES = 4096
_CHUNK = 32  # bytes of LZW data loaded into the bit accumulator at once
_MAX_WIDTH = 12  # bits in an LZW code, at most
_RGB = np.dtype("V3")  # one RGB pixel as a single value
_SCAN = 4096  # codes checked per step when looking for clear and end codes
# Local colour table of the one-frame GIFs given to Pillow: 256 distinct non-grey
# colours, so that Pillow keeps mode "P" and its pixels are the raw indices.
_PILLOW_TABLE = np.stack([np.arange(256), 255 - np.arange(256), np.zeros(256)], 1).astype(np.uint8).tobytes()


class Disposal(enum.IntEnum):
    NONE = 1  # 0 (unspecified) is read as NONE
    BACKGROUND = 2
    PREVIOUS = 3

    @classmethod
    def from_field(cls, value: int) -> Disposal:
        if value in (2, 3):
            return cls(value)
        return cls.PREVIOUS if value == 4 else cls.NONE


class _Truncated(GifDecodeError):
    """The file ends inside a block (tolerated after the first complete frame)."""


@dataclass(frozen=True)
class _Control:
    delay_cs: int = 0
    disposal: Disposal = Disposal.NONE
    transparent: int | None = None


@dataclass(frozen=True)
class _Image:
    left: int
    top: int
    width: int
    height: int
    interlaced: bool
    palette: np.ndarray | None  # local colour table
    min_code_size: int
    data: bytes  # concatenated LZW sub-blocks; empty when probing
    cut_short: bool  # the file ended inside the image data


@dataclass(frozen=True)
class _Loop:
    count: int


class _Reader:
    """Exact reads from the file; EOF inside a block is a truncation."""

    def __init__(self, fh: BinaryIO, path: str) -> None:
        self.fh, self.path = fh, path
        self.warnings: dict[str, None] = {}  # one line each, in order, once (every pass re-reads the blocks)

    def warn(self, message: str) -> None:
        self.warnings.setdefault(message)

    def exact(self, n: int, what: str) -> bytes:
        data = self.fh.read(n)
        if len(data) != n:
            raise _Truncated(f"{self.path}: truncated GIF (file ends inside the {what})")
        return data

    def sub_blocks(self, keep: bool) -> tuple[bytes, bool]:
        """Concatenated data sub-blocks up to the terminator; (data, file ended first)."""
        chunks = []
        size = self.fh.read(1)
        while True:
            if not size:
                return b"".join(chunks), True
            n = size[0]
            if n == 0:
                return b"".join(chunks), False
            if keep:
                chunk = self.fh.read(n + 1)  # the sub-block and the next one's size: half the reads
                chunks.append(chunk[:n])
                if len(chunk) < n:
                    return b"".join(chunks), True
                size = chunk[n:]
            else:
                self.fh.seek(n, os.SEEK_CUR)
                size = self.fh.read(1)


def _colour_table(reader: _Reader, packed: int, what: str) -> np.ndarray:
    n = 2 << (packed & 7)
    table = np.frombuffer(reader.exact(3 * n, what), np.uint8).reshape(n, 3)
    table.flags.writeable = False  # shared by every frame that uses it
    return table


def _check_size(path: str, width: int, height: int, limits: Limits, what: str) -> None:
    """Refuse sizes over the limits, naming the limit that was crossed (the one the user set)."""
    if width > limits.max_width or height > limits.max_height:
        raise GifDecodeError(f"{path}: {what} is {width}x{height}, over the limit of "
                             f"{limits.max_width}x{limits.max_height} (--max-side)")
    if width * height > limits.max_pixels:
        raise GifDecodeError(f"{path}: {what} is {width}x{height} = {width * height} pixels, over the limit of "
                             f"{limits.max_pixels} pixels per frame (--max-pixels)")


def _blocks(reader: _Reader, limits: Limits, keep_pixels: bool) -> Iterator[_Control | _Loop | _Image]:
    """The blocks after the header, in file order, ending at the trailer or end of file."""
    path = reader.path
    while True:
        intro = reader.fh.read(1)
        if not intro or intro[0] == _TRAILER:
            return  # a missing trailer is common and harmless
        if intro[0] == _EXTENSION:
            label = reader.exact(1, "extension label")[0]
            if label == _GRAPHIC_CONTROL:
                yield _graphic_control(reader)
            elif label == _APPLICATION:
                loop = _application(reader)
                if loop is not None:
                    yield loop
            else:  # comment, plain text, unknown: skipped
                _, ended = reader.sub_blocks(keep=False)
                if ended:
                    raise _Truncated(f"{path}: truncated GIF (file ends inside an extension block 0x{label:02x})")
        elif intro[0] == _IMAGE:
            left, top, width, height, packed = struct.unpack("<HHHHB", reader.exact(9, "image descriptor"))
            _check_size(path, width, height, limits, "a frame")
            palette = _colour_table(reader, packed, "local colour table") if packed & 0x80 else None
            min_code_size = reader.exact(1, "image data")[0]
            if not 1 <= min_code_size <= 8:
                raise GifDecodeError(f"{path}: invalid LZW minimum code size {min_code_size} (must be 1..8)")
            data, cut_short = reader.sub_blocks(keep=keep_pixels)
            yield _Image(left, top, width, height, bool(packed & 0x40), palette, min_code_size, data, cut_short)
            if cut_short:
                return
        else:
            # A stray byte where a block should start: typically a control block whose size byte
            # is off by one. Skip zero bytes (stray terminators) if a block follows them, as Pillow
            # and ImageMagick do; otherwise stop, as browsers do. Either way, say so.
            at = reader.fh.tell() - 1
            skipped = 1
            nxt = reader.fh.read(1)
            while intro[0] == 0 and nxt == b"\x00":
                skipped += 1
                nxt = reader.fh.read(1)
            if intro[0] == 0 and nxt and nxt[0] in (_EXTENSION, _IMAGE, _TRAILER):
                reader.warn(f"skipped {skipped} stray zero byte(s) at offset {at} (a damaged block); decoding went on")
                reader.fh.seek(-1, os.SEEK_CUR)
                continue
            rest = _remaining(reader.fh)
            reader.warn(f"unknown block 0x{intro[0]:02x} at offset {at}: ignored the rest of the file "
                        f"({rest + 1} bytes), as browsers do")
            return


def _remaining(fh: BinaryIO) -> int:
    here = fh.tell()
    end = fh.seek(0, os.SEEK_END)
    fh.seek(here)
    return end - here


def _graphic_control(reader: _Reader) -> _Control:
    at = reader.fh.tell()
    body, ended = reader.sub_blocks(keep=True)
    if ended:
        raise _Truncated(f"{reader.path}: truncated GIF (file ends inside a graphic control block)")
    if len(body) < 4:
        if len(body) >= 3:  # flags and delay are there; only the transparent index is missing
            packed, delay_cs = struct.unpack("<BH", body[:3])
            reader.warn(f"graphic control block at offset {at} holds {len(body)} bytes (4 expected): "
                        "used its delay, no transparency")
            return _Control(delay_cs, Disposal.from_field(packed >> 2 & 7), None)
        reader.warn(f"graphic control block at offset {at} holds {len(body)} bytes (4 expected): ignored")
        return _Control()
    packed, delay_cs, transparent = struct.unpack("<BHB", body[:4])
    return _Control(delay_cs, Disposal.from_field(packed >> 2 & 7), transparent if packed & 1 else None)


def _application(reader: _Reader) -> _Loop | None:
    header, ended = reader.sub_blocks(keep=True)  # first sub-block: 11-byte identifier, then data
    if ended:
        raise _Truncated(f"{reader.path}: truncated GIF (file ends inside an application block)")
    if header.startswith((b"NETSCAPE2.0", b"ANIMEXTS1.0")) and len(header) >= 14 and header[11] == 1:
        return _Loop(struct.unpack("<H", header[12:14])[0])
    return None


def lzw_decode(data: bytes, min_code_size: int, npixels: int, path: str = "<gif>") -> bytes:
    """GIF LZW (LSB-first, variable width) to at most `npixels` colour indices.

    Returns fewer when the end code comes early or the data runs out. Entries are kept as
    bytes objects (a lookup and a concatenation per code beat walking prefix chains per
    pixel), and bits are loaded 32 bytes at a time into one int: about 30% faster than
    byte by byte on noisy frames.
    """
    clear = 1 << min_code_size
    end = clear + 1
    first_free = clear + 2
    base = [bytes((i,)) for i in range(clear)] + [b"", b""]
    table = base[:]
    append = table.append
    ntable = first_free
    out = bytearray()
    produced = 0
    size = min_code_size + 1
    mask = (1 << size) - 1
    acc = nbits = pos = 0
    prev = b""
    while produced < npixels:
        if nbits < size:
            chunk = data[pos : pos + _CHUNK]
            acc |= int.from_bytes(chunk, "little") << nbits
            nbits += 8 * len(chunk)
            pos += _CHUNK
            if nbits < size:
                break  # data ran out
        code = acc & mask
        acc >>= size
        nbits -= size
        if first_free <= code < ntable or code < clear:
            entry = table[code]
            if prev and ntable < _MAX_CODES:
                append(prev + entry[:1])
                ntable += 1
        elif code == clear:
            table = base[:]
            append = table.append
            ntable = first_free
            size = min_code_size + 1
            mask = (1 << size) - 1
            prev = b""
            continue
        elif code == end:
            break
        elif code == ntable and prev:
            entry = prev + prev[:1]
            append(entry)
            ntable += 1
        else:
            raise GifDecodeError(f"{path}: invalid LZW code {code} (table holds {ntable} entries)")
        out += entry
        produced += len(entry)
        prev = entry
        if ntable > mask and size < 12:
            size += 1
            mask = (1 << size) - 1
    return bytes(out[:npixels])


@functools.cache
def _cycle_layout(min_code_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bit offset, end offset, width) of the first _SCAN codes after a clear code.

    Code k after a clear is read when the table holds first_free + k - 1 entries (the
    first code adds none), so its width is that count's bit length, capped at 12. Valid
    for code sizes >= 2 (where the first code's width is min_code_size + 1 too).
    """
    first_free = (1 << min_code_size) + 2
    held = np.maximum(first_free + np.arange(_SCAN) - 1, first_free)
    width = np.minimum(np.frexp(held)[1], _MAX_WIDTH).astype(np.int64)
    ends = np.cumsum(width)
    return ends - width, ends, width


@functools.cache
def _full_table_layout() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """_cycle_layout's form for codes once the table is full (all 12 bits wide)."""
    width = np.full(_SCAN, _MAX_WIDTH, np.int64)
    ends = np.cumsum(width)
    return ends - width, ends, width


def _first_end_code(data: bytes, min_code_size: int) -> tuple[int, int] | None:
    """(bit position, width) of the first end code in the LZW data, or None if none.

    Without decoding: where codes start depends only on how many codes follow the last
    clear code, so each step reads up to _SCAN codes at once (numpy) and looks for the
    first clear or end code. Exact up to the first invalid code, which both decoders
    reject when they reach it.
    """
    # The 4 bytes from each byte on (overlapping, no copy): any code plus its bit shift.
    window = np.ndarray((len(data),), "<u4", data + bytes(3), strides=(1,))
    nbits = 8 * len(data)
    marker = 1 << (min_code_size - 1)  # code >> 1 for both clear (even) and end (clear + 1)
    start, (offset, ends, width) = 0, _cycle_layout(min_code_size)
    while True:
        count = int(np.searchsorted(ends, nbits - start, side="right"))  # whole codes only
        pos = start + offset[:count]
        codes = (window[pos >> 3] >> (pos & 7)).astype(np.int64) & ((1 << width[:count]) - 1)
        hits = np.flatnonzero(codes >> 1 == marker)
        if hits.size:
            k = int(hits[0])
            if codes[k] & 1:
                return int(pos[k]), int(width[k])
            start, (offset, ends, width) = int(pos[k] + width[k]), _cycle_layout(min_code_size)
        elif count < _SCAN:
            return None
        else:  # _SCAN codes without a clear: the table is full, codes stay 12 bits wide
            start, (offset, ends, width) = int(pos[-1] + width[-1]), _full_table_layout()


def _one_frame_gif(data: bytes, min_code_size: int, width: int, height: int) -> bytes:
    """A GIF holding just this LZW data as a width x height, non-interlaced image."""
    raw = np.frombuffer(data, np.uint8)
    full = len(raw) // 255
    blocks = np.empty((full, 256), np.uint8)
    blocks[:, 0] = 255
    blocks[:, 1:] = raw[: full * 255].reshape(full, 255)
    tail = raw[full * 255 :].tobytes()
    return b"".join(
        (
            b"GIF89a",
            struct.pack("<HHBBB", width, height, 0, 0, 0),  # no global table
            struct.pack("<BHHHHB", _IMAGE, 0, 0, width, height, 0x87),  # 256-entry local table
            _PILLOW_TABLE,
            bytes((min_code_size,)),
            blocks.tobytes(),
            bytes((len(tail),)) + tail if tail else b"",
            bytes((0, _TRAILER)),
        )
    )


def pillow_lzw_decode(data: bytes, min_code_size: int, width: int, height: int) -> np.ndarray | None:
    """`lzw_decode` of a width x height frame by Pillow's C decoder (8-14x faster), as
    stored rows, or None where Pillow's result could differ: the caller then uses `lzw_decode`.

    Pillow decodes as `lzw_decode` does up to the first end code (same table, code widths,
    clear and KwKwK handling); then it differs. At an end code it stops only until more
    input arrives (with over 64 KiB of file it reads on past the end code), and it fails
    ("truncated", "broken") where the data holds fewer pixels or an invalid code. So its
    result stands only when it loaded without error, LOAD_TRUNCATED_IMAGES (which hides
    truncation) is off, and no whole code follows the first end code. Code size 1 is
    left to `lzw_decode`: Pillow widens codes one code later there.
    """
    if min_code_size < 2 or width * height == 0 or ImageFile.LOAD_TRUNCATED_IMAGES:
        return None
    end = _first_end_code(data, min_code_size)
    if end is not None and 8 * len(data) - sum(end) >= end[1]:
        return None  # Pillow would go on decoding after the end code
    try:
        with Image.open(io.BytesIO(_one_frame_gif(data, min_code_size, width, height)), formats=("GIF",)) as im:
            im.load()
            if im.mode != "P" or im.size != (width, height):
                return None
            return np.asarray(im).reshape(-1)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def _frame_indices(block: _Image, path: str) -> np.ndarray:
    """The frame's colour indices in stored row order: all of them, or fewer if the data ends early."""
    indices = None if block.cut_short else pillow_lzw_decode(block.data, block.min_code_size, block.width, block.height)
    if indices is None:
        indices = np.frombuffer(lzw_decode(block.data, block.min_code_size, block.width * block.height, path), np.uint8)
    return indices


def _deinterlace_order(height: int) -> np.ndarray:
    """Destination row of each stored row of an interlaced image."""
    return np.concatenate(
        [np.arange(0, height, 8), np.arange(4, height, 8), np.arange(2, height, 4), np.arange(1, height, 2)]
    )


class GifReader:
    """An open GIF: `.info` from the header; iterate for composited frames (one pass at a time)."""

    def __init__(self, path: str | os.PathLike, limits: Limits = DEFAULT_LIMITS) -> None:
        self.path = str(path)
        self.limits = limits
        try:
            self._fh: BinaryIO = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise GifDecodeError(f"{self.path}: cannot open GIF ({exc.strerror})") from None
        try:
            self._reader = _Reader(self._fh, self.path)
            self.info = self._read_header()
        except BaseException:
            self._fh.close()
            raise

    def _read_header(self) -> GifInfo:
        head = self._fh.read(13)
        if head[:6] not in (b"GIF87a", b"GIF89a"):
            raise GifDecodeError(f"{self.path}: not a GIF file (no GIF87a/GIF89a signature)")
        if len(head) < 13:
            raise GifDecodeError(f"{self.path}: truncated GIF (file ends inside the screen descriptor)")
        width, height, packed, self._background_index = struct.unpack("<HHBB", head[6:12])
        if width == 0 or height == 0:
            raise GifDecodeError(f"{self.path}: GIF screen size is {width}x{height}; it must be at least 1x1")
        _check_size(self.path, width, height, self.limits, "the GIF screen")
        palette = _colour_table(self._reader, packed, "global colour table") if packed & 0x80 else None
        self._start = self._fh.tell()
        loop = None
        for block in _blocks(self._reader, self.limits, keep_pixels=False):
            if isinstance(block, _Loop):
                loop = block.count
            elif isinstance(block, _Image):
                break
        return GifInfo(self.path, width, height, loop, palette)

    @property
    def background(self) -> np.ndarray:
        """RGB shown where nothing is drawn (see the module docstring)."""
        pal = self.info.global_palette
        if pal is not None and self._background_index < len(pal):
            return pal[self._background_index].copy()
        return np.zeros(3, np.uint8)

    def __iter__(self) -> Iterator[GifFrame]:
        return self._frames()

    @property
    def warnings(self) -> list[str]:
        """What was skipped in a damaged file, one line each (so far: frames decode lazily)."""
        return list(self._reader.warnings)

    def _blocks(self, keep_pixels: bool) -> Iterator[_Control | _Loop | _Image]:
        """Blocks after the global colour table (each pass starts over)."""
        if self._fh.closed:
            raise GifDecodeError(f"{self.path}: GIF reader is closed")
        self._fh.seek(self._start)
        return _blocks(self._reader, self.limits, keep_pixels)

    def _frames(self) -> Iterator[GifFrame]:
        info, path = self.info, self.path
        bg = self.background
        canvas = np.empty((info.height, info.width, 3), np.uint8)
        canvas[:] = bg
        # Canvas alpha (True = opaque). Drawing only adds opacity; only disposal takes it away,
        # so once the canvas is fully opaque it needs no work until a disposal clears or restores.
        opaque = np.zeros((info.height, info.width), bool)
        all_opaque = False
        control = _Control()
        # Previous frame's disposal: (rect, None) = clear to background; (rect, (rgb, alpha or None)) = restore.
        undo: tuple[tuple[slice, slice], tuple[np.ndarray, np.ndarray | None] | None] | None = None
        index = timestamp = 0
        blocks = self._blocks(keep_pixels=True)
        while True:
            try:
                block = next(blocks, None)
            except _Truncated as exc:
                raise GifDecodeError(f"{exc} (after {index} complete frames)") from None
            if block is None:
                break
            if isinstance(block, _Control):
                control = block
                continue
            if not isinstance(block, _Image):
                continue
            if index >= self.limits.max_frames:
                raise GifDecodeError(f"{path}: more than {self.limits.max_frames} frames (the limit)")
            palette = block.palette if block.palette is not None else info.global_palette
            if palette is None:
                raise GifDecodeError(f"{path}: frame {index} has no colour table (neither local nor global)")
            indices = _frame_indices(block, path)
            if block.cut_short and len(indices) < block.width * block.height:
                raise GifDecodeError(f"{path}: truncated GIF (file ends inside frame {index})")
            if undo is not None:
                rect, saved = undo
                if saved is None:
                    canvas[rect] = bg
                    if opaque[rect].size:
                        opaque[rect] = False
                        all_opaque = False
                else:
                    canvas[rect], saved_opaque = saved
                    if saved_opaque is not None:  # None: it was all opaque, and drawing kept it so
                        opaque[rect] = saved_opaque
                        all_opaque = all_opaque and bool(saved_opaque.all())
            rect = (
                slice(min(block.top, info.height), min(block.top + block.height, info.height)),
                slice(min(block.left, info.width), min(block.left + block.width, info.width)),
            )
            undo = None
            if control.disposal is Disposal.PREVIOUS:
                undo = (rect, (canvas[rect].copy(), None if all_opaque else opaque[rect].copy()))
            elif control.disposal is Disposal.BACKGROUND:
                undo = (rect, None)
            drawn = _draw(canvas, rect, block, indices, palette, control.transparent)
            if not all_opaque:
                if drawn is None:
                    opaque[rect] = True
                else:
                    opaque[rect] |= drawn
                all_opaque = bool(opaque.all())
            alpha = None if all_opaque else opaque.astype(np.uint8) * np.uint8(255)
            delay_ms = effective_delay_ms(control.delay_cs)
            yield GifFrame(index, canvas.copy(), palette, timestamp, delay_ms, control.delay_cs, alpha)
            timestamp += delay_ms
            index += 1
            control = _Control()
        if index == 0:
            raise GifDecodeError(f"{path}: GIF has no frames")

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> GifReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _draw(
    canvas: np.ndarray,
    rect: tuple[slice, slice],
    block: _Image,
    indices: np.ndarray,
    palette: np.ndarray,
    transparent: int | None,
) -> np.ndarray | None:
    """Paint the frame's opaque pixels into `rect` (already clipped to the canvas); returns
    which pixels of `rect` were painted, or None for all of them."""
    w, h = block.width, block.height
    flat = indices
    if len(indices) < w * h:  # never decoded: transparent (left as they were)
        flat = np.zeros(w * h, np.uint8)
        flat[: len(indices)] = indices
    drawn = None
    if transparent is not None or len(indices) < w * h:
        drawn = np.ones(w * h, bool) if transparent is None else flat != transparent
        drawn[len(indices) :] = False
        drawn = drawn.reshape(h, w)
    idx = flat.reshape(h, w)
    rows = rect[0].stop - rect[0].start
    cols = rect[1].stop - rect[1].start
    if block.interlaced:
        stored_row = np.argsort(_deinterlace_order(h))[:rows]  # stored row that lands on each row
        idx = idx[stored_row]
        drawn = None if drawn is None else drawn[stored_row]
    idx = idx[:rows, :cols]
    lut = np.zeros((256, 3), np.uint8)  # indices beyond the palette show black
    lut[: len(palette)] = palette
    # Whole pixels as 3-byte records: a take and a copy about 4x faster than lut[idx].
    colours = lut.view(_RGB)[:, 0].take(idx)
    target = canvas.view(_RGB)[..., 0][rect]
    if drawn is None:
        target[...] = colours
        return None
    drawn = drawn[:rows, :cols]
    np.copyto(target, colours, where=drawn)
    return drawn


def open_gif(path: str | os.PathLike, limits: Limits = DEFAULT_LIMITS) -> GifReader:
    """Open a GIF for streaming decode (use as a context manager)."""
    return GifReader(path, limits)


def read_frames(path: str | os.PathLike, limits: Limits = DEFAULT_LIMITS) -> list[GifFrame]:
    """Every frame in memory at once: for small files only."""
    with open_gif(path, limits) as reader:
        return list(reader)


def probe_gif(path: str | os.PathLike, limits: Limits = DEFAULT_LIMITS) -> tuple[GifInfo, int, list[int]]:
    """(info, frame count, effective delay of each frame in ms) without decoding pixels.

    A last frame cut short by the end of the file is counted: whether all its pixels made it
    needs the LZW data, so decoding decides (and raises "truncated" when they did not).
    """
    with open_gif(path, limits) as reader:
        durations: list[int] = []
        delay_cs = 0
        try:
            for block in reader._blocks(keep_pixels=False):
                if isinstance(block, _Control):
                    delay_cs = block.delay_cs
                elif isinstance(block, _Image):
                    durations.append(effective_delay_ms(delay_cs))
                    delay_cs = 0
                    if len(durations) > limits.max_frames:
                        raise GifDecodeError(f"{path}: more than {limits.max_frames} frames (the limit)")
        except _Truncated as exc:
            raise GifDecodeError(f"{exc} (after {len(durations)} frames)") from None
        if not durations:
            raise GifDecodeError(f"{path}: GIF has no frames")
        return reader.info, len(durations), durations


def probe_transparency(path: str | os.PathLike, limits: Limits = DEFAULT_LIMITS) -> bool:
    """Whether any composited frame shows a transparent pixel (see `GifFrame.alpha`).

    The block headers settle most GIFs without decoding: with no transparent index, no
    disposal to background and a first frame that covers the screen (and is not disposed to
    the empty canvas), every frame is opaque. Otherwise the frames are decoded (a transparent
    index often only skips unchanged pixels, as ffmpeg writes them, and leaves no hole).
    """
    with open_gif(path, limits) as reader:
        info, control, first, maybe = reader.info, _Control(), True, False
        try:
            for block in reader._blocks(keep_pixels=False):
                if isinstance(block, _Control):
                    control = block
                    if control.transparent is not None or control.disposal is Disposal.BACKGROUND:
                        maybe = True
                        break
                elif isinstance(block, _Image):
                    if first and (block.left > 0 or block.top > 0 or block.left + block.width < info.width
                                  or block.top + block.height < info.height or control.disposal is Disposal.PREVIOUS):
                        maybe = True
                        break
                    first, control = False, _Control()
        except _Truncated as exc:
            raise GifDecodeError(str(exc)) from None
        return maybe and any(frame.alpha is not None for frame in reader)
