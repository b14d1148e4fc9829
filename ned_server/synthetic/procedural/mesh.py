"""The procedural head's mesh: skin (a spherical triangulation of directions), eyeballs, mouth, neck.

Skin vertices are directions from ``surface.CENTRE``; their triangulation is the convex hull of
the unit vectors (a spherical Delaunay triangulation), which needs no chart and has no seam.
Density follows a sizing field (fine around the eyes and mouth, coarse on the back of the head);
rows of vertices are placed exactly on the eye openings, the mouth slit, the lip borders and the
static landmarks, so that holes have clean borders and landmarks are vertices. Triangles inside
the eye openings, the mouth slit, the neck opening and around the back pole are removed.

Separate parts are then added: two eyeballs (spheres around the eye joints), a mouth cavity
(a dark pouch behind the lips, with teeth painted on) and the neck (a tube whose top ring
duplicates the skin's neck opening; ``weld`` maps duplicates to one vertex for normals).

UVs (u right, v up, OBJ-style) are an atlas: the skin in a disk (azimuthal map around +z with a
tanh radius so the face gets most texels), the eyeball and mouth patches at the right, the neck
in a strip at the bottom (see ``ATLAS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

import numpy as np
import numpy.typing as npt
from scipy.spatial import ConvexHull, cKDTree

from ned_server.synthetic.procedural import features as ft
from ned_server.synthetic.procedural.surface import (
    CENTRE,
    EYE_CENTRE,
    EYE_RADIUS,
    frontal_to_surface,
    normalize,
    surface_points,
)

PART_SKIN, PART_LEFT_EYE, PART_RIGHT_EYE, PART_MOUTH, PART_NECK = 0, 1, 2, 3, 4
PART_NAMES = ("skin", "left_eyeball", "right_eyeball", "mouth_interior", "neck")

# Atlas regions (u0, v0, u1, v1) and the disk / patch parameters.
class _Atlas(TypedDict):
    skin_centre: tuple[float, float]
    skin_radius: float
    eye_centre: tuple[float, float]
    eye_radius: float
    mouth_centre: tuple[float, float]
    mouth_radius: float
    neck: tuple[float, float, float, float]


ATLAS: _Atlas = {
    "skin_centre": (0.375, 0.625),
    "skin_radius": 0.368,
    "eye_centre": (0.875, 0.875),
    "eye_radius": 0.118,
    "mouth_centre": (0.875, 0.625),
    "mouth_radius": 0.118,
    "neck": (0.01, 0.015, 0.74, 0.235),
}
SKIN_UV_K = 0.8  # tanh steepness of the skin disk's radius

NECK_AXIS_POINT = np.array([0.0, -0.090, -0.030])  # where the neck leaves the head (inside)
NECK_RING = 40
NECK_CONE_DEG = 35.0
MOUTH_BAG_CENTRE = np.array([0.0, -0.0515, 0.0505])
MOUTH_BAG_RADII = np.array([0.0225, 0.0195, 0.0205])


@dataclass
class HeadMesh:
    """The template mesh and the bookkeeping the rig, bases, landmarks and texture need."""

    vertices: np.ndarray  # (V, 3)
    faces: np.ndarray  # (F, 3) counter-clockwise seen from outside
    uvs: np.ndarray  # (V, 2)
    part: np.ndarray  # (V,) PART_*
    weld: np.ndarray  # (V,) representative vertex of coincident duplicates
    skin_dirs: np.ndarray  # (n_skin, 3) directions of the skin vertices (skin = the first n_skin vertices)
    static_landmarks: np.ndarray  # (51,) vertex ids of iBUG 17..67
    eye_upper: dict[int, np.ndarray]  # side (+1 left, -1 right) -> upper-lid edge vertex ids along EYE_S
    eye_lower: dict[int, np.ndarray]
    mouth_upper: np.ndarray  # upper inner lip vertex ids along MOUTH_S
    mouth_lower: np.ndarray
    neck_rings: np.ndarray  # (K, NECK_RING) tube vertex ids, top ring first
    neck_ring_skin: np.ndarray  # (NECK_RING,) skin vertex ids of the neck opening

    @property
    def n_skin(self) -> int:
        return int(self.skin_dirs.shape[0])


# ----------------------------------------------------------------------------- helpers
def _gnomonic(d: np.ndarray) -> np.ndarray:
    return d[:, :2] / np.maximum(d[:, 2:3], 1e-6)


def _inside_polygon(pts: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd rule, vectorised over points."""
    x, y = pts[:, 0][:, None], pts[:, 1][:, None]
    x0, y0 = poly[:, 0][None], poly[:, 1][None]
    x1, y1 = np.roll(poly[:, 0], -1)[None], np.roll(poly[:, 1], -1)[None]
    cond = (y0 > y) != (y1 > y)
    xint = x0 + (y - y0) * (x1 - x0) / np.where(y1 != y0, y1 - y0, 1e-30)
    return (cond & (x < xint)).sum(1) % 2 == 1


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def sizing(p: np.ndarray, detail: float = 1.0) -> np.ndarray:
    """Target edge length (metres) at approximate skin points (N, 3)."""
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    h = np.full(p.shape[0], 0.0118)
    front = _smoothstep(-0.02, 0.035, z) * (1 - _smoothstep(0.095, 0.12, y)) * (1 - _smoothstep(-0.11, -0.125, y))
    h = h + (0.0050 - h) * front
    side = 1 - _smoothstep(0.4, 1.3, np.hypot((np.abs(x) - 0.0315) / 0.026, (y - 0.029) / 0.017))
    h = h + (0.0021 - h) * side
    mouth = 1 - _smoothstep(0.5, 1.3, np.hypot(x / 0.036, (y + 0.051) / 0.019))
    h = h + (0.0024 - h) * mouth * (z > 0.03)
    nose = 1 - _smoothstep(0.4, 1.2, np.hypot(x / 0.022, (y + 0.004) / 0.032))
    h = h + (0.0033 - h) * nose * (z > 0.04)
    chin = 1 - _smoothstep(0.5, 1.2, np.hypot(x / 0.03, (y + 0.092) / 0.014))
    h = h + (0.0032 - h) * chin * (z > 0.03)
    return h / detail


