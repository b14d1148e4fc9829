"""The host-side EXR codec: round trips, windows, metadata, compressions, and every kind of bad plate."""

from __future__ import annotations

import os
import struct
from fractions import Fraction
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from ned_plugin import exr
from ned_plugin.exr import (
    COMPRESSIONS,
    Frame,
    FrameError,
    Window,
    check_same_size,
    decode_exr,
    encode_exr,
    read_exr,
    read_exr_region,
    write_exr,
)

CHANNELS = ("R", "G", "B", "A", "matte.Y")


def smooth(h: int, w: int, c: int, seed: int = 0) -> np.ndarray:
    """Plate-like pixels (gradients plus a little grain) in [0, 1]; lossy codecs keep these close."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = [(x / w), (y / h), 0.5 + 0.4 * np.sin(x / 7.0) * np.cos(y / 5.0), np.ones_like(x), (x + y) / (w + h)]
    px = np.stack([base[k % len(base)] for k in range(c)], -1)
    return (px + rng.normal(0, 0.003, px.shape)).astype(np.float32)


def make_frame(dtype: type = np.float16, *, data: Window | None = None, display: Window | None = None,
               channels: tuple[str, ...] = CHANNELS, metadata: dict | None = None, seed: int = 0) -> Frame:
    data = data or Window(-3, 2, 24, 16)
    display = display or Window(-5, 0, 40, 30)
    px = smooth(data.height, data.width, len(channels), seed).astype(dtype)
    return Frame(px, channels, data, display, dict(metadata or {}), "frame 1001")


def write_with_oiio(path: Path, pixels: np.ndarray, channels: tuple[str, ...], *, tile: int = 0,
                    formats: tuple | None = None) -> None:
    h, w, c = pixels.shape
    spec = oiio.ImageSpec(w, h, c, "half" if pixels.dtype == np.float16 else "float")
    spec.channelnames = channels
    if tile:
        spec.tile_width = spec.tile_height = tile
    if formats:
        spec.channelformats = formats
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), out.geterror()
    assert out.write_image(pixels), out.geterror()
    out.close()


@pytest.fixture(autouse=True)
def private_scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Scratch files go to a folder of this test, so leaks are seen (other processes share /dev/shm)."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(exr, "_scratch_dir", lambda: str(scratch))
    yield scratch
    assert list(scratch.iterdir()) == [], "a temporary EXR was left behind"


# ---------------------------------------------------------------------- round trips
@pytest.mark.parametrize(("dtype", "pixel_type"), [(np.float16, "half"), (np.float32, "float")])
def test_round_trip_exact_with_matte_layer_windows_and_metadata(dtype: type, pixel_type: str) -> None:
    meta = {"owner": "comp dept", "comments": "plate sh010", "framesPerSecond": Fraction(24000, 1001),
            "ned/tracked": 1, "ned/score": 0.25, "ned/actor": "anna", "timeCode": (0x01020304, 7),
            "capDate": "2024:05:01 10:00:00"}
    frame = make_frame(dtype, metadata=meta)
    back = decode_exr(encode_exr(frame, pixel_type=pixel_type), label="frame 1001")
    assert back.pixels.dtype == dtype
    assert back.channels == CHANNELS
    np.testing.assert_array_equal(back.pixels, frame.pixels)
    assert back.data_window == Window(-3, 2, 24, 16)
    assert back.display_window == Window(-5, 0, 40, 30)
    for key, value in meta.items():
        assert back.metadata[key] == value, key
    assert not any(k.startswith("oiio:") or k == "compression" for k in back.metadata)
    assert back.label == "frame 1001"


def test_half_frame_written_as_float_and_float_as_half() -> None:
    frame = make_frame(np.float32)
    as_half = decode_exr(encode_exr(frame, pixel_type="half"))
    assert as_half.pixels.dtype == np.float16
    np.testing.assert_array_equal(as_half.pixels, frame.pixels.astype(np.float16))
    as_float = decode_exr(encode_exr(make_frame(np.float16), pixel_type="float"))
    assert as_float.pixels.dtype == np.float32


def test_identical_frames_give_identical_bytes() -> None:
    """No write-time stamp sneaks in: the server finds a re-sent shot by hashing the bytes."""
    assert encode_exr(make_frame()) == encode_exr(make_frame())
    assert "capDate" not in decode_exr(encode_exr(make_frame())).metadata


def test_window_conversion_from_inclusive_boxes() -> None:
    w = Window.from_box(-10, -4, 5, 3)
    assert (w.x, w.y, w.width, w.height) == (-10, -4, 16, 8)
    assert (w.xmax, w.ymax) == (5, 3)
    assert Window(0, 0, 4, 4).intersect(Window(2, 3, 10, 10)) == Window(2, 3, 2, 1)
    assert Window(0, 0, 4, 4).intersect(Window(4, 0, 2, 2)) is None
    # a data window with a negative origin, larger than the display window (overscan)
    frame = make_frame(data=Window(-4, -2, 20, 14), display=Window(0, 0, 12, 8))
    back = decode_exr(encode_exr(frame))
    assert back.data_window == Window(-4, -2, 20, 14) and back.display_window == Window(0, 0, 12, 8)
    full = back.full_frame()
    assert full.shape == (8, 12, 5)
    np.testing.assert_array_equal(full, back.pixels[2:10, 4:16])


def test_full_frame_places_a_small_data_window() -> None:
    frame = make_frame(np.float32, data=Window(3, -1, 4, 5), display=Window(-2, -3, 10, 9))
    full = frame.full_frame(fill=-1.0)
    assert full.shape == (9, 10, 5)
    np.testing.assert_array_equal(full[2:7, 5:9], frame.pixels)
    mask = np.ones((9, 10), bool)
    mask[2:7, 5:9] = False
    assert (full[mask] == -1.0).all()
    outside = make_frame(np.float32, data=Window(100, 100, 4, 4), display=Window(0, 0, 8, 8)).full_frame()
    assert (outside == 0).all()


@pytest.mark.parametrize("compression", [*COMPRESSIONS, "dwaa:45", "zip:9"])
def test_each_compression_round_trips_and_is_used(compression: str, tmp_path: Path) -> None:
    frame = make_frame(np.float16, data=Window(0, 0, 64, 32), display=Window(0, 0, 64, 32))
    data = encode_exr(frame, compression=compression)
    path = tmp_path / "c.exr"
    path.write_bytes(data)
    inp = oiio.ImageInput.open(str(path))
    assert inp.spec().get_string_attribute("compression") == compression.split(":")[0]
    inp.close()
    back = decode_exr(data)
    lossy = compression.split(":")[0] in ("dwaa", "dwab", "b44", "b44a")
    err = np.abs(back.pixels.astype(np.float32) - frame.pixels.astype(np.float32)).max()
    assert err <= (0.05 if lossy else 0.0), err


@pytest.mark.parametrize("bad", ["lzw", "dwaa:x", "piz:3", ""])
def test_unknown_compression_is_refused(bad: str) -> None:
    with pytest.raises(FrameError, match="compression"):
        encode_exr(make_frame(), compression=bad)


def test_bad_frames_are_refused_on_encode() -> None:
    frame = make_frame()
    with pytest.raises(FrameError, match="pixel type"):
        encode_exr(frame, pixel_type="uint8")
    with pytest.raises(FrameError, match="data window"):
        encode_exr(Frame(frame.pixels, CHANNELS, Window(0, 0, 5, 5), frame.display_window))
    with pytest.raises(FrameError, match="channel names"):
        encode_exr(Frame(frame.pixels, ("R", "G", "B"), frame.data_window, frame.display_window))
    with pytest.raises(FrameError, match="unique"):
        encode_exr(Frame(frame.pixels, ("R", "G", "B", "A", "R"), frame.data_window, frame.display_window))
    with pytest.raises(FrameError, match="unsupported type"):
        encode_exr(Frame(frame.pixels, CHANNELS, frame.data_window, frame.display_window, {"ned/x": [1, 2]}))
    with pytest.raises(FrameError, match="32-bit"):
        encode_exr(Frame(frame.pixels, CHANNELS, frame.data_window, frame.display_window, {"ned/x": 2**40}))


# ---------------------------------------------------------------------- channels and layers
def test_layer_helpers() -> None:
    frame = make_frame(np.float32, channels=("R", "G", "B", "A", "matte.Y", "diffuse.R", "diffuse.G"))
    assert frame.layers() == ["rgba", "matte", "diffuse"]
    np.testing.assert_array_equal(frame.layer("rgba"), frame.pixels[..., :4])
    np.testing.assert_array_equal(frame.rgb(), frame.pixels[..., :3])
    np.testing.assert_array_equal(frame.layer("matte"), frame.pixels[..., 4:5])
    np.testing.assert_array_equal(frame.layer("diffuse"), frame.pixels[..., 5:7])
    np.testing.assert_array_equal(frame.alpha(), frame.pixels[..., 3])
    assert frame.layer_channel_names("diffuse") == ("diffuse.R", "diffuse.G")
    with pytest.raises(FrameError, match=r"frame 1001: no layer 'depth'.*matte"):
        frame.layer("depth")
    rgb_only = make_frame(np.float32, channels=("R", "G", "B"))
    assert (rgb_only.alpha() == 1.0).all() and (rgb_only.alpha(default=0.0) == 0.0).all()


def test_with_layer_adds_and_replaces() -> None:
    frame = make_frame(np.float16, channels=("R", "G", "B", "A"))
    h, w = frame.pixels.shape[:2]
    matte = np.full((h, w), 0.5, np.float16)
    added = frame.with_layer("matte", matte, ("Y",))
    assert added.channels == CHANNELS and added.pixels.dtype == np.float16
    assert (added.layer("matte") == 0.5).all()
    assert frame.channels == ("R", "G", "B", "A")  # the original is untouched
    replaced = added.with_layer("matte", np.zeros((h, w, 1), np.float32), ("Y",))
    assert replaced.channels == CHANNELS and replaced.pixels.dtype == np.float32
    assert (replaced.layer("matte") == 0).all()
    np.testing.assert_array_equal(replaced.rgb(), frame.rgb().astype(np.float32))
    back = decode_exr(encode_exr(replaced, pixel_type="float"))
    np.testing.assert_array_equal(back.pixels, replaced.pixels)
    with pytest.raises(FrameError, match="shape"):
        frame.with_layer("matte", np.zeros((h + 1, w)), ("Y",))


def test_channel_selection_and_required_channels() -> None:
    data = encode_exr(make_frame())
    only = decode_exr(data, channels=("matte.Y", "R"))
    assert only.channels == ("matte.Y", "R") and only.pixels.shape[-1] == 2
    full = decode_exr(data)
    np.testing.assert_array_equal(only.pixels[..., 1], full.pixels[..., 0])
    with pytest.raises(FrameError, match=r"frame 7: missing channel Z \(found: R, G, B, A, matte\.Y\)"):
        decode_exr(data, label="frame 7", require=("R", "Z"))
    with pytest.raises(FrameError, match=r"frame 7: missing channels depth\.Z, N"):
        decode_exr(data, label="frame 7", channels=("R", "depth.Z", "N"))


def test_no_rgb_channels_when_rgb_required() -> None:
    data = encode_exr(make_frame(channels=("matte.Y",)))
    with pytest.raises(FrameError, match=r"frame 3: missing channels R, G, B.*expected an RGB or RGBA plate"):
        decode_exr(data, label="frame 3", require=("R", "G", "B"))
    frame = decode_exr(data, label="frame 3")
    with pytest.raises(FrameError, match="frame 3: no R, G, B"):
        frame.rgb()


def test_luminance_only_plate_is_grey(tmp_path: Path) -> None:
    y = smooth(8, 12, 2)
    write_with_oiio(tmp_path / "y.exr", y.astype(np.float16), ("Y", "A"))
    data = (tmp_path / "y.exr").read_bytes()
    plain = decode_exr(data)
    assert plain.channels == ("Y", "A")
    rgb = plain.rgb()
    assert rgb.shape == (8, 12, 3)
    for k in range(3):
        np.testing.assert_array_equal(rgb[..., k], plain.pixels[..., 0])
    grey = decode_exr(data, require=("R", "G", "B"))
    assert grey.channels == ("R", "G", "B", "A")
    np.testing.assert_array_equal(grey.channel("R"), grey.channel("B"))
    np.testing.assert_array_equal(grey.channel("G"), plain.channel("Y"))
    chosen = decode_exr(data, channels=("R", "G", "B", "A"))
    assert chosen.channels == ("R", "G", "B", "A")
    np.testing.assert_array_equal(chosen.pixels[..., 3], plain.pixels[..., 1])


def test_tiled_and_mixed_precision_files_are_read(tmp_path: Path) -> None:
    px = smooth(20, 36, 4).astype(np.float16)
    write_with_oiio(tmp_path / "tiled.exr", px, ("R", "G", "B", "A"), tile=16)
    back = read_exr(tmp_path / "tiled.exr")
    np.testing.assert_array_equal(back.pixels, px)
    mixed = smooth(6, 8, 4)
    write_with_oiio(tmp_path / "mixed.exr", mixed, ("R", "G", "B", "Z"),
                    formats=(oiio.TypeHalf, oiio.TypeHalf, oiio.TypeHalf, oiio.TypeFloat))
    m = read_exr(tmp_path / "mixed.exr")
    assert m.pixels.dtype == np.float32
    np.testing.assert_array_equal(m.channel("Z"), mixed[..., 3])
    assert read_exr(tmp_path / "mixed.exr", channels=("R", "G", "B")).pixels.dtype == np.float16


@pytest.mark.parametrize("compression", ["zip", "piz", "none"])
def test_region_reads_equal_the_same_pixels_of_a_full_read(compression: str, tmp_path: Path) -> None:
    frame = make_frame(np.float16)  # data window (-3, 2) 24x16 inside display (-5, 0) 40x30
    path = tmp_path / "plate.exr"
    write_exr(path, frame, compression=compression)
    full = read_exr(path).full_frame()[..., :3].astype(np.float32)  # display-window array
    disp = frame.display_window
    for region in (Window(-1, 5, 10, 7), Window(-5, 0, 40, 30), Window(10, 14, 30, 20), Window(-20, -20, 5, 5)):
        got = read_exr_region(path, region)
        assert got.shape == (region.height, region.width, 3) and got.dtype == np.float32
        expect = np.zeros_like(got)
        inter = region.intersect(disp)
        if inter is not None:
            expect[inter.y - region.y:inter.y - region.y + inter.height,
                   inter.x - region.x:inter.x - region.x + inter.width] = \
                full[inter.y - disp.y:inter.y - disp.y + inter.height, inter.x - disp.x:inter.x - disp.x + inter.width]
        np.testing.assert_array_equal(got, expect)
    px = smooth(20, 36, 4).astype(np.float16)
    write_with_oiio(tmp_path / "tiled.exr", px, ("R", "G", "B", "A"), tile=16)
    np.testing.assert_array_equal(read_exr_region(tmp_path / "tiled.exr", Window(3, 2, 20, 17), channels=("A", "R")),
                                  px[2:19, 3:23][..., [3, 0]].astype(np.float32))
    with pytest.raises(FrameError, match="missing channel"):
        read_exr_region(path, Window(0, 5, 4, 4), channels=("Z",))


def test_multi_part_reads_first_or_named_part(tmp_path: Path) -> None:
    path = str(tmp_path / "mp.exr")
    beauty = oiio.ImageSpec(8, 4, 3, "half")
    beauty.attribute("name", "beauty")
    matte = oiio.ImageSpec(8, 4, 1, "half")
    matte.channelnames = ("Y",)
    matte.attribute("name", "matte")
    out = oiio.ImageOutput.create(path)
    assert out.open(path, (beauty, matte))
    assert out.write_image(np.full((4, 8, 3), 0.25, np.float16))
    assert out.open(path, matte, "AppendSubimage")
    assert out.write_image(np.full((4, 8, 1), 0.75, np.float16))
    out.close()
    assert read_exr(path).channels == ("R", "G", "B")
    m = read_exr(path, part="matte")
    assert m.channels == ("Y",) and (m.pixels == 0.75).all()
    assert (read_exr(path, part=1).pixels == 0.75).all()
    with pytest.raises(FrameError, match=r"no part 'depth'.*beauty, matte"):
        read_exr(path, part="depth")


def test_deep_file_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "deep.exr")
    spec = oiio.ImageSpec(4, 4, 2, "float")
    spec.channelnames = ("A", "Z")
    spec.deep = True
    deep = oiio.DeepData()
    deep.init(spec)
    for p in range(16):
        deep.set_samples(p, 1)
        deep.set_deep_value(p, 0, 0, 1.0)
        deep.set_deep_value(p, 1, 0, 2.0)
    out = oiio.ImageOutput.create(path)
    assert out.open(path, spec) and out.write_deep_image(deep)
    out.close()
    with pytest.raises(FrameError, match="frame 4: deep EXR is not supported"):
        decode_exr(Path(path).read_bytes(), label="frame 4")


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize("compression", ["zip", "none", "piz"])
def test_truncated_files_raise_never_return_garbage(compression: str) -> None:
    data = encode_exr(make_frame(data=Window(0, 0, 64, 48), display=Window(0, 0, 64, 48)), compression=compression)
    cuts = sorted({3, 10, 100, 300, len(data) // 10, len(data) // 2, len(data) * 9 // 10, len(data) - 1})
    for cut in cuts:
        with pytest.raises(FrameError, match=r"^frame 12: (corrupt or truncated|not an OpenEXR)"):
            decode_exr(data[:cut], label="frame 12")


def test_truncated_tiled_file_raises(tmp_path: Path) -> None:
    write_with_oiio(tmp_path / "t.exr", smooth(40, 40, 3).astype(np.float16), ("R", "G", "B"), tile=16)
    data = (tmp_path / "t.exr").read_bytes()
    for cut in (len(data) // 2, len(data) - 5):
        with pytest.raises(FrameError, match="frame 2: corrupt or truncated"):
            decode_exr(data[:cut], label="frame 2")


def test_corrupted_pixel_chunks_raise() -> None:
    data = encode_exr(make_frame(data=Window(0, 0, 64, 48), display=Window(0, 0, 64, 48)), compression="zip")
    for offset in (len(data) // 3, len(data) // 2, len(data) - 200):
        bad = bytearray(data)
        for k in range(offset, offset + 32):
            bad[k] ^= 0x5A
        with pytest.raises(FrameError, match="frame 5: corrupt or truncated"):
            decode_exr(bytes(bad), label="frame 5")


def test_not_exr_inputs(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    with pytest.raises(FrameError, match="frame 1: not an OpenEXR file"):
        decode_exr(rng.bytes(4096), label="frame 1")
    with pytest.raises(FrameError, match="frame 1: empty file"):
        decode_exr(b"", label="frame 1")
    with pytest.raises(FrameError, match="frame 1: corrupt or truncated EXR header"):
        decode_exr(exr.EXR_MAGIC + rng.bytes(4096), label="frame 1")
    png = tmp_path / "p.png"
    spec = oiio.ImageSpec(8, 8, 3, "uint8")
    out = oiio.ImageOutput.create(str(png))
    out.open(str(png), spec)
    out.write_image(np.zeros((8, 8, 3), np.uint8))
    out.close()
    with pytest.raises(FrameError, match=r"frame 1: not an OpenEXR file \(looks like PNG\)"):
        decode_exr(png.read_bytes(), label="frame 1")
    with pytest.raises(FrameError, match="expected EXR bytes"):
        decode_exr("plate.exr", label="frame 1")  # type: ignore[arg-type]


def _patch_box(data: bytes, attribute: str, box: tuple[int, int, int, int]) -> bytes:
    key = attribute.encode() + b"\0box2i\0"
    at = data.index(key) + len(key)
    assert struct.unpack("<i", data[at:at + 4])[0] == 16
    return data[:at + 4] + struct.pack("<4i", *box) + data[at + 20:]


@pytest.mark.parametrize(("attribute", "box", "message"), [
    ("dataWindow", (0, 0, 99_999, 5), "data window 100000x6 at"),
    ("displayWindow", (0, 0, 70_000, 5), "display window 70001x6"),
    ("dataWindow", (0, 0, 7, -5), "corrupt or truncated EXR header"),
    ("displayWindow", (5, 0, -3, 5), "corrupt or truncated EXR header"),
    ("dataWindow", (-20_000, -20_000, 20_000, 20_000), "larger than supported|corrupt"),
])
def test_absurd_windows_are_refused(attribute: str, box: tuple, message: str) -> None:
    frame = make_frame(data=Window(0, 0, 8, 6), display=Window(0, 0, 8, 6))
    data = _patch_box(encode_exr(frame, compression="none"), attribute, box)
    with pytest.raises(FrameError, match=f"frame 9: ({message})"):
        decode_exr(data, label="frame 9")


def test_nan_and_inf_are_reported_with_counts_and_position() -> None:
    frame = make_frame(np.float32)
    frame.pixels[4, 6, 1] = np.nan
    frame.pixels[9, 2, 0] = np.inf
    frame.pixels[9, 3, 4] = -np.inf
    data = encode_exr(frame, pixel_type="float")
    # data window origin is (-3, 2): pixel row 4, column 6 is x=3, y=6
    with pytest.raises(FrameError, match=r"frame 1001: 1 NaN and 2 Inf pixel values; first at x=3, y=6 in channel G"):
        decode_exr(data, label="frame 1001")
    kept = decode_exr(data, allow_nonfinite=True)
    assert np.isnan(kept.pixels[4, 6, 1]) and np.isposinf(kept.pixels[9, 2, 0])
    # selecting channels without the bad values decodes fine
    assert np.isfinite(decode_exr(data, channels=("B", "A")).pixels).all()
    half = make_frame()
    half.pixels[0, 0, 3] = np.float16(np.inf)
    with pytest.raises(FrameError, match=r"0 NaN and 1 Inf.*channel A"):
        decode_exr(encode_exr(half))


# ---------------------------------------------------------------------- files and shots
def test_write_and_read_files_atomically(tmp_path: Path) -> None:
    frame = make_frame()
    dest = tmp_path / "out" / "sh010.1001.exr"
    write_exr(dest, frame, compression="piz")
    assert os.listdir(dest.parent) == ["sh010.1001.exr"]
    back = read_exr(dest)
    np.testing.assert_array_equal(back.pixels, frame.pixels)
    assert back.label == str(dest)
    bad = Frame(frame.pixels, ("R",), frame.data_window, frame.display_window, label="frame 1002")
    with pytest.raises(FrameError, match="frame 1002"):
        write_exr(tmp_path / "out" / "sh010.1002.exr", bad)
    assert os.listdir(dest.parent) == ["sh010.1001.exr"]  # no partial file, no temporary left
    with pytest.raises(FrameError, match="cannot open"):
        read_exr(tmp_path / "missing.exr")
    (tmp_path / "text.exr").write_text("hello")
    with pytest.raises(FrameError, match=r"text\.exr: not an OpenEXR file"):
        read_exr(tmp_path / "text.exr")


def test_check_same_size_names_the_first_mismatch() -> None:
    hd, other = Window(0, 0, 1920, 1080), Window(0, 0, 2048, 1080)
    check_same_size([("frame 1001", hd), ("frame 1002", hd)])
    check_same_size([])
    with pytest.raises(FrameError, match=r"frame 1003: display window 2048x1080 at \(0,0\) differs from frame 1001"):
        check_same_size([("frame 1001", hd), ("frame 1002", hd), ("frame 1003", other), ("frame 1004", other)])
