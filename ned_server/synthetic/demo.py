"""``ned demo``: the whole loop on a fresh machine, on the CPU, with nothing to download.

1. A synthetic actor (``ned_server.synthetic``) is filmed twice: a training shot (talking through
   several emotions) and the shot to edit (talking, neutral). Both are written as scene-linear EXR
   sequences, with the actor's 68 landmarks exported as JSON "from another tracker" (the FAN
   weights cannot be downloaded here; with them on the server, drop ``--landmarks``).
2. ``ned-server`` is started as its own process on a free port, with its own store and models.
3. Through real gRPC, as a pipeline TD would: Track both shots, then TrainActor on the training
   shot (tiny preset; reused when the actor is already trained). While the server trains the
   renderer on one core, this process trains the emotion manipulator (the ``cpu`` preset) on the
   other, on the synthetic expression dataset as the tracker recovers it (or reuses it).
4. Manipulate the shot to two emotions (render = hybrid: the plate warped at full resolution, the
   renderer's face only in the mouth and eyes), writing EXR face plates with their matte, STMap
   and neural layers, and each take's QC report (``shot_<emotion>.qc.json`` and ``.png``: speech
   preservation, tracking, flicker).
5. A contact sheet (original / emotion A / emotion B / A's STMap) is written as PNG, each plate
   merged over its original as a compositor's Merge(over) would.

Everything lands in ``--out`` (default ``demo_out/``); a second run reuses the models and the
server's caches, so it finishes in seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ned_plugin.client import ConnectionSettings, NedClient, progress_info
from ned_plugin.colour import Colour
from ned_plugin.exr import Frame, Window, encode_exr, read_exr
from ned_plugin.host.plates import empty_plate
from ned_plugin.landmarks_io import read_landmarks
from ned_plugin.parameters import parameter
from ned_plugin.qc_files import write_report
from ned_plugin.sequence import expand_pattern, find_sequence
from ned_plugin.wire import pb
from ned_server.domains import emotion_index
from ned_server.manipulator.checkpoint import read_latest, resolve_checkpoint
from ned_server.manipulator.config import preset
from ned_server.manipulator.train import ManipulatorTrainer
from ned_server.synthetic.actor import SyntheticActor
from ned_server.synthetic.config import ActorConfig
from ned_server.synthetic.datasets import synthetic_expression_dataset
from ned_server.synthetic.flame_assets import install_standin_flame

log = logging.getLogger("ned.demo")

EMOTION_TOUR = (("neutral", 30), ("happy", 30), ("sad", 30), ("surprised", 30), ("angry", 30))


@dataclass
class DemoConfig:
    out: Path = Path("demo_out")
    size: int = 256
    shot_frames: int = 40
    actor_seed: int = 11
    emotions: tuple[str, str] = ("happy", "sad")
    renderer_iterations: int = 700
    # The manipulator: the ``cpu`` preset's networks for 8 epochs. On tracked expressions the ``tiny``
    # preset is measured too small (about 0.4 emotion accuracy against 0.6-0.8; tests/bench/manipulator.py).
    manipulator_preset: str = "cpu"
    manipulator_epochs: tuple[int, int] = (6, 2)  # at the full rate, then of linear decay
    # Its training data: clips per emotion of the synthetic emotional dataset, and their length.
    manipulator_clips: int = 6
    manipulator_clip_frames: int = 80
    sheet_frames: int = 4
    # torch CPU threads of the server (--threads); 0: torch's default. The demo's tiny networks run
    # fastest on one (measured: 0.16 s a renderer iteration against 0.22 s on two cores).
    threads: int = 1


def say(text: str) -> None:
    print(f"[demo] {text}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ footage
def write_footage(cfg: DemoConfig) -> dict[str, Path]:
    """The two shots as EXR sequences plus their landmark files; reused when already written."""
    plates = cfg.out / "plates"
    done = plates / "footage.json"
    paths = {name: plates / f"{name}.####.exr" for name in ("train", "shot")}
    stamp = {"size": cfg.size, "seed": cfg.actor_seed, "frames": cfg.shot_frames, "tour": EMOTION_TOUR}
    if done.is_file() and json.loads(done.read_text()) == json.loads(json.dumps(stamp)):
        return paths
    say("filming the synthetic actor (training shot and the shot to edit)")
    actor = SyntheticActor(cfg.actor_seed, ActorConfig(width=cfg.size, height=cfg.size))
    colour = Colour()
    clips = {"train": actor.render_sequence(sum(n for _, n in EMOTION_TOUR), list(EMOTION_TOUR), seed=1),
             "shot": actor.render_sequence(cfg.shot_frames, "neutral", seed=2)}
    plates.mkdir(parents=True, exist_ok=True)
    for name, clip in clips.items():
        landmarks = {}
        for i, srgb in enumerate(clip.frames):
            number = 1001 + i
            linear = colour.from_network(srgb)
            rgba = np.concatenate([linear, np.ones((*linear.shape[:2], 1), np.float32)], -1).astype(np.float16)
            window = Window(0, 0, cfg.size, cfg.size)
            data = encode_exr(Frame(rgba, ("R", "G", "B", "A"), window, window), compression="zip")
            (plates / f"{name}.{number:04d}.exr").write_bytes(data)
            landmarks[str(number)] = clip.landmarks[i].round(3).tolist()
        (plates / f"{name}_landmarks.json").write_text(json.dumps(landmarks))
    done.write_text(json.dumps(stamp))
    return paths


# ------------------------------------------------------------------ models
def ensure_manipulator(cfg: DemoConfig) -> Path:
    folder = cfg.out / "models" / "manipulator"
    config = preset(cfg.manipulator_preset, epochs=cfg.manipulator_epochs[0], decay_epochs=cfg.manipulator_epochs[1])
    latest = read_latest(folder) if folder.is_dir() else None
    if latest is not None and int(latest.get("epoch", 0)) >= config.total_epochs:
        return resolve_checkpoint(folder)
    # Trained on expressions as the tracker recovers them, the domain Manipulate will feed it (see
    # synthetic.tracked): a manipulator trained on ground-truth coefficients misreads tracked ones.
    threads = torch.get_num_threads()
    # One thread: these small fits and LSTMs run fastest so, and the server trains on the other core.
    torch.set_num_threads(1)
    try:
        say("tracking the synthetic emotional dataset for the manipulator (landmarks only, no rendering)")
        t = time.perf_counter()
        data = synthetic_expression_dataset(cfg.manipulator_clips, cfg.manipulator_clip_frames, seed=1,
                                           num_actors=4, tracked=True)
        say(f"  {len(data.clips)} clips tracked in {time.perf_counter() - t:.0f} s")
        trainer = ManipulatorTrainer(config, data, folder, resume=True)
        say(f"training a {cfg.manipulator_preset} emotion manipulator ({trainer.total_iterations} iterations)")
        t = time.perf_counter()
        result = trainer.train()  # resumes a run a kill interrupted; returns at once when it is complete
    finally:
        torch.set_num_threads(threads)
    if time.perf_counter() - t > 1:
        say(f"manipulator trained: {result.iterations} iterations in {time.perf_counter() - t:.0f} s")
    return resolve_checkpoint(folder)


# ------------------------------------------------------------------ server
class ServerProcess:
    """``ned-server`` in its own process on a free loopback port, stopped with SIGTERM."""

    def __init__(self, cfg: DemoConfig) -> None:
        env = {**os.environ, "NED_DEVICE": os.environ.get("NED_DEVICE", "cpu")}
        self.log_path = cfg.out / "server.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        install_standin_flame(cfg.out / "models")  # the server loads FLAME from its models folder
        command = [sys.executable, "-m", "ned_server.api.cli", "--port", "0", "--store", str(cfg.out / "store"),
                   "--models", str(cfg.out / "models")]
        if cfg.threads:
            command += ["--threads", str(cfg.threads)]
        self.proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=self._log, text=True, env=env)
        self._address = ""

    @property
    def address(self) -> str:
        """Where it listens, once it says so: the process starts while the caller does other work."""
        if not self._address:
            self._address = self._wait_listening()
        return self._address

    def _wait_listening(self, timeout: float = 120.0) -> str:
        deadline = time.monotonic() + timeout
        assert self.proc.stderr is not None
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"ned-server exited with {self.proc.returncode}; see {self.log_path}")
                continue
            self._log.write(line)
            self._log.flush()
            m = re.search(r"listening on (\S+):(\d+)", line)
            if m:
                threading.Thread(target=self._pump, daemon=True).start()
                return f"127.0.0.1:{m.group(2)}"
        raise RuntimeError(f"ned-server did not start within {timeout:.0f} s; see {self.log_path}")

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._log.write(line)
            self._log.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()


# ------------------------------------------------------------------ the loop
def run(cfg: DemoConfig) -> dict[str, object]:
    for emotion in cfg.emotions:  # before minutes of training, not after
        try:
            emotion_index(emotion)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
    t0 = time.perf_counter()
    cfg.out.mkdir(parents=True, exist_ok=True)
    # The server comes first: it imports torch and sets up while the footage is filmed here, then
    # trains the actor's renderer (on one core) while this process trains the manipulator (on the
    # other); the server loads the manipulator only when Manipulate needs it.
    say("starting ned-server")
    server = ServerProcess(cfg)
    timings: dict[str, float] = {}
    try:
        t = time.perf_counter()
        footage = write_footage(cfg)
        timings["film_s"] = time.perf_counter() - t
        with NedClient(ConnectionSettings(address=server.address, deadline_s=60)) as client:
            info = client.info()
            say(f"server {info.version} on {info.device} at {server.address}")
            shot_ids = {}
            for name, pattern in footage.items():
                t = time.perf_counter()
                seq = find_sequence(str(pattern))
                settings = pb.TrackSettings(shot_id=f"demo-{name}", frame_count=len(seq))
                for number, points in read_landmarks(pattern.parent / f"{name}_landmarks.json").items():
                    settings.landmarks.add(frame=number, points=points.reshape(-1).tolist())
                frames = ((n, Path(p).read_bytes()) for n, p in seq)
                result = client.track(frames, settings)
                s = result.summary
                shot_ids[name] = s.shot_id
                timings[f"track_{name}_s"] = time.perf_counter() - t
                say(f"tracked {s.shot_id}: {s.tracked_frames}/{s.frame_count} frames"
                    f"{' (cached)' if s.from_cache else ''} in {timings[f'track_{name}_s']:.1f} s")

            actor = f"demo-actor-{cfg.actor_seed}"
            ready = any(a.actor_id == actor and a.ready for a in client.list_actors())
            t = time.perf_counter()
            renderer = None
            if not ready:
                say(f"training the renderer of {actor} on the server ({cfg.renderer_iterations} iterations, tiny)")
                request = pb.TrainActorRequest(actor_id=actor, shot_ids=[shot_ids["train"]], preset="tiny",
                                               iterations=cfg.renderer_iterations, resume=True)
                pool = ThreadPoolExecutor(1, thread_name_prefix="ned-demo-renderer")
                renderer = pool.submit(client.train_actor, request, _every(10.0, "renderer"))
                pool.shutdown(wait=False)  # the job runs on; nothing else will be submitted
            ensure_manipulator(cfg)
            if renderer is not None:
                job = renderer.result()
                if job.state != pb.JOB_STATE_SUCCEEDED:
                    raise RuntimeError(f"actor training ended {pb.JobState.Name(job.state)}: {job.message}")
                say(f"renderer trained in {time.perf_counter() - t:.0f} s")
            timings["train_models_s"] = time.perf_counter() - t

            outputs: dict[str, Path] = {}
            qc_files: dict[str, Path] = {}
            for emotion in cfg.emotions:
                t = time.perf_counter()
                settings = pb.ManipulateSettings(shot_id=shot_ids["shot"], actor_id=actor, render="hybrid",
                                                 emotion=pb.EmotionControl(emotion=emotion, intensity=1.0))
                out = cfg.out / emotion / f"shot_{emotion}.####.exr"
                out.parent.mkdir(parents=True, exist_ok=True)
                count = 0
                summaries: list[pb.ManipulateSummary] = []
                for plate in client.manipulate(settings, on_summary=summaries.append):
                    Path(expand_pattern(str(out), plate.header.frame)).write_bytes(
                        plate.exr or _empty(plate.header))
                    count += 1
                timings[f"manipulate_{emotion}_s"] = time.perf_counter() - t
                outputs[emotion] = out
                if summaries and summaries[-1].HasField("qc"):
                    qc_files[emotion] = write_report(summaries[-1].qc, str(out))[0]
                    say(f"{emotion}: {summaries[-1].qc.summary}")
                say(f"{emotion}: {count} face plates -> {out.parent} in {timings[f'manipulate_{emotion}_s']:.1f} s")
    finally:
        server.stop()
    sheet = contact_sheet(cfg, footage["shot"], outputs)
    timings["total_s"] = time.perf_counter() - t0
    say(f"contact sheet: {sheet}")
    say(f"done in {timings['total_s']:.0f} s (speech preservation default "
        f"{parameter('speech_preservation').default:g})")
    summary: dict[str, object] = {"outputs": {k: str(v) for k, v in outputs.items()}, "sheet": str(sheet),
                                  "timings": timings, "qc": {k: str(v) for k, v in qc_files.items()}}
    (cfg.out / "demo.json").write_text(json.dumps(summary, indent=1))
    return summary


def _every(seconds: float, label: str) -> Callable[[Any], None]:
    """A progress callback that says where a job is at most once per ``seconds``."""
    last = [0.0]

    def show(update: Any) -> None:
        if update.progress.total and time.perf_counter() - last[0] > seconds:
            last[0] = time.perf_counter()
            p = progress_info(update.progress)
            eta = f", about {p.eta_seconds:.0f} s left" if p.eta_seconds > 0 else ""
            say(f"  {label}: {p.message or f'{p.done}/{p.total}'}{eta}")

    return show


def _empty(header) -> bytes:
    return empty_plate(header.display_window)


def stmap_image(plate: Frame, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) picture of a plate's STMap: (u, v, 0) with the identity map outside its data window,
    so the warp shows as a bend in an otherwise smooth gradient."""
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([(xs + 0.5) / w, 1.0 - (ys + 0.5) / h, np.zeros_like(xs)], axis=-1)
    if "stmap" in plate.layers():
        full = plate.full_frame().astype(np.float32)
        dw, disp = plate.data_window, plate.display_window
        x0, y0 = dw.x - disp.x, dw.y - disp.y
        uv = full[y0:y0 + dw.height, x0:x0 + dw.width][..., [plate.channels.index("stmap.R"),
                                                           plate.channels.index("stmap.G")]]
        img[y0:y0 + dw.height, x0:x0 + dw.width, :2] = uv
    return img


