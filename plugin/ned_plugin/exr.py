"""OpenEXR frames in and out of memory, on OpenImageIO, with errors that name the frame.

Frames travel between host and server as EXR bytes, so the codec works on ``bytes``. OIIO's Python
API has no in-memory I/O, so bytes go through a temporary file on a RAM-backed folder (/dev/shm when
writable, else the system temp folder) that is always removed; tests/bench/codec.py measures that
this costs little next to the compression itself.

Every way a plate can be bad (truncated, corrupt, not an EXR, missing channels, NaN/Inf, deep,
absurd windows) raises :class:`FrameError` whose message starts with the frame's label, so a
compositor reading it on the farm knows which file to fix. OIIO 3 reports truncated or corrupt
chunks by returning no pixels and setting an error (checked here at several offsets in the tests);
the decoder never hands back a partially zeroed image.

Windows: EXR stores inclusive min/max boxes; :class:`Window` is (x, y, width, height) with the
origin at the min corner, so ``xmax = x + width - 1``. Origins may be negative (overscan).

Metadata kept (see :data:`KEPT_TYPES`): scalar string/int/float attributes under their EXR names
(OIIO's ``Copyright``/``ImageDescription``/``DateTime`` are renamed back to ``owner``/``comments``/
``capDate``), ``framesPerSecond`` as a :class:`fractions.Fraction`, ``timeCode`` as the raw pair
``(time_and_flags, user_data)``. Dropped: attributes that describe the encoding rather than the
image (compression and its levels, line order, chunking, part name/type, tiling), every ``oiio:``
attribute, non-scalar attributes (matrices, vectors, chromaticities, screenWindowCenter) and doubles
(OIIO does not write them back). OIIO stamps the write time into every file unless told otherwise;
the encoder writes ``capDate`` only when the metadata has one, so identical frames give identical
bytes (the server hashes them to find a re-sent shot).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import OpenImageIO as oiio

from .files import atomic_path

EXR_MAGIC = b"\x76\x2f\x31\x01"
MAX_SIDE = 65536  # pixels per side of a data or display window
MAX_PIXELS = 1 << 28  # pixels in a data or display window (16k x 16k)
COMPRESSIONS = ("none", "zip", "zips", "piz", "dwaa", "dwab", "rle", "pxr24", "b44", "b44a")
LEVELLED_COMPRESSIONS = ("zip", "zips", "dwaa", "dwab")  # accept "dwaa:45", "zip:6"
PIXEL_TYPES = {"half": np.float16, "float": np.float32}
RGBA = ("R", "G", "B", "A")
RGB = ("R", "G", "B")
KEPT_TYPES = ("string", "int", "uint", "float", "rational", "timecode")

# OIIO's names for standard EXR attributes -> the EXR names compositors know (and back).
_FROM_OIIO = {
    "Copyright": "owner",
    "ImageDescription": "comments",
    "DateTime": "capDate",
    "FramesPerSecond": "framesPerSecond",
    "smpte:TimeCode": "timeCode",
    "PixelAspectRatio": "pixelAspectRatio",
}
_TO_OIIO = {v: k for k, v in _FROM_OIIO.items()}
# Attributes of the encoding, not of the image: never copied into or out of Frame.metadata.
_RESERVED = frozenset({
    "compression", "name", "type", "tiles", "version", "chunkCount", "lineOrder", "dataWindow",
    "displayWindow", "channels", "openexr:lineOrder", "openexr:chunkCount", "openexr:dwaCompressionLevel",
    "openexr:zipCompressionLevel", "openexr:roundingmode", "planarconfig", "screenWindowCenter",
})


class FrameError(ValueError):
    """A frame that cannot be read, written or used as asked; the message starts with its label."""


@dataclass(frozen=True)
class Window:
    """A pixel rectangle: origin (x, y) of its top-left pixel and its size, as in EXR data windows."""

    x: int
    y: int
    width: int
    height: int

    @property
    def xmax(self) -> int:
        """Inclusive right edge, as EXR stores it."""
        return self.x + self.width - 1

    @property
    def ymax(self) -> int:
        return self.y + self.height - 1

    @classmethod
    def from_box(cls, xmin: int, ymin: int, xmax: int, ymax: int) -> Window:
        """From an EXR box (inclusive min/max)."""
        return cls(xmin, ymin, xmax - xmin + 1, ymax - ymin + 1)

    def intersect(self, other: Window) -> Window | None:
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1, y1 = min(self.xmax, other.xmax), min(self.ymax, other.ymax)
        if x1 < x0 or y1 < y0:
            return None
        return Window.from_box(x0, y0, x1, y1)

    def __str__(self) -> str:
        return f"{self.width}x{self.height} at ({self.x},{self.y})"


@dataclass
class Frame:
    """One image: the data-window pixels, their EXR channel names, both windows and kept metadata.

    ``pixels`` is (H, W, C) float16 or float32 covering ``data_window`` only (a face plate of a 4K
    shot is small); ``channels[i]`` names ``pixels[..., i]``. ``label`` names the frame in errors.
    """

    pixels: np.ndarray
    channels: tuple[str, ...]
    data_window: Window
    display_window: Window
    metadata: dict[str, object] = field(default_factory=dict)
    label: str = "frame"

    # ------------------------------------------------------------------ channels and layers
    def layers(self) -> list[str]:
        """Layer names present: "rgba" for unprefixed channels, then each "name." prefix in order."""
        names: list[str] = []
        for c in self.channels:
            layer = c.rsplit(".", 1)[0] if "." in c else "rgba"
            if layer not in names:
                names.append(layer)
        return names

    def channel(self, name: str) -> np.ndarray:
        """One channel as (H, W)."""
        try:
            return self.pixels[..., self.channels.index(name)]
        except ValueError:
            raise FrameError(f"{self.label}: no channel {name!r} (channels: {', '.join(self.channels)})") from None

    def _layer_channels(self, name: str) -> list[str]:
        if name.lower() in ("rgba", "rgb", ""):
            wanted = RGB if name.lower() == "rgb" else RGBA
            return [c for c in wanted if c in self.channels]
        prefix = name + "."
        return [c for c in self.channels if c.startswith(prefix) and "." not in c[len(prefix):]]

    def layer(self, name: str) -> np.ndarray:
        """A layer as (H, W, k): "rgba" -> R,G,B[,A]; "rgb" -> R,G,B; "matte" -> every "matte.*" channel."""
        names = self._layer_channels(name)
        if not names:
            raise FrameError(
                f"{self.label}: no layer {name!r} (layers: {', '.join(self.layers()) or 'none'}; "
                f"channels: {', '.join(self.channels)})"
            )
        return self.pixels[..., [self.channels.index(c) for c in names]]

    def layer_channel_names(self, name: str) -> tuple[str, ...]:
        """The full channel names :meth:`layer` returns, in the same order."""
        return tuple(self._layer_channels(name))

    def rgb(self) -> np.ndarray:
        """(H, W, 3): R, G, B; a luminance-only (Y) plate is broadcast to grey R=G=B=Y."""
        if all(c in self.channels for c in RGB):
            return self.pixels[..., [self.channels.index(c) for c in RGB]]
        if "Y" in self.channels:
            y = self.pixels[..., self.channels.index("Y")]
            return np.repeat(y[..., None], 3, axis=-1)
        raise FrameError(
            f"{self.label}: no R, G, B (or luminance Y) channels; found {', '.join(self.channels)}; "
            "expected an RGB or RGBA plate"
        )

    def alpha(self, default: float = 1.0) -> np.ndarray:
        """(H, W) alpha; a plate without A is taken as opaque (``default``) as EXR readers commonly do."""
        if "A" in self.channels:
            return self.pixels[..., self.channels.index("A")]
        return np.full(self.pixels.shape[:2], default, self.pixels.dtype)

    def with_layer(self, name: str, array: np.ndarray, channel_names: Sequence[str]) -> Frame:
        """A copy with a layer added or replaced: ``with_layer("matte", m, ("Y",))`` -> channel "matte.Y".

        ``array`` is (H, W) or (H, W, len(channel_names)) over the data window; the pixel type is
        promoted to float32 if either side is float32.
        """
        short = tuple(channel_names)
        if not short:
            raise FrameError(f"{self.label}: layer {name!r} needs at least one channel name")
        full = short if name.lower() in ("rgba", "rgb", "") else tuple(f"{name}.{c}" for c in short)
        arr = np.asarray(array)
        if arr.ndim == 2:
            arr = arr[..., None]
        h, w = self.pixels.shape[:2]
        if arr.shape != (h, w, len(full)):
            raise FrameError(
                f"{self.label}: layer {name!r} has shape {arr.shape}; expected ({h}, {w}, {len(full)}) to match "
                f"the data window {self.data_window} and channels {', '.join(full)}"
            )
        common = np.result_type(self.pixels.dtype, arr.dtype)
        dtype = np.float16 if common == np.float16 else np.float32
        pixels = self.pixels.astype(dtype, copy=True)
        channels = list(self.channels)
        extra = []
        for k, c in enumerate(full):
            if c in channels:
                pixels[..., channels.index(c)] = arr[..., k]
            else:
                channels.append(c)
                extra.append(arr[..., k].astype(dtype))
        if extra:
            pixels = np.concatenate([pixels, np.stack(extra, axis=-1)], axis=-1)
        return replace(self, pixels=pixels, channels=tuple(channels), metadata=dict(self.metadata))

    def full_frame(self, fill: float = 0.0) -> np.ndarray:
        """(display H, display W, C): the pixels placed in the display window, ``fill`` elsewhere.

        Data outside the display window (overscan) is cropped.
        """
        disp = self.display_window
        out = np.full((disp.height, disp.width, self.pixels.shape[2]), fill, self.pixels.dtype)
        inter = self.data_window.intersect(disp)
        if inter is not None:
            sy, sx = inter.y - self.data_window.y, inter.x - self.data_window.x
            dy, dx = inter.y - disp.y, inter.x - disp.x
            out[dy:dy + inter.height, dx:dx + inter.width] = \
                self.pixels[sy:sy + inter.height, sx:sx + inter.width]
        return out


# ---------------------------------------------------------------------- temporary files
def _scratch_dir() -> str:
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return tempfile.gettempdir()


def _scratch_file() -> str:
    fd, path = tempfile.mkstemp(prefix="ned-exr-", suffix=".exr", dir=_scratch_dir())
    os.close(fd)
    return path


def _first_line(text: str) -> str:
    """OIIO's error text, condensed: its "EXR Error (<scratch path>): " prefixes name our temporary
    file, not the frame, so they go; repeated lines are kept once."""
    lines: list[str] = []
    for line in text.strip().splitlines():
        line = line.strip()
        if line.startswith("EXR Error (") and "): " in line:
            line = line.split("): ", 1)[1]
        if line and line not in lines:
            lines.append(line)
    msg = "; ".join(lines) or "unknown error"
    return msg if len(msg) <= 300 else msg[:297] + "..."


# ---------------------------------------------------------------------- decoding
def decode_exr(
    data: bytes,
    *,
    label: str = "frame",
    channels: Sequence[str] | None = None,
    require: Sequence[str] = (),
    allow_nonfinite: bool = False,
    part: int | str | None = None,
) -> Frame:
    """EXR bytes -> :class:`Frame`, refusing anything a compositor would not call a good plate.

    ``channels`` selects (and orders) channels; None keeps them all in OIIO's order (R, G, B, A
    first, then layers). ``require`` names channels that must exist. A luminance-only plate (Y and
    no R/G/B) is expanded to grey R=G=B=Y when R, G or B is selected or required, so downstream code
    sees an ordinary RGB plate; otherwise it keeps its Y channel (and :meth:`Frame.rgb` broadcasts).
    ``part`` picks a part of a multi-part file by index or name (default: the first).
    Tiled and mip-mapped files are read at full resolution; deep files are refused.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise FrameError(f"{label}: expected EXR bytes, got {type(data).__name__}")
    _check_magic(bytes(data[:4]), len(data), label)
    path = _scratch_file()
    try:
        with open(path, "wb") as fh:
            fh.write(data)
        return _read_safely(path, label=label, channels=channels, require=require,
                            allow_nonfinite=allow_nonfinite, part=part)
    finally:
        os.unlink(path)


