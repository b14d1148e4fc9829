"""Generated hostile input for the server: broken plates, broken chunk streams, broken requests.

Shared by tests/test_reliability_input.py (each case gets the status it should) and
tests/bench/soak.py (many cases, counted by status). Everything is generated from a seed, so a
failing case can be named and rebuilt. A case says what a correct server answers:

* a plate the server must refuse: INVALID_ARGUMENT, with a message naming the frame;
* a plate it must take (odd but valid: tiled, luminance-only, 1x1, overscan, near the half-float
  maximum): it is stored, and the Track request then stops at the landmark detector, whose
  weights these tests never have (FAILED_PRECONDITION naming them) - proof the plate passed intake;
* a plate that may be either (random bit flips can land in padding or pixel values): either of the
  two answers above, never anything else.
"""

from __future__ import annotations

import os
import pickle
import struct
import tempfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import OpenImageIO as oiio

from ned_plugin.chunks import split_frame
from ned_plugin.exr import EXR_MAGIC, Frame, Window, encode_exr
from ned_plugin.wire import pb

REFUSED, ACCEPTED, EITHER = "refused", "accepted", "either"
RGBA = ("R", "G", "B", "A")
# What a refused plate's message starts with: the frame it names.
FRAME_LABEL = r"^frame -?\d+: "


@dataclass(frozen=True)
class HostileShot:
    """Frames sent as one Track request, and what the server must make of them."""

    name: str
    frames: list[tuple[int, bytes]]
    verdict: str
    text: str = ""  # a regex the message must match when refused

    @property
    def kind(self) -> str:
        return self.name.split(":", 1)[0]


@dataclass(frozen=True)
class HostileStream:
    """A Track request stream as sent: ``None`` stands for the settings message, the rest are chunks."""

    name: str
    items: list[pb.FrameChunk | None]
    code: str
    text: str


@dataclass(frozen=True)
class HostileRequest:
    """A well-formed call with a bad argument; ``call(client)`` makes it."""

    name: str
    call: Callable[[object], object] = field(repr=False)
    code: str
    text: str


# ---------------------------------------------------------------------- plates
def plate(width: int = 48, height: int = 40, *, channels: Sequence[str] = RGBA, compression: str = "zip",
          seed: int = 0, value: float | None = None, data: Window | None = None, pixel_type: str = "half") -> bytes:
    """A plate-like EXR (gradients and grain, or a constant ``value``), ``data`` window optional."""
    display = Window(0, 0, width, height)
    data = data or display
    rng = np.random.default_rng(seed)
    if value is None:
        y, x = np.mgrid[0:data.height, 0:data.width].astype(np.float32)
        base = np.stack([x / max(data.width, 1), y / max(data.height, 1), 0.5 + 0.3 * np.sin(x / 5.0)], -1)
        px = np.concatenate([base, np.ones((data.height, data.width, 1), np.float32)], -1)
        px = (px + rng.normal(0, 0.01, px.shape)).astype(np.float32)
        px = px[..., [k % 4 for k in range(len(channels))]]
    else:
        px = np.full((data.height, data.width, len(channels)), value, np.float32)
    dtype = np.float16 if pixel_type == "half" else np.float32
    return encode_exr(Frame(px.astype(dtype), tuple(channels), data, display), compression=compression,
                      pixel_type=pixel_type)


def _with_pixel(data: bytes, value: float) -> bytes:
    """A plate with one pixel set to ``value`` (NaN, Inf), written with OIIO as another app would."""
    return _oiio_written(lambda spec: None, value_at=(3, 5, value), source=data)


def _oiio_written(tweak: Callable[[oiio.ImageSpec], None], *, source: bytes | None = None,
                  value_at: tuple[int, int, float] | None = None, deep: bool = False) -> bytes:
    """Re-write a plate through OpenImageIO with ``tweak`` applied to its spec (tiling, parts...)."""
    fd, path = tempfile.mkstemp(suffix=".exr")
    os.close(fd)
    try:
        if deep:
            spec = oiio.ImageSpec(4, 4, 4, "float")
            spec.channelnames = ("R", "G", "B", "A")
            spec.deep = True
            deep_data = oiio.DeepData()
            deep_data.init(spec)
            for p in range(16):
                deep_data.set_samples(p, 1)
            out = oiio.ImageOutput.create(path)
            assert out.open(path, spec) and out.write_deep_image(deep_data)
            out.close()
        else:
            with open(path, "wb") as fh:
                fh.write(source or plate())
            inp = oiio.ImageInput.open(path)
            spec, pixels = inp.spec(), inp.read_image(0, 0, 0, inp.spec().nchannels, "float")
            inp.close()
            spec = oiio.ImageSpec(spec)
            tweak(spec)
            pixels = np.array(pixels, dtype=np.float32)
            if value_at is not None:
                y, x, v = value_at
                pixels[y, x, 0] = v
            out = oiio.ImageOutput.create(path)
            assert out.open(path, spec), out.geterror()
            assert out.write_image(pixels), out.geterror()
            out.close()
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(path)
        oiio.geterror()


