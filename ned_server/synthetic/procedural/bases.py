"""Shape and expression blend shapes of the procedural head.

Expression components 0..14 are the named facial actions of ``ned_server.synthetic.semantics``
(smile = 0 ... blink = 12, then the one-sided smile_asym = 13 and brow_asym = 14), each a localized
displacement field at the scale FLAME coefficients use (a weight of about 2 is a strong, clearly
visible action; blink 1.0 closes the eyes).
Eyelid actions slide the lid skin over the eyeball by re-evaluating the skin surface at moved
frontal positions; lip actions move the upper and lower lips apart or together (the slit is a
cut in the mesh). Components 15.. are smooth random low-energy deformations.

Shape components 0..13 are named identity traits (head width, face length, jaw width, chin, nose,
brows, cheekbones, eye spacing, lips, forehead, face depth, head height and depth); 14.. are smooth
random deformations of decreasing energy. Eyeballs only ever translate (their mean displacement),
so they stay spheres around their joints.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ned_server.synthetic.procedural import features as ft
from ned_server.synthetic.procedural.mesh import (
    PART_LEFT_EYE,
    PART_MOUTH,
    PART_NECK,
    PART_RIGHT_EYE,
    PART_SKIN,
    HeadMesh,
)
from ned_server.synthetic.procedural.rig import smoothstep
from ned_server.synthetic.procedural.surface import frontal_to_surface
from ned_server.synthetic.semantics import ACTIONS, NUM_NAMED_ACTIONS

SHAPE_NAMES = (
    "head_width",
    "face_length",
    "jaw_width",
    "chin",
    "nose_projection",
    "nose_width",
    "brow_ridge",
    "cheekbones",
    "eye_spacing",
    "lip_fullness",
    "forehead_slope",
    "face_depth",
    "head_height",
    "head_depth",
)


def _gauss(p: np.ndarray, centre: tuple[float, float, float], sigma: tuple[float, float, float]) -> np.ndarray:
    q = (p - np.asarray(centre)) / np.asarray(sigma)
    return np.exp(-(q * q).sum(1))


def _bilateral(p: np.ndarray, centre: tuple[float, float, float], sigma: tuple[float, float, float]) -> np.ndarray:
    """Gaussian around a point and its mirror image (x -> -x)."""
    pm = p.copy()
    pm[:, 0] = np.abs(pm[:, 0])
    return _gauss(pm, centre, sigma)


def _mirror_x(d: np.ndarray, p: np.ndarray) -> np.ndarray:
    """A field designed for +x applied to both sides: x components flip sign on the -x side."""
    out = d.copy()
    out[:, 0] *= np.where(p[:, 0] < 0, -1.0, 1.0)
    return out


class _Context:
    """Template data every field needs."""

    def __init__(self, mesh: HeadMesh, normals: np.ndarray) -> None:
        self.mesh = mesh
        self.p = mesh.vertices
        self.n = normals
        self.skin = mesh.part == PART_SKIN
        self.eyes = (mesh.part == PART_LEFT_EYE) | (mesh.part == PART_RIGHT_EYE)
        self.mouth = mesh.part == PART_MOUTH
        self.neck = mesh.part == PART_NECK
        x, y = self.p[:, 0], self.p[:, 1]
        s = np.clip(np.abs(x) / ft.MOUTH_HALF_WIDTH, 0, 1.0)
        self.lip_s = s
        self.slit = ft.mouth_line_y(s)
        inside = np.abs(x) < ft.MOUTH_HALF_WIDTH
        # +1 above the mouth slit (upper lip), -1 below, 0 beyond the corners.
        self.lip_side = np.where(inside, np.where(y > self.slit, 1.0, -1.0), 0.0)
        self.lip_side[self.mouth] = np.where(y[self.mouth] > ft.MOUTH_Y, 1.0, -1.0)
        self.front = smoothstep(0.0, 0.03, self.p[:, 2])

    # -- eyelids ---------------------------------------------------------------
    def lid_geometry(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per vertex: eye s, upper edge y, lower edge y, (1 - s^2)-like amplitude, eye side."""
        x = self.p[:, 0]
        side = np.where(x >= 0, 1.0, -1.0)
        s = ft.eye_s_of_x(x, side)
        sc = np.clip(s, -1, 1)
        amp = np.clip(1 - sc * sc, 0, 1) ** 0.5 * (np.abs(s) <= 1.0)
        return sc, ft.eye_upper_y(sc), ft.eye_lower_y(sc), amp, side

    def lid_slide(self, dy: np.ndarray) -> np.ndarray:
        """Displacement moving skin vertices by dy in frontal y, staying on the skin surface."""
        out = np.zeros_like(self.p)
        moving = self.skin & (np.abs(dy) > 1e-7)
        if moving.any():
            xy = self.p[moving, :2] + np.column_stack([np.zeros(moving.sum()), dy[moving]])
            new, _ = frontal_to_surface(xy, self.p[moving, 2], iterations=4)
            out[moving] = new - self.p[moving]
        return out

    def eye_region(self) -> np.ndarray:
        x, y = self.p[:, 0], self.p[:, 1]
        return self.skin & (np.abs(np.abs(x) - 0.031) < 0.03) & (np.abs(y - 0.03) < 0.03) & (self.p[:, 2] > 0.03)


