"""A fake NED server for the host-node tests: canned but well-formed answers over real gRPC.

The real server's Track and Manipulate stages are still being built; the nodes only need the wire
contract, so this servicer speaks it faithfully: GetInfo with emotions and parameters, Track with
progress, per-frame tracks and a summary, Manipulate streaming a PlateHeader and the chunks of a
real small EXR face plate (premultiplied RGBA plus matte.Y, data window cropped to a "face"),
TrainActor progress, and errors (UNAUTHENTICATED, UNAVAILABLE, CANCELLED, NOT_FOUND...) on demand.
Each plate's red channel encodes its frame number (frame % 100 / 100), so tests can tell plates apart.
It records what the client sent, so tests can assert the requests too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field

import grpc
import numpy as np

from ned_plugin.chunks import FrameAssembler, split_frame
from ned_plugin.exr import Frame, Window, decode_exr, encode_exr
from ned_plugin.wire import API, pb, rpc

COLOUR_SPACES = ("ACEScg", "Linear Rec.709 (sRGB)", "sRGB Encoded Rec.709 (sRGB)", "Raw")
EMOTIONS = ("neutral", "angry", "disgusted", "fear", "happy", "sad", "surprised")
PARAMETERS = (
    pb.ParameterInfo(name="emotion", choices=EMOTIONS, default_choice="happy", description="target emotion"),
    pb.ParameterInfo(name="intensity", minimum=0, maximum=2, default_value=1, animatable=True,
                     description="0 own style, 1 target"),
    pb.ParameterInfo(name="speech_preservation", minimum=0, maximum=1, default_value=0.5, animatable=True),
    pb.ParameterInfo(name="seed", minimum=0, maximum=2**31 - 1, default_value=0),
    pb.ParameterInfo(name="blend_method", choices=("laplacian", "copy", "poisson"), default_choice="laplacian"),
    pb.ParameterInfo(name="blend_levels", minimum=1, maximum=8, default_value=4),
    pb.ParameterInfo(name="matte_erode", minimum=0, maximum=64, default_value=2),
    pb.ParameterInfo(name="matte_feather", minimum=0, maximum=128, default_value=6),
    pb.ParameterInfo(name="preroll", minimum=0, maximum=500, default_value=0),
    pb.ParameterInfo(name="compression", choices=("zip", "piz", "dwaa"), default_choice="zip"),
    pb.ParameterInfo(name="pixel_type", choices=("half", "float"), default_choice="half"),
    pb.ParameterInfo(name="render", choices=("hybrid", "warp", "neural"), default_choice="hybrid"),
    # face sliders (issue 19): two of the server's, enough for the nodes to build and key them
    pb.ParameterInfo(name="slider_smile", minimum=-1, maximum=1, default_value=0, animatable=True, unit="action",
                     description="smile"),
    pb.ParameterInfo(name="slider_gaze_horizontal", minimum=-20, maximum=20, default_value=0, animatable=True,
                     unit="degrees", description="gaze to the image's right"),
    pb.ParameterInfo(name="from_the_future", minimum=0, maximum=1, default_value=0.5),  # unknown to nodes
)


def face_plate(frame: int, display: Window, tracked_value: float | None = None) -> bytes:
    """A premultiplied RGBA + matte.Y plate whose data window is the middle half of the display."""
    w, h = max(2, display.width // 2), max(2, display.height // 2)
    data = Window(display.x + display.width // 4, display.y + display.height // 4, w, h)
    alpha = np.full((h, w), 0.8, np.float32)
    red = (frame % 100) / 100.0 if tracked_value is None else tracked_value
    pixels = np.stack([alpha * red, alpha * 0.5, alpha * 0.25, alpha, np.ones_like(alpha)], axis=-1)
    plate = Frame(pixels.astype(np.float16), ("R", "G", "B", "A", "matte.Y"), data, display)
    return encode_exr(plate, compression="zip", pixel_type="half")


@dataclass
class Recorded:
    track_settings: list[pb.TrackSettings] = field(default_factory=list)
    manipulate_settings: list[pb.ManipulateSettings] = field(default_factory=list)
    frames_sent: dict[str, list[list[int]]] = field(default_factory=dict)
    train_requests: list[pb.TrainActorRequest] = field(default_factory=list)
    cancelled_jobs: list[str] = field(default_factory=list)
    style_requests: int = 0


class FakeNed(rpc.NedServicer):
    def __init__(self, token: str | None = None, actors: tuple[tuple[str, bool], ...] = (("anna", True),),
                 untracked: frozenset[int] = frozenset(), delay_s: float = 0.0) -> None:
        self.token = token
        self.actors = list(actors)
        self.untracked = set(untracked)
        self.delay_s = delay_s  # per frame, so a test can cancel mid-stream
        self.qc_speech = 0.97  # the speech preservation the closing QC report states
        self.honour_output_frames = True  # False: an older server that returns every frame of the range
        self.fail: dict[str, tuple[grpc.StatusCode, str]] = {}  # RPC name -> status to answer with
        self.shots: dict[str, dict[int, Window]] = {}
        self.recorded = Recorded()
        self.started = threading.Event()  # set when a streaming call starts producing
        self.stream_cancelled = threading.Event()
        # Several faces for the Track summary (a face picker test); None: one face, the whole shot.
        self.faces: list[pb.FaceInfo] | None = None

    # ------------------------------------------------------------------ helpers
    def _check(self, name: str, context: grpc.ServicerContext) -> None:
        if self.token is not None:
            sent = dict(context.invocation_metadata()).get("authorization", "")
            if sent != f"Bearer {self.token}":
                context.abort(grpc.StatusCode.UNAUTHENTICATED,
                              "the token is wrong: set the NED server token in the node or NED_TOKEN")
        if name in self.fail:
            code, text = self.fail[name]
            context.abort(code, text)

    def _receive(self, name: str, requests: Iterator) -> tuple[object, dict[int, Window]]:
        first = next(requests)
        settings = first.settings
        assembler = FrameAssembler()
        frames: dict[int, Window] = {}
        for message in requests:
            done = assembler.add(message.chunk)
            if done is not None:
                frames[done[0]] = decode_exr(done[1], label=f"frame {done[0]}").display_window
        assembler.finish()
        self.recorded.frames_sent.setdefault(name, []).append(sorted(frames))
        return settings, frames

    def _pause(self, context: grpc.ServicerContext) -> None:
        if self.delay_s:
            end = time.monotonic() + self.delay_s
            while time.monotonic() < end:
                if not context.is_active():
                    self.stream_cancelled.set()
                    return
                time.sleep(0.01)

    # ------------------------------------------------------------------ RPCs
    def GetInfo(self, request, context):  # type: ignore[no-untyped-def]
        self._check("GetInfo", context)
        info = pb.ServerInfo(version="0.0-fake", api=API, device="cpu", emotions=EMOTIONS,
                             parameters=PARAMETERS, max_chunk_bytes=1 << 20, colour_spaces=COLOUR_SPACES,
                             default_colour=pb.ColourSettings(config="ocio://default",
                                                              input_space="Linear Rec.709 (sRGB)"))
        for actor, ready in self.actors:
            info.actors.add(actor_id=actor, ready=ready)
        for name in ("GetInfo", "Track", "Manipulate", "TrainActor"):
            info.rpcs.add(name=name, available=True)
        return info

    def Track(self, requests, context):  # type: ignore[no-untyped-def]
        self._check("Track", context)
        settings, frames = self._receive("Track", requests)
        self.recorded.track_settings.append(settings)
        shot_id = settings.shot_id or f"shot-{min(frames) if frames else 0}"
        if not frames and shot_id not in self.shots:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown shot {shot_id!r}: send its frames")
        self.shots.setdefault(shot_id, {}).update(frames)
        numbers = sorted(self.shots[shot_id])
        self.started.set()
        for i, n in enumerate(numbers):
            self._pause(context)
            yield pb.TrackReply(progress=pb.Progress(stage="track", done=i + 1, total=len(numbers)))
            yield pb.TrackReply(frame=pb.FrameTrack(frame=n, tracked=n not in self.untracked, face_id=0,
                                                    note="no face found" if n in self.untracked else ""))
        display = self.shots[shot_id][numbers[0]] if numbers else Window(0, 0, 0, 0)
        tracked = sum(1 for n in numbers if n not in self.untracked)
        summary = pb.TrackSummary(shot_id=shot_id, frame_count=len(numbers), tracked_frames=tracked, face_id=0,
                                  display_window=pb.Window(x=display.x, y=display.y, width=display.width,
                                                           height=display.height))
        if self.faces is not None:
            summary.faces.extend(self.faces)
        else:
            summary.faces.add(face_id=0, frames=tracked, first_frame=numbers[0] if numbers else 0,
                              last_frame=numbers[-1] if numbers else 0)
        yield pb.TrackReply(summary=summary)

    def Manipulate(self, requests, context):  # type: ignore[no-untyped-def]
        self._check("Manipulate", context)
        settings, frames = self._receive("Manipulate", requests)
        self.recorded.manipulate_settings.append(settings)
        if not settings.actor_id or settings.actor_id not in dict(self.actors):
            context.abort(grpc.StatusCode.NOT_FOUND, f"no actor {settings.actor_id!r} on this server")
        if frames:
            self.shots.setdefault(settings.shot_id or "anonymous", {}).update(frames)
            shot = frames
        elif settings.shot_id in self.shots:
            shot = self.shots[settings.shot_id]
        else:
            context.abort(grpc.StatusCode.NOT_FOUND,
                          f"the server has no shot {settings.shot_id!r}: send its frames (track it first)")
        rng = settings.range
        numbers = [n for n in sorted(shot) if not (rng.first or rng.last) or rng.first <= n <= rng.last]
        if settings.output_frames and self.honour_output_frames:  # as the real server: the list's plates only
            numbers = [n for n in numbers if n in set(settings.output_frames)]
        self.started.set()
        for i, n in enumerate(numbers):
            self._pause(context)
            if not context.is_active():
                return
            yield pb.ManipulateReply(progress=pb.Progress(stage="render", done=i, total=len(numbers)))
            disp = shot[n]
            display = pb.Window(x=disp.x, y=disp.y, width=disp.width, height=disp.height)
            if n in self.untracked:
                yield pb.ManipulateReply(plate=pb.PlateHeader(frame=n, tracked=False, note="no face found",
                                                              display_window=display))
                continue
            data = face_plate(n, disp)
            header = pb.PlateHeader(frame=n, tracked=True, display_window=display,
                                    data_window=pb.Window(x=disp.x + disp.width // 4, y=disp.y + disp.height // 4,
                                                          width=max(2, disp.width // 2),
                                                          height=max(2, disp.height // 2)))
            yield pb.ManipulateReply(plate=header)
            for chunk in split_frame(n, data, 700):
                yield pb.ManipulateReply(chunk=chunk)
        yield pb.ManipulateReply(progress=pb.Progress(stage="render", done=len(numbers), total=len(numbers)))
        ok = self.qc_speech >= 0.9
        qc = pb.QcReport(status="pass" if ok else "warn", speech_correlation=self.qc_speech, flicker_ratio=1.0,
                         summary=f"QC {'pass' if ok else 'warn'}: speech {self.qc_speech:.2f}")
        qc.checks.add(name="speech_correlation", value=self.qc_speech, threshold=0.9, passed=ok,
                      message=f"speech preservation {self.qc_speech:.2f} is under 0.9")
        for n in numbers:
            qc.frames.add(frame=n, tracked=n not in self.untracked, jaw_original=0.1, jaw_edited=0.1,
                          mouth_original=0.2, mouth_edited=0.2)
        yield pb.ManipulateReply(summary=pb.ManipulateSummary(shot_id=settings.shot_id, frames=len(numbers),
                                                              qc=qc))

    def ExtractStyle(self, requests, context):  # type: ignore[no-untyped-def]
        self._check("ExtractStyle", context)
        _settings, frames = self._receive("ExtractStyle", requests)
        self.recorded.style_requests += 1
        return pb.ExtractStyleReply(style=[0.25] * 16, windows=max(1, len(frames) - 9),
                                    emotion_similarity={"happy": 0.9})

    def TrainActor(self, request, context):  # type: ignore[no-untyped-def]
        self._check("TrainActor", context)
        self.recorded.train_requests.append(request)
        job = pb.JobInfo(job_id="job-1", kind="train_actor", actor_id=request.actor_id,
                         state=pb.JOB_STATE_RUNNING, total=5)
        self.started.set()
        for i in range(5):
            self._pause(context)
            if not context.is_active():
                return
            job.done = i + 1
            yield pb.JobProgress(job=job, progress=pb.Progress(stage="train", done=i + 1, total=5,
                                                               job_id=job.job_id), losses={"l1": 1.0 / (i + 1)})
        job.state, job.message = pb.JOB_STATE_SUCCEEDED, "done"
        if (request.actor_id, True) not in self.actors:
            self.actors.append((request.actor_id, True))
        yield pb.JobProgress(job=job, progress=pb.Progress(stage="train", done=5, total=5, job_id=job.job_id))

    def CancelJob(self, request, context):  # type: ignore[no-untyped-def]
        self._check("CancelJob", context)
        self.recorded.cancelled_jobs.append(request.job_id)
        return pb.CancelJobReply(job=pb.JobInfo(job_id=request.job_id, state=pb.JOB_STATE_CANCELLED,
                                                message="cancelled"))

    def ListActors(self, request, context):  # type: ignore[no-untyped-def]
        self._check("ListActors", context)
        return pb.ListActorsReply(actors=[pb.ActorInfo(actor_id=a, ready=r) for a, r in self.actors])


@contextmanager
def serve(servicer: FakeNed) -> Iterator[str]:
    """Run the servicer on a free loopback port; yields its address."""
    limit = (1 << 20) + (64 << 10)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                         options=[("grpc.max_receive_message_length", limit),
                                  ("grpc.max_send_message_length", limit)])
    rpc.add_NedServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(0)


def write_plates(folder, first: int, last: int, width: int = 32, height: int = 24, name: str = "plate"):  # type: ignore[no-untyped-def]
    """A tiny scene-linear RGBA EXR sequence folder/name.####.exr; returns its pattern."""
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    window = Window(0, 0, width, height)
    for n in range(first, last + 1):
        pixels = np.zeros((height, width, 4), np.float32)
        pixels[..., 0] = np.linspace(0, 1, width)[None, :]
        pixels[..., 1] = (n % 10) / 10.0
        pixels[..., 3] = 1.0
        data = encode_exr(Frame(pixels.astype(np.float16), ("R", "G", "B", "A"), window, window))
        (folder / f"{name}.{n:04d}.exr").write_bytes(data)
    return str(folder / f"{name}.####.exr")