def read_exr(
    path: str | os.PathLike[str],
    *,
    label: str | None = None,
    channels: Sequence[str] | None = None,
    require: Sequence[str] = (),
    allow_nonfinite: bool = False,
    part: int | str | None = None,
) -> Frame:
    """Read an EXR file (no copy through memory); ``label`` defaults to the file's path."""
    p = Path(path)
    label = label or str(p)
    try:
        with open(p, "rb") as fh:
            head = fh.read(4)
        size = p.stat().st_size
    except OSError as exc:
        raise FrameError(f"{label}: cannot open: {exc.strerror or exc}") from None
    _check_magic(head, size, label)
    return _read_safely(str(p), label=label, channels=channels, require=require,
                        allow_nonfinite=allow_nonfinite, part=part)


def read_exr_region(
    path: str | os.PathLike[str],
    region: Window,
    *,
    channels: Sequence[str] = RGB,
    label: str | None = None,
) -> np.ndarray:
    """Only ``region`` of an EXR file (image coordinates, like the windows), as float32 (h, w, C);
    pixels of the region outside the data window are 0.

    A scanline file is read from the region's first to last scanline only, so the face box of a 4K
    plate costs a fraction of the whole frame's decode; tiled files are read whole and cropped. A
    luminance-only plate gives Y for each of R, G and B, as :func:`read_exr` does.
    """
    label = label or str(path)
    out = np.zeros((max(region.height, 0), max(region.width, 0), len(channels)), np.float32)
    if out.size == 0:
        return out
    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        raise FrameError(f"{label}: corrupt or truncated EXR header ({_first_line(oiio.geterror())})")
    try:
        spec = inp.spec()
        data = Window(spec.x, spec.y, spec.width, spec.height)
        names = tuple(spec.channelnames)
        grey = _wants_grey(names, channels, ())
        try:
            src = [names.index("Y") if grey and c in RGB else names.index(c) for c in channels]
        except ValueError:
            missing = [c for c in channels if c not in names and not (grey and c in RGB)]
            raise FrameError(f"{label}: missing channel(s) {', '.join(missing)} (found: {', '.join(names)})") from None
        inter = region.intersect(data)
        if inter is None:
            return out
        if spec.tile_width:
            pixels = inp.read_image(0, 0, 0, spec.nchannels, "float")
            rows = None if pixels is None else np.asarray(pixels)[inter.y - data.y:inter.y - data.y + inter.height]
        else:
            rows = inp.read_scanlines(0, 0, inter.y, inter.y + inter.height, 0, 0, spec.nchannels, "float")
        err = inp.geterror() if inp.has_error else ""
        if rows is None or err:
            raise FrameError(f"{label}: corrupt or truncated EXR pixel data ({_first_line(err or 'no pixels')})")
        rows = np.asarray(rows).reshape(inter.height, data.width, spec.nchannels)
        block = rows[:, inter.x - data.x:inter.x - data.x + inter.width][..., src]
        out[inter.y - region.y:inter.y - region.y + inter.height, inter.x - region.x:inter.x - region.x + inter.width] \
            = block
        return out
    finally:
        inp.close()
        oiio.geterror()


