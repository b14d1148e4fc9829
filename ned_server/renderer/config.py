"""Settings of the neural face renderer: network sizes, losses, training and inference.

Two presets: ``paper`` is the official NED renderer (``architecture`` "head2head": the networks of
``head2head``, whose state dicts are the released checkpoints' layout; 256x256, sequences of 12
frames, batch 1); ``tiny`` is our own small renderer (``architecture`` "ned", ``networks``), small
enough to train on a laptop CPU in minutes, for tests and the demo.
Everything a checkpoint needs to rebuild its networks lives in ``RendererConfig`` and is saved with
it as a plain dict, so an inference server never needs to know which preset trained an actor.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

# Channels of one frame's conditioning, in this order: NMFC 3, eye image 3, detailed shape 3.
COND_CHANNELS = 9
# The generator sees the conditioning of the current and 2 previous frames ...
N_FRAMES_G = 3
# ... and the 2 frames it generated before.
N_PREV = N_FRAMES_G - 1
# The paper's mouth discriminator / mouth-APD window, at 256x256.
MOUTH_SIZE_AT_256 = 72


# "head2head": the official NED renderer (renderer/head2head.py, loads the released checkpoints);
# "ned": our own networks (renderer/networks.py), used by the tiny preset. Checkpoints written before
# the field existed hold "ned" networks.
ARCHITECTURES = ("head2head", "ned")
LEGACY_ARCHITECTURE = "ned"


class RendererConfigError(ValueError):
    """A renderer setting that cannot work (say which, and what is allowed)."""


@dataclass
class GeneratorConfig:
    ngf: int = 64
    n_downsample: int = 3
    n_blocks: int = 9
    max_channels: int = 1024


@dataclass
class DiscriminatorConfig:
    ndf: int = 64
    n_layers: int = 3
    num_d: int = 2
    # The mouth discriminator sees a crop of MOUTH_SIZE_AT_256 * resolution / 256 pixels.
    mouth_ndf: int = 64
    mouth_n_layers: int = 3
    mouth_num_d: int = 2  # the official mouth D has the image D's shape (NED_FACTS)


@dataclass
class LossConfig:
    lambda_adv: float = 1.0  # LSGAN term of G (image and mouth discriminators)
    lambda_feat: float = 10.0  # feature matching (NED_FACTS)
    lambda_vgg: float = 10.0  # VGG-19 perceptual, when a VGG file is configured
    lambda_l1: float = 10.0  # L1 on the face (our weight; the paper gives none)
    lambda_mouth: float = 1.0  # weight of the mouth discriminator's adversarial/feature terms


@dataclass
class RendererConfig:
    """What defines a renderer's networks and training recipe (saved inside every checkpoint)."""

    preset: str = "paper"
    architecture: str = "head2head"
    resolution: int = 256
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    losses: LossConfig = field(default_factory=LossConfig)
    seq_len: int = 12  # consecutive frames per training sample
    batch_size: int = 1
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999

    @property
    def mouth_size(self) -> int:
        return mouth_size_for(self.resolution)

    def validate(self) -> RendererConfig:
        r, g = self.resolution, self.generator
        if r < 16:
            raise RendererConfigError(f"renderer resolution must be at least 16 pixels, got {r}")
        if r % (2 ** g.n_downsample):
            raise RendererConfigError(
                f"renderer resolution {r} must be divisible by 2**n_downsample = {2 ** g.n_downsample}")
        if self.seq_len < 1 or self.batch_size < 1:
            raise RendererConfigError("seq_len and batch_size must be >= 1")
        if g.ngf < 1 or g.n_blocks < 0 or g.n_downsample < 0:
            raise RendererConfigError("generator sizes must be positive")
        if self.architecture not in ARCHITECTURES:
            raise RendererConfigError(f"unknown renderer architecture {self.architecture!r}: use one of "
                                      f"{', '.join(ARCHITECTURES)}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RendererConfig:
        """Rebuild from ``to_dict`` output; unknown keys (from a newer version) are ignored."""
        sub = {"generator": GeneratorConfig, "discriminator": DiscriminatorConfig, "losses": LossConfig}
        kwargs: dict[str, Any] = {"architecture": LEGACY_ARCHITECTURE}
        names = {f.name for f in fields(cls)}
        for key, value in d.items():
            if key not in names:
                continue
            if key in sub:
                known = {f.name for f in fields(sub[key])}
                value = sub[key](**{k: v for k, v in value.items() if k in known})
            kwargs[key] = value
        return cls(**kwargs).validate()


def mouth_size_for(resolution: int) -> int:
    """The mouth window (72 px at 256) scaled to another resolution, at least 8 px."""
    return max(8, round(MOUTH_SIZE_AT_256 * resolution / 256))


def paper_config() -> RendererConfig:
    return RendererConfig()


def tiny_config(resolution: int = 64) -> RendererConfig:
    """A renderer that trains on a CPU in minutes (about 40 ms an iteration at 64 px on one core).

    All loss terms of the paper stay on, except VGG (which needs the weights file). Below 64 px the
    patch discriminators have too few pixels to judge and, in a run of a few hundred iterations,
    their terms add texture noise rather than detail: the tests, at 32 px, set ``lambda_adv`` and
    ``lambda_feat`` to 0 where they measure image quality.
    """
    return RendererConfig(
        preset="tiny",
        architecture="ned",
        resolution=resolution,
        generator=GeneratorConfig(ngf=16, n_downsample=2, n_blocks=2, max_channels=64),
        discriminator=DiscriminatorConfig(ndf=16, n_layers=2, num_d=2, mouth_ndf=16, mouth_n_layers=2,
                                          mouth_num_d=1),
        losses=LossConfig(lambda_vgg=0.0),
        seq_len=4,
        batch_size=2,
        lr=5e-4,
    ).validate()


PRESETS = ("paper", "tiny")


def preset(name: str, **overrides: Any) -> RendererConfig:
    """A preset by name, with top-level fields overridden (e.g. ``resolution=128``)."""
    if name == "paper":
        cfg = paper_config()
    elif name == "tiny":
        cfg = tiny_config()
    else:
        raise RendererConfigError(f"unknown renderer preset {name!r}: use one of {', '.join(PRESETS)}")
    return replace(cfg, **overrides).validate() if overrides else cfg


@dataclass
class TrainConfig:
    """How one training run goes (not part of the networks' definition)."""

    iterations: int = 20000
    checkpoint_every: int = 500
    sample_every: int = 500  # progress sample image (PNG) every N iterations; 0 = never
    log_every: int = 10  # losses appended to the history every N iterations
    seed: int = 0
    device: str = "cpu"
    vgg_path: str | None = None  # torchvision vgg19 state_dict; None disables the perceptual term
    amp: bool = True  # mixed precision, used only when the device is CUDA
    sample_frames: int = 4  # rows of the before/after sheet


DEFAULT_TRAIN_ITERATIONS = {"paper": 20000, "tiny": 1500}


@dataclass
class InferenceConfig:
    # Frames rendered before a chunk's first frame so its recurrence matches a full run
    # (see inference.py for the measured error against this length).
    preroll: int = 12
    amp: bool = False  # float16 autocast on CUDA: faster; not measured here (no GPU), chunk error may grow
