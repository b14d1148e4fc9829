"""How open the mouth is, measured on the fitted face as a landmarker measures it on a picture.

The QC report's speech figure compares the original's and the edit's mouth opening over a shot.
The jaw rotation alone misses what a viewer (and a landmarker re-tracking the output) sees: the
expression coefficients part and press the lips too, and an emotion's smile stretches them thin.
So the opening is read where a landmarker reads it: the three inner-lip landmark pairs of FLAME's
68-point embedding, over the inter-ocular distance, on the actor's own face with the global pose
left out (a head turn is not speech).
"""

from __future__ import annotations

import numpy as np
import torch

from ned_server.face3d.flame import FlameLayer

INNER_LIPS = ((61, 67), (62, 66), (63, 65))  # upper / lower inner-lip points, iBUG-68
JAW_POSE = 6  # the jaw's first axis-angle component in FLAME's 15-d pose


def mouth_opening(flame: FlameLayer, shape: np.ndarray, expression51: np.ndarray,
                  chunk: int = 256) -> np.ndarray | None:
    """(T,) inner-lip opening in inter-ocular distances of ``shape`` posed with each row of the
    manipulator's ``expression51`` (jaw opening, then expression coefficients); None when the model
    has no landmark embedding to read it from."""
    if not flame.has_landmarks:
        return None
    e = np.asarray(expression51, dtype=np.float32)
    n = len(e)
    if n == 0:
        return np.zeros(0, np.float64)
    device = flame.v_template.device
    ident = np.zeros(flame.n_shape, np.float32)
    s = np.asarray(shape, dtype=np.float32).reshape(-1)[: flame.n_shape]
    ident[: len(s)] = s
    exp = np.zeros((n, flame.n_exp), np.float32)
    k = min(flame.n_exp, e.shape[1] - 1)
    exp[:, :k] = e[:, 1: 1 + k]
    pose = np.zeros((n, 15), np.float32)
    pose[:, JAW_POSE] = e[:, 0]
    out = np.empty(n, np.float64)
    with torch.no_grad():
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            lm = flame(torch.from_numpy(ident)[None].to(device), torch.from_numpy(exp[a:b]).to(device),
                       torch.from_numpy(pose[a:b]).to(device)).landmarks3d.double().cpu().numpy()
            eyes = np.linalg.norm(lm[:, 36:42].mean(1) - lm[:, 42:48].mean(1), axis=-1)
            gap = np.mean([np.linalg.norm(lm[:, i] - lm[:, j], axis=-1) for i, j in INNER_LIPS], axis=0)
            out[a:b] = gap / np.maximum(eyes, 1e-9)
    return out
