"""The training pictures every trainer writes: loss panels as PNG, replaced atomically."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ned_server.manipulator.plots import PANELS as MANIPULATOR_PANELS
from ned_server.manipulator.plots import plot_losses as plot_manipulator
from ned_server.renderer.plots import PANELS as RENDERER_PANELS
from ned_server.renderer.plots import plot_losses as plot_renderer
from ned_server.runtime.plotting import plot_loss_panels, smooth


def history(keys: list[str], n: int = 120) -> list[dict[str, float]]:
    rng = np.random.default_rng(0)
    records: list[dict[str, float]] = []
    for i in range(n):
        r: dict[str, float] = {"iteration": float(i)}
        for k in keys:
            r[k] = float(np.exp(-i / 40) + 0.05 * rng.random())
        if i % 30 == 0:
            r["val/" + keys[0]] = 0.5
        records.append(r)
    records[5][keys[0]] = float("nan")  # a bad step is skipped, not fatal
    return records


def test_smooth_is_trailing_and_keeps_length() -> None:
    steps = np.r_[np.zeros(10), np.ones(10)]
    out = smooth(steps, 4)
    assert out.shape == steps.shape
    assert (out[:10] == 0).all()  # nothing of the future leaks back
    assert out[-1] == 1.0 and 0 < out[10] < 1


def test_both_trainers_write_a_readable_png(tmp_path: Path) -> None:
    for panels, plot in ((MANIPULATOR_PANELS, plot_manipulator), (RENDERER_PANELS, plot_renderer)):
        keys = [k for _, ks in panels for k in ks]
        path = plot(history(keys), tmp_path / "sub" / f"{plot.__module__}.png")
        image = cv2.imread(str(path))
        assert image is not None and image.shape[0] > 300 and image.shape[1] > 600
        assert image.std() > 5  # curves, not a blank canvas
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == sorted(
        f"{p.__module__}.png" for p in (plot_manipulator, plot_renderer))  # no temporary files left


def test_odd_panel_count_and_empty_history(tmp_path: Path) -> None:
    panels = [("a", ["x"]), ("b", ["y"]), ("c", ["z"])]
    assert cv2.imread(str(plot_loss_panels(history(["x", "y", "z"]), panels, tmp_path / "p.png", "t"))) is not None
    assert cv2.imread(str(plot_loss_panels([], panels, tmp_path / "e.png", "t"))) is not None


def test_replotting_replaces_the_picture_in_one_step(tmp_path: Path) -> None:
    target = tmp_path / "x.png"
    plot_loss_panels(history(["x"], n=10), [("a", ["x"])], target, "first")
    first = target.read_bytes()
    plot_loss_panels(history(["x"], n=200), [("a", ["x"])], target, "second")
    assert target.read_bytes() != first
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]
