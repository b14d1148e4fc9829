"""Training a renderer for one actor, a meta-renderer for many, or fine-tuning one for a new actor.

One iteration takes ``batch_size`` sequences of ``seq_len`` consecutive frames and runs the
generator over each in frame order from the blank start (``recurrence``), feeding back its own
detached output. The generated face is composited over the real frame outside the mask, and

* D (image, multi-scale patch) and D (mouth, on a crop around the mouth centre), both conditioned
  on the frame's conditioning, learn LSGAN: real -> 1, composite -> 0;
* G learns lambda_adv (adv(image) + lambda_mouth adv(mouth)) + lambda_feat (FM(image) + lambda_mouth
  FM(mouth)) + lambda_vgg VGG + lambda_l1 L1, all on the composite against the real frame.

Both Ds score every frame of the sequences at once; G and D take one Adam step each per iteration
(lr 2e-4, beta1 0.5 for the paper preset), on CUDA under autocast with a GradScaler.

Everything random in an iteration (which sequences) is drawn from a generator seeded by
(seed, iteration), and the networks use no randomness, so a run resumed from a checkpoint goes on
exactly as the uninterrupted run would have. A kill loses at most ``checkpoint_every`` iterations.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ned_plugin.files import atomic_path, write_text
from ned_server.renderer import checkpoint as ckpt_io
from ned_server.renderer.config import DEFAULT_TRAIN_ITERATIONS, RendererConfig, TrainConfig, paper_config
from ned_server.renderer.dataset import ActorClip, SequenceDataset
from ned_server.renderer.inference import generate_sequence
from ned_server.renderer.losses import feature_matching, lsgan
from ned_server.renderer.networks import RendererNetworks, crop_mouths
from ned_server.renderer.plots import conditioning_columns, plot_losses, save_sheet, sheet_png
from ned_server.renderer.recurrence import Recurrence, convention_for, to_signed, to_unit
from ned_server.renderer.vgg import maybe_vgg_loss
from ned_server.runtime.cancellation import CancelFlag, is_cancelled
from ned_server.runtime.files import atomic_torch_save

log = logging.getLogger(__name__)
PLOT = "losses.png"
SHEET = "samples.png"
BEFORE = "samples_before.npz"



class RendererTrainError(ValueError):
    """A training request that cannot run as asked (say what to change)."""


@dataclass
class TrainProgress:
    iteration: int  # iterations done in the whole run (resumed ones included)
    total: int
    losses: dict[str, float]
    eta_seconds: float
    elapsed_seconds: float
    sample_png: bytes | None = None

    @property
    def fraction(self) -> float:
        return self.iteration / max(self.total, 1)


@dataclass
class TrainResult:
    out_dir: Path
    checkpoint: Path  # latest.pth (full state)
    renderer: Path  # renderer.pth (what inference loads)
    iterations: int
    cancelled: bool
    losses: dict[str, float] = field(default_factory=dict)
    plot: Path | None = None
    sheet: Path | None = None


class RendererTrainer:
    """Trains one renderer on the given clips (one actor, or several for a meta-renderer).

    ``out_dir`` receives the checkpoints, the loss history and plots. With ``resume`` the run
    continues from ``out_dir``'s latest checkpoint (its config wins); without, a folder that already
    holds a run is refused. ``init_from`` (a checkpoint file or training folder, e.g. a
    meta-renderer) initialises the networks of a fresh run; its config is used for the networks.
    """

    def __init__(
        self,
        clips: Sequence[ActorClip],
        out_dir: str | Path,
        config: RendererConfig | None = None,
        train: TrainConfig | None = None,
        *,
        resume: bool = False,
        init_from: str | Path | None = None,
        progress: Callable[[TrainProgress], None] | None = None,
        cancel: CancelFlag = None,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.train_cfg = train or TrainConfig()
        self.progress = progress
        self.cancel = cancel
        self.device = torch.device(self.train_cfg.device)
        self.use_amp = bool(self.train_cfg.amp and self.device.type == "cuda")
        latest = self.out_dir / ckpt_io.LATEST
        state: dict[str, Any] | None = None
        self.base = ""
        if latest.is_file():
            if not resume:
                raise RendererTrainError(f"{self.out_dir} already holds a renderer training run: resume it "
                                         "(--resume / resume=True) or train into another folder")
            state = ckpt_io.load(latest, prefer=ckpt_io.LATEST)
            saved_cfg = ckpt_io.config_of(state)
            if config is not None and config.to_dict() != saved_cfg.to_dict():
                log.warning("resuming %s with the settings it was started with, not the ones given", latest)
            config = saved_cfg
            self.base = str(state.get("base", ""))
            init_from = None
        base_state: dict[str, Any] | None = None
        if init_from is not None:
            base_state = ckpt_io.load(init_from, prefer=ckpt_io.LATEST)
            base_cfg = ckpt_io.config_of(base_state)
            if config is not None and asdict(config.generator) != asdict(base_cfg.generator):
                log.warning("fine-tuning %s: using its network sizes and resolution", base_state["path"])
            config = base_cfg if config is None else _with_networks_of(config, base_cfg)
            self.base = str(Path(init_from))
        self.config = (config or paper_config()).validate()
        self.convention = convention_for(self.config.architecture)
        self.clips = list(clips)
        self.dataset = SequenceDataset(self.clips, self.config.seq_len, self.config.resolution)
        self._actor_windows = self._group_windows()
        self.actors = sorted({c.actor or c.name or f"clip{i}" for i, c in enumerate(self.clips)})

        with torch.random.fork_rng(devices=[]):  # seeded initial weights, caller's RNG untouched
            torch.manual_seed(self.train_cfg.seed)
            self.nets = RendererNetworks(self.config).to(self.device)
        cfg = self.config
        self.opt_g = torch.optim.Adam(self.nets.generator.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
        self.opt_d = torch.optim.Adam(list(self.nets.image_d.parameters()) + list(self.nets.mouth_d.parameters()),
                                      lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.use_amp)
        self.iteration = 0
        if state is not None:
            self._load_state(state, optimisers=True)
            self.iteration = int(state["iteration"])
            log.info("resumed renderer training at iteration %d from %s", self.iteration, latest)
        elif base_state is not None:
            self._load_state(base_state, optimisers=False)
            log.info("initialised the renderer from %s (iteration %s there)", base_state["path"],
                     base_state.get("iteration"))
        self.vgg = maybe_vgg_loss(self.train_cfg.vgg_path, self.device) if cfg.losses.lambda_vgg > 0 else None
        self.last_losses: dict[str, float] = {}

    # ------------------------------------------------------------------ state
    def _load_state(self, state: dict[str, Any], optimisers: bool) -> None:
        self.nets.generator.load_state_dict(state["generator"])
        if "image_d" in state and "mouth_d" in state:
            self.nets.image_d.load_state_dict(state["image_d"])
            self.nets.mouth_d.load_state_dict(state["mouth_d"])
        if optimisers:
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
            if state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])

    def state_dict(self) -> dict[str, Any]:
        return {
            "format": ckpt_io.FORMAT,
            "config": self.config.to_dict(),
            "iteration": self.iteration,
            "generator": self.nets.generator.state_dict(),
            "image_d": self.nets.image_d.state_dict(),
            "mouth_d": self.nets.mouth_d.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler": self.scaler.state_dict() if self.use_amp else {},
            "base": self.base,
            "actors": self.actors,
            "seed": self.train_cfg.seed,
        }

    def save_checkpoint(self) -> Path:
        full = self.state_dict()
        atomic_torch_save(full, self.out_dir / ckpt_io.LATEST)
        light = {k: full[k] for k in ("format", "config", "iteration", "generator", "base", "actors")}
        atomic_torch_save(light, self.out_dir / ckpt_io.RENDERER)
        return self.out_dir / ckpt_io.LATEST

    # ------------------------------------------------------------------ sampling
    def _group_windows(self) -> list[np.ndarray]:
        """Window indices per actor, so a meta-renderer sees every actor equally often."""
        keys = [c.actor or c.name or str(i) for i, c in enumerate(self.dataset.clips)]
        by_actor: dict[str, list[int]] = {}
        for w, (ci, _) in enumerate(self.dataset.index):
            by_actor.setdefault(keys[int(ci)], []).append(w)
        return [np.array(v) for _, v in sorted(by_actor.items())]

    def batch_indices(self, iteration: int) -> list[int]:
        rng = np.random.default_rng([self.train_cfg.seed, iteration])
        out = []
        for _ in range(self.config.batch_size):
            group = self._actor_windows[int(rng.integers(len(self._actor_windows)))]
            out.append(int(group[int(rng.integers(len(group)))]))
        return out

    # ------------------------------------------------------------------ one iteration
    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.use_amp:
            return torch.autocast("cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    def step(self, batch: dict[str, torch.Tensor]) -> tuple[dict[str, float], torch.Tensor]:
        """One G and one D update on a batch of sequences; returns losses and the generated frames."""
        dev = self.device
        cond = batch["cond"].to(dev)  # (B,n,9,H,W)
        frames = batch["frames"].to(dev)
        masks = batch["masks"].to(dev)
        mouth = batch["mouth"].to(dev)
        b, n = cond.shape[:2]
        nets, lw, cfg = self.nets, self.config.losses, self.config
        g_net, d_img, d_mouth = nets.generator, nets.image_d, nets.mouth_d

        with self._autocast():
            rec = Recurrence(self.convention)
            gens = []
            for t in range(n):
                c27, p6 = rec.inputs(cond[:, t])
                g = g_net(c27, p6)
                rec.push(cond[:, t], g, masks[:, t])
                gens.append(g)
            fake = torch.stack(gens, 1).flatten(0, 1).float()
        real = to_signed(frames.flatten(0, 1))
        m = masks.flatten(0, 1)
        c = cond.flatten(0, 1)
        centres = mouth.flatten(0, 1)
        comp = m * fake + (1.0 - m) * real
        size = cfg.mouth_size
        real_in = torch.cat([c, real], 1)
        real_mouth_in = crop_mouths(real_in, centres, size)

        with self._autocast():
            # D scores (its own update): real, and the composite cut off from G.
            comp_in_d = torch.cat([c, comp.detach()], 1)
            pr_img = d_img(real_in)
            pr_mouth = d_mouth(real_mouth_in)
            pf_img_d = d_img(comp_in_d)
            pf_mouth_d = d_mouth(crop_mouths(comp_in_d, centres, size))
            # G scores: gradients go to G only.
            d_img.requires_grad_(False)
            d_mouth.requires_grad_(False)
            comp_in = torch.cat([c, comp], 1)
            pf_img = d_img(comp_in)
            pf_mouth = d_mouth(crop_mouths(comp_in, centres, size))
            d_img.requires_grad_(True)
            d_mouth.requires_grad_(True)

        losses: dict[str, torch.Tensor] = {}
        losses["G/image_adv"] = lsgan(pf_img, True)
        losses["G/mouth_adv"] = lsgan(pf_mouth, True)
        losses["G/image_feat"] = feature_matching(pf_img, pr_img)
        losses["G/mouth_feat"] = feature_matching(pf_mouth, pr_mouth)
        losses["G/l1"] = F.l1_loss(comp, real)
        g_total = (lw.lambda_adv * (losses["G/image_adv"] + lw.lambda_mouth * losses["G/mouth_adv"])
                   + lw.lambda_feat * (losses["G/image_feat"] + lw.lambda_mouth * losses["G/mouth_feat"])
                   + lw.lambda_l1 * losses["G/l1"])
        if self.vgg is not None:
            with self._autocast():
                losses["G/vgg"] = self.vgg(to_unit(comp), to_unit(real))
            g_total = g_total + lw.lambda_vgg * losses["G/vgg"]
        losses["D/image_real"] = lsgan(pr_img, True)
        losses["D/image_fake"] = lsgan(pf_img_d, False)
        losses["D/mouth_real"] = lsgan(pr_mouth, True)
        losses["D/mouth_fake"] = lsgan(pf_mouth_d, False)
        d_total = (0.5 * (losses["D/image_real"] + losses["D/image_fake"])
                   + 0.5 * lw.lambda_mouth * (losses["D/mouth_real"] + losses["D/mouth_fake"]))

        self.opt_g.zero_grad(set_to_none=True)
        self.scaler.scale(g_total).backward()
        self.scaler.step(self.opt_g)
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler.scale(d_total).backward()
        self.scaler.step(self.opt_d)
        self.scaler.update()
        out = {k: float(v.detach()) for k, v in losses.items()}
        out["G/total"] = float(g_total.detach())
        out["D/total"] = float(d_total.detach())
        return out, fake.detach().view(b, n, *fake.shape[1:])

    # ------------------------------------------------------------------ samples
    def _sample_clip(self) -> ActorClip:
        clip = self.dataset.clips[0]
        return clip.slice(0, min(len(clip), max(self.train_cfg.sample_frames * 4, 8)))

    def render_samples(self) -> np.ndarray:
        """The fixed sample frames rendered by the current G: (k,3,R,R) composited over the real."""
        clip = self._sample_clip()
        cond = torch.from_numpy(clip.conditioning).to(self.device)
        masks = torch.from_numpy(clip.masks[:, None].astype(np.float32)).to(self.device)
        was_training = self.nets.generator.training
        self.nets.generator.eval()
        raw = generate_sequence(self.nets.generator, cond, masks, amp=self.use_amp, convention=self.convention)
        self.nets.generator.train(was_training)
        gen = to_unit(raw.clamp(-1, 1)).cpu().numpy()
        m = clip.masks[:, None]
        comp = gen * m + clip.frames * (1 - m)
        return comp[self._sample_rows(len(clip))]

    def _sample_rows(self, t: int) -> np.ndarray:
        return np.unique(np.linspace(0, t - 1, self.train_cfg.sample_frames).round().astype(int))

    def _progress_png(self, batch: dict[str, torch.Tensor], fake: torch.Tensor) -> bytes:
        k = min(4, fake.shape[1])
        real = batch["frames"][0, :k].numpy()
        m = batch["masks"][0, :k].numpy()
        gen = to_unit(fake[0, :k].clamp(-1, 1)).cpu().numpy() * m + real * (1 - m)
        cols = {"real": real, "generated": gen, **conditioning_columns(batch["cond"][0, :k].numpy())}
        return sheet_png(cols, title=f"iteration {self.iteration}", cell_inches=1.2)

    def write_sheet(self, before: np.ndarray) -> Path:
        clip = self._sample_clip()
        rows = self._sample_rows(len(clip))
        cols = {"real": clip.frames[rows], "before": before, "after": self.render_samples(),
                **conditioning_columns(clip.conditioning[rows])}
        return save_sheet(cols, self.out_dir / SHEET, title=f"renderer before training | after "
                          f"{self.iteration} iterations")

    # ------------------------------------------------------------------ history
    def _history_path(self) -> Path:
        return self.out_dir / ckpt_io.HISTORY

    def load_history(self) -> list[dict[str, float]]:
        path = self._history_path()
        if not path.is_file():
            return []
        records = []
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                records.append(json.loads(line))
        return records

    def _trim_history(self) -> None:
        """Drop records newer than the checkpoint resumed from (that work was lost with the kill)."""
        kept = [r for r in self.load_history() if r.get("iteration", 0) <= self.iteration]
        write_text(self._history_path(), "".join(json.dumps(r) + "\n" for r in kept))

    # ------------------------------------------------------------------ the loop
    def train(self, iterations: int | None = None) -> TrainResult:
        """Train until ``iterations`` in total (default: the TrainConfig's); returns when done or cancelled."""
        tc = self.train_cfg
        total = int(iterations if iterations is not None else tc.iterations)
        if total < 0:
            raise RendererTrainError(f"iterations must be >= 0, got {total}")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._trim_history()
        before_path = self.out_dir / BEFORE
        if before_path.is_file():
            with np.load(before_path, allow_pickle=False) as z:
                before = z["before"]
        else:
            before = self.render_samples()
            # Atomically: a kill mid-write must not leave a torn file that fails every resume.
            with atomic_path(before_path) as tmp, open(tmp, "xb") as fh:
                np.savez(fh, before=before)
        start_it, t0 = self.iteration, time.monotonic()
        sums: dict[str, float] = {}
        count = 0
        cancelled = False
        self.nets.train()
        with self._history_path().open("a") as hist:
            while self.iteration < total:
                if is_cancelled(self.cancel):
                    cancelled = True
                    break
                batch = self.dataset.batch(self.batch_indices(self.iteration))
                losses, fake = self.step(batch)
                self.iteration += 1
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + v
                count += 1
                self.last_losses = losses
                if self.iteration % tc.log_every == 0 or self.iteration == total:
                    hist.write(json.dumps({"iteration": self.iteration,
                                           **{k: v / count for k, v in sums.items()}}) + "\n")
                    hist.flush()
                    sums, count = {}, 0
                if self.iteration % tc.checkpoint_every == 0 and self.iteration < total:
                    self.save_checkpoint()
                if self.progress is not None:
                    elapsed = time.monotonic() - t0
                    done_here = self.iteration - start_it
                    eta = elapsed / done_here * (total - self.iteration)
                    png = (self._progress_png(batch, fake)
                           if tc.sample_every and self.iteration % tc.sample_every == 0 else None)
                    self.progress(TrainProgress(self.iteration, total, losses, eta, elapsed, png))
        latest = self.save_checkpoint()
        if cancelled:  # stop at once (CancelJob answers within a second); the curves come with the resume
            return TrainResult(self.out_dir, latest, self.out_dir / ckpt_io.RENDERER, self.iteration, True,
                               dict(self.last_losses))
        history = self.load_history()
        plot = plot_losses(history, self.out_dir / PLOT, title=f"renderer training ({self.config.preset}, "
                           f"{', '.join(self.actors[:4])}{'...' if len(self.actors) > 4 else ''})") if history else None
        sheet = self.write_sheet(before)
        return TrainResult(self.out_dir, latest, self.out_dir / ckpt_io.RENDERER, self.iteration, cancelled,
                           dict(self.last_losses), plot, sheet)


def _with_networks_of(config: RendererConfig, base: RendererConfig) -> RendererConfig:
    """``config``'s training recipe with ``base``'s networks and resolution (those must match)."""
    resolution = base.resolution
    if base.architecture == "head2head" and config.resolution != base.resolution:
        # Fully convolutional: its weights fit any multiple of 8; the release was trained at 256.
        log.warning("fine-tuning a %d px official renderer at %d px", base.resolution, config.resolution)
        resolution = config.resolution
    return replace(config, generator=base.generator, discriminator=base.discriminator, resolution=resolution,
                   preset=base.preset, architecture=base.architecture).validate()


def default_iterations(config: RendererConfig) -> int:
    return DEFAULT_TRAIN_ITERATIONS.get(config.preset, 20000)


def train_meta_renderer(clips: Sequence[ActorClip], out_dir: str | Path, config: RendererConfig | None = None,
                        train: TrainConfig | None = None, **kwargs: Any) -> TrainResult:
    """A meta-renderer: one renderer trained on several actors (their clips' ``actor`` fields),
    each actor drawn equally often, as a starting point that ``fine_tune`` adapts to a new actor."""
    actors = {c.actor for c in clips}
    if len(actors) < 2:
        log.warning("meta-renderer trained on %d actor(s): give clips of several actors (ActorClip.actor)",
                    len(actors))
    return RendererTrainer(clips, out_dir, config, train, **kwargs).train()


def fine_tune(base_checkpoint: str | Path, clips: ActorClip | Sequence[ActorClip], iterations: int,
              out_dir: str | Path, train: TrainConfig | None = None, **kwargs: Any) -> TrainResult:
    """Adapt a (meta-)renderer to a new actor from few frames: its weights, fresh optimisers,
    ``iterations`` iterations on ``clips``. Resumes when ``out_dir`` already holds this fine-tune."""
    clips = [clips] if isinstance(clips, ActorClip) else list(clips)
    resume = (Path(out_dir) / ckpt_io.LATEST).is_file()
    trainer = RendererTrainer(clips, out_dir, None, train, resume=resume, init_from=base_checkpoint, **kwargs)
    return trainer.train(iterations)