# ----------------------------------------------------------------------------- expression fields
def _smile(c: _Context) -> np.ndarray:
    p = c.p
    corner = _bilateral(p, (ft.MOUTH_HALF_WIDTH, ft.MOUTH_Y, 0.07), (0.013, 0.011, 0.03))
    d = corner[:, None] * np.array([0.0016, 0.0028, -0.0012])
    cheek = _bilateral(p, (0.035, -0.020, 0.06), (0.015, 0.014, 0.03))
    d += cheek[:, None] * np.array([0.0003, 0.0012, 0.0006])
    d += (_gauss(p, (0.0, -0.046, 0.08), (0.014, 0.005, 0.03)) * 0.0003)[:, None] * np.array([0, 1.0, 0])
    return _mirror_x(d, p)


def _frown_mouth(c: _Context) -> np.ndarray:
    p = c.p
    corner = _bilateral(p, (ft.MOUTH_HALF_WIDTH, ft.MOUTH_Y, 0.07), (0.012, 0.011, 0.03))
    d = corner[:, None] * np.array([0.0004, -0.0019, -0.0002])
    chin = _gauss(p, (0.0, -0.077, 0.07), (0.016, 0.011, 0.03))
    d += chin[:, None] * np.array([0.0, 0.0008, 0.0005])
    return _mirror_x(d, p)


def _lid_guard(c: _Context, clearance: float, width: float) -> np.ndarray:
    """0 on the upper lid edge, 1 from ``clearance + width`` above it: keeps brow actions off the lid."""
    _sc, yu, _, _, _ = c.lid_geometry()
    near_eye = np.abs(ft.eye_s_of_x(c.p[:, 0], np.where(c.p[:, 0] >= 0, 1, -1))) < 1.6
    guard = smoothstep(clearance, clearance + width, c.p[:, 1] - yu)
    return np.where(near_eye & (c.p[:, 1] < 0.05), guard, 1.0)


def _brow_raise(c: _Context) -> np.ndarray:
    p = c.p
    y = p[:, 1]
    amount = 0.0026 * smoothstep(0.025, 0.045, y) * (1 - 0.6 * smoothstep(0.06, 0.11, y)) * c.front
    amount *= _lid_guard(c, 0.0015, 0.007) * (np.abs(p[:, 0]) < 0.075)
    return amount[:, None] * np.array([0.0, 1.0, -0.25]) * c.skin[:, None]


def _brow_lower(c: _Context) -> np.ndarray:
    p = c.p
    inner = _bilateral(p, (0.020, 0.047, 0.07), (0.016, 0.013, 0.03))
    d = inner[:, None] * np.array([-0.0012, -0.0019, 0.0003])
    outer = _bilateral(p, (0.047, 0.050, 0.06), (0.016, 0.012, 0.03))
    d += outer[:, None] * np.array([0.0, -0.0007, 0.0])
    glabella = _gauss(p, (0.0, 0.042, 0.075), (0.012, 0.012, 0.03))
    d += glabella[:, None] * np.array([0.0, -0.0006, 0.0007])
    d = _mirror_x(d, p)
    return d * (_lid_guard(c, 0.0015, 0.006) * c.skin)[:, None]