def _tiled(spec: oiio.ImageSpec) -> None:
    spec.tile_width = spec.tile_height = 16


def _patch_box(data: bytes, attribute: str, box: tuple[int, int, int, int]) -> bytes:
    key = attribute.encode() + b"\0box2i\0"
    at = data.index(key) + len(key) + 4
    return data[:at] + struct.pack("<4i", *box) + data[at + 16:]


def _rename_channel(data: bytes, old: bytes, new: bytes) -> bytes:
    """The plate with one channel's name bytes replaced in its header (as a corrupt writer leaves it)."""
    at = data.index(b"chlist\0")
    name = data.index(b"\0" + old + b"\0", at) + 1
    return data[:name] + new + data[name + len(old):]


def _multipart() -> bytes:
    fd, path = tempfile.mkstemp(suffix=".exr")
    os.close(fd)
    try:
        beauty = oiio.ImageSpec(32, 24, 4, "half")
        beauty.attribute("name", "beauty")
        other = oiio.ImageSpec(32, 24, 1, "half")
        other.channelnames = ("Z",)
        other.attribute("name", "depth")
        out = oiio.ImageOutput.create(path)
        assert out.open(path, (beauty, other))
        assert out.write_image(np.full((24, 32, 4), 0.25, np.float16))
        assert out.open(path, other, "AppendSubimage")
        assert out.write_image(np.full((24, 32, 1), 3.0, np.float16))
        out.close()
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(path)
        oiio.geterror()


