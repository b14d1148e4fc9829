"""Frames in, plates out: the input sequence's files, the Manipulate call, and its plates on disk.

Every plate is written atomically (by ``ned_plugin.files``, the project's one writer), so a Read
node refreshing while a render runs never sees half a file. Untracked frames get a transparent plate
so the output sequence has no holes; hosts that ignore EXR data windows (Blender) get plates padded
to the display window.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..client import (
    CallCancelled,
    CancelToken,
    ConnectionSettings,
    NedClient,
    NedClientError,
    ProgressCallback,
    ProgressInfo,
)
from ..exr import Frame, Window, decode_exr, encode_exr
from ..files import write_bytes
from ..parameters import parameter
from ..qc_files import write_report
from ..sequence import expand_pattern
from ..wire import pb
from .messages import HostError

FrameFiles = Sequence[tuple[int, Path]]


def frame_files(pattern: str, first: int, last: int) -> list[tuple[int, Path]]:
    """The files of an image sequence for first..last that exist; a clear error when none do."""
    files = [(n, Path(expand_pattern(pattern, n))) for n in range(first, last + 1)]
    found = [(n, p) for n, p in files if p.is_file()]
    if not found:
        raise HostError(f"no frames of {pattern} exist between {first} and {last} "
                        f"(looked for {files[0][1] if files else pattern})")
    return found


def read_frames(files: FrameFiles, cancel: CancelToken | None = None) -> Iterator[tuple[int, bytes]]:
    for number, path in files:
        if cancel is not None and cancel.cancelled:
            return
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise HostError(f"cannot read frame {number} ({path}): {exc.strerror or exc}") from None
        yield number, data


def empty_plate(display: pb.Window) -> bytes:
    """A transparent 1x1 plate for an untracked frame, so the output sequence has no holes."""
    win = Window(display.x, display.y, max(1, display.width), max(1, display.height))
    pixels = np.zeros((1, 1, 5), np.float16)
    frame = Frame(pixels, ("R", "G", "B", "A", "matte.Y"), Window(win.x, win.y, 1, 1), win,
                  {"ned/tracked": 0})
    return encode_exr(frame, compression="zip", pixel_type="half")


def _full_frame(exr: bytes, label: str, matte_only: bool) -> bytes:
    frame = decode_exr(exr, label=label)
    full = frame.full_frame()
    channels = tuple(frame.channels)
    if matte_only:
        name = "matte.Y" if "matte.Y" in channels else "A"
        matte = full[..., channels.index(name)] if name in channels else np.ones(full.shape[:2], full.dtype)
        full = np.stack([matte, matte, matte, np.ones_like(matte)], axis=-1)
        channels = ("R", "G", "B", "A")
    window = frame.display_window
    out = Frame(full, channels, window, window, dict(frame.metadata), label=label)
    return encode_exr(out, compression="zip", pixel_type="float" if full.dtype == np.float32 else "half")


def uncrop_plate(exr: bytes, label: str = "plate") -> bytes:
    """The plate padded to its display window, for hosts that ignore EXR data windows."""
    return _full_frame(exr, label, matte_only=False)


def matte_image(exr: bytes, label: str = "plate") -> bytes:
    """The plate's matte layer as a full-frame grey RGBA image, for hosts that take masks as images."""
    return _full_frame(exr, label, matte_only=True)


def blank_like(exr: bytes, label: str = "plate") -> bytes:
    """A transparent full-frame image the size of this plate's display window.

    Hosts that play a strip's images one after another (Blender) show it on frames a frame list
    left out, so the strip keeps the shot's timing and those frames show the original.
    """
    window = decode_exr(exr, label=label).display_window
    display = pb.Window(x=window.x, y=window.y, width=window.width, height=window.height)
    return uncrop_plate(empty_plate(display), label)


# ============================================================================ the Manipulate call
@dataclass
class RenderJob:
    connection: ConnectionSettings
    settings: pb.ManipulateSettings
    # Every plate frame available: the range and, where they exist, preroll frames before it.
    frames: list[tuple[int, Path]]
    output: str  # the plates' sequence pattern (####, %04d, $F4 or @)
    # Try the server's cached shot first (settings.shot_id) and send frames only if it is not there.
    use_cache: bool = False
    reference_clip: list[tuple[int, Path]] = field(default_factory=list)
    full_frame: bool = False  # pad plates to the display window (Blender)
    matte_output: str = ""  # also write the matte as a sequence here (Blender)


