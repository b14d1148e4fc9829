"""Training pictures shared by every trainer: loss-curve panels written atomically as PNG.

A bare matplotlib ``Figure`` renders through Agg without touching pyplot's global backend or state,
so this is safe in a server thread; the file is replaced in one step, so a viewer refreshing it
mid-run never reads half a PNG.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ned_server.runtime.store import write_bytes

Panels = Sequence[tuple[str, Sequence[str]]]  # (panel title, the loss names drawn in it)


def smooth(values: np.ndarray, width: int) -> np.ndarray:
    """Trailing moving average (no look-ahead: the last point is what training did last)."""
    if values.size < 3 or width <= 1:
        return values
    width = min(width, values.size)
    padded = np.concatenate([np.full(width - 1, values[0]), values])
    return np.convolve(padded, np.ones(width) / width, mode="valid")


def figure_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def plot_loss_panels(
    history: Sequence[Mapping[str, float]], panels: Panels, path: str | Path, title: str, dpi: int = 80
) -> Path:
    """Curves of ``history`` (records with "iteration" and loss names), one panel per entry of
    ``panels`` in a 2-column grid; "val/NAME" entries, where recorded, are drawn as points."""
    rows = max(1, (len(panels) + 1) // 2)
    fig = Figure(figsize=(11, 3.5 * rows), dpi=dpi)
    fig.suptitle(title)
    its = np.array([r.get("iteration", i) for i, r in enumerate(history)], dtype=np.float64)
    width = max(1, len(history) // 50)
    for p, (name, keys) in enumerate(panels):
        ax = fig.add_subplot(rows, 2, p + 1)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("iteration")
        for key in keys:
            vals = np.array([r.get(key, np.nan) for r in history], dtype=np.float64)
            ok = np.isfinite(vals)
            if ok.any():
                ax.plot(its[ok], smooth(vals[ok], width), label=key, linewidth=1.2)
        for key in keys:
            vk = "val/" + key
            pts = [(r["iteration"], r[vk]) for r in history if vk in r]
            if pts:
                ax.plot(*zip(*pts), "o", markersize=4, label=vk)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    write_bytes(path, figure_png(fig))
    return path
