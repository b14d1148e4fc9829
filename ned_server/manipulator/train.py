"""Training the manipulator: StarGAN v2 on expression windows, with NED's speech-preserving loss.

Each iteration takes a batch of real windows x (label y), a target domain y' per sample, a latent
code z and a reference window of domain y', and runs, as the paper does, both style sources in turn:

1. D with the mapping network's style M_y'(z), then D with the reference's style E(x_ref):
   LSGAN, real windows towards 1 at their own domain, translations towards 0 at the target domain.
2. G (and M, E) with M_y'(z), then G alone with E(x_ref):
   adv + l_sty * |E(G(x, s)) - s| + l_cyc * |G(G(x, s), E(x)) - x| - l_mouth * (corr(jaw x, jaw G)
   + corr(jaw G, jaw cycle)).

Adam (lr 1e-4, betas (0, 0.99)), `epochs` at full rate then `decay_epochs` of linear decay.

Everything random in an iteration is drawn from a generator seeded by (seed, epoch, batch), so a run
resumed from a checkpoint continues exactly as the uninterrupted run would have. Checkpoints (see
``checkpoint``) are written at every epoch end, optionally mid-epoch, and when cancelled; a kill
loses at most the work since the last one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ned_plugin.files import write_text
from ned_server.domains import EMOTIONS, LATENT_DIM
from ned_server.manipulator.checkpoint import (
    FORMAT_KEY,
    LATEST,
    CheckpointError,
    convert_official_checkpoint,
    nets_filename,
    networks_state,
    optims_filename,
    read_latest,
    resolve_checkpoint,
    safe_load,
)
from ned_server.manipulator.config import NetworkSizes, TrainConfig
from ned_server.manipulator.dataset import DatasetError, ExpressionDataset, WindowIndex
from ned_server.manipulator.losses import cycle_loss, lsgan_loss, mouth_correlation, style_reconstruction_loss
from ned_server.manipulator.networks import ManipulatorNetworks, he_init
from ned_server.manipulator.plots import plot_losses
from ned_server.runtime.cancellation import CancelFlag, is_cancelled
from ned_server.runtime.files import atomic_torch_save

log = logging.getLogger(__name__)
HISTORY = "losses.jsonl"
PLOT = "losses.png"
CONFIG = "train_config.json"


@dataclass
class TrainProgress:
    epoch: int  # 1-based epoch being trained
    epochs: int
    iteration: int  # iterations done in the whole run
    total_iterations: int
    losses: dict[str, float]
    elapsed_s: float

    @property
    def fraction(self) -> float:
        return self.iteration / max(self.total_iterations, 1)


@dataclass
class TrainResult:
    out_dir: Path
    checkpoint: Path | None  # the nets file of the last checkpoint written
    epochs_done: int
    iterations: int
    cancelled: bool
    losses: dict[str, float] = field(default_factory=dict)
    plot: Path | None = None




class WindowSampler:
    """Batches (x, y_org, x_ref, y_trg, z) from a dataset's windows, each fully determined by
    (seed, epoch, batch): target domains are uniform over the domains present, the reference is a
    random window of the target domain, z ~ N(0, I)."""

    def __init__(self, dataset: ExpressionDataset, config: TrainConfig, device: torch.device) -> None:
        self.dataset, self.config, self.device = dataset, config, device
        self.windows = dataset.windows(config.seq_len, config.window_stride)
        if tuple(config.emotions) != EMOTIONS:  # networks over a subset of domains: relabel, drop others
            local = np.array([config.emotions.index(e) if e in config.emotions else -1 for e in EMOTIONS])
            keep = local[self.windows.labels] >= 0
            self.windows = WindowIndex(self.windows.starts[keep], local[self.windows.labels[keep]],
                                       self.windows.clips[keep])
        if self.windows.starts.size == 0:
            raise DatasetError(f"the dataset has no labelled window of {config.seq_len} frames of the "
                               f"emotions {', '.join(config.emotions)} (clips too short, or no frames with one "
                               "emotion for that long)")
        self.domains = np.unique(self.windows.labels)
        self.by_domain = {int(k): np.flatnonzero(self.windows.labels == k) for k in self.domains}
        self.iters_per_epoch = config.iterations_per_epoch or max(1, self.windows.starts.size // config.batch_size)

    def epoch_order(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.config.seed, epoch])
        need = self.iters_per_epoch * self.config.batch_size
        count = self.windows.starts.size
        reps = -(-need // count)
        return np.concatenate([rng.permutation(count) for _ in range(reps)])[:need]

    def batch(self, epoch: int, batch: int, order: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        cfg = self.config
        if order is None:
            order = self.epoch_order(epoch)
        pick = order[batch * cfg.batch_size:(batch + 1) * cfg.batch_size]
        rng = np.random.default_rng([cfg.seed, epoch, batch, 1])
        y_trg = rng.choice(self.domains, size=pick.size)
        ref = np.array([self.by_domain[int(y)][rng.integers(self.by_domain[int(y)].size)] for y in y_trg])
        z = rng.standard_normal((pick.size, LATENT_DIM)).astype(np.float32)
        arrays = {
            "x": self.dataset.gather(self.windows.starts[pick], cfg.seq_len),
            "y_org": self.windows.labels[pick],
            "x_ref": self.dataset.gather(self.windows.starts[ref], cfg.seq_len),
            "y_trg": y_trg.astype(np.int64),
            "z": z,
        }
        return {k: torch.from_numpy(np.ascontiguousarray(v)).to(self.device) for k, v in arrays.items()}


class ManipulatorTrainer:
    """Train (or fine-tune, or resume) the manipulator into ``out_dir``.

    ``init_from``: a checkpoint (ours or official; file or training folder) whose networks start a
    new run, e.g. pre-trained on Aff-Wild2 then fine-tuned on MEAD. A fresh discriminator is made
    when it has none. ``resume``: continue from ``out_dir/latest.json`` when present (it wins over
    ``init_from``, so re-running a killed fine-tune command resumes it).
    """

    def __init__(self, config: TrainConfig, dataset: ExpressionDataset, out_dir: str | Path, *,
                 val_dataset: ExpressionDataset | None = None,
                 init_from: str | Path | Mapping[str, Any] | None = None, resume: bool = True,
                 progress: Callable[[TrainProgress], None] | None = None, cancel: CancelFlag = None,
                 log_every: int = 10) -> None:
        self.out_dir = Path(out_dir)
        self.progress = progress
        self.cancel = cancel
        self.log_every = max(1, int(log_every))
        self.device = torch.device(config.device)
        self.history: list[dict[str, float]] = []
        self.epoch, self.batch, self.iteration = 0, 0, 0

        latest = read_latest(self.out_dir) if resume else None
        source: Mapping[str, Any] | None = None
        if latest is not None:
            source = convert_official_checkpoint(safe_load(self.out_dir / latest["nets"]))
        elif init_from is not None:
            path = resolve_checkpoint(init_from) if isinstance(init_from, str | Path) else None
            source = convert_official_checkpoint(path if path is not None else init_from)
        if source is not None:
            sizes = NetworkSizes.from_dict(source[FORMAT_KEY]["sizes"])
            if sizes != config.sizes:
                log.info("using the checkpoint's network widths %s", sizes)
            config = replace(config, sizes=sizes, emotions=tuple(source[FORMAT_KEY]["emotions"]))
        self.config = config

        self.sampler = WindowSampler(dataset, config, self.device)
        self.val_sampler = None
        if val_dataset is not None and val_dataset.windows(config.seq_len, config.window_stride).starts.size:
            self.val_sampler = WindowSampler(val_dataset, replace(config, iterations_per_epoch=None), self.device)
        self.iters_per_epoch = self.sampler.iters_per_epoch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.nets = ManipulatorNetworks(config.sizes, config.emotions, with_discriminator=True)
            self.nets.apply(he_init)
        if source is not None:
            for name, module in self.nets.named_nets().items():
                if name in source:
                    module.load_state_dict(source[name])
        self.nets.to(self.device)
        self.optims = self._make_optimizers()
        if latest is not None:
            self._restore(latest)

    # ------------------------------------------------------------------------------ setup
    def _make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        cfg = self.config
        return {name: torch.optim.Adam(module.parameters(), lr=cfg.mapping_lr if name == "mapping_network" else cfg.lr,
                                       betas=(cfg.betas[0], cfg.betas[1]), weight_decay=cfg.weight_decay)
                for name, module in self.nets.named_nets().items()}

    def _restore(self, latest: dict[str, Any]) -> None:
        optims = safe_load(self.out_dir / latest["optims"])
        for name, opt in self.optims.items():
            if name not in optims:
                raise CheckpointError(f"{latest['optims']} lacks the {name} optimiser state")
            opt.load_state_dict(optims[name])
        self.epoch, self.batch, self.iteration = int(latest["epoch"]), int(latest["batch"]), int(latest["iteration"])
        hist = self.out_dir / HISTORY
        if hist.is_file():
            records = [json.loads(line) for line in hist.read_text().splitlines() if line.strip()]
            self.history = [r for r in records if r.get("iteration", 0) <= self.iteration]
        log.info("resuming %s at epoch %d, batch %d (iteration %d)", self.out_dir, self.epoch + 1, self.batch,
                 self.iteration)

    @property
    def total_iterations(self) -> int:
        return self.config.total_epochs * self.iters_per_epoch

    def _set_lr(self, epoch: int) -> None:
        scale = self.config.lr_scale(epoch)
        for name, opt in self.optims.items():
            base = self.config.mapping_lr if name == "mapping_network" else self.config.lr
            for group in opt.param_groups:
                group["lr"] = base * scale

    # ------------------------------------------------------------------------------ losses
    def _d_loss(self, b: dict[str, torch.Tensor], use_ref: bool) -> tuple[torch.Tensor, dict[str, float]]:
        nets = self.nets
        assert nets.discriminator is not None
        real = lsgan_loss(nets.discriminator(b["x"], b["y_org"]), 1.0)
        with torch.no_grad():
            s = nets.style_encoder(b["x_ref"]) if use_ref else nets.mapping_network(b["z"], b["y_trg"])
            fake_x = nets.generator(b["x"], s)
        fake = lsgan_loss(nets.discriminator(fake_x, b["y_trg"]), 0.0)
        return real + fake, {"real": real.item(), "fake": fake.item()}

    def _g_loss(self, b: dict[str, torch.Tensor], use_ref: bool) -> tuple[torch.Tensor, dict[str, float]]:
        nets, cfg = self.nets, self.config
        assert nets.discriminator is not None
        s_trg = nets.style_encoder(b["x_ref"]) if use_ref else nets.mapping_network(b["z"], b["y_trg"])
        fake = nets.generator(b["x"], s_trg)
        adv = lsgan_loss(nets.discriminator(fake, b["y_trg"]), 1.0)
        sty = style_reconstruction_loss(nets.style_encoder(fake), s_trg)
        rec = nets.generator(fake, nets.style_encoder(b["x"]))
        cyc = cycle_loss(rec, b["x"])
        mouth = mouth_correlation(b["x"], fake, rec)
        total = adv + cfg.lambda_style * sty + cfg.lambda_cycle * cyc - cfg.lambda_mouth * mouth
        return total, {"adv": adv.item(), "sty": sty.item(), "cyc": cyc.item(), "mouth": mouth.item()}

    def _zero_grad(self) -> None:
        for opt in self.optims.values():
            opt.zero_grad(set_to_none=True)

    def train_step(self, b: dict[str, torch.Tensor]) -> dict[str, float]:
        """One iteration: D (latent, reference), then G+M+E (latent), then G (reference)."""
        self.nets.train()
        losses: dict[str, float] = {}
        for use_ref, tag in ((False, "latent"), (True, "ref")):
            loss, parts = self._d_loss(b, use_ref)
            self._zero_grad()
            loss.backward()
            self.optims["discriminator"].step()
            losses.update({f"D/{tag}_{k}": v for k, v in parts.items()})
        for use_ref, tag, stepped in ((False, "latent", ("generator", "mapping_network", "style_encoder")),
                                      (True, "ref", ("generator",))):
            loss, parts = self._g_loss(b, use_ref)
            self._zero_grad()
            loss.backward()
            for name in stepped:
                self.optims[name].step()
            losses.update({f"G/{tag}_{k}": v for k, v in parts.items()})
        return losses

    @torch.no_grad()
    def validation_losses(self, batches: int = 4) -> dict[str, float]:
        """Generator losses on the validation set (latent and reference styles), averaged."""
        if self.val_sampler is None:
            return {}
        self.nets.eval()
        count = max(1, min(batches, self.val_sampler.iters_per_epoch))
        sums: dict[str, float] = {}
        for i in range(count):
            b = self.val_sampler.batch(0, i)  # the same validation batches every epoch
            for use_ref, tag in ((False, "latent"), (True, "ref")):
                _, parts = self._g_loss(b, use_ref)
                for k, v in parts.items():
                    key = f"val/G/{tag}_{k}"
                    sums[key] = sums.get(key, 0.0) + v / count
        return sums

    # ------------------------------------------------------------------------------ checkpoints
    def _save(self, nets_name: str, optims_name: str, epoch: int, batch: int) -> Path:
        meta = {"epoch": epoch, "batch": batch, "iteration": self.iteration, "config": self.config.to_dict()}
        atomic_torch_save(networks_state(self.nets, meta), self.out_dir / nets_name)
        optims: dict[str, Any] = {name: opt.state_dict() for name, opt in self.optims.items()}
        optims[FORMAT_KEY] = {"epoch": epoch, "batch": batch, "iteration": self.iteration}
        atomic_torch_save(optims, self.out_dir / optims_name)
        write_text(self.out_dir / HISTORY, "".join(json.dumps(r) + "\n" for r in self.history))
        write_text(self.out_dir / LATEST, json.dumps(
            {"nets": nets_name, "optims": optims_name, "epoch": epoch, "batch": batch,
             "iteration": self.iteration}, indent=1))
        for old in self.out_dir.glob("partial_*.pth"):  # superseded snapshots
            if old.name not in (nets_name, optims_name):
                old.unlink(missing_ok=True)
        return self.out_dir / nets_name

    def save_epoch(self, epoch: int) -> Path:
        return self._save(nets_filename(epoch), optims_filename(epoch), epoch, 0)

    def save_snapshot(self) -> Path:
        """Checkpoint the current mid-epoch position (also used when cancelled)."""
        stem = f"partial_{self.iteration:08d}"
        return self._save(f"{stem}_nets.pth", f"{stem}_optims.pth", self.epoch, self.batch)

    def write_plot(self) -> Path | None:
        if not self.history:
            return None
        return plot_losses(self.history, self.out_dir / PLOT,
                           title=f"manipulator training - {self.out_dir.name}, iteration {self.iteration}")

    # ------------------------------------------------------------------------------ loop
    def train(self) -> TrainResult:
        cfg = self.config
        self.out_dir.mkdir(parents=True, exist_ok=True)
        write_text(self.out_dir / CONFIG, json.dumps(cfg.to_dict(), indent=1))
        start = time.monotonic()
        last: dict[str, float] = {}
        checkpoint: Path | None = None
        plot: Path | None = None
        while self.epoch < cfg.total_epochs:
            self._set_lr(self.epoch)
            order = self.sampler.epoch_order(self.epoch)
            while self.batch < self.iters_per_epoch:
                if is_cancelled(self.cancel):
                    checkpoint = self.save_snapshot()
                    plot = self.write_plot()
                    return TrainResult(self.out_dir, checkpoint, self.epoch, self.iteration, True, last, plot)
                last = self.train_step(self.sampler.batch(self.epoch, self.batch, order))
                self.batch += 1
                self.iteration += 1
                if self.iteration % self.log_every == 0 or self.batch == self.iters_per_epoch:
                    self.history.append({"iteration": self.iteration, "epoch": self.epoch + 1, **last})
                if self.progress is not None:
                    self.progress(TrainProgress(self.epoch + 1, cfg.total_epochs, self.iteration,
                                                self.total_iterations, last, time.monotonic() - start))
                every = cfg.snapshot_every_iterations
                if every and self.iteration % every == 0 and self.batch < self.iters_per_epoch:
                    checkpoint = self.save_snapshot()
            val = self.validation_losses()
            if val and self.history:
                self.history[-1].update(val)
            self.epoch += 1
            self.batch = 0
            if self.epoch % cfg.save_every_epochs == 0 or self.epoch == cfg.total_epochs:
                checkpoint = self.save_epoch(self.epoch)
            if self.epoch % cfg.plot_every_epochs == 0 or self.epoch == cfg.total_epochs:
                plot = self.write_plot()
        if checkpoint is None:  # nothing left to train (resumed a finished run)
            info = read_latest(self.out_dir)
            checkpoint = self.out_dir / info["nets"] if info else None
            plot = self.write_plot()
        return TrainResult(self.out_dir, checkpoint, self.epoch, self.iteration, False, last, plot)
