"""Training an actor's renderer on the server: the TrainActor job, from tracked shots to renderer.pth.

The job outlives the RPC that started it (hours on a GPU), so it runs in the JobManager and writes
everything under the actor's folder in the store:

    actors/<id>/actor.json        what the actor is: ready, preset, iterations, shots, base
    actors/<id>/data/*.npz        the aligned training clips made from its tracked shots
    actors/<id>/training/         RendererTrainer's run: latest.pth, renderer.pth, curves, samples

The clips are made once (the plates are read, aligned and conditioned) and reused when the job
resumes after a restart; a shot's clips count as made only once its ``data/<shot>.r<res>.json``
lists them, so a kill between two clips makes them again instead of training on part of the shot.
The trainer itself resumes from latest.pth, so a killed server loses at most one checkpoint
interval. A request is checked before the job is queued (ids, shots tracked,
preset, the base actor), so a mistake is an error on the call rather than a failed job later.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ned_server.errors import InvalidInput, NotFound, Precondition
from ned_server.orchestration.models import META_RENDERER, Models, actor_renderer_path
from ned_server.orchestration.shot_tracking import cached_track
from ned_server.renderer import checkpoint as ckpt_io
from ned_server.renderer import official
from ned_server.renderer.checkpoint import RendererCheckpointError
from ned_server.renderer.config import PRESETS, TrainConfig, preset
from ned_server.renderer.dataset import ActorClip, load_clip, save_clip
from ned_server.renderer.shot_data import actor_clips_from_shot
from ned_server.renderer.train import RendererTrainer, TrainProgress, default_iterations
from ned_server.runtime.intake import Shot
from ned_server.runtime.jobs import JobContext, JobFactory, JobFunction
from ned_server.runtime.shot_frames import ShotColour, network_frames
from ned_server.runtime.store import Store, check_id, read_json, write_json

log = logging.getLogger(__name__)

JOB_KIND = "train_actor"
MIN_CLIP_FRAMES_EXTRA = 1  # a clip must hold at least one training sequence plus this


@dataclass
class TrainActorParams:
    """A TrainActor request in plain values (also what the job record stores, so a restart can resume)."""

    actor_id: str
    shot_ids: list[str]
    preset: str = "paper"
    iterations: int | None = None
    init_from: str = ""
    resume: bool = False
    face_id: int | None = None
    colour_config: str = ""
    input_space: str = ""
    checkpoint_every: int | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainActorParams:
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})


def actor_meta_path(store: Store, actor_id: str) -> Path:
    return store.actor_dir(actor_id) / "actor.json"


def update_actor(store: Store, actor_id: str, **fields: Any) -> dict[str, Any]:
    path = actor_meta_path(store, actor_id)
    meta = read_json(path) if path.is_file() else {"actor_id": actor_id, "ready": False}
    meta.update(fields, updated=time.time())
    write_json(path, meta)
    return meta


def check_request(store: Store, models: Models, p: TrainActorParams) -> None:
    """Refuse what cannot train before a job is queued (the message says what to change)."""
    check_id("actor", p.actor_id)
    if p.actor_id == META_RENDERER:
        raise InvalidInput(f"{META_RENDERER!r} names the released meta-renderer (init_from); use another actor id")
    if not p.shot_ids:
        raise InvalidInput("TrainActor needs at least one tracked shot of the actor (shot_ids)")
    if p.preset not in PRESETS:
        raise InvalidInput(f"unknown renderer preset {p.preset!r}: use one of {', '.join(PRESETS)}")
    if p.iterations is not None and p.iterations < 1:
        raise InvalidInput(f"iterations must be at least 1, got {p.iterations}")
    for shot_id in p.shot_ids:
        store.require_shot(shot_id)
        shot = Shot.load(store.shot_dir(shot_id))
        if cached_track(store, models, shot, p.face_id) is None:
            raise Precondition(f"shot {shot_id!r} is not tracked yet{_face(p.face_id)}: run Track on it first")
    if p.init_from:
        base_renderer(store, models, p.init_from)
    training = store.actor_dir(p.actor_id) / "training"
    if any(training.glob("*_net_G.pth")) and not (training / "latest.pth").is_file():
        raise InvalidInput(f"actor {p.actor_id!r} holds an imported renderer: fine-tune it into a new actor "
                           f"(actor_id another id, init_from {p.actor_id!r})")
    if (training / "latest.pth").is_file() and not p.resume:
        raise InvalidInput(f"actor {p.actor_id!r} already has a training run: set resume to continue it, or "
                           "train under another actor id")


def base_renderer(store: Store, models: Models, init_from: str) -> Path:
    """The renderer a TrainActor fine-tunes: an actor's, or the released meta-renderer for
    ``init_from`` = "meta-renderer" (models/renderer/meta_renderer/, see the manifest)."""
    if init_from == META_RENDERER:
        return models.meta_renderer_source()
    base = actor_renderer_path(store, check_id("actor", init_from))
    if not base.is_file():
        raise NotFound(f"cannot fine-tune from {init_from!r}: that actor has no trained renderer")
    return base


def import_official_actor(store: Store, actor_id: str, source: str | Path, epoch: int | str | None = None,
                          overwrite: bool = False) -> dict[str, Any]:
    """Register an official NED renderer (a released actor's checkpoints folder, or its
    ``<epoch>_net_G.pth``) as an actor that renders as it is and fine-tunes like a trained one.

    The files are checked (layout, tensors only) and then placed unchanged (hard-linked when the
    store is on the same file system, else copied) in the actor's training folder, where the model
    registry and TrainActor's init_from find them (``models.actor_renderer_path``); they stay files
    NED's own scripts read. Returns the actor record.
    """
    check_id("actor", actor_id)
    if actor_id == META_RENDERER:
        raise InvalidInput(f"{META_RENDERER!r} is reserved for the models folder's meta-renderer")
    training = store.actor_dir(actor_id) / "training"
    if not overwrite and (actor_meta_path(store, actor_id).is_file() or training.exists()):
        raise InvalidInput(f"actor {actor_id!r} already exists: import under another id, or replace it")
    try:
        files = official.find(source, epoch)
        ckpt = official.load_official(files.generator)  # reads and checks all three files
    except RendererCheckpointError as exc:
        raise InvalidInput(str(exc)) from None
    if overwrite and training.exists():
        shutil.rmtree(training)
    training.mkdir(parents=True, exist_ok=True)
    for file in (files.generator, files.image_d, files.mouth_d):
        if file is None:
            continue
        target = training / file.name
        try:
            os.link(file, target)
        except OSError:  # another file system, or no hard links there
            shutil.copy2(file, target)
    cfg = ckpt["config"]
    return update_actor(store, actor_id, ready=True, preset=cfg["preset"], resolution=cfg["resolution"],
                        iterations=0, shot_ids=[], base=ckpt["base"],
                        message=f"imported from the official NED renderer {files.generator}")


def _face(face_id: int | None) -> str:
    return "" if face_id is None else f" for face {face_id}"


def training_clips(store: Store, models: Models, p: TrainActorParams, colour: ShotColour, resolution: int,
                   seq_len: int, ctx: JobContext | None = None) -> list[ActorClip]:
    """The actor's aligned clips, made from its tracked shots once and kept under ``data/``."""
    folder = store.actor_dir(p.actor_id) / "data"
    clips: list[ActorClip] = []
    conditioner = models.conditioner(resolution)
    for n, shot_id in enumerate(p.shot_ids):
        done = _made_clips(folder, shot_id, resolution)
        if done is not None:
            clips.extend(load_clip(f) for f in done)
            continue
        for stale in folder.glob(f"{shot_id}.r{resolution}.*.npz"):
            stale.unlink()  # part of a set a kill interrupted
        shot = Shot.load(store.require_shot(shot_id))
        track = cached_track(store, models, shot, p.face_id)
        if track is None:
            raise Precondition(f"shot {shot_id!r} lost its tracking{_face(p.face_id)}: run Track on it again")
        frames = network_frames(store, shot, colour)
        if ctx is not None:
            ctx.report(n, len(p.shot_ids), f"preparing shot {shot_id} ({len(shot.frames)} frames)")
            ctx.check_cancelled()
            frames = _until_cancelled(frames, ctx)
        made = actor_clips_from_shot(track, frames, conditioner, name=shot_id,
                                     actor=p.actor_id, min_length=seq_len + MIN_CLIP_FRAMES_EXTRA)
        names = [f"{shot_id}.r{resolution}.{k:03d}.npz" for k in range(len(made))]
        for name, clip in zip(names, made):
            save_clip(clip, folder / name)
        write_json(_clip_list(folder, shot_id, resolution), {"clips": names})
        clips.extend(made)
    if not clips:
        raise InvalidInput(f"the shots {', '.join(p.shot_ids)} hold no run of at least {seq_len + 1} tracked "
                           "frames to train on: use longer shots or shots where the face is tracked")
    return clips


