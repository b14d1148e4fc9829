"""The paper's image-distance metrics for self-reenactment.

All three are average pixel distances: the L2 norm of the RGB difference at a pixel, in 0-255
units, averaged over

* APD: every pixel of the frame;
* FAPD: the face-mask pixels only;
* mouth-APD: a 72x72 window around the mouth centre (at 256x256; ``mouth_size_for`` scales it
  for other resolutions), placed exactly as the mouth discriminator's crop (clamped inside the frame).

Inputs are display-sRGB floats in [0,1], one frame (3,H,W) or a sequence (T,3,H,W); a sequence's
figure is the mean over all its pixels (every frame counts equally, as frames have equal sizes;
for FAPD frames count by their face area).
"""

from __future__ import annotations

import numpy as np

from ned_server.renderer.config import mouth_size_for
from ned_server.renderer.networks import mouth_origin


class MetricInputError(ValueError):
    pass


def _seq(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[1] != 3:
        raise MetricInputError(f"{name} must be (3,H,W) or (T,3,H,W) RGB, got shape {x.shape}")
    return x


def pixel_distances(real: np.ndarray, fake: np.ndarray) -> np.ndarray:
    """(T,H,W) L2 distances of the RGB vectors, 0-255 units."""
    r, f = _seq(real, "real"), _seq(fake, "fake")
    if r.shape != f.shape:
        raise MetricInputError(f"real {r.shape} and fake {f.shape} differ in shape")
    return 255.0 * np.sqrt(((r - f) ** 2).sum(axis=1))


def apd(real: np.ndarray, fake: np.ndarray) -> float:
    return float(pixel_distances(real, fake).mean())


def fapd(real: np.ndarray, fake: np.ndarray, masks: np.ndarray) -> float:
    d = pixel_distances(real, fake)
    m = np.asarray(masks) > 0.5
    if m.ndim == 2:
        m = m[None]
    if m.shape != d.shape:
        raise MetricInputError(f"masks must be (H,W) or (T,H,W) = {d.shape}, got {np.asarray(masks).shape}")
    if not m.any():
        raise MetricInputError("the face masks are empty: FAPD is undefined")
    return float(d[m].mean())


def mouth_apd(real: np.ndarray, fake: np.ndarray, mouth_centres: np.ndarray, size: int | None = None) -> float:
    d = pixel_distances(real, fake)
    t, h, w = d.shape
    centres = np.asarray(mouth_centres, dtype=np.float64).reshape(-1, 2)
    if centres.shape[0] != t:
        raise MetricInputError(f"need one mouth centre (x, y) per frame: {t} frames, {centres.shape[0]} centres")
    size = min(size or mouth_size_for(h), h, w)
    windows = []
    for i in range(t):
        y0, x0 = mouth_origin(centres[i], size, h, w)
        windows.append(d[i, y0:y0 + size, x0:x0 + size])
    return float(np.mean(windows))


def all_metrics(real: np.ndarray, fake: np.ndarray, masks: np.ndarray, mouth_centres: np.ndarray,
                mouth_size: int | None = None) -> dict[str, float]:
    return {"APD": apd(real, fake), "FAPD": fapd(real, fake, masks),
            "mouth_APD": mouth_apd(real, fake, mouth_centres, mouth_size)}
