"""Video/image output: MP4 (H.264), WebM (VP9), animated PNG, GIF, a directory of PNG frames.

Every writer is atomic: frames go to a temp file (or temp directory) beside the
target, renamed onto the target by `close()`; an exception inside the `with`
block or `abort()` removes the temp, so a failed run never leaves a half-written
file at the path. An unwritable output fails in `open_writer`, before any work.

Alpha: `open_writer(..., alpha=True)` takes HxWx4 RGBA frames. APNG and PNG frames store
it losslessly, WebM as VP9 with an alpha plane (yuva420p: libvpx-vp9 writes it beside the
colour, read back by decoding with libvpx-vp9), GIF as one transparent palette index
(alpha 0, with disposal to background so it shows what lies behind). MP4 (H.264) has no
alpha: the caller composites (`stages.alpha.composite`).

Timing is rational (`fractions.Fraction` fps, e.g. 100/7 for 7 cs GIF delays) so a
restored GIF keeps its exact speed. MP4/WebM are 4:2:0: an odd width or height
gets one replicated edge column/row (nothing is cropped), so the decoded video can
be 1 pixel larger than the frames written.

The GIF bitstream (LZW + blocks) lives here too: we write it ourselves so the file
holds exactly the palettes and indices we computed (Pillow's writer re-optimizes
palettes); `gif_synth` builds its GIFs with `GifBitstream`.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import tempfile
import zlib
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from ..config import Dither, OutputFormat, Quantizer
from ..clip import MIN_DELAY_CS as MIN_GIF_DELAY_CS
from ..errors import BadArgumentError, OutputError
from ..quantize import apply_palette, make_palette, quantize
from .outputs import TEMP_PREFIX, check_name, sweep_leftovers, temp_name, track_temp

_EXTENSIONS = {
    ".mp4": OutputFormat.MP4,
    ".m4v": OutputFormat.MP4,
    ".webm": OutputFormat.WEBM,
    ".png": OutputFormat.APNG,
    ".apng": OutputFormat.APNG,
    ".gif": OutputFormat.GIF,
}
FRAME_PATTERN = "frame_{:06d}.png"
MAX_GIF_FPS = 100 // MIN_GIF_DELAY_CS  # viewers show 0-1 cs delays as 10 cs: a GIF cannot run faster
DEFAULT_CRF = {OutputFormat.MP4: 18, OutputFormat.WEBM: 30}
ALPHA_FORMATS = frozenset({OutputFormat.WEBM, OutputFormat.APNG, OutputFormat.GIF, OutputFormat.PNG_DIR})


def resolve_format(path: str | os.PathLike, fmt: OutputFormat | str | None = None) -> OutputFormat:
    """The output format: `fmt` if given, else from the extension; no extension or an existing directory = PNG frames."""
    p = Path(path)
    if fmt is not None:
        try:
            return OutputFormat(fmt)
        except ValueError:
            choices = ", ".join(f.value for f in OutputFormat)
            raise OutputError(f"{p}: unknown output format {fmt!r}: use one of {choices}") from None
    if p.is_dir() or p.suffix == "":
        return OutputFormat.PNG_DIR
    try:
        return _EXTENSIONS[p.suffix.lower()]
    except KeyError:
        known = ", ".join(sorted(_EXTENSIONS))
        raise OutputError(f"{p}: unknown output extension {p.suffix!r}: use {known} or a directory") from None


def as_fps(fps: Fraction | float | int | str) -> Fraction:
    """A positive rational frame rate; floats are read as the decimal they print as (29.97 -> 2997/100)."""
    try:
        value = Fraction(str(fps)) if isinstance(fps, float) else Fraction(fps)
    except (ValueError, ZeroDivisionError):
        raise BadArgumentError(f"fps must be a positive number or fraction like 100/7, got {fps!r}") from None
    if value <= 0:
        raise BadArgumentError(f"fps must be > 0, got {fps!r}")
    return value


def gif_delay_cs(k: int, fps: Fraction) -> int:
    """Delay of frame k at `fps`, in centiseconds, with rounding carried so frame k starts at round(100 k / fps)."""

    def start(i: int) -> int:
        return int(Fraction(100 * i) / fps + Fraction(1, 2))  # round half up, exact

    return start(k + 1) - start(k)


# --- atomic target ------------------------------------------------------------------------


class AtomicTarget:
    """A temp file or directory beside `path`, renamed onto it by `commit()`."""

    def __init__(self, path: Path, is_dir: bool):
        self.path = path
        self.is_dir = is_dir
        parent = path.parent
        if parent.exists() and not parent.is_dir():
            raise OutputError(f"{path}: output directory {parent} does not exist: it is a regular file")
        if not parent.is_dir():
            raise OutputError(f"{path}: output directory {parent} does not exist: create it first")
        if is_dir and path.exists() and not path.is_dir():
            raise OutputError(f"{path}: is a file: PNG frames need a directory path")
        if not is_dir and path.is_dir():
            raise OutputError(f"{path}: is a directory: give a file name with an extension")
        if is_dir and path.is_dir():
            foreign = [c.name for c in path.iterdir() if not (c.name.startswith("frame_") and c.suffix == ".png")]
            if foreign:
                raise OutputError(f"{path}: directory holds other files ({foreign[0]}, ...): use an empty or new directory")
        check_name(path)
        if path.exists() and not path.is_dir() and not path.is_file():
            raise OutputError(f"{path}: is not a regular file (a device, FIFO or socket): refusing to replace it")
        sweep_leftovers(parent)  # a killed run's temp files
        # Short name whatever the target's (a legal 255-byte name must stay legal); not
        # tempfile.mkstemp: its 0600 mode would survive the rename; here the umask applies as usual.
        self.tmp = parent / temp_name()
        track_temp(self.tmp, True)
        try:
            if is_dir:
                os.mkdir(self.tmp, 0o777)
            else:
                os.close(os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except OSError as exc:
            track_temp(self.tmp, False)
            raise OutputError(f"{path}: cannot write in {parent}: {exc.strerror}") from None

    def commit(self) -> None:
        try:
            if self.is_dir and self.path.is_dir():
                # Replace a previous run's frames: move it aside, move ours in, drop the old one.
                old = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, suffix=".old", dir=self.path.parent))
                os.replace(self.path, old / "d")
                os.replace(self.tmp, self.path)
                shutil.rmtree(old)
            else:
                os.replace(self.tmp, self.path)
            track_temp(self.tmp, False)
        except OSError as exc:
            self.discard()
            raise OutputError(f"{self.path}: cannot move the finished output into place: {exc.strerror}") from None

    def discard(self) -> None:
        if self.is_dir:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            self.tmp.unlink(missing_ok=True)
        track_temp(self.tmp, False)


# --- writers ------------------------------------------------------------------------------


class FrameWriter:
    """Writes HxWx3 uint8 RGB frames (HxWx4 RGBA with alpha=True) of one size; atomic (see
    module doc). Use as a context manager."""

    _errors: tuple[type[Exception], ...] = (OSError, ValueError)  # encoder failures that become OutputError

    def __init__(self, path: Path, fmt: OutputFormat, fps: Fraction, alpha: bool = False):
        self.path = path
        self.format = fmt
        self.fps = fps
        self.alpha = alpha
        self.channels = 4 if alpha else 3
        self.frames_written = 0
        self._size: tuple[int, int] | None = None  # (height, width) fixed by the first frame
        self._target = AtomicTarget(path, is_dir=fmt is OutputFormat.PNG_DIR)
        self._done = False

    def write(self, rgb: np.ndarray) -> None:
        if self._done:
            raise OutputError(f"{self.path}: writer is already closed")
        if not (isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == self.channels):
            kind = "HxWx4 uint8 RGBA" if self.alpha else "HxWx3 uint8 RGB"
            raise BadArgumentError(f"{self.path}: frames must be {kind}, got {getattr(rgb, 'shape', type(rgb))}")
        if self._size is None:
            self._size = rgb.shape[:2]
        elif rgb.shape[:2] != self._size:
            raise BadArgumentError(f"{self.path}: frame {self.frames_written} is {rgb.shape[1]}x{rgb.shape[0]}, "
                                   f"all frames must be {self._size[1]}x{self._size[0]}")
        try:
            self._write(np.ascontiguousarray(rgb))
        except self._errors as exc:
            self.abort()
            raise OutputError(f"{self.path}: encoding frame {self.frames_written} failed: {exc}") from None
        self.frames_written += 1

    def close(self) -> None:
        """Finish the stream and move it onto the path."""
        if self._done:
            return
        if self.frames_written == 0:
            self.abort()
            raise OutputError(f"{self.path}: no frames were written: nothing to save")
        try:
            self._finish()
        except self._errors as exc:
            self.abort()
            raise OutputError(f"{self.path}: finishing the output failed: {exc}") from None
        self._done = True
        self._target.commit()

    def abort(self) -> None:
        """Drop everything written so far; nothing is left at the path."""
        if self._done:
            return
        self._done = True
        try:
            self._release()
        finally:
            self._target.discard()

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # subclasses
    def _write(self, rgb: np.ndarray) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Flush and close file handles; the temp is complete afterwards."""

    def _release(self) -> None:
        """Close file handles without finishing (abort path); must not raise on half-open state."""