def _clip_list(folder: Path, shot_id: str, resolution: int) -> Path:
    return folder / f"{shot_id}.r{resolution}.json"


def _made_clips(folder: Path, shot_id: str, resolution: int) -> list[Path] | None:
    """The clip files of a shot whose set was completed, or None when it must be made (again)."""
    try:
        names = read_json(_clip_list(folder, shot_id, resolution))["clips"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    files = [folder / str(name) for name in names]
    return files if all(f.is_file() for f in files) else None


def _until_cancelled(frames: Iterable[tuple[int, Any]], ctx: JobContext) -> Iterator[tuple[int, Any]]:
    """The frames, checking for a cancel before each: reading and aligning a long shot takes a while,
    and CancelJob must stop the job within a second."""
    for item in frames:
        ctx.check_cancelled()
        yield item


def make_job(store: Store, models: Models, vgg_path: Path | None,
             colour_for: Callable[[str, str], ShotColour]) -> JobFactory:
    """The JobManager factory for TrainActor jobs; ``colour_for(config, input_space)`` gives the
    colour conversion of the request that started it."""

    def factory(raw: dict[str, Any]) -> JobFunction:
        p = TrainActorParams.from_dict(raw)

        def run(ctx: JobContext) -> str:
            return _train(store, models, p, ctx, vgg_path, colour_for(p.colour_config, p.input_space))

        return run

    return factory


def _train(store: Store, models: Models, p: TrainActorParams, ctx: JobContext, vgg_path: Path | None,
           colour: ShotColour) -> str:
    out = store.actor_dir(p.actor_id) / "training"
    resume = p.resume and (out / ckpt_io.LATEST).is_file()
    base = base_renderer(store, models, p.init_from) if p.init_from else None
    if resume:
        config = ckpt_io.config_of(ckpt_io.load(out / ckpt_io.LATEST, prefer=ckpt_io.LATEST))
    elif base is not None:
        config = ckpt_io.config_of(ckpt_io.load(base))
    else:
        config = preset(p.preset)
    iterations = p.iterations or default_iterations(config)
    update_actor(store, p.actor_id, preset=config.preset, resolution=config.resolution, shot_ids=list(p.shot_ids),
                 base=p.init_from, message="preparing the training data", ready=actor_renderer_path(
                     store, p.actor_id).is_file())
    clips = training_clips(store, models, p, colour, config.resolution, config.seq_len, ctx)
    ctx.check_cancelled()
    vgg = str(vgg_path) if vgg_path is not None and vgg_path.is_file() and config.losses.lambda_vgg > 0 else None
    if config.losses.lambda_vgg > 0 and vgg is None:
        log.warning("VGG-19 weights not found (%s): training %s without the perceptual loss", vgg_path, p.actor_id)
    every = p.checkpoint_every or (100 if config.preset == "tiny" else 500)
    train_cfg = TrainConfig(iterations=iterations, checkpoint_every=every, sample_every=max(every, 50),
                            device=models.device, vgg_path=vgg)
    if vgg is None:
        config = replace(config, losses=replace(config.losses, lambda_vgg=0.0))

    def on_progress(info: TrainProgress) -> None:
        ctx.report(info.iteration, info.total, f"iteration {info.iteration}/{info.total}", info.losses,
                   info.eta_seconds, info.sample_png or b"")

    trainer = RendererTrainer(clips, out, config, train_cfg, resume=resume, init_from=base,
                              progress=on_progress, cancel=ctx.cancel_event)
    ctx.report(trainer.iteration, iterations, f"training from iteration {trainer.iteration}")
    result = trainer.train(iterations)
    ready = result.renderer.is_file()
    message = (f"cancelled at iteration {result.iterations}; resume to continue" if result.cancelled
               else f"trained {result.iterations} iterations")
    update_actor(store, p.actor_id, ready=ready, iterations=result.iterations, message=message,
                 losses=result.losses)
    if result.cancelled:
        ctx.check_cancelled()
    return message