def _check_magic(head: bytes, size: int, label: str) -> None:
    if size == 0:
        raise FrameError(f"{label}: empty file; expected an OpenEXR image")
    if head != EXR_MAGIC[: len(head)] or size < 4:
        kind = _sniff(head)
        raise FrameError(f"{label}: not an OpenEXR file{kind}; expected a scanline or tiled EXR image")


def _sniff(head: bytes) -> str:
    known = {b"\x89PNG": "PNG", b"\xff\xd8\xff": "JPEG", b"II*\x00": "TIFF", b"MM\x00*": "TIFF",
             b"SDPX": "DPX", b"XPDS": "DPX"}
    for magic, name in known.items():
        if head.startswith(magic):
            return f" (looks like {name})"
    return ""


def _open_part(inp: oiio.ImageInput, part: int | str | None, label: str) -> oiio.ImageSpec:
    if part is None or part == 0:
        return inp.spec()
    count = max(1, inp.spec().get_int_attribute("oiio:subimages", 1))
    names = []
    for k in range(count):
        if not inp.seek_subimage(k, 0):
            break
        names.append(inp.spec().get_string_attribute("name", "") or str(k))
        if part == k or (isinstance(part, str) and names[-1] == part):
            return inp.spec()
    inp.geterror()
    raise FrameError(f"{label}: no part {part!r} in this multi-part EXR (parts: {', '.join(names)})")