def _approx_skin(d: np.ndarray) -> np.ndarray:
    """A cheap stand-in for the skin (an ellipsoid around CENTRE) for sizing candidates."""
    r = 1.0 / np.sqrt(
        (d[:, 0] / 0.077) ** 2
        + (d[:, 1] / np.where(d[:, 1] > 0, 0.118, 0.112)) ** 2
        + (d[:, 2] / np.where(d[:, 2] > 0, 0.092, 0.105)) ** 2
    )
    return CENTRE + r[:, None] * d


def _neck_axis() -> np.ndarray:
    return normalize((NECK_AXIS_POINT - CENTRE)[None])[0]


def _orthonormal(axis: np.ndarray, hint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e1 = normalize((hint - axis * (hint @ axis))[None])[0]
    return e1, np.cross(axis, e1)


def _neck_ring_dirs() -> np.ndarray:
    axis = _neck_axis()
    e1, e2 = _orthonormal(axis, np.array([0.0, 0.0, -1.0]))  # phi = 0 at the back (the UV seam)
    ang = np.radians(NECK_CONE_DEG)
    phi = 2 * np.pi * np.arange(NECK_RING) / NECK_RING
    return normalize(np.cos(ang) * axis + np.sin(ang) * (np.cos(phi)[:, None] * e1 + np.sin(phi)[:, None] * e2))


# ----------------------------------------------------------------------------- fixed points
@dataclass
class _Fixed:
    xy: list[np.ndarray]
    tags: list[tuple]

    def add(self, xy: npt.ArrayLike, tag: tuple) -> None:
        self.xy.append(np.asarray(xy, dtype=np.float64).reshape(2))
        self.tags.append(tag)


def _fixed_points() -> _Fixed:
    fx = _Fixed([], [])
    for k, xy in enumerate(ft.static_landmarks_frontal()):
        fx.add(xy, ("lmk", k))
    for side in (1, -1):
        s = ft.EYE_S
        x = ft.eye_x(s, side)
        for r, off in enumerate(ft.UPPER_LID_ROWS):
            for i in range(len(s)):
                if r > 0 and abs(s[i]) == 1.0:
                    continue
                fx.add((x[i], ft.eye_upper_y(s[i]) + off), ("eye_up", side, r, i))
        for r, off in enumerate(ft.LOWER_LID_ROWS):
            for i in range(len(s)):
                if abs(s[i]) == 1.0:
                    continue
                fx.add((x[i], ft.eye_lower_y(s[i]) - off), ("eye_lo", side, r, i))
        for ext in (0.10, 0.22):  # skin beyond the corners, on the line through them
            for sgn in (-1.0, 1.0):
                s_c = sgn * (1 + ext)
                y_c = ft.eye_upper_y(sgn)  # the corner height
                fx.add((ft.eye_x(s_c, side), y_c + ft.EYE_TILT * sgn * ext), ("eye_ext", side))
    s = ft.MOUTH_S
    for r, frac in enumerate(ft.UPPER_LIP_ROWS):
        for i in range(len(s)):
            if r > 0 and abs(s[i]) == 1.0:
                continue
            y = ft.mouth_line_y(s[i]) + (ft.slit_half_gap(s[i]) if r == 0 else 0.0) + frac * ft.upper_lip_height(s[i])
            fx.add((ft.mouth_x(s[i]), y), ("lip_up", r, i))
    for r, frac in enumerate(ft.LOWER_LIP_ROWS):
        for i in range(len(s)):
            if abs(s[i]) == 1.0:
                continue
            y = ft.mouth_line_y(s[i]) - (ft.slit_half_gap(s[i]) if r == 0 else 0.0) - frac * ft.lower_lip_height(s[i])
            fx.add((ft.mouth_x(s[i]), y), ("lip_lo", r, i))
    for i in range(1, len(s) - 1, 2):  # one row of skin outside each vermilion border
        fx.add(
            (ft.mouth_x(s[i]), ft.mouth_line_y(s[i]) + ft.upper_lip_height(s[i]) + ft.LIP_SKIN_OFFSET), ("lip_skin",)
        )
        fx.add(
            (ft.mouth_x(s[i]), ft.mouth_line_y(s[i]) - ft.lower_lip_height(s[i]) - ft.LIP_SKIN_OFFSET), ("lip_skin",)
        )
    for sgn in (-1.0, 1.0):
        for ext in (1.14, 1.26):
            fx.add((ft.mouth_x(sgn * ext), ft.mouth_line_y(1.0)), ("lip_ext",))
    return fx


def _dedupe(points: np.ndarray, radius: float) -> np.ndarray:
    """For every point, the index of the earlier point it merges into (itself when kept)."""
    tree = cKDTree(points)
    rep = np.arange(points.shape[0])
    for i, j in sorted(tree.query_pairs(radius)):
        if rep[i] == i and rep[j] == j:
            rep[j] = i
    return rep


# ----------------------------------------------------------------------------- skin
def _skin_directions(detail: float, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    fx = _fixed_points()
    xy = np.array(fx.xy)
    pts, dirs = frontal_to_surface(xy)
    rep = _dedupe(pts, 2e-4)
    lmk_reps = [rep[i] for i, t in enumerate(fx.tags) if t[0] == "lmk"]
    if len(set(lmk_reps)) != len(lmk_reps):
        raise RuntimeError("procedural layout error: two landmark points coincide")
    keep = np.unique(rep)
    position = -np.ones(len(rep), np.int64)
    position[keep] = np.arange(keep.size)
    point_of_tag = position[rep]  # every tag -> its (possibly shared) fixed vertex
    dirs, pts = dirs[keep], pts[keep]
    tags = list(fx.tags) + [("neck_ring", k) for k in range(NECK_RING)]
    ring = _neck_ring_dirs()
    point_of_tag = np.concatenate([point_of_tag, keep.size + np.arange(NECK_RING)])
    fixed_dirs = np.concatenate([dirs, ring])
    fixed_pts = np.concatenate([pts, surface_points(ring)])

    # Holes in gnomonic coordinates.
    holes, rims = [], []
    for side in (1, -1):
        up = [point_of_tag[i] for i, t in enumerate(tags) if t[:3] == ("eye_up", side, 0)]
        lo = [point_of_tag[i] for i, t in enumerate(tags) if t[:3] == ("eye_lo", side, 0)]
        holes.append(np.concatenate([_gnomonic(fixed_dirs[up]), _gnomonic(fixed_dirs[lo])[::-1]]))
        rims.append((set(up), set(lo) | {up[0], up[-1]}))
    up = [point_of_tag[i] for i, t in enumerate(tags) if t[:2] == ("lip_up", 0)]
    lo = [point_of_tag[i] for i, t in enumerate(tags) if t[:2] == ("lip_lo", 0)]
    holes.append(np.concatenate([_gnomonic(fixed_dirs[up]), _gnomonic(fixed_dirs[lo])[::-1]]))
    rims.append((set(up), set(lo) | {up[0], up[-1]}))
    ring_ids = set(range(keep.size, keep.size + NECK_RING))
    rims.append((ring_ids, ring_ids))

    # Candidates: uniform on the sphere, thinned towards the sizing field's density.
    n_cand = int(260_000 * detail**2)
    cand = normalize(rng.normal(size=(n_cand, 3)))
    approx = _approx_skin(cand)
    h = sizing(approx, detail)
    h_min = h.min()
    cand = cand[rng.random(n_cand) < np.minimum(1.0, 6.0 * (h_min / h) ** 2)]
    approx = _approx_skin(cand)
    h = sizing(approx, detail) / np.linalg.norm(approx - CENTRE, axis=1)  # in radians
    axis = _neck_axis()
    ok = cand @ axis < np.cos(np.radians(NECK_CONE_DEG) + 0.6 * h)
    front = cand[:, 2] > 0.2
    g = _gnomonic(np.where(front[:, None], cand, np.array([0.0, 0.0, 1.0])))
    for poly in holes:
        ok &= ~(front & _inside_polygon(g, poly))
    cand, h = cand[ok], h[ok]
    # Exclusion around fixed points (their own spacing is about the local sizing).
    fixed_h = sizing(fixed_pts, detail) / np.linalg.norm(fixed_pts - CENTRE, axis=1)
    tree_f = cKDTree(fixed_dirs)
    dist, idx = tree_f.query(cand)
    ok = dist > 0.8 * np.maximum(h, fixed_h[idx])
    cand, h = cand[ok], h[ok]
    # Greedy Poisson-disk elimination with the variable radius.
    order = rng.permutation(cand.shape[0])
    cand, h = cand[order], h[order]
    tree = cKDTree(cand)
    removed = np.zeros(cand.shape[0], bool)
    kept = []
    for i in range(cand.shape[0]):
        if removed[i]:
            continue
        kept.append(i)
        removed[tree.query_ball_point(cand[i], 0.92 * h[i])] = True
    all_dirs = np.concatenate([fixed_dirs, cand[kept]])
    info = {"tags": tags, "point_of_tag": point_of_tag, "holes": holes, "rims": rims, "n_fixed": fixed_dirs.shape[0]}
    return all_dirs, info


def _opened_mouth(dirs: np.ndarray, mouth_hole: np.ndarray) -> np.ndarray:
    """Directions with the lips pushed apart (for triangulating only).

    The mouth slit is much thinner than the vertex spacing, so a Delaunay triangulation would
    bridge it near the corners; triangulating a copy in which the lips are parted by a smooth,
    order-preserving vertical push keeps the slit's rim as edges.
    """
    out = dirs.copy()
    front = dirs[:, 2] > 0.2
    g = _gnomonic(dirs[front])
    half = len(mouth_hole) // 2
    upper, lower = mouth_hole[:half], mouth_hole[half:][::-1]
    xs = upper[:, 0]
    line = 0.5 * (np.interp(g[:, 0], xs, upper[:, 1]) + np.interp(g[:, 0], lower[:, 0], lower[:, 1]))
    corner = 0.5 * (abs(xs[0]) + abs(xs[-1]))
    taper = np.clip(1 - (g[:, 0] / (1.35 * corner)) ** 2, 0, 1)
    dist = g[:, 1] - line
    push = 0.015 * np.sign(dist) * np.clip(1 - np.abs(dist) / 0.1, 0, 1) ** 2 * taper
    g2 = np.column_stack([g[:, 0], g[:, 1] + push, np.ones(len(g))])
    out[front] = normalize(g2)
    return out


def _triangulate_skin(dirs: np.ndarray, info: dict) -> np.ndarray:
    faces = ConvexHull(_opened_mouth(dirs, info["holes"][2])).simplices.astype(np.int64)
    a, b, c = dirs[faces[:, 0]], dirs[faces[:, 1]], dirs[faces[:, 2]]
    normal = np.cross(b - a, c - a)
    flip = (normal * (a + b + c)).sum(1) < 0
    faces[flip] = faces[flip][:, ::-1]
    # A triangle fills an opening when all its corners are on that opening's rim (no vertex lies
    # inside an opening) and it lies inside the rim; anything touching other vertices is skin.
    cen = normalize(dirs[faces].mean(1))
    front = cen[:, 2] > 0.2
    g = _gnomonic(np.where(front[:, None], cen, np.array([0.0, 0.0, 1.0])))
    drop = np.zeros(len(faces), bool)
    for k, (upper, lower) in enumerate(info["rims"]):
        in_up = np.isin(faces, np.fromiter(upper, np.int64))
        in_lo = np.isin(faces, np.fromiter(lower, np.int64))
        on_rim = (in_up | in_lo).all(1)
        if k < len(info["holes"]):
            # Spanning from one lid (lip) to the other can only be inside the opening.
            spans = on_rim & ~in_up.all(1) & ~in_lo.all(1)
            drop |= spans | (on_rim & front & _inside_polygon(g, info["holes"][k]))
        else:
            drop |= on_rim & (cen @ _neck_axis() > np.cos(np.radians(NECK_CONE_DEG + 5)))
    # Around the back pole the azimuthal UV map wraps: drop the triangles that straddle it.
    phi = np.arctan2(dirs[:, 1], dirs[:, 0])
    back = (dirs[faces][:, :, 2] < -0.9).all(1)
    ph = phi[faces]
    span = np.ptp(np.unwrap(ph, axis=1), axis=1)
    drop |= back & (span > np.pi / 2)
    drop |= (dirs[faces][:, :, 2] < -0.995).any(1)
    return faces[~drop]


def skin_uv(dirs: np.ndarray) -> np.ndarray:
    r = np.arccos(np.clip(dirs[:, 2], -1.0, 1.0))
    phi = np.arctan2(dirs[:, 1], dirs[:, 0])
    rho = np.tanh(SKIN_UV_K * r) / np.tanh(SKIN_UV_K * np.pi)
    cu, cv = ATLAS["skin_centre"]
    return np.column_stack(
        [cu + ATLAS["skin_radius"] * rho * np.cos(phi), cv + ATLAS["skin_radius"] * rho * np.sin(phi)]
    )


def skin_dir_from_uv(uv: np.ndarray) -> np.ndarray:
    """Inverse of ``skin_uv`` inside the disk (used to paint the texture)."""
    cu, cv = ATLAS["skin_centre"]
    du, dv = (uv[:, 0] - cu) / ATLAS["skin_radius"], (uv[:, 1] - cv) / ATLAS["skin_radius"]
    rho = np.clip(np.hypot(du, dv), 0, 0.999999)
    r = np.arctanh(rho * np.tanh(SKIN_UV_K * np.pi)) / SKIN_UV_K
    phi = np.arctan2(dv, du)
    return np.column_stack([np.sin(r) * np.cos(phi), np.sin(r) * np.sin(phi), np.cos(r)])


# ----------------------------------------------------------------------------- other parts
def _polar_sphere(n_rings: np.ndarray, n_lon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit sphere with rings around +z at polar angles ``n_rings`` (radians, increasing); returns
    (directions, faces counter-clockwise from outside, polar angle per vertex)."""
    lon = 2 * np.pi * np.arange(n_lon) / n_lon
    dirs = [np.array([[0.0, 0.0, 1.0]])]
    theta = [np.zeros(1)]
    for t in n_rings:
        dirs.append(np.column_stack([np.sin(t) * np.cos(lon), np.sin(t) * np.sin(lon), np.full(n_lon, np.cos(t))]))
        theta.append(np.full(n_lon, t))
    dirs.append(np.array([[0.0, 0.0, -1.0]]))
    theta.append(np.array([np.pi]))
    d = np.concatenate(dirs)
    faces = []
    for j in range(n_lon):  # front cap
        faces.append((0, 1 + j, 1 + (j + 1) % n_lon))
    for r in range(len(n_rings) - 1):
        a0, b0 = 1 + r * n_lon, 1 + (r + 1) * n_lon
        for j in range(n_lon):
            j1 = (j + 1) % n_lon
            faces.append((a0 + j, b0 + j, b0 + j1))
            faces.append((a0 + j, b0 + j1, a0 + j1))
    last = 1 + (len(n_rings) - 1) * n_lon
    pole = d.shape[0] - 1
    for j in range(n_lon):
        faces.append((last + j, pole, last + (j + 1) % n_lon))
    f = np.array(faces, np.int64)
    nrm = np.cross(d[f[:, 1]] - d[f[:, 0]], d[f[:, 2]] - d[f[:, 0]])
    flip = (nrm * d[f].mean(1)).sum(1) < 0
    f[flip] = f[flip][:, ::-1]
    return d, f, np.concatenate(theta)


def _patch_uv(dirs: np.ndarray, theta: np.ndarray, key: str) -> np.ndarray:
    centre, radius = {"eye": (ATLAS["eye_centre"], ATLAS["eye_radius"]),
                      "mouth": (ATLAS["mouth_centre"], ATLAS["mouth_radius"])}[key]
    cu, cv = centre
    rad = radius * np.sin(theta / 2)
    phi = np.arctan2(dirs[:, 1], dirs[:, 0])
    return np.column_stack([cu + rad * np.cos(phi), cv + rad * np.sin(phi)])


EYE_RINGS_DEG = np.array([7, 14, 21, 27, 32, 38, 46, 56, 68, 84, 104, 130, 156])
MOUTH_RINGS_DEG = np.array([12, 26, 40, 55, 70, 88, 108, 130, 155])


def build_head_mesh(detail: float = 1.0, seed: int = 1234) -> HeadMesh:
    """The template mesh (the layout is fixed by ``seed``; identities differ by blend shapes only)."""
    rng = np.random.default_rng(seed)
    dirs, info = _skin_directions(detail, rng)
    faces = _triangulate_skin(dirs, info)
    used = np.zeros(dirs.shape[0], bool)
    used[faces.ravel()] = True
    n_fixed = info["n_fixed"]
    if not used[:n_fixed].all():
        raise RuntimeError("procedural mesh error: some feature vertices ended up in no triangle")
    # Drop unused candidate vertices (e.g. isolated near the back pole) and renumber.
    remap = -np.ones(dirs.shape[0], np.int64)
    keep = np.flatnonzero(used)
    remap[keep] = np.arange(keep.size)
    dirs = dirs[keep]
    faces = remap[faces]
    tags = info["tags"]
    skin_pts = surface_points(dirs)
    n_skin = dirs.shape[0]

    verts = [skin_pts]
    uvs = [skin_uv(dirs)]
    parts = [np.full(n_skin, PART_SKIN)]
    face_list = [faces]
    weld = [np.arange(n_skin)]
    offset = n_skin

    pot = info["point_of_tag"]

    def lookup(pred) -> np.ndarray:
        return np.array([remap[pot[i]] for i, t in enumerate(tags) if pred(t)], np.int64)

    static = np.zeros(51, np.int64)
    for i, t in enumerate(tags):
        if t[0] == "lmk":
            static[t[1]] = remap[pot[i]]

    def edge(kind: str, side: int | None, n: int) -> np.ndarray:
        """Row-0 vertices of an eyelid or lip edge ordered along s (corners from the upper row)."""
        out = -np.ones(n, np.int64)
        for i, t in enumerate(tags):
            if t[0] == kind and (side is None or t[1] == side) and t[-2] == 0:
                out[t[-1]] = remap[pot[i]]
        return out

    eye_upper, eye_lower = {}, {}
    for side in (1, -1):
        up = edge("eye_up", side, len(ft.EYE_S))
        lo = edge("eye_lo", side, len(ft.EYE_S))
        lo[0], lo[-1] = up[0], up[-1]
        eye_upper[side], eye_lower[side] = up, lo
    m_up = edge("lip_up", None, len(ft.MOUTH_S))
    m_lo = edge("lip_lo", None, len(ft.MOUTH_S))
    m_lo[0], m_lo[-1] = m_up[0], m_up[-1]
    for arr in (*eye_upper.values(), *eye_lower.values(), m_up, m_lo):
        if (arr < 0).any():
            raise RuntimeError("procedural mesh error: an eyelid or lip edge vertex is missing")
    ring_skin = lookup(lambda t: t[0] == "neck_ring")

    # Eyeballs.
    e_dirs, e_faces, e_theta = _polar_sphere(np.radians(EYE_RINGS_DEG), 24)
    for side, part in ((1, PART_LEFT_EYE), (-1, PART_RIGHT_EYE)):
        centre = EYE_CENTRE * np.array([side, 1.0, 1.0])
        verts.append(centre + EYE_RADIUS * e_dirs)
        uvs.append(_patch_uv(e_dirs * np.array([side, 1.0, 1.0]), e_theta, "eye"))
        parts.append(np.full(e_dirs.shape[0], part))
        face_list.append(e_faces + offset)
        weld.append(np.arange(e_dirs.shape[0]) + offset)
        offset += e_dirs.shape[0]

    # Mouth cavity.
    m_dirs, m_faces, m_theta = _polar_sphere(np.radians(MOUTH_RINGS_DEG), 20)
    verts.append(MOUTH_BAG_CENTRE + MOUTH_BAG_RADII * m_dirs)
    uvs.append(_patch_uv(m_dirs, m_theta, "mouth"))
    parts.append(np.full(m_dirs.shape[0], PART_MOUTH))
    face_list.append(m_faces + offset)
    weld.append(np.arange(m_dirs.shape[0]) + offset)
    offset += m_dirs.shape[0]

    # Neck tube: ring 0 duplicates the skin's opening; lower rings ease into an ellipse, then flare.
    top = skin_pts[ring_skin]
    heights = np.array([0.0, 0.012, 0.03, 0.05, 0.07, 0.09, 0.11, 0.13, 0.15, 0.175, 0.2, 0.23])
    n_r = NECK_RING
    ring_centre = top.mean(0)
    ang = np.arctan2(top[:, 0] - ring_centre[0], -(top[:, 2] - ring_centre[2]))  # 0 at the back
    rows = []
    for k, hgt in enumerate(heights):
        if k == 0:
            rows.append(top.copy())
            continue
        w = _smoothstep(0.0, 0.06, np.array(hgt))
        sh = _smoothstep(0.045, 0.2, np.array(hgt))  # neck -> shoulders
        rx = 0.058 + 0.15 * sh**0.8
        rz = 0.054 + 0.04 * sh
        y = ring_centre[1] - hgt - 0.02 * sh
        zc = -0.030 + 0.01 * hgt / heights[-1]
        # Shoulders slope down away from the neck: the sides of a wide ring drop further.
        side = np.abs(np.sin(ang))
        target = np.column_stack([rx * np.sin(ang), y - 0.06 * sh * side**2 + 0.03 * sh, zc - rz * np.cos(ang)])
        rows.append(top * (1 - w) + target * w)
    tube = np.concatenate(rows)  # (K*n_r, 3)
    k_rings = len(heights)
    # Seam column: duplicate phi=0 at the end of each ring for the UV wrap.
    ring_ids = np.zeros((k_rings, n_r + 1), np.int64)
    ring_verts: list[np.ndarray] = []
    tube_uv: list[tuple[float, float]] = []
    nu0, nv0, nu1, nv1 = ATLAS["neck"]
    ang0 = np.arctan2(top[:, 0] - ring_centre[0], -(top[:, 2] - ring_centre[2]))
    order_sign = 1.0 if np.mean(np.diff(np.unwrap(ang0))) > 0 else -1.0
    frac = np.unwrap(ang0 * order_sign)
    frac = (frac - frac[0]) / (2 * np.pi)
    for k in range(k_rings):
        for j in range(n_r + 1):
            ring_ids[k, j] = offset + len(ring_verts)
            ring_verts.append(tube[k * n_r + j % n_r])
            u = nu0 + (nu1 - nu0) * (frac[j] if j < n_r else 1.0)
            v = nv1 - (nv1 - nv0) * heights[k] / heights[-1]
            tube_uv.append((u, v))
    tube_verts = np.array(ring_verts)
    n_tube = tube_verts.shape[0]
    ring_faces: list[tuple[int, int, int]] = []
    for k in range(k_rings - 1):
        for j in range(n_r):
            a, b = ring_ids[k, j], ring_ids[k, j + 1]
            c, d = ring_ids[k + 1, j], ring_ids[k + 1, j + 1]
            ring_faces.append((a, c, d))
            ring_faces.append((a, d, b))
    t_faces = np.array(ring_faces, np.int64)
    # Orient outwards from the tube's axis.
    tv = np.concatenate([*verts, tube_verts])
    ctr = tv[t_faces].mean(1)
    axis_pt = np.column_stack([np.zeros(len(ctr)), ctr[:, 1], np.full(len(ctr), -0.028)])
    nrm = np.cross(tv[t_faces[:, 1]] - tv[t_faces[:, 0]], tv[t_faces[:, 2]] - tv[t_faces[:, 0]])
    flip = (nrm * (ctr - axis_pt)).sum(1) < 0
    t_faces[flip] = t_faces[flip][:, ::-1]
    tube_weld = np.arange(n_tube) + offset
    for k in range(k_rings):
        tube_weld[ring_ids[k, n_r] - offset] = ring_ids[k, 0]
    tube_weld[ring_ids[0, :n_r] - offset] = ring_skin
    tube_weld[ring_ids[0, n_r] - offset] = ring_skin[0]
    verts.append(tube_verts)
    uvs.append(np.array(tube_uv))
    parts.append(np.full(n_tube, PART_NECK))
    face_list.append(t_faces)
    weld.append(tube_weld)

    return HeadMesh(
        vertices=np.concatenate(verts),
        faces=np.concatenate(face_list),
        uvs=np.concatenate(uvs),
        part=np.concatenate(parts).astype(np.int64),
        weld=np.concatenate(weld).astype(np.int64),
        skin_dirs=dirs,
        static_landmarks=static,
        eye_upper=eye_upper,
        eye_lower=eye_lower,
        mouth_upper=m_up,
        mouth_lower=m_lo,
        neck_rings=ring_ids[:, :n_r],
        neck_ring_skin=ring_skin,
    )