@dataclass
class RenderResult:
    output: str
    files: list[tuple[int, Path]]
    tracked: int
    untracked: list[tuple[int, str]]
    matte_files: list[tuple[int, Path]] = field(default_factory=list)
    qc: pb.QcReport | None = None  # the server's QC report of the shot (ned_server.composite.qc)
    qc_files: list[Path] = field(default_factory=list)  # where it was written (qc_files.write_report)

    @property
    def qc_warnings(self) -> list[str]:
        """The messages of the QC checks that warn (empty when all pass or there is no report)."""
        return [c.message for c in self.qc.checks if not c.passed] if self.qc is not None else []

    @property
    def speech_warning(self) -> str:
        """The speech-preservation warning, or "" when the edited mouth follows the original's."""
        if self.qc is None:
            return ""
        return next((c.message for c in self.qc.checks if c.name == "speech_correlation" and not c.passed), "")

    @property
    def first(self) -> int:
        return self.files[0][0]

    @property
    def last(self) -> int:
        return self.files[-1][0]

    def summary(self) -> str:
        text = f"{len(self.files)} plates written ({self.tracked} with a face)"
        if self.untracked:
            frames = ", ".join(str(f) for f, _ in self.untracked[:8]) + ("..." if len(self.untracked) > 8 else "")
            text += f"; no face on frame(s) {frames}: {self.untracked[0][1] or 'untracked'}"
        if self.qc is not None:
            text += f"; {self.qc.summary}"
        return text


def _frames_to_send(job: RenderJob) -> list[tuple[int, Path]]:
    rng = job.settings.range
    preroll = job.settings.preroll if job.settings.HasField("preroll") else int(parameter("preroll").default)
    lo = rng.first - max(preroll, 0) if rng.first or rng.last else None
    hi = rng.last if rng.first or rng.last else None
    return [(n, p) for n, p in job.frames if (lo is None or n >= lo) and (hi is None or n <= hi)]


def render_shot(job: RenderJob, on_progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> RenderResult:
    """Manipulate a shot and write its plates (and mattes); raises NedClientError/HostError/OSError.

    All frames of the range are sent (the temporal stages need them); only the frames in
    ``settings.output_frames`` (all when empty) come back and are written.
    """
    cancel = cancel or CancelToken()
    settings = pb.ManipulateSettings()
    settings.CopyFrom(job.settings)
    wanted = set(settings.output_frames)
    with NedClient(job.connection) as client:
        if job.reference_clip:
            if on_progress:
                on_progress(ProgressInfo("style", 0, 1, "reading the reference clip's style"))
            style_settings = pb.ExtractStyleSettings(colour=settings.colour, frame_count=len(job.reference_clip))
            reply = client.extract_style(style_settings, read_frames(job.reference_clip, cancel), cancel)
            settings.emotion.reference_style[:] = list(reply.style)
        sending = _frames_to_send(job)
        attempts = [False, True] if job.use_cache and settings.shot_id else [True]
        for send in attempts:
            if not send:
                settings.frame_count = 0
                frames: Iterable[tuple[int, bytes]] = ()
            else:
                if not sending:
                    raise HostError("there are no input frames to send for the frame range "
                                    f"{settings.range.first}-{settings.range.last}")
                settings.frame_count = len(sending)
                frames = read_frames(sending, cancel)
            result = RenderResult(job.output, [], 0, [])

            def keep_qc(summary: pb.ManipulateSummary, result: RenderResult = result) -> None:
                if summary.HasField("qc"):
                    result.qc = summary.qc

            try:
                for plate in client.manipulate(settings, frames, on_progress, cancel, on_summary=keep_qc):
                    h = plate.header
                    if wanted and h.frame not in wanted:
                        continue  # a server that ignores output_frames: the list still holds
                    out = Path(expand_pattern(job.output, h.frame))
                    if h.tracked:
                        data = uncrop_plate(plate.exr, f"frame {h.frame}") if job.full_frame else plate.exr
                        result.tracked += 1
                    else:
                        data = empty_plate(h.display_window)
                        if job.full_frame:
                            data = uncrop_plate(data, f"frame {h.frame}")
                        result.untracked.append((h.frame, h.note))
                    write_bytes(out, data)
                    result.files.append((h.frame, out))
                    if job.matte_output:
                        mout = Path(expand_pattern(job.matte_output, h.frame))
                        write_bytes(mout, matte_image(data, f"frame {h.frame}"))
                        result.matte_files.append((h.frame, mout))
            except NedClientError as exc:
                # The cache was cleared (server restarted, shot evicted): send the frames after all.
                if not send and exc.code == "NOT_FOUND" and not result.files:
                    continue
                raise
            if cancel.cancelled:
                raise CallCancelled("cancelled: stopped by the artist", "CANCELLED")
            if not result.files:
                raise HostError("the server returned no plates for this frame range")
            if result.qc is not None:
                result.qc_files = write_report(result.qc, job.output, (result.first, result.last))
            return result
    raise AssertionError("unreachable")