def _open_temp(target: AtomicTarget) -> BinaryIO:
    try:
        return open(target.tmp, "wb")
    except OSError as exc:
        target.discard()
        raise OutputError(f"{target.path}: cannot write in {target.path.parent}: {exc.strerror}") from None
    except BaseException:
        target.discard()
        raise


def _close_quietly(fh: BinaryIO) -> None:
    """Close on the abort path: flushing may fail again (a full disk); the temp is deleted anyway."""
    try:
        fh.close()
    except OSError:
        pass


def _pad_even(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return rgb
    return np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def _tag_bt709(ctx) -> None:
    """Say in the stream what `_yuv_bt709` encodes, so players need not guess the matrix."""
    from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc

    ctx.colorspace, ctx.color_range = Colorspace.ITU709, ColorRange.MPEG
    ctx.color_primaries, ctx.color_trc = ColorPrimaries.BT709, ColorTrc.BT709


def _yuv_bt709(frame, alpha: bool = False):
    """RGB(A) -> yuv420p (yuva420p with alpha) with the BT.709 matrix, limited (16-235) range: what HD players assume and
    what `_tag_bt709` declares (swscale's default would be BT.601, untagged)."""
    from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc

    return frame.reformat(format="yuva420p" if alpha else "yuv420p", dst_colorspace=Colorspace.ITU709, src_color_range=ColorRange.JPEG,
                          dst_color_range=ColorRange.MPEG, dst_color_trc=ColorTrc.BT709,
                          dst_color_primaries=ColorPrimaries.BT709)


class _AvWriter(FrameWriter):
    """MP4 (libx264) or WebM (libvpx-vp9) through PyAV, yuv420p."""

    _CODECS = {OutputFormat.MP4: ("mp4", "libx264"), OutputFormat.WEBM: ("webm", "libvpx-vp9")}

    def __init__(self, path: Path, fmt: OutputFormat, fps: Fraction, quality: int | None, alpha: bool = False):
        import av  # heavy: only when writing video; imported before the temp file exists

        super().__init__(path, fmt, fps, alpha)
        self._av = av
        self._errors = (OSError, ValueError, av.error.FFmpegError)
        container_fmt, self._codec = self._CODECS[fmt]
        self._crf = DEFAULT_CRF[fmt] if quality is None else quality
        try:
            self._container = av.open(str(self._target.tmp), mode="w", format=container_fmt)
        except av.error.FFmpegError as exc:
            self._target.discard()
            raise OutputError(f"{path}: cannot open a {container_fmt} container: {exc}") from None
        except BaseException:  # Ctrl-C while opening: no temp file left behind
            self._target.discard()
            raise
        self._stream = None

    def _open_stream(self, h: int, w: int) -> None:
        options = {"crf": str(self._crf)}
        if self.format is OutputFormat.MP4:
            options["preset"] = "medium"
        else:  # VP9 constant quality needs b:v 0; cpu-used 4 keeps it usable on small CPUs
            options.update({"b": "0", "cpu-used": "4", "row-mt": "1", "deadline": "good"})
        stream = self._container.add_stream(self._codec, rate=self.fps, options=options)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuva420p" if self.alpha else "yuv420p"
        stream.time_base = 1 / self.fps
        _tag_bt709(stream.codec_context)
        self._stream = stream

    def _write(self, rgb: np.ndarray) -> None:
        rgb = _pad_even(rgb)
        if self._stream is None:
            self._open_stream(*rgb.shape[:2])
        frame = _yuv_bt709(self._av.VideoFrame.from_ndarray(rgb, format="rgba" if self.alpha else "rgb24"), self.alpha)
        frame.pts = self.frames_written
        frame.time_base = 1 / self.fps
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def _finish(self) -> None:
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()

    def _release(self) -> None:
        try:
            self._container.close()
        except (self._av.error.FFmpegError, OSError):
            pass  # a half-initialized stream (or a full disk) cannot be closed cleanly; the temp is deleted anyway


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_idat(rgb: np.ndarray) -> bytes:
    """The zlib stream of one RGB (or RGBA) image, compressed by Pillow's PNG encoder (adaptive filters)."""
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGBA" if rgb.shape[2] == 4 else "RGB").save(buf, format="PNG", compress_level=6)
    data, pos, raw = buf.getvalue(), 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IDAT":
            raw.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    return b"".join(raw)


class _ApngWriter(FrameWriter):
    """Animated PNG, streamed: the frame count in acTL is patched in on close."""

    def __init__(self, path: Path, fmt: OutputFormat, fps: Fraction, loop: int, alpha: bool = False):
        super().__init__(path, fmt, fps, alpha)
        self._loop = loop
        self._fh: BinaryIO = _open_temp(self._target)
        self._seq = 0
        self._actl_pos = 0
        # Frame delay is 1/fps seconds = den/num; APNG stores it as two uint16. Frames are
        # whole-canvas with dispose_op 0 and blend_op 0 (SOURCE): alpha replaces, never stacks.
        delay = Fraction(fps.denominator, fps.numerator)
        if delay.numerator > 0xFFFF or delay.denominator > 0xFFFF:
            delay = delay.limit_denominator(0xFFFF)
        self._delay = (min(delay.numerator, 0xFFFF), delay.denominator)

    def _write(self, rgb: np.ndarray) -> None:
        h, w = rgb.shape[:2]
        fh = self._fh
        if self.frames_written == 0:
            colour_type = 6 if self.alpha else 2  # RGBA / RGB
            fh.write(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour_type, 0, 0, 0)))
            self._actl_pos = fh.tell()
            fh.write(_chunk(b"acTL", struct.pack(">II", 0, self._loop)))
        fh.write(_chunk(b"fcTL", struct.pack(">IIIIIHHBB", self._seq, w, h, 0, 0, *self._delay, 0, 0)))
        self._seq += 1
        data = _png_idat(rgb)
        if self.frames_written == 0:
            fh.write(_chunk(b"IDAT", data))
        else:
            fh.write(_chunk(b"fdAT", struct.pack(">I", self._seq) + data))
            self._seq += 1

    def _finish(self) -> None:
        self._fh.write(_chunk(b"IEND", b""))
        self._fh.seek(self._actl_pos)
        self._fh.write(_chunk(b"acTL", struct.pack(">II", self.frames_written, self._loop)))
        self._fh.close()

    def _release(self) -> None:
        _close_quietly(self._fh)