def contact_sheet(cfg: DemoConfig, shot: Path, outputs: dict[str, Path]) -> Path:
    """Rows of frames: original | each emotion (plate over original), in display sRGB | the first
    emotion's STMap (u, v as red, green), as PNG."""
    colour = Colour()
    numbers = [n for n, _ in find_sequence(str(shot))]
    picks = [numbers[round(k)] for k in np.linspace(0, len(numbers) - 1, cfg.sheet_frames + 2)[1:-1]]
    rows = []
    for n in picks:
        original = read_exr(expand_pattern(str(shot), n)).full_frame()[..., :3].astype(np.float32)
        cells = [original]
        stmap = None
        for emotion in cfg.emotions:
            plate = read_exr(expand_pattern(str(outputs[emotion]), n))
            full = plate.full_frame().astype(np.float32)
            alpha = full[..., 3:4]
            cells.append(full[..., :3] + original * (1.0 - alpha))
            if stmap is None:
                stmap = stmap_image(plate, original.shape[:2])
        rows.append(np.concatenate([*(colour.to_network(c) for c in cells), stmap], axis=1))
    sheet = (np.concatenate(rows, axis=0) * 255 + 0.5).clip(0, 255).astype(np.uint8)
    header = np.full((28, sheet.shape[1], 3), 255, np.uint8)
    for k, label in enumerate(("original", *cfg.emotions, f"STMap ({cfg.emotions[0]})")):
        cv2.putText(header, label, (k * cfg.size + 6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    path = cfg.out / "contact_sheet.png"
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate([header, sheet]), cv2.COLOR_RGB2BGR))
    return path