class _Payload:
    """Unpickling this would run a shell command: it must only ever be treated as bytes."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def pickle_payload(marker: str) -> bytes:
    return pickle.dumps(_Payload(marker), protocol=2)


def truncation_offsets(size: int, count: int) -> list[int]:
    """``count`` cut points spread over a file: inside the magic, the header, the offsets, the pixels."""
    fixed = [0, 1, 3, 4, 8, 16, 64, 200]
    spread = [int(size * k / (count + 1)) for k in range(1, count + 1)]
    return sorted({c for c in (*fixed, *spread, size - 1) if 0 <= c < size})


def bit_flips(data: bytes, rng: np.random.Generator, flips: int) -> bytes:
    bad = bytearray(data)
    for pos in rng.integers(0, len(bad), size=flips):
        bad[int(pos)] ^= 1 << int(rng.integers(0, 8))
    return bytes(bad)


def broken_plates(seed: int = 0, truncations: int = 10, flipped: int = 10, *, max_frame_pixels: int = 256 * 256,
                  max_shot_frames: int = 16, marker: str = "/tmp/ned-hostile-marker") -> list[HostileShot]:
    """The plate corpus; ``max_*``: the limits of the server under test (cases just past them)."""
    rng = np.random.default_rng(seed)
    frame = 1001
    good = {c: plate(compression=c, seed=seed) for c in ("zip", "none", "piz")}
    cases: list[HostileShot] = []

    def one(name: str, data: bytes, verdict: str, text: str = FRAME_LABEL) -> None:
        cases.append(HostileShot(name, [(frame, data)], verdict, text))

    for comp, data in good.items():
        for cut in truncation_offsets(len(data), truncations):
            one(f"truncated:{comp}@{cut}", data[:cut], REFUSED, FRAME_LABEL + "(empty file|not an OpenEXR|corrupt)")
    for comp, data in good.items():
        for k in range(flipped):
            one(f"bitflip:{comp}#{k}", bit_flips(data, rng, int(rng.integers(1, 9))), EITHER)
    for k in range(max(2, flipped // 4)):  # a run of garbage over the pixel data
        data = bytearray(good["zip"])
        at = int(rng.integers(len(data) // 3, len(data) - 40))
        data[at:at + 32] = rng.bytes(32)
        one(f"bitflip:zip-burst#{k}", bytes(data), EITHER)

    not_exr = {
        "empty": b"", "random": rng.bytes(4096), "text": b"this is not a plate\n" * 10,
        "png": b"\x89PNG\r\n\x1a\n" + rng.bytes(200), "jpeg": b"\xff\xd8\xff\xe0" + rng.bytes(200),
        "magic-then-garbage": EXR_MAGIC + rng.bytes(1000), "magic-only": EXR_MAGIC,
        "pickle": pickle_payload(marker), "zlib": zlib.compress(good["none"]),
    }
    for name, data in not_exr.items():
        one(f"not-exr:{name}", data, REFUSED, FRAME_LABEL + "(empty file|not an OpenEXR|corrupt)")

    one("pixels:nan", _with_pixel(good["zip"], float("nan")), REFUSED, FRAME_LABEL + ".*NaN")
    one("pixels:inf", _with_pixel(good["zip"], float("inf")), REFUSED, FRAME_LABEL + ".*Inf")
    one("pixels:-inf", _with_pixel(good["zip"], float("-inf")), REFUSED, FRAME_LABEL + ".*Inf")
    one("pixels:half-max", plate(value=65504.0), ACCEPTED)
    one("pixels:half-min", plate(value=-65504.0), ACCEPTED)
    one("pixels:half-subnormal", plate(value=6e-8), ACCEPTED)
    one("pixels:float-max", plate(value=3.0e38, pixel_type="float"), ACCEPTED)

    one("channels:luminance-only", plate(channels=("Y",)), ACCEPTED)
    one("channels:luminance-alpha", plate(channels=("Y", "A")), ACCEPTED)
    one("channels:no-rgb-layers", plate(channels=("depth.Z", "matte.A")), REFUSED, FRAME_LABEL + "missing channel")
    one("channels:alpha-only", plate(channels=("A",)), REFUSED, FRAME_LABEL + "missing channel")
    one("channels:red-green-only", plate(channels=("R", "G")), REFUSED, FRAME_LABEL + "missing channel B")
    one("channels:deep", _oiio_written(lambda s: None, deep=True), REFUSED, FRAME_LABEL + "deep")
    one("channels:name-not-utf8", _rename_channel(good["zip"], b"B", b"\xc4"), REFUSED,
        FRAME_LABEL + "missing channel B .*udcc4")

    one("layout:tiled", _oiio_written(_tiled), ACCEPTED)
    one("layout:multipart", _multipart(), ACCEPTED)
    one("layout:1x1", plate(1, 1), ACCEPTED)
    one("layout:float", plate(pixel_type="float"), ACCEPTED)
    one("window:overscan", plate(data=Window(-8, -6, 64, 52)), ACCEPTED)
    one("window:outside-display", plate(data=Window(500, 500, 8, 8)), ACCEPTED)
    one("window:negative-origin", plate(data=Window(-20, -30, 10, 10)), ACCEPTED)
    raw = plate(8, 6, compression="none")
    for attr, box, text in [
        ("dataWindow", (0, 0, 7, -5), "corrupt"),
        ("displayWindow", (5, 0, -3, 5), "corrupt"),
        ("dataWindow", (0, 0, 99_999, 5), "larger than|corrupt"),
        ("displayWindow", (0, 0, 70_000, 5), "larger than|corrupt"),
        ("dataWindow", (-(2**31), -(2**31), 2**31 - 1, 2**31 - 1), "larger than|corrupt"),
    ]:
        one(f"window:absurd-{attr}-{box[2]}", _patch_box(raw, attr, box), REFUSED, FRAME_LABEL + f".*({text})")
    huge = _patch_box(_patch_box(raw, "dataWindow", (0, 0, 15_999, 15_999)), "displayWindow", (0, 0, 15_999, 15_999))
    one("window:claims-16k-from-bytes", huge, REFUSED, FRAME_LABEL + ".*(corrupt|larger than)")
    side = int(max_frame_pixels ** 0.5) + 1
    one("limits:frame-pixels", plate(side, side, value=0.5), REFUSED, FRAME_LABEL + ".*server's limit")

    cases.append(HostileShot("shot:sizes-differ", [(1001, plate(48, 40)), (1002, plate(40, 48))], REFUSED,
                             FRAME_LABEL + ".*differs"))
    small = plate(8, 8, value=0.5)
    cases.append(HostileShot("limits:shot-frames", [(1001 + k, small) for k in range(max_shot_frames + 1)],
                             REFUSED, FRAME_LABEL + ".*more than"))
    return cases


# ---------------------------------------------------------------------- chunk streams
def broken_streams(frame: bytes | None = None, *, max_chunk_bytes: int = 1 << 20,
                   max_frame_bytes: int = 1 << 30) -> list[HostileStream]:
    """Track request streams that break the chunking contract in every way plugin/ned_plugin/chunks.py names."""
    frame = frame or plate(64, 48, compression="none")
    part = len(frame) // 3 + 1
    c = list(split_frame(1001, frame, part))
    assert len(c) == 3
    other = list(split_frame(1002, frame, part))
    S = None
    flipped = pb.FrameChunk()
    flipped.CopyFrom(c[1])
    flipped.data = bytes([flipped.data[0] ^ 0x40]) + flipped.data[1:]

    def edited(chunk: pb.FrameChunk, **fields: object) -> pb.FrameChunk:
        out = pb.FrameChunk()
        out.CopyFrom(chunk)
        for k, v in fields.items():
            setattr(out, k, v)
        return out

    big = b"\0" * (max_chunk_bytes + 1)
    over_wire = b"\0" * (2 << 20)
    ok = "INVALID_ARGUMENT"
    return [
        HostileStream("stream:empty", [], ok, "empty Track request"),
        HostileStream("stream:chunk-before-settings", [c[0], c[1], c[2]], ok, "first message .* settings"),
        HostileStream("stream:settings-twice", [S, S, *c], ok, "settings sent twice"),
        HostileStream("stream:missing-first", [S, c[1], c[2]], ok, "frame 1001: starts at chunk 1"),
        HostileStream("stream:missing-middle", [S, c[0], c[2]], ok, "frame 1001: chunk 2 out of order"),
        HostileStream("stream:missing-last", [S, c[0], c[1]], ok, "frame 1001: stream ended after 2 of 3"),
        HostileStream("stream:repeated", [S, c[0], c[1], c[1], c[2]], ok, "frame 1001: chunk 1 repeated"),
        HostileStream("stream:out-of-order", [S, c[0], c[2], c[1]], ok, "frame 1001: chunk 2 out of order"),
        HostileStream("stream:bad-checksum", [S, c[0], flipped, c[2]], ok, "frame 1001: checksum mismatch"),
        HostileStream("stream:wrong-crc-field", [S, *(edited(x, crc32=x.crc32 ^ 1) for x in c)], ok,
                      "frame 1001: checksum mismatch"),
        HostileStream("stream:headers-disagree", [S, c[0], edited(c[1], total_size=c[1].total_size + 1), c[2]], ok,
                      "frame 1001: chunk 1 disagrees"),
        HostileStream("stream:count-zero", [S, edited(c[0], count=0)], ok, "frame 1001: chunk count is 0"),
        HostileStream("stream:count-absurd", [S, edited(c[0], count=10**9)], ok, "frame 1001: .* cannot hold"),
        HostileStream("stream:more-than-announced", [S, edited(c[0], count=1, total_size=10, crc32=0)], ok,
                      "frame 1001: more bytes than"),
        HostileStream("stream:fewer-than-announced", [S, edited(c[0], count=1, total_size=part + 5)], ok,
                      r"frame 1001: got \d+ bytes, expected \d+ \(truncated\)"),
        HostileStream("stream:oversized-chunk", [S, pb.FrameChunk(frame=1001, index=0, count=1, total_size=len(big),
                                                                  crc32=zlib.crc32(big), data=big)], ok,
                      "frame 1001: .* limit"),
        HostileStream("stream:over-message-limit", [S, pb.FrameChunk(frame=1001, index=0, count=2,
                                                                     total_size=2 * len(over_wire), data=over_wire)],
                      "RESOURCE_EXHAUSTED", "larger than max"),
        HostileStream("stream:frame-too-large", [S, edited(c[0], total_size=max_frame_bytes + 1,
                                                           count=max(1, -(-(max_frame_bytes + 1) // max_chunk_bytes)))],
                      ok, "frame 1001: .* larger than the server's limit"),
        HostileStream("stream:interleaved", [S, c[0], other[0]], ok, "frame 1001: incomplete"),
        HostileStream("stream:frame-twice", [S, *c, *c], ok, "frame 1001: sent twice"),
        HostileStream("stream:zero-length-frame", [S, *split_frame(1001, b"")], ok, "frame 1001: empty file"),
    ]


# ---------------------------------------------------------------------- requests
def broken_requests(shot_id: str, actor_id: str, landmarks: dict[int, np.ndarray]) -> list[HostileRequest]:
    """Calls that are well-formed on the wire but name what the server does not have or cannot do.

    ``shot_id``: a tracked shot on the server (tracked from ``landmarks``); ``actor_id``: a ready actor.
    Other suites check some of these messages in more detail (test_server_track, test_server_manipulate);
    here every RPC that takes the argument is covered, with one list the soak benchmark reuses.
    """

    def lms(face_id: int | None = None, **kw: object) -> pb.TrackSettings:
        s = pb.TrackSettings(**kw)
        if face_id is not None:
            s.face_id = face_id
        for frame, pts in landmarks.items():
            s.landmarks.add(frame=frame, points=np.asarray(pts).reshape(-1).tolist())
        return s

    def track(settings: pb.TrackSettings, frames: Sequence[tuple[int, bytes]] = ()):  # type: ignore[no-untyped-def]
        return lambda c: c.track(list(frames), settings)

    def manipulate(**kw: object):  # type: ignore[no-untyped-def]
        kw.setdefault("shot_id", shot_id)
        kw.setdefault("actor_id", actor_id)
        kw.setdefault("emotion", pb.EmotionControl(emotion="happy"))
        return lambda c: list(c.manipulate(pb.ManipulateSettings(**kw)))

    def style(**kw: object):  # type: ignore[no-untyped-def]
        kw.setdefault("shot_id", shot_id)
        return lambda c: c.extract_style(pb.ExtractStyleSettings(**kw))

    def train(**kw: object):  # type: ignore[no-untyped-def]
        kw.setdefault("actor_id", "newcomer")
        kw.setdefault("shot_ids", [shot_id])
        kw.setdefault("preset", "tiny")
        return lambda c: c.train_actor(pb.TrainActorRequest(**kw))

    nan_points = pb.TrackSettings(shot_id=shot_id)
    first = min(landmarks)
    nan_points.landmarks.add(frame=first, points=[float("nan")] * 136)
    twice = lms(shot_id=shot_id)
    twice.landmarks.add(frame=first, points=np.asarray(landmarks[first]).reshape(-1).tolist())
    bad_space = pb.ColourSettings(input_space="no such space")
    # A host config the server cannot read falls back to the server's own (the path may be on the
    # artist's machine); only a space neither config knows is refused, naming the unreadable config.
    bad_config = pb.ColourSettings(config="/nonexistent/config.ocio", input_space="no such space")
    traversal = ["../etc", "..", "a/b", "/etc/passwd", ".hidden", "x\\..\\y", "%2e%2e", "a\x00b", "é", "x" * 129]
    reqs = [
        HostileRequest("track:unknown-shot", track(pb.TrackSettings(shot_id="never-sent")), "NOT_FOUND", "never-sent"),
        HostileRequest("track:empty-shot", track(pb.TrackSettings()), "INVALID_ARGUMENT", "no frames"),
        HostileRequest("track:unknown-face", track(lms(face_id=7, shot_id=shot_id)), "NOT_FOUND", "face id 7"),
        HostileRequest("track:unknown-colour-space", track(pb.TrackSettings(shot_id=shot_id, colour=bad_space)),
                       "INVALID_ARGUMENT", "no such space"),
        HostileRequest("track:unknown-colour-config", track(pb.TrackSettings(shot_id=shot_id, colour=bad_config)),
                       "INVALID_ARGUMENT", "config.ocio"),
        HostileRequest("track:landmarks-nan", track(nan_points), "INVALID_ARGUMENT", "NaN"),
        HostileRequest("track:landmarks-twice", track(twice), "INVALID_ARGUMENT", "twice"),
        HostileRequest("manipulate:unknown-actor", manipulate(actor_id="nobody"), "NOT_FOUND", "nobody"),
        HostileRequest("manipulate:no-actor", manipulate(actor_id=""), "INVALID_ARGUMENT", "needs an actor"),
        HostileRequest("manipulate:unknown-emotion", manipulate(emotion=pb.EmotionControl(emotion="smug")),
                       "INVALID_ARGUMENT", "smug"),
        HostileRequest("manipulate:unknown-mix-emotion", manipulate(emotion=pb.EmotionControl(mix={"glee": 1.0})),
                       "INVALID_ARGUMENT", "glee"),
        HostileRequest("manipulate:range-reversed", manipulate(range=pb.FrameRange(first=1009, last=1002)),
                       "INVALID_ARGUMENT", "reversed"),
        HostileRequest("manipulate:range-outside", manipulate(range=pb.FrameRange(first=5000, last=5004)),
                       "INVALID_ARGUMENT", "5000"),
        HostileRequest("manipulate:unknown-colour-space", manipulate(colour=bad_space), "INVALID_ARGUMENT",
                       "no such space"),
        HostileRequest("manipulate:unknown-shot", manipulate(shot_id="never-sent"), "NOT_FOUND", "never-sent"),
        HostileRequest("manipulate:empty-shot", manipulate(shot_id=""), "INVALID_ARGUMENT", "no frames"),
        HostileRequest("manipulate:bad-compression", manipulate(output=pb.OutputSettings(compression="jpeg")),
                       "INVALID_ARGUMENT", "jpeg"),
        HostileRequest("style:unknown-shot", style(shot_id="never-sent"), "NOT_FOUND", "never-sent"),
        HostileRequest("style:empty-shot", style(shot_id=""), "INVALID_ARGUMENT", "no frames"),
        HostileRequest("style:range-reversed", style(range=pb.FrameRange(first=1005, last=1001)), "INVALID_ARGUMENT",
                       "reversed"),
        HostileRequest("style:unknown-colour-space", style(colour=bad_space), "INVALID_ARGUMENT", "no such space"),
        HostileRequest("train:unknown-shot", train(shot_ids=["never-sent"]), "NOT_FOUND", "never-sent"),
        HostileRequest("train:no-shots", train(shot_ids=[]), "INVALID_ARGUMENT", "at least one"),
        HostileRequest("train:unknown-preset", train(preset="huge"), "INVALID_ARGUMENT", "huge"),
        HostileRequest("train:zero-iterations", train(iterations=0), "INVALID_ARGUMENT", "at least 1"),
        HostileRequest("train:unknown-base", train(init_from="ghost"), "NOT_FOUND", "ghost"),
        HostileRequest("job:watch-unknown", lambda c: c.watch_job("no-such-job"), "NOT_FOUND", "no-such-job"),
        HostileRequest("job:cancel-unknown", lambda c: c.cancel_job("../../jobs/x"), "NOT_FOUND", "unknown job"),
    ]
    for k, bad in enumerate(traversal):
        reqs += [
            HostileRequest(f"traversal:track-shot#{k}", track(pb.TrackSettings(shot_id=bad)), "INVALID_ARGUMENT",
                           "invalid shot id"),
            HostileRequest(f"traversal:manipulate-actor#{k}", manipulate(actor_id=bad), "INVALID_ARGUMENT",
                           "invalid actor id"),
            HostileRequest(f"traversal:style-shot#{k}", style(shot_id=bad), "INVALID_ARGUMENT", "invalid shot id"),
            HostileRequest(f"traversal:train-actor#{k}", train(actor_id=bad), "INVALID_ARGUMENT", "invalid actor id"),
            HostileRequest(f"traversal:train-shot#{k}", train(shot_ids=[bad]), "INVALID_ARGUMENT", "invalid shot id"),
            HostileRequest(f"traversal:train-base#{k}", train(init_from=bad), "INVALID_ARGUMENT", "invalid actor id"),
        ]
    return reqs


# ---------------------------------------------------------------------- random mutation (fuzzing)
MUTATIONS = ("flip", "set", "cut", "insert", "delete", "splice")


def mutate(data: bytes, mutations: Sequence[tuple[str, float, int, int]], donor: bytes = b"") -> bytes:
    """Apply (kind, where in [0, 1], value 0-255, length) edits: a bit flip, a byte set, a cut, an
    insertion, a deletion, or a splice of ``donor`` bytes (a block of another file)."""
    out = bytearray(data)
    for kind, where, value, length in mutations:
        at = min(int(where * len(out)), max(len(out) - 1, 0))
        if kind == "flip" and out:
            out[at] ^= 1 << (value % 8)
        elif kind == "set" and out:
            out[at] = value
        elif kind == "cut":
            del out[at:]
        elif kind == "insert":
            out[at:at] = bytes([value]) * length
        elif kind == "delete":
            del out[at:at + length]
        elif kind == "splice" and donor:
            start = value % len(donor)
            out[at:at + length] = donor[start:start + length]
    return bytes(out)


def random_mutations(rng: np.random.Generator, most: int = 4) -> list[tuple[str, float, int, int]]:
    return [(str(rng.choice(MUTATIONS)), float(rng.random()), int(rng.integers(0, 256)), int(rng.integers(1, 65)))
            for _ in range(int(rng.integers(1, most + 1)))]