# --- GIF bitstream ------------------------------------------------------------------------


def lzw_compress(indices: bytes, min_code_size: int) -> bytes:
    """GIF-flavoured variable-length LZW (codes of min_code_size+1 .. 12 bits, LSB first)."""
    clear = 1 << min_code_size
    eoi = clear + 1
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

    size = min_code_size + 1
    next_code = eoi + 1
    table: dict[int, int] = {}
    emit(clear, size)
    prefix = indices[0]
    for b in indices[1:]:
        key = (prefix << 8) | b
        code = table.get(key)
        if code is not None:
            prefix = code
            continue
        emit(prefix, size)
        if next_code < 4096:
            table[key] = next_code
            next_code += 1
            # The decoder adds its entries one code late: widen once the entry just added needs more bits.
            if next_code > (1 << size) and size < 12:
                size += 1
        else:  # table full: start over
            emit(clear, size)
            table.clear()
            size = min_code_size + 1
            next_code = eoi + 1
        prefix = b
    emit(prefix, size)
    emit(eoi, size)
    if nbits:
        out.append(acc & 0xFF)
    return bytes(out)


def _color_table(palette: np.ndarray) -> tuple[int, bytes]:
    """(size exponent - 1, table bytes) padded to a power of two by repeating entry 0."""
    n = len(palette)
    if not 1 <= n <= 256:
        raise BadArgumentError(f"GIF palette must have 1..256 colours, got {n}")
    bits = max(1, (n - 1).bit_length())
    padded = np.concatenate([palette, np.repeat(palette[:1], (1 << bits) - n, 0)]).astype(np.uint8)
    return bits - 1, padded.tobytes()