def demo_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="ned demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=DemoConfig.out, help="output folder (default demo_out/)")
    p.add_argument("--emotions", default="happy,sad", help="the two target emotions (default happy,sad)")
    p.add_argument("--frames", type=int, default=DemoConfig.shot_frames, help="frames of the edited shot")
    p.add_argument("--size", type=int, default=DemoConfig.size, help="plate width and height in pixels")
    p.add_argument("--renderer-iterations", type=int, default=DemoConfig.renderer_iterations)
    p.add_argument("--seed", type=int, default=DemoConfig.actor_seed, help="synthetic actor identity")
    p.add_argument("--threads", type=int, default=DemoConfig.threads,
                   help="torch CPU threads of the server (default 1: fastest for the tiny models; 0: torch's)")
    args = p.parse_args(argv)
    emotions = tuple(e.strip() for e in args.emotions.split(",") if e.strip())
    if len(emotions) != 2:
        p.error("--emotions takes two emotions, e.g. happy,sad")
    logging.basicConfig(level=logging.WARNING)
    cfg = DemoConfig(out=args.out, size=args.size, shot_frames=args.frames, actor_seed=args.seed,
                     emotions=emotions, renderer_iterations=args.renderer_iterations,
                     threads=args.threads)
    try:
        run(cfg)
    except Exception as exc:
        log.debug("demo failed", exc_info=True)
        print(f"ned demo: {exc}", file=sys.stderr)
        return 1
    return 0