def _eyes_widen(c: _Context) -> np.ndarray:
    _sc, yu, yl, amp, _ = c.lid_geometry()
    y = c.p[:, 1]
    region = c.eye_region()
    up = region & (y >= yu - 1e-5)
    lo = region & (y <= yl + 1e-5)
    dy = np.zeros(len(y))
    dy[up] = 0.0013 * amp[up] * (1 - smoothstep(0.0, 0.010, y[up] - yu[up]))
    dy[lo] = -0.0003 * amp[lo] * (1 - smoothstep(0.0, 0.006, yl[lo] - y[lo]))
    return c.lid_slide(dy)


def _squint(c: _Context) -> np.ndarray:
    _sc, yu, yl, amp, _ = c.lid_geometry()
    y = c.p[:, 1]
    region = c.eye_region()
    up = region & (y >= yu - 1e-5)
    lo = region & (y <= yl + 1e-5)
    dy = np.zeros(len(y))
    dy[lo] = 0.0011 * amp[lo] * (1 - smoothstep(0.0, 0.008, yl[lo] - y[lo]))
    dy[up] = -0.0003 * amp[up] * (1 - smoothstep(0.0, 0.010, y[up] - yu[up]))
    d = c.lid_slide(dy)
    cheek = _bilateral(c.p, (0.036, 0.002, 0.06), (0.018, 0.012, 0.03)) * (1 - lo) * c.skin
    d += cheek[:, None] * np.array([0.0, 0.0008, 0.0003])
    return d


def _nose_wrinkle(c: _Context) -> np.ndarray:
    p = c.p
    alae = _bilateral(p, (0.011, -0.021, 0.08), (0.011, 0.009, 0.03))
    d = alae[:, None] * np.array([0.0002, 0.0016, -0.0002])
    d += _gauss(p, (0.0, 0.015, 0.08), (0.010, 0.012, 0.03))[:, None] * np.array([0.0, 0.0005, -0.0003])
    lip = _gauss(p, (0.0, -0.039, 0.08), (0.020, 0.006, 0.03)) * (c.lip_side >= 0)
    d += lip[:, None] * np.array([0.0, 0.0007, 0.0])
    inner = _bilateral(p, (0.016, 0.045, 0.07), (0.012, 0.010, 0.03))
    d += inner[:, None] * np.array([0.0, -0.0005, 0.0])
    return _mirror_x(d, p) * (c.skin | c.mouth)[:, None]


def _lip_fraction(c: _Context) -> tuple[np.ndarray, np.ndarray]:
    """(fraction of the way from the slit to the vermilion border, amplitude 0 at the corners)."""
    s = c.lip_s
    y = c.p[:, 1]
    height = np.where(c.lip_side > 0, ft.upper_lip_height(s), ft.lower_lip_height(s))
    dist = np.abs(y - c.slit)
    frac = np.clip(dist / np.maximum(height, 1e-4), 0, 1)
    beyond = 1 - smoothstep(0.0, 0.007, dist - height)
    amp = (1 - s * s) ** 0.6 * (np.abs(c.p[:, 0]) < ft.MOUTH_HALF_WIDTH) * c.front
    return frac * beyond, amp


def _lip_press(c: _Context) -> np.ndarray:
    frac, amp = _lip_fraction(c)
    d = np.zeros_like(c.p)
    d[:, 1] = -c.lip_side * 0.0015 * frac * amp
    d[:, 2] = -0.0006 * frac * amp
    return d * c.skin[:, None]


def _lip_stretch(c: _Context) -> np.ndarray:
    p = c.p
    corner = _bilateral(p, (ft.MOUTH_HALF_WIDTH, ft.MOUTH_Y, 0.07), (0.014, 0.012, 0.03))
    d = corner[:, None] * np.array([0.0018, -0.0005, -0.0005])
    d = _mirror_x(d, p)
    frac, amp = _lip_fraction(c)
    d[:, 2] += -0.0003 * frac * amp
    return d * (c.skin | c.mouth)[:, None]


def _pucker(c: _Context) -> np.ndarray:
    p = c.p
    corner = _bilateral(p, (ft.MOUTH_HALF_WIDTH, ft.MOUTH_Y, 0.07), (0.013, 0.012, 0.03))
    d = corner[:, None] * np.array([-0.0022, 0.0, 0.0008])
    lips = _gauss(p, (0.0, ft.MOUTH_Y, 0.08), (0.020, 0.013, 0.03))
    d += lips[:, None] * np.array([0.0, 0.0, 0.0016])
    return _mirror_x(d, p) * (c.skin | c.mouth)[:, None]


