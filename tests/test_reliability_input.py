"""Hostile input through the client: broken plates, chunk streams and requests each get a clear status,
and the server answers the next good request correctly; the frame codec and the chunk reassembly
are fuzzed for a bounded number of examples.

The corpus is generated (tests/hostile.py, shared with tests/bench/soak.py). Where the codec's own
unit tests check a message in detail (tests/test_plugin_exr.py, tests/test_chunks.py) this suite
checks what reaches the client over gRPC instead. The fuzz tests are property tests (hypothesis):
each run is derandomised and bounded by ``NED_FUZZ_EXAMPLES`` (default small, for CI); set it
higher for a longer hunt.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ned_plugin.chunks import ChunkError, FrameAssembler, crc32, reassemble, split_frame
from ned_plugin.client import ConnectionSettings, NedClient, NedClientError
from ned_plugin.exr import RGB, Frame, FrameError, Window, decode_exr
from ned_plugin.wire import pb
from ned_server.synthetic.flame_assets import install_standin_flame
from tests import hostile
from tests.pipeline_assets import synthetic_shot, write_tiny_actor, write_tiny_manipulator

FUZZ_EXAMPLES = int(os.environ.get("NED_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MAX_FRAME_PIXELS = 256 * 256
MAX_SHOT_FRAMES = 16


# ---------------------------------------------------------------------- one server for the module
@pytest.fixture(scope="module")
def shot():
    return synthetic_shot(frames=8, size=96, seed=5)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from ned_server.api.app import NedServer
    from ned_server.config import ServerConfig

    root = tmp_path_factory.mktemp("hostile")
    config = ServerConfig(port=0, store_dir=root / "store", models_dir=root / "models", device="cpu", token=None,
                          shutdown_grace_s=1.0)
    config.limits.max_frame_pixels = MAX_FRAME_PIXELS
    config.limits.max_shot_frames = MAX_SHOT_FRAMES
    # FAN without its weights: a plate that decodes stops at "no landmarker", whatever its pixels show
    # (dlib would look for a face in the noise of a bit-flipped plate and answer either way).
    config.tracking.detection.backend = "fan"
    install_standin_flame(config.models_dir)
    write_tiny_manipulator(config.models_dir)
    write_tiny_actor(config.store_dir, "anna")
    srv = NedServer(config).start()
    yield srv
    srv.stop(grace=1.0)


@pytest.fixture(scope="module")
def client(server):
    with NedClient(ConnectionSettings(address=f"127.0.0.1:{server.port}", deadline_s=30)) as c:
        yield c


def _landmark_settings(shot, **kw) -> pb.TrackSettings:
    s = pb.TrackSettings(**kw)
    for frame, pts in shot.landmarks.items():
        s.landmarks.add(frame=frame, points=pts.reshape(-1).tolist())
    return s


@pytest.fixture(scope="module")
def reference(client, shot):
    """The shot tracked once; every 'next good request' must give this back (a forced re-track may
    differ in the last float bits: torch's CPU kernels do not promise bitwise repeats across threads)."""
    result = client.track(shot.frames, _landmark_settings(shot, shot_id="ref"))
    assert result.summary.tracked_frames == len(shot.frames)
    return np.array([f.expression for f in result.frames])


def _good_request_answers(client, shot, reference) -> None:
    again = client.track((), _landmark_settings(shot, shot_id="ref"))
    assert again.summary.from_cache and again.summary.tracked_frames == len(shot.frames)
    np.testing.assert_allclose(np.array([f.expression for f in again.frames]), reference, atol=1e-5)


def _fresh_track_matches(client, shot, reference) -> None:
    fresh = client.track(shot.frames, _landmark_settings(shot, shot_id="ref", force=True))
    assert not fresh.summary.from_cache
    np.testing.assert_allclose(np.array([f.expression for f in fresh.frames]), reference, atol=1e-5)


# ---------------------------------------------------------------------- the corpus over gRPC
def test_broken_plates_are_refused_naming_the_frame_and_odd_ones_are_taken(client, server, shot, reference,
                                                                           tmp_path: Path):
    marker = tmp_path / "unpickled"
    cases = hostile.broken_plates(seed=1, truncations=6, flipped=4, max_frame_pixels=MAX_FRAME_PIXELS,
                                  max_shot_frames=MAX_SHOT_FRAMES, marker=str(marker))
    assert len(cases) > 60
    seen: dict[str, int] = {}
    for k, case in enumerate(cases):
        shot_id = f"case-{k}"
        with pytest.raises(NedClientError) as err:
            client.track(case.frames, pb.TrackSettings(shot_id=shot_id))
        code, message = err.value.code, str(err.value)
        refused = code == "INVALID_ARGUMENT" and re.search(case.text or hostile.FRAME_LABEL, message)
        accepted = code == "FAILED_PRECONDITION" and "landmark" in message and server.pipeline.store.has_shot(shot_id)
        ok = {hostile.REFUSED: refused, hostile.ACCEPTED: accepted, hostile.EITHER: refused or accepted}
        assert ok[case.verdict], (case.name, code, message)
        if refused:
            assert not server.pipeline.store.has_shot(shot_id), case.name  # nothing of a refused shot is kept
        seen[code] = seen.get(code, 0) + 1
        if k % 4 == 0:
            _good_request_answers(client, shot, reference)
    assert set(seen) == {"INVALID_ARGUMENT", "FAILED_PRECONDITION"}
    assert not marker.exists()  # the pickle plate was treated as bytes, never unpickled
    assert not list((server.config.store_dir / "shots").glob(".incoming-*"))
    _fresh_track_matches(client, shot, reference)


def test_broken_chunk_streams_get_a_status_naming_the_problem(server, client, shot, reference):
    # A raw channel, without the client's own send limit, so the oversized message reaches the server.
    with grpc.insecure_channel(f"127.0.0.1:{server.port}", options=[("grpc.max_send_message_length", -1)]) as ch:
        from ned_plugin.wire import rpc

        stub = rpc.NedStub(ch)
        for case in hostile.broken_streams(max_chunk_bytes=server.config.limits.max_chunk_bytes,
                                           max_frame_bytes=server.config.limits.max_frame_bytes):
            messages = [pb.TrackRequest(settings=pb.TrackSettings(shot_id="stream-case")) if item is None
                        else pb.TrackRequest(chunk=item) for item in case.items]
            with pytest.raises(grpc.RpcError) as err:
                list(stub.Track(iter(messages), timeout=30))
            assert err.value.code().name == case.code, (case.name, err.value.code(), err.value.details())
            assert re.search(case.text, err.value.details(), re.IGNORECASE), (case.name, err.value.details())
            _good_request_answers(client, shot, reference)
    assert not server.pipeline.store.has_shot("stream-case")


def test_broken_requests_get_a_status_naming_the_argument(server, client, shot, reference):
    cases = hostile.broken_requests("ref", "anna", shot.landmarks)
    for case in cases:
        with pytest.raises(NedClientError) as err:
            case.call(client)
        assert err.value.code == case.code, (case.name, err.value.code, str(err.value))
        assert case.text in str(err.value), (case.name, str(err.value))
        _good_request_answers(client, shot, reference)
    assert client.list_jobs() == []  # every bad TrainActor was refused before a job was queued
    assert sorted(p.name for p in server.config.store_dir.iterdir()) == ["actors", "jobs", "shots"]
    assert {p.name for p in (server.config.store_dir / "actors").iterdir()} == {"anna"}
    _fresh_track_matches(client, shot, reference)


# ---------------------------------------------------------------------- fuzzing
def _seeds() -> dict[str, bytes]:
    return {
        "zip": hostile.plate(24, 16, compression="zip"),
        "none": hostile.plate(24, 16, compression="none"),
        "piz": hostile.plate(24, 16, compression="piz"),
        "luminance": hostile.plate(16, 12, channels=("Y",), compression="rle"),
        "overscan": hostile.plate(16, 12, data=Window(-4, -2, 24, 16), compression="zips"),
    }


SEEDS = _seeds()
MUTATION = st.tuples(st.sampled_from(hostile.MUTATIONS), st.floats(0.0, 1.0, allow_nan=False), st.integers(0, 255),
                     st.integers(1, 64))


def _mutate(data: bytes, mutations) -> bytes:  # type: ignore[no-untyped-def]
    return hostile.mutate(data, mutations, donor=SEEDS["piz"])


@FUZZ
@given(seed=st.sampled_from(sorted(SEEDS)), mutations=st.lists(MUTATION, min_size=1, max_size=4))
def test_fuzz_frame_codec_refuses_or_returns_a_sound_frame(seed: str, mutations) -> None:
    data = _mutate(SEEDS[seed], mutations)
    try:
        frame = decode_exr(data, label="frame 7", require=RGB)
    except FrameError as exc:
        assert str(exc).startswith("frame 7: ")
        return
    assert isinstance(frame, Frame)
    dw = frame.data_window
    assert frame.pixels.shape == (dw.height, dw.width, len(frame.channels))
    assert set(RGB) <= set(frame.channels) and np.isfinite(frame.pixels).all()
    assert frame.display_window.width > 0 and frame.display_window.height > 0


@FUZZ
@given(seed=st.sampled_from(sorted(SEEDS)), mutations=st.lists(MUTATION, min_size=1, max_size=3))
def test_fuzz_intake_stores_a_shot_or_refuses_it_with_invalid_argument(tmp_path_factory, seed: str,
                                                                       mutations) -> None:
    from ned_server.errors import InvalidInput
    from ned_server.runtime.intake import receive_shot
    from ned_server.runtime.limits import LimitsConfig
    from ned_server.runtime.store import Store

    store = Store(tmp_path_factory.mktemp("intake"))
    frames = [(1001, SEEDS[seed]), (1002, _mutate(SEEDS[seed], mutations))]
    try:
        shot = receive_shot(store, iter(frames), LimitsConfig(max_frame_pixels=MAX_FRAME_PIXELS))
    except InvalidInput as exc:
        assert re.match(r"frame 100[12]: ", str(exc)), str(exc)
        assert store.list_shots() == []
    else:
        assert shot is not None and store.list_shots() == [shot.shot_id] and shot.frame_numbers == [1001, 1002]
    assert not list((store.root / "shots").glob(".incoming-*"))


CHUNK_EDIT = st.tuples(st.sampled_from(["drop", "repeat", "swap", "index", "count", "total", "crc", "frame",
                                        "data", "truncate"]),
                       st.integers(0, 10**6), st.integers(0, 10**6))


def _edit_stream(chunks: list[pb.FrameChunk], edits) -> list[pb.FrameChunk]:
    out = [pb.FrameChunk.FromString(c.SerializeToString()) for c in chunks]
    for kind, a, b in edits:
        if not out:
            break
        i, j = a % len(out), b % len(out)
        c = out[i]
        if kind == "drop":
            del out[i]
        elif kind == "repeat":
            out.insert(i, pb.FrameChunk.FromString(c.SerializeToString()))
        elif kind == "swap":
            out[i], out[j] = out[j], out[i]
        elif kind == "index":
            c.index = b % 8
        elif kind == "count":
            c.count = b % 8
        elif kind == "total":
            c.total_size = b % 20000
        elif kind == "crc":
            c.crc32 ^= 1 << (b % 32)
        elif kind == "frame":
            c.frame = b % 4
        elif kind == "data" and c.data:
            pos = b % len(c.data)
            c.data = c.data[:pos] + bytes([c.data[pos] ^ (1 + a % 255)]) + c.data[pos + 1:]
        elif kind == "truncate":
            c.data = c.data[: b % (len(c.data) + 1)]
    return out


@FUZZ
@given(sizes=st.lists(st.integers(0, 3000), min_size=1, max_size=3), chunk_bytes=st.integers(1, 1024),
       edits=st.lists(CHUNK_EDIT, max_size=3), payload_seed=st.integers(0, 2**16))
def test_fuzz_chunk_reassembly_never_hands_back_wrong_bytes(sizes, chunk_bytes, edits, payload_seed) -> None:
    rng = np.random.default_rng(payload_seed)
    frames = [(n, rng.bytes(size)) for n, size in enumerate(sizes)]
    chunks = [c for n, data in frames for c in split_frame(n, data, chunk_bytes)]
    stream = _edit_stream(chunks, edits)
    originals = {data for _, data in frames}
    out: list[tuple[int, bytes]] = []
    try:
        for item in reassemble(stream, max_frame_bytes=4000, max_chunk_bytes=1024):
            out.append(item)
    except ChunkError as exc:
        assert str(exc)
    else:
        if stream == chunks:
            assert out == frames  # an untouched stream comes back exactly
    numbers = [n for n, _ in out]
    assert len(set(numbers)) == len(numbers)  # a frame number is delivered at most once
    for _, data in out:
        assert data in originals  # whatever comes out is a frame that was sent, byte for byte


@FUZZ
@given(st.lists(st.builds(pb.FrameChunk, frame=st.integers(-3, 3), index=st.integers(0, 4),
                          count=st.integers(0, 5), total_size=st.integers(0, 64), crc32=st.integers(0, 2**32 - 1),
                          data=st.binary(max_size=40)), max_size=8))
def test_fuzz_arbitrary_chunks_only_yield_frames_matching_their_checksum(chunks) -> None:
    assembler = FrameAssembler(max_frame_bytes=64, max_chunk_bytes=32)
    try:
        for chunk in chunks:
            done = assembler.add(chunk)
            if done is not None:
                number, data = done
                first = next(c for c in chunks if c.frame == number and c.index == 0)
                assert crc32(data) == first.crc32 and len(data) == first.total_size
        assembler.finish()
    except ChunkError:
        pass
