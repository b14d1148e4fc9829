"""Loss curves of a manipulator training run, as a PNG a TD can glance at."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ned_server.runtime.plotting import plot_loss_panels

PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("discriminator (LSGAN)", ("D/latent_real", "D/latent_fake", "D/ref_real", "D/ref_fake")),
    ("generator adversarial", ("G/latent_adv", "G/ref_adv")),
    ("style reconstruction / cycle", ("G/latent_sty", "G/ref_sty", "G/latent_cyc", "G/ref_cyc")),
    ("jaw correlation (max 2)", ("G/latent_mouth", "G/ref_mouth")),
)


def plot_losses(history: Sequence[Mapping[str, float]], path: str | Path, title: str = "manipulator training") -> Path:
    """Write the curves of ``history`` (records with "iteration" and loss names) to ``path``."""
    return plot_loss_panels(history, PANELS, path, title, dpi=90)
