"""Test-time sequence handling: sliding windows, Gaussian overlap-merge, geometric median of styles.

The networks see N=10 frames at a time. A clip is cut into every window (hop 1), each window is
translated, and each output frame is the Gaussian-weighted mean of the (up to 10) translations
that cover it, with the weight of a window's frame given by its position in the window (OpenCV's
default kernel for length 10, sigma ~1.85): the centre of a window is trusted most, so window
edges do not show as jitter. Dividing by the summed weights makes the merge exact at the clip's
ends, where fewer windows overlap, and keeps a constant input constant.
"""

from __future__ import annotations

import cv2
import numpy as np


def opencv_default_sigma(length: int) -> float:
    """The sigma OpenCV's getGaussianKernel picks for a length when given sigma <= 0."""
    return 0.3 * ((length - 1) * 0.5 - 1.0) + 0.8


def gaussian_window_weights(length: int, sigma: float | None = None) -> np.ndarray:
    """Normalised Gaussian weights over the positions of a window (sum 1).

    OpenCV's own kernel (the reference implementation uses it, and OpenCV's bit-exact kernel is
    slightly narrower than the textbook formula).
    """
    if length < 1:
        raise ValueError(f"window length must be at least 1, got {length}")
    k = cv2.getGaussianKernel(length, -1 if sigma is None or sigma <= 0 else float(sigma), cv2.CV_64F)
    return (k.ravel() / k.sum()).astype(np.float64)


def sliding_windows(x: np.ndarray, length: int) -> np.ndarray:
    """All windows of ``length`` frames with hop 1: (T, D) -> (T-length+1, length, D) (a view)."""
    if x.shape[0] < length:
        raise ValueError(f"need at least {length} frames for one window, got {x.shape[0]}")
    return np.lib.stride_tricks.sliding_window_view(x, length, axis=0).transpose(0, 2, 1)


def overlap_merge(windows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Merge (W, N, D) windows (window w starts at frame w) into (W+N-1, D) by weighted averaging."""
    num, length = windows.shape[:2]
    if weights.shape != (length,):
        raise ValueError(f"weights must have shape ({length},), got {weights.shape}")
    out = np.zeros((num + length - 1, *windows.shape[2:]), dtype=np.float64)
    total = np.zeros(num + length - 1, dtype=np.float64)
    for j in range(length):
        out[j:j + num] += weights[j] * windows[:, j]
        total[j:j + num] += weights[j]
    return out / total.reshape(-1, *([1] * (out.ndim - 1)))


def geometric_median(points: np.ndarray, eps: float = 1e-5, max_iter: int = 500) -> np.ndarray:
    """The point minimising the summed Euclidean distance to ``points`` (K, D) (Weiszfeld iteration).

    Robust where a mean is not: a few outlier windows (a cough, a tracking glitch) barely move it.
    The iteration starts at the mean and stops when a step is shorter than ``eps``. When the
    estimate lands on a data point, the Vardi-Zhang rule decides whether to stay or move on.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] == 0:
        raise ValueError(f"geometric_median needs a non-empty (K, D) array, got shape {pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise ValueError("geometric_median got NaN or infinite values")
    y = pts.mean(axis=0)
    for _ in range(max_iter):
        dist = np.linalg.norm(pts - y, axis=1)
        away = dist > 1e-12
        if not np.any(away):
            return y
        inv = 1.0 / dist[away]
        t = (inv[:, None] * pts[away]).sum(axis=0) / inv.sum()
        coincident = int((~away).sum())
        if coincident == 0:
            y_next = t
        else:
            r = np.linalg.norm((t - y) * inv.sum())
            rinv = 0.0 if r == 0 else coincident / r
            y_next = max(0.0, 1.0 - rinv) * t + min(1.0, rinv) * y
        if np.linalg.norm(y_next - y) < eps:
            return y_next
        y = y_next
    return y
