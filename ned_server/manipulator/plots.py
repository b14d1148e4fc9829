"""Loss curves of a manipulator training run, as a PNG a TD can glance at (matplotlib, Agg)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("discriminator (LSGAN)", ("D/latent_real", "D/latent_fake", "D/ref_real", "D/ref_fake")),
    ("generator adversarial", ("G/latent_adv", "G/ref_adv")),
    ("style reconstruction / cycle", ("G/latent_sty", "G/ref_sty", "G/latent_cyc", "G/ref_cyc")),
    ("jaw correlation (max 2)", ("G/latent_mouth", "G/ref_mouth")),
)


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    if values.size < 3 or width <= 1:
        return values
    width = min(width, values.size)
    kernel = np.ones(width) / width
    padded = np.concatenate([np.full(width - 1, values[0]), values])
    return np.convolve(padded, kernel, mode="valid")


def plot_losses(history: Sequence[dict[str, float]], path: str | Path, title: str = "manipulator training") -> Path:
    """Write the curves of ``history`` (records with "iteration" and loss names) to ``path``."""
    # A bare Figure renders through Agg without touching pyplot's global backend or state.
    from matplotlib.figure import Figure

    path = Path(path)
    fig = Figure(figsize=(11, 7), dpi=90)
    fig.suptitle(title)
    its = np.array([r.get("iteration", i) for i, r in enumerate(history)], dtype=np.float64)
    width = max(1, len(history) // 50)
    for p, (name, keys) in enumerate(PANELS):
        ax = fig.add_subplot(2, 2, p + 1)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("iteration")
        for key in keys:
            vals = np.array([r.get(key, np.nan) for r in history], dtype=np.float64)
            ok = np.isfinite(vals)
            if ok.any():
                ax.plot(its[ok], _smooth(vals[ok], width), label=key, linewidth=1.2)
        for key in keys:  # validation points, when recorded
            vk = "val/" + key
            pts = [(r["iteration"], r[vk]) for r in history if vk in r]
            if pts:
                ax.plot(*zip(*pts), "o", markersize=4, label=vk)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.png")
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
