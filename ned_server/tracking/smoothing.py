"""Zero-lag temporal smoothing of per-frame tracks (landmarks, pupils, alignment parameters).

A causal filter must trade jitter against lag: a talking mouth smoothed enough to be steady trails
the real one by frames. Tracking is offline (the whole shot is known), so we run an adaptive
One-Euro filter forwards and backwards and average the two: the forward pass lags, the backward
pass leads by the same amount, and their mean is in phase. The One-Euro filter (Casiez et al., CHI
2012) lowers its cut-off on still signals (jitter removed) and raises it with the signal's speed
(fast motion followed), so a head turn or a jaw snap keeps its timing and amplitude.
"""

from __future__ import annotations

import math

import numpy as np

from ned_server.tracking.config import SmoothingConfig


def _alpha(cutoff: np.ndarray | float, fps: float) -> np.ndarray | float:
    """Exponential smoothing factor of a first-order low-pass at ``cutoff`` Hz sampled at ``fps``."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau * fps)


def one_euro(values: np.ndarray, config: SmoothingConfig, group: int = 1) -> np.ndarray:
    """Causal One-Euro filter along axis 0 of a (T, D) float array.

    ``group`` consecutive channels share one speed (the norm of their derivatives), so a point's x
    and y adapt together: the filter should open up when the point moves, whatever the direction.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"one_euro filters (T, D) arrays, got shape {x.shape}")
    n, d = x.shape
    if d % group:
        raise ValueError(f"{d} channels do not split into groups of {group}")
    out = np.empty_like(x)
    if n == 0:
        return out
    fps = float(config.fps)
    a_d = _alpha(config.derivative_cutoff, fps)
    prev = x[0].copy()
    deriv = np.zeros(d)
    out[0] = prev
    for t in range(1, n):
        raw_deriv = (x[t] - prev) * fps
        deriv = deriv + a_d * (raw_deriv - deriv)
        speed = np.sqrt((deriv.reshape(-1, group) ** 2).sum(axis=1))
        cutoff = config.min_cutoff + config.beta * speed
        a = np.repeat(_alpha(cutoff, fps), group)
        prev = prev + a * (x[t] - prev)
        out[t] = prev
    return out


def zero_phase_one_euro(values: np.ndarray, config: SmoothingConfig, group: int = 1) -> np.ndarray:
    """One-Euro forwards and backwards, averaged: adaptive smoothing with no lag (T, D) -> (T, D)."""
    x = np.asarray(values, dtype=np.float64)
    forward = one_euro(x, config, group)
    backward = one_euro(x[::-1], config, group)[::-1]
    return 0.5 * (forward + backward)


def segments(valid: np.ndarray, max_bridge: int = 0) -> list[tuple[int, int]]:
    """[start, stop) runs of valid frames; gaps of at most ``max_bridge`` frames are spanned."""
    valid = np.asarray(valid, dtype=bool)
    idx = np.flatnonzero(valid)
    if idx.size == 0:
        return []
    runs = []
    start = prev = int(idx[0])
    for i in idx[1:]:
        i = int(i)
        if i - prev - 1 > max_bridge:
            runs.append((start, prev + 1))
            start = i
        prev = i
    runs.append((start, prev + 1))
    return runs


def smooth_track(values: np.ndarray, valid: np.ndarray, scale: float, config: SmoothingConfig,
                 group: int = 1) -> np.ndarray:
    """Smooth a (T, ...) track over time, run by run of valid frames; invalid frames are untouched.

    ``scale`` converts the values to the units the filter's ``beta`` is expressed in (face sizes for
    positions). Frames inside a bridged gap are filtered over the valid frames only (the gap is
    skipped, not interpolated), so a one-frame dropout does not restart the filter.
    """
    arr = np.asarray(values, dtype=np.float64)
    flat = arr.reshape(arr.shape[0], -1)
    out = flat.copy()
    if scale <= 0 or not math.isfinite(scale):
        raise ValueError(f"smoothing scale must be a positive number, got {scale}")
    valid = np.asarray(valid, dtype=bool)
    for start, stop in segments(valid, config.max_bridge):
        rows = np.arange(start, stop)[valid[start:stop]]
        if rows.size < 3:
            continue
        out[rows] = zero_phase_one_euro(flat[rows] / scale, config, group) * scale
    return out.reshape(arr.shape)


def fill_untracked(values: np.ndarray, tracked: np.ndarray) -> np.ndarray:
    """Copy each untracked frame's value from the nearest tracked frame (ties: the earlier one)."""
    tracked = np.asarray(tracked, dtype=bool)
    rows = np.flatnonzero(tracked)
    if rows.size == 0 or rows.size == len(tracked):
        return values
    out = values.copy()
    for t in np.flatnonzero(~tracked):
        out[t] = values[rows[np.argmin(np.abs(rows - t))]]
    return out


def savgol_boxes(boxes: np.ndarray, tracked: np.ndarray, config: SmoothingConfig) -> np.ndarray:
    """(T, 4) boxes smoothed over time by a Savitzky-Golay filter, each tracked run on its own.

    The paper smooths the detector's boxes this way (window 49). A run shorter than the window gets
    the longest odd window that fits it; one too short for the polynomial is left as detected.
    Untracked rows are returned unchanged (``fill_untracked`` fills them afterwards).
    """
    from scipy.signal import savgol_filter

    out = np.asarray(boxes, dtype=np.float64).copy()
    order = int(config.box_polyorder)
    for start, stop in segments(np.asarray(tracked, dtype=bool)):
        n = stop - start
        window = min(int(config.box_window), n if n % 2 else n - 1)
        if window <= order:
            continue
        out[start:stop] = savgol_filter(out[start:stop], window, order, axis=0, mode="interp")
    return out.astype(np.float32)