def _inner_brow_raise(c: _Context) -> np.ndarray:
    p = c.p
    inner = _bilateral(p, (0.019, 0.047, 0.07), (0.014, 0.014, 0.03))
    d = inner[:, None] * np.array([0.0, 0.0024, -0.0004])
    d += _gauss(p, (0.0, 0.062, 0.07), (0.022, 0.02, 0.03))[:, None] * np.array([0.0, 0.0009, 0.0])
    return d * (_lid_guard(c, 0.0015, 0.007) * c.skin)[:, None]


def _cheek_puff(c: _Context) -> np.ndarray:
    g = _bilateral(c.p, (0.040, -0.040, 0.05), (0.018, 0.018, 0.04)) * c.skin
    return g[:, None] * c.n * 0.0018


def _blink(c: _Context) -> np.ndarray:
    _sc, yu, yl, _amp, _ = c.lid_geometry()
    y = c.p[:, 1]
    region = c.eye_region()
    meet = yl + 0.28 * (yu - yl)
    up = region & (y >= yu - 1e-5)
    lo = region & (y <= yl + 1e-5)
    dy = np.zeros(len(y))
    dy[up] = (meet[up] - yu[up]) * (1 - smoothstep(0.0, 0.012, y[up] - yu[up]))
    dy[lo] = (meet[lo] - yl[lo]) * (1 - smoothstep(0.0, 0.006, yl[lo] - y[lo]))
    return c.lid_slide(dy)


def _one_sided(c: _Context, field: np.ndarray) -> np.ndarray:
    """A symmetric field made one-sided: the actor's left side (+x) moves with it, the right against it."""
    return field * np.tanh(c.p[:, 0] / 0.01)[:, None]


def _smile_asym(c: _Context) -> np.ndarray:
    return _one_sided(c, _smile(c))


def _brow_asym(c: _Context) -> np.ndarray:
    return _one_sided(c, _brow_raise(c))


EXPRESSION_FIELDS: dict[str, Callable[[_Context], np.ndarray]] = {
    "smile": _smile,
    "frown_mouth": _frown_mouth,
    "brow_raise": _brow_raise,
    "brow_lower": _brow_lower,
    "eyes_widen": _eyes_widen,
    "squint": _squint,
    "nose_wrinkle": _nose_wrinkle,
    "lip_press": _lip_press,
    "lip_stretch": _lip_stretch,
    "pucker": _pucker,
    "inner_brow_raise": _inner_brow_raise,
    "cheek_puff": _cheek_puff,
    "blink": _blink,
    "smile_asym": _smile_asym,
    "brow_asym": _brow_asym,
}


def _random_field(
    c: _Context,
    rng: np.random.Generator,
    centres: np.ndarray,
    amplitude: float,
    sigma_range: tuple[float, float],
    bumps: int,
) -> np.ndarray:
    d = np.zeros_like(c.p)
    for _ in range(bumps):
        ctr = centres[rng.integers(len(centres))]
        sig = rng.uniform(*sigma_range)
        g = np.exp(-(((c.p - ctr) / sig) ** 2).sum(1))
        vec = rng.normal(size=3)
        vec /= np.linalg.norm(vec)
        d += g[:, None] * vec * amplitude * rng.uniform(0.5, 1.0)
    return d


def _finish(c: _Context, d: np.ndarray, eyes_follow: bool) -> np.ndarray:
    """Eyeballs translate rigidly (or stay), seam duplicates agree."""
    out = d.copy()
    for part in (PART_LEFT_EYE, PART_RIGHT_EYE):
        ids = c.mesh.part == part
        out[ids] = out[ids].mean(0) if eyes_follow else 0.0
    out = out[c.mesh.weld]
    return out