def _read_safely(path: str, *, label: str, **options: object) -> Frame:
    """:func:`_read`, where text OIIO cannot hand to Python (a corrupt header's channel or attribute
    names, or its error message quoting them, that are not UTF-8) becomes a FrameError too."""
    try:
        return _read(path, label=label, **options)  # type: ignore[arg-type]
    except UnicodeDecodeError:
        with contextlib.suppress(UnicodeDecodeError):
            oiio.geterror()
        raise FrameError(f"{label}: corrupt or truncated EXR header (it holds names or text that are not "
                         "valid UTF-8)") from None


def _read(
    path: str,
    *,
    label: str,
    channels: Sequence[str] | None,
    require: Sequence[str],
    allow_nonfinite: bool,
    part: int | str | None,
) -> Frame:
    inp = oiio.ImageInput.open(path)
    if inp is None:
        raise FrameError(f"{label}: corrupt or truncated EXR header ({_first_line(oiio.geterror())})")
    try:
        if inp.format_name() != "openexr":
            raise FrameError(f"{label}: not an OpenEXR file (read as {inp.format_name()})")
        spec = _open_part(inp, part, label)
        subimage = inp.current_subimage()
        if spec.deep:
            raise FrameError(f"{label}: deep EXR is not supported; flatten it (e.g. Nuke DeepToImage) first")
        if spec.depth > 1:
            raise FrameError(f"{label}: volume images are not supported")
        data_window = Window(spec.x, spec.y, spec.width, spec.height)
        display_window = Window(spec.full_x, spec.full_y, spec.full_width, spec.full_height)
        _check_window(label, "data window", data_window)
        _check_window(label, "display window", display_window)

        file_channels = tuple(spec.channelnames)
        expand_grey = _wants_grey(file_channels, channels, require)
        available = (*RGB, *file_channels) if expand_grey else file_channels
        missing = [c for c in (*require, *(channels or ())) if c not in available]
        if missing:
            unique = list(dict.fromkeys(missing))
            raise FrameError(
                f"{label}: missing channel{'s' if len(unique) > 1 else ''} {', '.join(unique)} "
                f"(found: {', '.join(file_channels) or 'none'})"
                + ("; expected an RGB or RGBA plate" if any(c in RGB for c in unique) else "")
            )
        if channels is not None:
            selected = tuple(channels)
        elif expand_grey:  # Y takes the place of R, G, B; the other channels stay
            selected = tuple(x for c in file_channels for x in (RGB if c == "Y" else (c,)))
        else:
            selected = file_channels
        if len(set(selected)) != len(selected):
            raise FrameError(f"{label}: channel list {', '.join(selected)} names a channel twice")
        if not selected:
            raise FrameError(f"{label}: no channels selected")

        formats = list(spec.channelformats) or [spec.format] * spec.nchannels
        src = [file_channels.index("Y") if (expand_grey and c in RGB) else file_channels.index(c) for c in selected]
        all_half = all(formats[k] == oiio.TypeHalf for k in src)
        fmt = "half" if all_half else "float"
        pixels = inp.read_image(subimage, 0, 0, spec.nchannels, fmt)
        err = inp.geterror() if inp.has_error else ""
        if pixels is None or err:
            raise FrameError(f"{label}: corrupt or truncated EXR pixel data ({_first_line(err or 'no pixels')})")
        pixels = np.asarray(pixels)
        if pixels.ndim == 2:
            pixels = pixels[..., None]
        if pixels.shape != (spec.height, spec.width, spec.nchannels):
            raise FrameError(f"{label}: pixel data has shape {pixels.shape}, expected "
                             f"{(spec.height, spec.width, spec.nchannels)}")
        if src != list(range(spec.nchannels)):
            pixels = pixels[..., src]
        pixels = np.ascontiguousarray(pixels, dtype=np.float16 if all_half else np.float32)
        if not allow_nonfinite:
            _check_finite(pixels, selected, data_window, label)
        return Frame(pixels, selected, data_window, display_window, _metadata_from_spec(spec), label)
    finally:
        inp.close()
        oiio.geterror()  # never leave a pending global error for OIIO to print at exit


