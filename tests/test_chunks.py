"""Frames survive chunking whatever their size, and every kind of broken chunk stream is refused."""

from __future__ import annotations

import os

import pytest

from ned_plugin.chunks import MAX_CHUNK_BYTES, ChunkError, FrameAssembler, crc32, reassemble, split_frame
from ned_plugin.wire import pb


@pytest.mark.parametrize("size", [0, 1, 1000, MAX_CHUNK_BYTES - 1, MAX_CHUNK_BYTES, MAX_CHUNK_BYTES + 1,
                                  3 * MAX_CHUNK_BYTES + 17])
def test_round_trip_any_size(size: int) -> None:
    data = os.urandom(size)
    chunks = list(split_frame(1001, data))
    assert all(len(c.data) <= MAX_CHUNK_BYTES for c in chunks)
    assert len(chunks) == max(1, -(-size // MAX_CHUNK_BYTES))
    assert list(reassemble(chunks)) == [(1001, data)]


def test_several_frames_in_order() -> None:
    frames = [(n, os.urandom(5000 + n)) for n in (1001, 1002, 1005)]
    chunks = [c for n, d in frames for c in split_frame(n, d, chunk_bytes=1024)]
    assert list(reassemble(chunks)) == frames


def _chunks(n: int = 3) -> list[pb.FrameChunk]:
    return list(split_frame(7, os.urandom(1024 * n), chunk_bytes=1024))


def test_missing_chunk_zero() -> None:
    with pytest.raises(ChunkError, match="frame 7: starts at chunk 1"):
        list(reassemble(_chunks()[1:]))


def test_missing_middle_chunk() -> None:
    c = _chunks()
    with pytest.raises(ChunkError, match="out of order"):
        list(reassemble([c[0], c[2]]))


def test_repeated_chunk() -> None:
    c = _chunks()
    with pytest.raises(ChunkError, match="repeated"):
        list(reassemble([c[0], c[1], c[1], c[2]]))


def test_truncated_stream() -> None:
    with pytest.raises(ChunkError, match="stream ended after 2 of 3"):
        list(reassemble(_chunks()[:2]))


def test_checksum_mismatch() -> None:
    c = _chunks()
    c[1].data = bytes([c[1].data[0] ^ 1]) + c[1].data[1:]
    with pytest.raises(ChunkError, match="checksum mismatch"):
        list(reassemble(c))


def test_frame_sent_twice() -> None:
    c = _chunks(1)
    with pytest.raises(ChunkError, match="sent twice"):
        list(reassemble(c + c))


def test_interleaved_frames() -> None:
    a = list(split_frame(1, os.urandom(3000), 1024))
    b = list(split_frame(2, os.urandom(3000), 1024))
    with pytest.raises(ChunkError, match="frame 1: incomplete"):
        list(reassemble([a[0], b[0]]))


def test_oversized_chunk_and_frame() -> None:
    big = pb.FrameChunk(frame=1, index=0, count=1, total_size=MAX_CHUNK_BYTES + 1,
                        data=b"x" * (MAX_CHUNK_BYTES + 1))
    with pytest.raises(ChunkError, match="limit"):
        FrameAssembler().add(big)
    huge = pb.FrameChunk(frame=1, index=0, count=3000, total_size=3 << 30, data=b"x")
    with pytest.raises(ChunkError, match="larger than"):
        FrameAssembler().add(huge)


def test_inconsistent_headers() -> None:
    c = _chunks()
    c[1].total_size += 1
    with pytest.raises(ChunkError, match="disagrees"):
        list(reassemble(c))
    bad = pb.FrameChunk(frame=1, index=0, count=5, total_size=3, data=b"abc")
    with pytest.raises(ChunkError, match="cannot hold"):
        FrameAssembler().add(bad)


def test_checksum_is_zlibs_crc32() -> None:
    """The wire promises zlib's CRC-32; the fast implementation must agree with it bit for bit."""
    import zlib

    for size in (0, 1, 1000, (1 << 20) + 7):
        data = os.urandom(size)
        assert crc32(data) == zlib.crc32(data) & 0xFFFFFFFF
        assert crc32(memoryview(data)) == crc32(data)


def test_checksum_without_the_fast_wheel() -> None:
    """A host Python without zlib-ng (an old Nuke, Blender's bundled Python) falls back to zlib."""
    import subprocess
    import sys

    code = ("import sys, zlib; sys.modules['zlib_ng'] = None; "
            "from ned_plugin.chunks import crc32; d = bytes(range(256)) * 999; "
            "assert crc32(d) == zlib.crc32(d), 'mismatch'; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
