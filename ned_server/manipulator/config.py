"""Settings of the emotion manipulator: network sizes, training, inference.

The defaults are the paper's (and the official checkpoints'): a network built with
``NetworkSizes()`` loads the released ``*_nets.pth`` files, and ``TrainConfig()`` trains the way
the authors did. The ``cpu`` and ``tiny`` presets shrink only widths, batch and schedule, never the
structure (same layers, same module names, same losses), so that the synthetic dataset can be
learned on a laptop CPU in minutes and in tests in seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from ned_server.domains import EMOTIONS


@dataclass(frozen=True)
class NetworkSizes:
    """Layer widths. Defaults = the official NED manipulator (NED_FACTS.md)."""

    gen_hidden: int = 512  # G: Linear(51+16 -> h) -> Linear(h -> h)
    gen_lstm: int = 512  # G: 2-layer bidirectional LSTM hidden size
    gen_head: int = 1024  # G: Linear(2*lstm -> head) -> Linear(head -> head) -> Linear(head -> 51)
    enc_hidden: tuple[int, int] = (512, 256)  # E and D: Linear(51 -> a) -> Linear(a -> b)
    enc_lstm: int = 128  # E and D: 2-layer bidirectional LSTM hidden size
    enc_head: tuple[int, int] = (128, 64)  # E and D: Linear(2*lstm -> a) -> Linear(a -> b) -> out
    map_hidden: int = 64  # M: shared and per-domain hidden width
    lstm_layers: int = 2

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["enc_hidden"] = list(self.enc_hidden)
        d["enc_head"] = list(self.enc_head)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NetworkSizes:
        known = {f.name for f in fields(cls)}
        kw: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in known}
        return cls(**kw)


PAPER_SIZES = NetworkSizes()
# Small widths that learn the synthetic dataset in minutes on a CPU (bench, `--preset cpu`).
CPU_SIZES = NetworkSizes(gen_hidden=128, gen_lstm=96, gen_head=192, enc_hidden=(96, 64), enc_lstm=48,
                         enc_head=(48, 32), map_hidden=64)
# Smallest widths, for tests.
TINY_SIZES = NetworkSizes(gen_hidden=64, gen_lstm=64, gen_head=96, enc_hidden=(48, 48), enc_lstm=32,
                          enc_head=(32, 32), map_hidden=32)


@dataclass
class TrainConfig:
    """Training settings. Defaults follow the paper; see ``preset()`` for the small ones."""

    sizes: NetworkSizes = field(default_factory=NetworkSizes)
    emotions: tuple[str, ...] = EMOTIONS
    lr: float = 1e-4
    mapping_lr: float = 1e-4
    betas: tuple[float, float] = (0.0, 0.99)
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 10  # at the full learning rate
    decay_epochs: int = 10  # then linear decay to zero
    lambda_style: float = 1.0
    lambda_cycle: float = 1.0
    lambda_mouth: float = 1.0
    seq_len: int = 10
    window_stride: int = 1  # training windows start every `window_stride` frames of a clip
    iterations_per_epoch: int | None = None  # None: one pass over the windows
    seed: int = 777
    device: str = "cpu"
    save_every_epochs: int = 1
    # Also snapshot mid-epoch every N iterations (0 = only at epoch ends), so a kill loses little.
    snapshot_every_iterations: int = 0
    plot_every_epochs: int = 1

    @property
    def total_epochs(self) -> int:
        return self.epochs + self.decay_epochs

    def lr_scale(self, epoch: int) -> float:
        """Learning-rate factor for a 0-based epoch: 1 for `epochs`, then linear decay towards 0."""
        if epoch < self.epochs or self.decay_epochs <= 0:
            return 1.0
        return max(0.0, 1.0 - (epoch - self.epochs + 1) / (self.decay_epochs + 1))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sizes"] = self.sizes.to_dict()
        d["emotions"] = list(self.emotions)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        if "sizes" in kw:
            kw["sizes"] = NetworkSizes.from_dict(kw["sizes"])
        for key in ("emotions", "betas"):
            if key in kw:
                kw[key] = tuple(kw[key])
        return cls(**kw)


PRESETS = ("paper", "cpu", "tiny")


def preset(name: str, **overrides: Any) -> TrainConfig:
    """A named configuration: "paper" (defaults), "cpu" (minutes on a CPU), "tiny" (tests)."""
    if name == "paper":
        cfg = TrainConfig()
    elif name == "cpu":
        cfg = TrainConfig(sizes=CPU_SIZES, lr=1e-3, mapping_lr=1e-4, batch_size=32, epochs=12, decay_epochs=4,
                          window_stride=3, iterations_per_epoch=100)
    elif name == "tiny":
        cfg = TrainConfig(sizes=TINY_SIZES, lr=2e-3, mapping_lr=2e-4, batch_size=24, epochs=3, decay_epochs=1,
                          window_stride=5, iterations_per_epoch=80)
    else:
        raise ValueError(f"unknown preset {name!r}; expected one of: {', '.join(PRESETS)}")
    return replace(cfg, **overrides)


@dataclass
class InferenceConfig:
    """Test-time settings. The window and kernel follow the paper (N=10, OpenCV's default sigma)."""

    device: str = "cpu"
    seq_len: int = 10
    # Gaussian sigma for merging overlapping windows; None = OpenCV's default for the length.
    merge_sigma: float | None = None
    batch_windows: int = 512  # windows translated per network call
    median_eps: float = 1e-5
    median_max_iter: int = 500
    # Input clips shorter than one window are padded by repeating their edge frames (then cropped);
    # False raises instead.
    pad_short: bool = True
    # Beyond the paper: output = input + G(s, style) - G(s, own style) instead of G(s, style).
    # Intensity 0 then returns the input exactly, and whatever detail G cannot reproduce is kept;
    # the cost is a second generator pass. False = the paper's output.
    keep_details: bool = False
    # Beyond the paper: the jaw opening never goes below this (radians; FLAME's closed mouth is 0)
    # unless the input's own jaw does at that frame. A style learnt on other actors' data can push
    # an unseen actor's jaw "more closed than closed", which tears the mesh at the lips. None (the
    # paper) leaves the output alone; the server sets 0.
    jaw_floor: float | None = None