def _wants_grey(file_channels: tuple[str, ...], channels: Sequence[str] | None, require: Sequence[str]) -> bool:
    if "Y" not in file_channels or any(c in file_channels for c in RGB):
        return False
    return any(c in RGB for c in (*require, *(channels or ())))


def _check_window(label: str, what: str, w: Window) -> None:
    if w.width <= 0 or w.height <= 0:
        raise FrameError(f"{label}: {what} has a non-positive size ({w.width}x{w.height}); the file is corrupt")
    if w.width > MAX_SIDE or w.height > MAX_SIDE or w.width * w.height > MAX_PIXELS:
        raise FrameError(
            f"{label}: {what} {w} is larger than supported ({MAX_SIDE} px per side, {MAX_PIXELS} px in all); "
            "the file is corrupt or not a plate"
        )


def _check_finite(pixels: np.ndarray, names: Sequence[str], window: Window, label: str) -> None:
    finite = np.isfinite(pixels)
    if finite.all():
        return
    n_nan = int(np.isnan(pixels).sum())
    n_inf = int(pixels.size - finite.sum() - n_nan)
    first = int(np.flatnonzero(~finite.ravel())[0])
    row, col, ch = np.unravel_index(first, pixels.shape)
    bad = float(pixels[row, col, ch])
    raise FrameError(
        f"{label}: {n_nan} NaN and {n_inf} Inf pixel values; first at x={window.x + int(col)}, "
        f"y={window.y + int(row)} in channel {names[int(ch)]} ({bad}); fix the plate (e.g. Nuke Expression "
        "isnan/isinf or a denoise pass) before sending it"
    )