def _sub_blocks(data: bytes) -> bytes:
    parts = [bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, len(data), 255)]
    return b"".join(parts) + b"\x00"


class GifBitstream:
    """GIF89a written frame by frame to a binary file: exactly the palettes and indices given."""

    def __init__(self, fh: BinaryIO, width: int, height: int, loop: int | None = 0,
                 global_palette: np.ndarray | None = None):
        self._fh = fh
        self.width, self.height = width, height
        self._global_len = None if global_palette is None else len(global_palette)
        packed = 0x70  # colour resolution 8 bits
        table = b""
        if global_palette is not None:
            size_bits, table = _color_table(global_palette)
            packed |= 0x80 | size_bits
        fh.write(b"GIF89a" + struct.pack("<HHBBB", width, height, packed, 0, 0) + table)
        if loop is not None:
            fh.write(b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", loop) + b"\x00")

    def add_frame(self, indices: np.ndarray, delay_cs: int, palette: np.ndarray | None = None,
                  transparent: int | None = None) -> None:
        """One full-size frame; `palette` = its local colour table (None: use the global one);
        `transparent`: the index shown transparent (the frame is then disposed to background,
        so the next frame's transparent pixels do not show this one)."""
        if indices.shape != (self.height, self.width) or indices.dtype != np.uint8:
            raise BadArgumentError(f"GIF frame must be {self.height}x{self.width} uint8 indices, got {indices.dtype} {indices.shape}")
        n = len(palette) if palette is not None else self._global_len
        if n is None:
            raise BadArgumentError("GIF frame has no palette and the GIF has no global palette")
        if int(indices.max()) >= n:
            raise BadArgumentError(f"GIF frame index {int(indices.max())} is outside its {n}-colour palette")
        # Graphic control: disposal 1 (leave in place), no transparency; or disposal 2 and a transparent index.
        packed = 1 << 2 if transparent is None else 2 << 2 | 1
        self._fh.write(b"\x21\xf9\x04" + struct.pack("<BHB", packed, delay_cs, transparent or 0) + b"\x00")
        packed, table = 0, b""
        if palette is not None:
            size_bits, table = _color_table(palette)
            packed = 0x80 | size_bits
        self._fh.write(b"\x2c" + struct.pack("<HHHHB", 0, 0, self.width, self.height, packed) + table)
        min_code = max(2, (n - 1).bit_length())
        self._fh.write(bytes([min_code]) + _sub_blocks(lzw_compress(indices.tobytes(), min_code)))

    def finish(self) -> None:
        self._fh.write(b"\x3b")


class _GifWriter(FrameWriter):
    """GIF output of full-colour frames: each re-quantized to its own 256-colour median-cut palette."""

    def __init__(self, path: Path, fmt: OutputFormat, fps: Fraction, loop: int, alpha: bool = False):
        if fps > MAX_GIF_FPS:
            raise OutputError(f"{path}: GIF output needs fps <= 50 (shorter delays play at 10 fps), got {float(fps):g}")
        super().__init__(path, fmt, fps, alpha)
        self._loop = loop
        self._fh: BinaryIO = _open_temp(self._target)
        self._gif: GifBitstream | None = None

    def _write(self, rgb: np.ndarray) -> None:
        if self._gif is None:
            self._gif = GifBitstream(self._fh, rgb.shape[1], rgb.shape[0], self._loop)
        if not self.alpha:
            idx, pal = quantize(rgb, 256, Quantizer.MEDIAN_CUT, Dither.NONE)
            self._gif.add_frame(idx, gif_delay_cs(self.frames_written, self.fps), pal)
            return
        # 255 colours for the visible pixels (none spent on hidden ones), index 255 for transparent pixels.
        colour, opaque = np.ascontiguousarray(rgb[..., :3]), rgb[..., 3] > 0
        visible = colour[opaque].reshape(-1, 1, 3) if opaque.any() else colour
        pal = make_palette(np.ascontiguousarray(visible), 255, Quantizer.MEDIAN_CUT)
        idx = np.where(opaque, apply_palette(colour, pal, Dither.NONE), np.uint8(255))
        pal = np.concatenate([pal, np.zeros((256 - len(pal), 3), np.uint8)])
        self._gif.add_frame(idx, gif_delay_cs(self.frames_written, self.fps), pal, transparent=255)

    def _finish(self) -> None:
        self._gif.finish()
        self._fh.close()

    def _release(self) -> None:
        _close_quietly(self._fh)


class _PngDirWriter(FrameWriter):
    """Lossless frames frame_000000.png, frame_000001.png, ... in a directory."""

    def _write(self, rgb: np.ndarray) -> None:
        Image.fromarray(rgb, "RGBA" if self.alpha else "RGB").save(self._target.tmp / FRAME_PATTERN.format(self.frames_written), compress_level=6)


def open_writer(path: str | os.PathLike, fps: Fraction | float | int | str, fmt: OutputFormat | str | None = None,
                *, quality: int | None = None, loop: int = 0, alpha: bool = False) -> FrameWriter:
    """Open an atomic frame writer; the format comes from `fmt` or the path (see `resolve_format`).

    quality: CRF for MP4 (default 18) and WebM (default 30); ignored by lossless/indexed formats.
    loop: play count for APNG/GIF (0 = forever).
    alpha: frames are HxWx4 RGBA and the file keeps alpha (formats in ALPHA_FORMATS; not MP4).
    """
    p = Path(path)
    rate = as_fps(fps)
    out_fmt = resolve_format(p, fmt)
    if quality is not None and not 0 <= quality <= 63:
        raise BadArgumentError(f"{p}: quality (CRF) must be in 0..63, got {quality}")
    if not 0 <= loop <= 0xFFFF:
        raise BadArgumentError(f"{p}: loop must be in 0..65535, got {loop}")
    if alpha and out_fmt not in ALPHA_FORMATS:
        raise BadArgumentError(f"{p}: {out_fmt.value} cannot store alpha: composite the frames onto a background colour")
    if out_fmt in (OutputFormat.MP4, OutputFormat.WEBM):
        return _AvWriter(p, out_fmt, rate, quality, alpha)
    if out_fmt is OutputFormat.APNG:
        return _ApngWriter(p, out_fmt, rate, loop, alpha)
    if out_fmt is OutputFormat.GIF:
        return _GifWriter(p, out_fmt, rate, loop, alpha)
    return _PngDirWriter(p, out_fmt, rate, alpha)
