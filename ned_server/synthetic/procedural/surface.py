"""The procedural head's skin as an implicit surface, sampled along rays from one centre.

The head is a smooth union of ellipsoids and capsules (cranium, face, jaw, chin, cheekbones, brow
ridge, muzzle, lips, nose), eye sockets carved out and eyelid spheres put back around the eyeballs.
Seen from ``CENTRE`` the result is star-shaped, so every direction meets the skin once (the
outermost crossing): the mesh is a triangulation of directions and a vertex's position is
``surface_points(direction)``. Moving a vertex over the skin (an eyelid sliding down the
eyeball) is then just re-evaluating the surface at a moved direction.

Units: metres, FLAME's frame (x to the subject's left, y up, z out of the face).
"""

from __future__ import annotations

import numpy as np

CENTRE = np.array([0.0, 0.015, -0.01])

# Eyes (the subject's left eye, +x; the right one is mirrored).
EYE_CENTRE = np.array([0.031, 0.030, 0.057])
EYE_RADIUS = 0.0125
LID_RADIUS = 0.0141


def _ellipsoid(p: np.ndarray, c: tuple[float, float, float], r: tuple[float, float, float]) -> np.ndarray:
    """Approximate signed distance to an ellipsoid (exact on the surface, good near it)."""
    q = (p - np.asarray(c)) / np.asarray(r)
    k0 = np.linalg.norm(q, axis=-1)
    k1 = np.linalg.norm(q / np.asarray(r), axis=-1)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-12)


def _capsule(
    p: np.ndarray, a: tuple[float, float, float], b: tuple[float, float, float], ra: float, rb: float
) -> np.ndarray:
    a_, b_ = np.asarray(a), np.asarray(b)
    ab = b_ - a_
    t = np.clip(((p - a_) @ ab) / (ab @ ab), 0.0, 1.0)
    closest = a_ + t[..., None] * ab
    return np.linalg.norm(p - closest, axis=-1) - (ra + (rb - ra) * t)


def smin(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum (a blend of width ``k`` where the two surfaces meet)."""
    h = np.maximum(k - np.abs(a - b), 0.0) / k
    return np.minimum(a, b) - h * h * k * 0.25


def smax(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    return -smin(-a, -b, k)


def head_sdf(p: np.ndarray) -> np.ndarray:
    """Signed distance-like field of the skin (negative inside), points (..., 3)."""
    d = _ellipsoid(p, (0.0, 0.040, -0.025), (0.076, 0.092, 0.102))  # cranium
    d = smin(d, _ellipsoid(p, (0.0, -0.012, 0.000), (0.068, 0.078, 0.079)), 0.03)  # mid face
    d = smin(d, _ellipsoid(p, (0.0, -0.058, 0.012), (0.055, 0.040, 0.060)), 0.035)  # mandible
    d = smin(d, _ellipsoid(p, (0.0, -0.084, 0.057), (0.022, 0.018, 0.017)), 0.016)  # chin
    for sx in (-1.0, 1.0):
        d = smin(d, _ellipsoid(p, (sx * 0.046, 0.006, 0.040), (0.022, 0.016, 0.022)), 0.02)  # cheekbones
        d = smin(d, _ellipsoid(p, (sx * 0.037, -0.018, 0.045), (0.020, 0.019, 0.019)), 0.025)  # cheeks
    d = smin(d, _ellipsoid(p, (0.0, 0.051, 0.057), (0.056, 0.012, 0.020)), 0.018)  # brow ridge
    d = smin(d, _ellipsoid(p, (0.0, -0.047, 0.056), (0.030, 0.030, 0.025)), 0.016)  # muzzle
    d = smin(d, _ellipsoid(p, (0.0, -0.0445, 0.0745), (0.0215, 0.0062, 0.0085)), 0.008)  # upper lip
    d = smin(d, _ellipsoid(p, (0.0, -0.0565, 0.0730), (0.0195, 0.0072, 0.0085)), 0.008)  # lower lip
    d = smin(d, _capsule(p, (0.0, 0.030, 0.064), (0.0, -0.006, 0.090), 0.0050, 0.0080), 0.010)  # nose bridge
    d = smin(d, _ellipsoid(p, (0.0, -0.011, 0.091), (0.0095, 0.0090, 0.0095)), 0.008)  # nose tip
    d = smin(d, _ellipsoid(p, (0.0, -0.017, 0.078), (0.016, 0.007, 0.010)), 0.008)  # nose base
    for sx in (-1.0, 1.0):
        d = smin(d, _ellipsoid(p, (sx * 0.0115, -0.0185, 0.080), (0.0065, 0.0060, 0.0070)), 0.007)  # alae
    for sx in (-1.0, 1.0):
        socket = _ellipsoid(p, (sx * 0.031, 0.030, 0.072), (0.019, 0.013, 0.012))
        d = smax(d, -socket, 0.012)
        lid = np.linalg.norm(p - EYE_CENTRE * np.array([sx, 1.0, 1.0]), axis=-1) - LID_RADIUS
        d = smin(d, lid, 0.007)
    return d


def surface_radius(
    directions: np.ndarray,
    sdf=head_sdf,
    centre: np.ndarray = CENTRE,
    t_max: float = 0.22,
    steps: int = 110,
    bisect: int = 18,
) -> np.ndarray:
    """Distance from ``centre`` to the outermost skin crossing along each unit direction (N, 3)."""
    d = np.asarray(directions, dtype=np.float64).reshape(-1, 3)
    ts = np.linspace(t_max, 0.0, steps + 1)
    out = np.empty(d.shape[0])
    chunk = 4096
    for s in range(0, d.shape[0], chunk):
        dd = d[s : s + chunk]
        pts = centre + ts[:, None, None] * dd[None]
        inside = sdf(pts) < 0.0  # (steps+1, n)
        first = np.argmax(inside, axis=0)
        if not inside[first, np.arange(dd.shape[0])].all():
            raise RuntimeError("a head direction never meets the skin (procedural surface is broken)")
        lo = ts[first]  # inside
        hi = ts[np.maximum(first - 1, 0)]  # outside
        for _ in range(bisect):
            mid = 0.5 * (lo + hi)
            m_in = sdf(centre + mid[:, None] * dd) < 0.0
            lo = np.where(m_in, mid, lo)
            hi = np.where(m_in, hi, mid)
        out[s : s + chunk] = 0.5 * (lo + hi)
    return out


def surface_points(directions: np.ndarray, centre: np.ndarray = CENTRE) -> np.ndarray:
    d = np.asarray(directions, dtype=np.float64).reshape(-1, 3)
    return centre + surface_radius(d, centre=centre)[:, None] * d


def normalize(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def frontal_to_surface(
    xy: np.ndarray, z_guess: np.ndarray | float = 0.07, iterations: int = 6, centre: np.ndarray = CENTRE
) -> tuple[np.ndarray, np.ndarray]:
    """The skin point seen at frontal position (x, y) (looking along -z): (points (N, 3), directions (N, 3)).

    A fixed-point iteration on the depth; the face is close to a height field seen from the front,
    so a few steps land within a fraction of a millimetre of the requested (x, y).
    """
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    z = np.broadcast_to(np.asarray(z_guess, dtype=np.float64), (xy.shape[0],)).copy()
    for _ in range(iterations):
        target = np.column_stack([xy, z])
        dirs = normalize(target - centre)
        pts = surface_points(dirs, centre)
        # Correct the direction so that the hit lands on the requested (x, y): aim at (x, y, z_hit).
        z = pts[:, 2]
    dirs = normalize(np.column_stack([xy, z]) - centre)
    return surface_points(dirs, centre), dirs