def _metadata_from_spec(spec: oiio.ImageSpec) -> dict[str, object]:
    out: dict[str, Any] = {}  # OIIO attribute values: str, int, float, tuples of them
    for attr in spec.extra_attribs:
        name = attr.name
        if name in _RESERVED or name.startswith("oiio:"):
            continue
        kind = str(attr.type)
        if kind not in KEPT_TYPES:
            continue
        value: Any = attr.value  # OIIO's attribute value: its type is the attribute's kind
        if kind == "rational":
            num, den = value
            if den == 0:
                continue
            value = Fraction(int(num), int(den))
        elif kind == "timecode":
            value = (int(value[0]), int(value[1]))
        elif kind in ("int", "uint"):
            value = int(value)
        elif kind == "float":
            value = float(value)
        out[_FROM_OIIO.get(name, name)] = value
    return out


# ---------------------------------------------------------------------- encoding
def _parse_compression(compression: str) -> str:
    name, _, level = compression.strip().lower().partition(":")
    if name not in COMPRESSIONS:
        raise FrameError(f"unknown EXR compression {compression!r}; expected one of {', '.join(COMPRESSIONS)}")
    if level:
        if name not in LEVELLED_COMPRESSIONS or not level.replace(".", "", 1).isdigit():
            raise FrameError(
                f"EXR compression {compression!r}: a level (e.g. 'dwaa:45') is only valid for "
                f"{', '.join(LEVELLED_COMPRESSIONS)}"
            )
        return f"{name}:{level}"
    return name


def _spec_for(frame: Frame, compression: str, pixel_type: str,
              float_channels: Sequence[str] = ()) -> tuple[oiio.ImageSpec, np.ndarray]:
    label = frame.label
    if pixel_type not in PIXEL_TYPES:
        raise FrameError(f"{label}: unknown pixel type {pixel_type!r}; expected 'half' or 'float'")
    comp = _parse_compression(compression)
    px = np.asarray(frame.pixels)
    if px.ndim == 2:
        px = px[..., None]
    if px.ndim != 3 or not np.issubdtype(px.dtype, np.floating):
        raise FrameError(f"{label}: pixels must be a float (H, W, C) array, got {px.dtype} {px.shape}")
    h, w, c = px.shape
    dw, disp = frame.data_window, frame.display_window
    if (h, w) != (dw.height, dw.width):
        raise FrameError(f"{label}: pixels are {w}x{h} but the data window is {dw}")
    _check_window(label, "data window", dw)
    _check_window(label, "display window", disp)
    names = tuple(frame.channels)
    if len(names) != c:
        raise FrameError(f"{label}: {c} pixel channels but {len(names)} channel names ({', '.join(names)})")
    if len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
        raise FrameError(f"{label}: channel names must be unique non-empty strings, got {names}")
    spec = oiio.ImageSpec(w, h, c, pixel_type)
    spec.channelnames = names
    spec.x, spec.y = dw.x, dw.y
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = disp.x, disp.y, disp.width, disp.height
    spec.attribute("compression", comp)
    spec.attribute("DateTime", "")  # no write-time stamp unless the metadata carries capDate
    alpha = names.index("A") if "A" in names else -1
    spec.alpha_channel = alpha
    _metadata_to_spec(frame.metadata, spec, label)
    wide = set(float_channels)
    if wide - set(names):
        raise FrameError(f"{label}: float channels {sorted(wide - set(names))} are not among {', '.join(names)}")
    if wide and pixel_type != "float":  # per-channel formats: OIIO converts the float buffer on write
        spec.channelformats = tuple(oiio.TypeDesc("float" if n in wide else pixel_type) for n in names)
        return spec, np.ascontiguousarray(px, dtype=np.float32)
    return spec, np.ascontiguousarray(px, dtype=PIXEL_TYPES[pixel_type])


