"""Pictures of a renderer training run: loss curves and sample sheets, as PNG (matplotlib, Agg).

A bare ``Figure`` renders through Agg without touching pyplot's global backend, so this is safe in
a server thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ned_server.runtime.plotting import figure_png, plot_loss_panels
from ned_server.runtime.store import write_bytes

PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("discriminators (LSGAN)", ("D/image_real", "D/image_fake", "D/mouth_real", "D/mouth_fake")),
    ("generator adversarial", ("G/image_adv", "G/mouth_adv")),
    ("feature matching", ("G/image_feat", "G/mouth_feat")),
    ("reconstruction", ("G/l1", "G/vgg")),
)


def plot_losses(history: Sequence[Mapping[str, float]], path: str | Path, title: str = "renderer training") -> Path:
    """Loss curves of ``history`` (records with "iteration" and loss names) as a PNG at ``path``."""
    return plot_loss_panels(history, PANELS, path, title)


def _hwc(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img, dtype=np.float32)
    if img.ndim == 3 and img.shape[0] in (1, 3):  # CHW (images are never 1 or 3 pixels tall)
        img = img.transpose(1, 2, 0)
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, -1)
    return np.clip(img, 0.0, 1.0)


def sheet_png(columns: Mapping[str, np.ndarray], title: str = "", cell_inches: float = 1.6) -> bytes:
    """A labelled grid: one column per entry (N,3,H,W) or (N,H,W,3) in [0,1], one row per frame."""
    names = list(columns)
    rows = min(len(np.asarray(columns[n])) for n in names)
    fig = Figure(figsize=(cell_inches * len(names), cell_inches * rows + (0.4 if title else 0.1)), dpi=80)
    if title:
        fig.suptitle(title, fontsize=9)
    for c, name in enumerate(names):
        for r in range(rows):
            ax = fig.add_subplot(rows, len(names), r * len(names) + c + 1)
            ax.imshow(_hwc(columns[name][r]), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=8)
    fig.tight_layout()
    return figure_png(fig)


def save_sheet(columns: Mapping[str, np.ndarray], path: str | Path, title: str = "") -> Path:
    path = Path(path)
    write_bytes(path, sheet_png(columns, title))
    return path


def conditioning_columns(cond: np.ndarray) -> dict[str, np.ndarray]:
    """(N,9,H,W) conditioning -> its three images as separate columns."""
    return {"NMFC": cond[:, 0:3], "eyes": cond[:, 3:6], "shape": cond[:, 6:9]}
