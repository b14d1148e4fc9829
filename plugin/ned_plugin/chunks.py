"""Splitting encoded frames into FrameChunks and putting them back together, with checks.

Both ends of the wire use this: the client to send plates and read face plates back, the server to
receive shots. Reassembly refuses anything that could hand the decoder the wrong bytes (a missing,
repeated or out-of-order chunk, a size or checksum mismatch, an oversized frame) and names the frame
in its message, so a compositor knows which file on disk to look at.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .wire import pb

try:  # the same CRC-32 as zlib's, an order of magnitude faster (vectorised); a 2K plate is 8 MB
    from zlib_ng.zlib_ng import crc32 as _crc32
except ImportError:  # a host Python without the wheel still works, only slower
    from zlib import crc32 as _crc32

MAX_CHUNK_BYTES = 1 << 20  # 1 MiB: well under gRPC's default 4 MiB message limit
DEFAULT_MAX_FRAME_BYTES = 1 << 30  # 1 GiB: far above any real EXR plate, refuses runaway streams


class ChunkError(ValueError):
    """A chunk stream that does not reassemble into the frame it claims to be."""


def crc32(data: bytes | memoryview) -> int:
    return _crc32(data) & 0xFFFFFFFF


def split_frame(frame: int, data: bytes, chunk_bytes: int = MAX_CHUNK_BYTES) -> Iterator[pb.FrameChunk]:
    """Chunks of one encoded frame; a zero-length frame still yields one (empty) chunk."""
    if not 0 < chunk_bytes <= MAX_CHUNK_BYTES:
        raise ValueError(f"chunk size must be 1..{MAX_CHUNK_BYTES} bytes, got {chunk_bytes}")
    view = memoryview(data)
    count = max(1, -(-len(view) // chunk_bytes))
    checksum = crc32(view)
    for index in range(count):
        yield pb.FrameChunk(
            frame=frame,
            index=index,
            count=count,
            total_size=len(view),
            crc32=checksum,
            data=bytes(view[index * chunk_bytes : (index + 1) * chunk_bytes]),
        )


@dataclass
class _Partial:
    frame: int
    count: int
    total_size: int
    crc32: int
    parts: list[bytes] = field(default_factory=list)
    size: int = 0


class FrameAssembler:
    """Feeds on chunks in stream order and returns each frame's bytes once it is complete.

    Frames must arrive one after another (their chunks are not interleaved) and each frame number
    at most once: that is what every sender in this project does, and it lets a broken stream be
    caught at the first bad chunk instead of after buffering a whole shot.
    """

    def __init__(
        self,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        max_chunk_bytes: int = MAX_CHUNK_BYTES,
    ) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.max_chunk_bytes = max_chunk_bytes
        self._partial: _Partial | None = None
        self._seen: set[int] = set()

    @property
    def frames_seen(self) -> int:
        return len(self._seen)

    def add(self, chunk: pb.FrameChunk) -> tuple[int, bytes] | None:
        """Take one chunk; return (frame, data) when it completes a frame, else None."""
        label = f"frame {chunk.frame}"
        data = chunk.data  # each read of a protobuf bytes field is a fresh copy: read it once
        if len(data) > self.max_chunk_bytes:
            raise ChunkError(
                f"{label}: chunk {chunk.index} holds {len(data)} bytes, more than the "
                f"{self.max_chunk_bytes}-byte limit"
            )
        partial = self._partial
        if partial is None:
            if chunk.frame in self._seen:
                raise ChunkError(f"{label}: sent twice")
            if chunk.index != 0:
                raise ChunkError(f"{label}: starts at chunk {chunk.index}, chunk 0 is missing")
            if chunk.count < 1:
                raise ChunkError(f"{label}: chunk count is {chunk.count}")
            if chunk.total_size > self.max_frame_bytes:
                raise ChunkError(
                    f"{label}: {chunk.total_size} bytes is larger than the server's limit of "
                    f"{self.max_frame_bytes} bytes per frame"
                )
            fewest = max(1, -(-chunk.total_size // self.max_chunk_bytes))
            if not fewest <= chunk.count <= max(1, chunk.total_size):
                raise ChunkError(f"{label}: {chunk.count} chunks cannot hold {chunk.total_size} bytes")
            partial = self._partial = _Partial(chunk.frame, chunk.count, chunk.total_size, chunk.crc32)
        else:
            if chunk.frame != partial.frame:
                raise ChunkError(
                    f"frame {partial.frame}: incomplete ({len(partial.parts)} of {partial.count} chunks) "
                    f"when chunks of frame {chunk.frame} arrived"
                )
            expected = len(partial.parts)
            if chunk.index != expected:
                what = "repeated" if chunk.index < expected else "out of order"
                raise ChunkError(f"{label}: chunk {chunk.index} {what}, expected chunk {expected}")
            if (chunk.count, chunk.total_size, chunk.crc32) != (
                partial.count,
                partial.total_size,
                partial.crc32,
            ):
                raise ChunkError(f"{label}: chunk {chunk.index} disagrees with chunk 0 on size or checksum")
        partial.parts.append(data)
        partial.size += len(data)
        if partial.size > partial.total_size:
            raise ChunkError(f"{label}: more bytes than the announced {partial.total_size}")
        if len(partial.parts) < partial.count:
            return None
        self._partial = None
        self._seen.add(partial.frame)
        whole = b"".join(partial.parts)
        if len(whole) != partial.total_size:
            raise ChunkError(f"{label}: got {len(whole)} bytes, expected {partial.total_size} (truncated)")
        if crc32(whole) != partial.crc32:
            raise ChunkError(f"{label}: checksum mismatch, the frame was corrupted in transit")
        return partial.frame, whole

    def add_whole(self, frame: int) -> None:
        """Record a frame that arrived whole by another way (read in place by path), so the same
        checks hold across both: no frame twice, none in the middle of another's chunks."""
        if self._partial is not None:
            p = self._partial
            raise ChunkError(f"frame {p.frame}: incomplete ({len(p.parts)} of {p.count} chunks) when frame "
                             f"{frame} arrived by path")
        if frame in self._seen:
            raise ChunkError(f"frame {frame}: sent twice")
        self._seen.add(frame)

    def finish(self) -> None:
        """Call at the end of a stream: a half-received frame is an error, not a silent drop."""
        if self._partial is not None:
            p = self._partial
            raise ChunkError(f"frame {p.frame}: stream ended after {len(p.parts)} of {p.count} chunks")


def reassemble(chunks: Iterable[pb.FrameChunk], **limits: int) -> Iterator[tuple[int, bytes]]:
    """(frame, bytes) for every complete frame of a chunk stream, checked as FrameAssembler does."""
    assembler = FrameAssembler(**limits)
    for chunk in chunks:
        done = assembler.add(chunk)
        if done is not None:
            yield done
    assembler.finish()
