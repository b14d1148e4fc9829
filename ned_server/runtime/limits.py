"""The server's resource bounds: what intake, streaming and the device queue refuse past."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LimitsConfig:
    """Bounds that keep one bad or greedy client from taking the server down."""

    max_chunk_bytes: int = 1 << 20
    max_frame_bytes: int = 1 << 30
    max_frame_pixels: int = 16384 * 16384
    max_shot_frames: int = 20000
    # Requests that need the device run `device_slots` at a time; up to `max_waiting` more wait in
    # FIFO order, and only past that does the server answer RESOURCE_EXHAUSTED.
    device_slots: int = 1
    max_waiting: int = 32
    retry_after_s: float = 5.0
    # A client whose stream stalls this long is dropped so its resources are freed.
    stream_idle_timeout_s: float = 120.0
    # A long stream with nothing to report (queued for the device, a slow stage) sends a heartbeat
    # this often, so that clients can bound the idle time between messages and tell busy from frozen.
    heartbeat_s: float = 5.0