def _metadata_to_spec(metadata: Mapping[str, object], spec: oiio.ImageSpec, label: str) -> None:
    for key, value in metadata.items():
        if key in _RESERVED or key.startswith("oiio:"):
            continue
        name = _TO_OIIO.get(key, key)
        if key == "timeCode":
            if not (isinstance(value, tuple | list) and len(value) == 2 and all(isinstance(v, int) for v in value)):
                raise FrameError(f"{label}: metadata timeCode must be (time_and_flags, user_data) ints, got {value!r}")
            spec.attribute(name, oiio.TypeTimeCode, tuple(int(v) & 0xFFFFFFFF for v in value))
        elif isinstance(value, Fraction):
            spec.attribute(name, oiio.TypeRational, (value.numerator, value.denominator))
        elif isinstance(value, bool | int | np.integer):
            if not -(2**31) <= int(value) < 2**31:
                raise FrameError(f"{label}: metadata {key!r}={value} does not fit a 32-bit EXR int")
            spec.attribute(name, oiio.TypeInt, int(value))
        elif isinstance(value, float | np.floating):
            spec.attribute(name, oiio.TypeFloat, float(value))
        elif isinstance(value, str):
            spec.attribute(name, value)
        else:
            raise FrameError(
                f"{label}: metadata {key!r} has unsupported type {type(value).__name__}; "
                "use str, int, float or fractions.Fraction"
            )


def _write_file(path: str, frame: Frame, compression: str, pixel_type: str,
                float_channels: Sequence[str] = ()) -> None:
    spec, px = _spec_for(frame, compression, pixel_type, float_channels)
    out = oiio.ImageOutput.create("openexr")
    if out is None:
        raise RuntimeError(f"OpenImageIO has no OpenEXR writer: {oiio.geterror()}")
    try:
        if not out.open(path, spec) or not out.write_image(px):
            raise FrameError(f"{frame.label}: cannot write EXR: {_first_line(out.geterror())}")
    finally:
        out.close()
        oiio.geterror()


def encode_exr(frame: Frame, *, compression: str = "zip", pixel_type: str = "half",
               float_channels: Sequence[str] = ()) -> bytes:
    """:class:`Frame` -> EXR bytes (scanline, single part).

    ``compression``: none, zip, zips, piz, dwaa, dwab, rle, pxr24, b44, b44a (zip/zips/dwaa/dwab
    take an optional level, "dwaa:45"). ``pixel_type``: half or float for every channel but those
    named in ``float_channels``, which are always 32-bit float (coordinates such as an STMap's).
    """
    path = _scratch_file()
    try:
        _write_file(path, frame, compression, pixel_type, float_channels)
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(path)


def write_exr(
    path: str | os.PathLike[str], frame: Frame, *, compression: str = "zip", pixel_type: str = "half"
) -> None:
    """Write atomically: a temporary file beside ``path``, then os.replace, so a killed task never
    leaves a half-written EXR that a later read would mistake for a frame."""
    with atomic_path(path) as tmp:
        _write_file(str(tmp), frame, compression, pixel_type)


# ---------------------------------------------------------------------- shots
def check_same_size(frames: Sequence[tuple[str, Window]]) -> None:
    """Every frame of a shot must share the first one's display window; name the first that does not."""
    if not frames:
        return
    first_label, first = frames[0]
    for label, window in frames[1:]:
        if window != first:
            raise FrameError(
                f"{label}: display window {window} differs from {first_label} ({first}); "
                "every frame of a shot must have the same format"
            )