def expression_basis(mesh: HeadMesh, normals: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """(V, 3, count) expression blend shapes."""
    if count < NUM_NAMED_ACTIONS:
        raise ValueError(f"the procedural model needs at least {NUM_NAMED_ACTIONS} expression components")
    c = _Context(mesh, normals)
    out = np.zeros((mesh.vertices.shape[0], 3, count))
    for name, idx in ACTIONS.items():
        out[:, :, idx] = _finish(c, EXPRESSION_FIELDS[name](c), eyes_follow=False)
    face = c.skin & (c.p[:, 2] > 0.02) & (np.abs(c.p[:, 1]) < 0.09)
    centres = c.p[face]
    mask = (c.front * (c.skin | c.mouth))[:, None] * (1 - smoothstep(0.07, 0.1, c.p[:, 1]))[:, None]
    for k in range(NUM_NAMED_ACTIONS, count):
        amp = 0.0007 / (1.0 + (k - NUM_NAMED_ACTIONS) / 15.0)
        d = _random_field(c, rng, centres, amp, (0.010, 0.022), 4) * mask
        out[:, :, k] = _finish(c, d, eyes_follow=False)
    return out


# ----------------------------------------------------------------------------- shape fields
def _neck_fade(c: _Context, heights_of_vertex: np.ndarray) -> np.ndarray:
    return np.where(c.neck, 1 - smoothstep(0.0, 0.2, heights_of_vertex), 1.0)


def shape_basis(
    mesh: HeadMesh, normals: np.ndarray, count: int, rng: np.random.Generator, tube_height: np.ndarray
) -> np.ndarray:
    """(V, 3, count) identity blend shapes (tube_height: per-vertex distance below the neck opening)."""
    c = _Context(mesh, normals)
    p = c.p
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    front = c.front
    fields: list[np.ndarray] = []
    zero = np.zeros_like(x)
    fields.append(np.column_stack([0.045 * x, zero, zero]))  # head width
    fields.append(np.column_stack([zero, 0.05 * np.minimum(y - 0.03, 0) * (0.4 + 0.6 * front), zero]))  # face length
    fields.append(np.column_stack([0.07 * x * smoothstep(-0.01, -0.06, y), zero, zero]))  # jaw width
    g = _gauss(p, (0.0, -0.086, 0.06), (0.02, 0.018, 0.03))
    fields.append(g[:, None] * np.array([0.0, -0.0015, 0.0028]))  # chin
    g = _gauss(p, (0.0, -0.008, 0.09), (0.012, 0.02, 0.025))
    fields.append(g[:, None] * np.array([0.0, -0.001, 0.0028]))  # nose projection
    g = _gauss(p, (0.0, -0.016, 0.08), (0.02, 0.013, 0.025))
    fields.append(np.column_stack([0.22 * x * g, zero, zero]))  # nose width
    g = _bilateral(p, (0.03, 0.051, 0.07), (0.03, 0.011, 0.02))
    fields.append(g[:, None] * np.array([0.0, 0.0004, 0.0022]))  # brow ridge
    g = _bilateral(p, (0.048, 0.004, 0.04), (0.018, 0.016, 0.025))
    fields.append(_mirror_x(g[:, None] * np.array([0.0022, 0.0, 0.0010]), p))  # cheekbones
    g = _bilateral(p, (0.031, 0.030, 0.06), (0.017, 0.02, 0.04))
    fields.append(_mirror_x(g[:, None] * np.array([0.0015, 0.0, 0.0]), p))  # eye spacing
    g = _gauss(p, (0.0, ft.MOUTH_Y, 0.075), (0.021, 0.011, 0.02))
    lip = g[:, None] * np.array([0.0, 0.0, 0.0018])
    lip[:, 1] += 0.0008 * np.tanh((y - c.slit) / 0.003) * g
    fields.append(lip)  # lip fullness
    fields.append(
        np.column_stack([zero, zero, -0.005 * smoothstep(0.055, 0.12, y) * smoothstep(0.0, 0.05, z)])
    )  # forehead
    fields.append(np.column_stack([zero, zero, 0.035 * np.maximum(z - 0.02, 0)]))  # face depth
    fields.append(np.column_stack([zero, 0.05 * np.maximum(y - 0.045, 0), zero]))  # head height
    fields.append(np.column_stack([zero, zero, 0.05 * np.minimum(z + 0.01, 0)]))  # head depth
    assert len(fields) == len(SHAPE_NAMES)
    fade = _neck_fade(c, tube_height)[:, None]
    out = np.zeros((p.shape[0], 3, count))
    for k in range(min(count, len(fields))):
        out[:, :, k] = _finish(c, fields[k] * fade, eyes_follow=True)
    centres = p[c.skin]
    for k in range(len(fields), count):
        amp = 0.0016 / (1.0 + (k - len(fields)) / 12.0)
        d = _random_field(c, rng, centres, amp, (0.02, 0.045), 3) * fade
        out[:, :, k] = _finish(c, d, eyes_follow=True)
    return out
