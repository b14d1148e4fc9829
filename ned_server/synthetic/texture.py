"""Procedural skin, hair, eye and mouth textures of a synthetic identity, painted in UV space.

Every texel of the atlas knows which point of the template head it shows (the mesh is rasterised
in UV space once per model, holes filled from the nearest texel), so features are painted where
they are on the face: lips between the vermilion borders, brows along the brow curves, lash lines
on the lid edges, hair above a hairline, stubble on the beard area. Per identity only the look
changes (tones, hair, iris colour, stubble, freckles, blush). Eyeball and mouth patches are
painted from their own polar parametrisation (iris and pupil around the eyeball's front pole,
teeth and tongue inside the mouth).

Albedo is authored in sRGB and returned scene-linear (what the shading multiplies). A second map
holds specularity (lips and eyes shine, hair does not).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from ned_server.synthetic.colour import srgb_to_linear
from ned_server.synthetic.procedural import features as ft
from ned_server.synthetic.procedural.mesh import (
    ATLAS,
    MOUTH_BAG_CENTRE,
    MOUTH_BAG_RADII,
    PART_LEFT_EYE,
    PART_MOUTH,
    PART_NECK,
    PART_RIGHT_EYE,
    PART_SKIN,
)
from ned_server.synthetic.raster import SoftRasterizer

SKIN_TONES = np.array(
    [  # sRGB, light -> dark
        [0.94, 0.80, 0.71],
        [0.88, 0.69, 0.57],
        [0.78, 0.57, 0.44],
        [0.66, 0.46, 0.33],
        [0.50, 0.33, 0.23],
        [0.36, 0.23, 0.16],
    ]
)
HAIR_COLOURS = np.array(
    [
        [0.06, 0.05, 0.05],
        [0.16, 0.10, 0.07],
        [0.30, 0.19, 0.11],
        [0.55, 0.40, 0.24],
        [0.78, 0.64, 0.42],
        [0.50, 0.22, 0.10],
        [0.55, 0.55, 0.55],
    ]
)
IRIS_COLOURS = np.array(
    [
        [0.30, 0.17, 0.08],
        [0.42, 0.27, 0.12],
        [0.36, 0.40, 0.20],
        [0.28, 0.44, 0.58],
        [0.45, 0.52, 0.58],
        [0.18, 0.10, 0.05],
    ]
)


@dataclass
class Appearance:
    """An identity's look (colours in sRGB)."""

    skin: np.ndarray
    hair: np.ndarray
    iris: np.ndarray
    lips: np.ndarray
    shirt: np.ndarray
    hairline: float  # height of the front hairline (m)
    hair_length: float  # 0 (very short) .. 1 (covers the ears, nape low)
    beard: float  # stubble density 0..1
    freckles: float
    blush: float
    brow_thickness: float

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Appearance:
        t = rng.uniform(0, len(SKIN_TONES) - 1)
        i = int(np.floor(t))
        j = min(i + 1, len(SKIN_TONES) - 1)
        skin = SKIN_TONES[i] * (1 - (t - i)) + SKIN_TONES[j] * (t - i)
        skin = np.clip(skin * rng.uniform(0.96, 1.04, 3), 0, 1)
        dark = 1 - (t / (len(SKIN_TONES) - 1))
        hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] * rng.uniform(0.85, 1.15)
        iris = IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))] * rng.uniform(0.85, 1.15)
        lips = np.clip(skin * np.array([0.92, 0.62, 0.62]) + np.array([0.06, 0.0, 0.01]) * dark, 0, 1)
        shirt = rng.uniform(0.08, 0.75, 3)
        return cls(
            skin=skin,
            hair=np.clip(hair, 0, 1),
            iris=np.clip(iris, 0, 1),
            lips=lips,
            shirt=shirt,
            hairline=float(rng.uniform(0.082, 0.102)),
            hair_length=float(rng.uniform(0.0, 1.0)),
            beard=float(rng.uniform(0, 1) ** 2 if rng.random() < 0.5 else 0.0),
            freckles=float(rng.uniform(0, 1) ** 3 * dark),
            blush=float(rng.uniform(0.0, 0.12)),
            brow_thickness=float(rng.uniform(0.8, 1.25)),
        )


@dataclass
class TexelMap:
    """Per texel: the template point it shows (x, y, z) and its part (-1 outside every chart)."""

    position: np.ndarray  # (T, T, 3)
    part: np.ndarray  # (T, T) int
    uv: np.ndarray  # (T, T, 2) texel centres in UV (v up)
    size: int


def texel_map(template: np.ndarray, faces: np.ndarray, uvs: np.ndarray, part: np.ndarray, size: int) -> TexelMap:
    """Rasterise the template in UV space (texel rows go down: row = (1 - v) * size)."""
    px = np.column_stack([uvs[:, 0] * size, (1 - uvs[:, 1]) * size, np.zeros(len(uvs))])
    attrs = np.column_stack([template, part.astype(np.float32)])[None].astype(np.float32)
    out = SoftRasterizer(size, size).rasterize(px[None], faces, attrs)
    attr, covered = out.attributes[0], out.mask[0]
    _, idx = ndimage.distance_transform_edt(~covered, return_indices=True)
    filled = attr[idx[0], idx[1]]
    position = filled[..., :3].astype(np.float64)
    part_map = np.rint(filled[..., 3]).astype(np.int64)
    jj, ii = np.meshgrid(np.arange(size), np.arange(size))
    uv = np.stack([(jj + 0.5) / size, 1 - (ii + 0.5) / size], -1)
    return TexelMap(position=position, part=part_map, uv=uv, size=size)


# ----------------------------------------------------------------------------- noise
def value_noise(size: int, cells: float, rng: np.random.Generator, channels: int = 1) -> np.ndarray:
    """Smooth noise in [-1, 1]-ish with about ``cells`` features across the texture."""
    n = max(2, round(cells))
    grid = rng.normal(size=(n + 1, n + 1, channels)).astype(np.float32)
    out = cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
    return out.reshape(size, size, channels) / 1.2


def fbm(size: int, rng: np.random.Generator, base_cells: float, octaves: int, channels: int = 1) -> np.ndarray:
    total = np.zeros((size, size, channels), np.float32)
    amp, cells, norm = 1.0, base_cells, 0.0
    for _ in range(octaves):
        total += amp * value_noise(size, min(cells, size / 1.5), rng, channels)
        norm += amp
        amp *= 0.55
        cells *= 2.1
    return total / norm


def _smooth(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


# ----------------------------------------------------------------------------- painting
def paint_textures(tm: TexelMap, look: Appearance, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(albedo (T, T, 3) linear float32, specular (T, T) float32) of one identity."""
    t = tm.size
    p = tm.position
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    ax = np.abs(x)
    skin_part = tm.part == PART_SKIN
    neck_part = tm.part == PART_NECK
    col = np.broadcast_to(look.skin, (t, t, 3)).copy()
    spec = np.full((t, t), 0.35, np.float32)

    # Low-frequency tone variation, blotches, pores.
    blotch = fbm(t, rng, 6, 3, 3)
    col *= 1 + 0.035 * blotch
    pores = value_noise(t, t / 2.2, rng)[..., 0]
    col *= (1 + 0.035 * pores)[..., None]
    fine = value_noise(t, t / 5, rng)[..., 0]
    col *= (1 + 0.02 * fine)[..., None]
    # Redness: cheeks, nose tip, chin; lighter T-zone; darker, slightly purple under the eyes.
    red = np.array([1.04, 0.93, 0.92])
    cheeks = np.exp(-(((ax - 0.040) / 0.018) ** 2 + ((y + 0.012) / 0.018) ** 2)) * (z > 0.02)
    nose_tip = np.exp(-((x / 0.012) ** 2 + ((y + 0.012) / 0.012) ** 2)) * (z > 0.07)
    w_red = (0.6 + look.blush * 6) * cheeks + 0.7 * nose_tip
    col *= 1 + (red - 1)[None, None] * np.clip(w_red, 0, 1.5)[..., None]
    under_eye = np.exp(-(((ax - 0.031) / 0.016) ** 2 + ((y - 0.017) / 0.006) ** 2)) * (z > 0.03)
    col *= 1 - 0.10 * under_eye[..., None] * np.array([1.0, 1.1, 0.9])
    socket = np.exp(-(((ax - 0.030) / 0.02) ** 2 + ((y - 0.036) / 0.008) ** 2)) * (z > 0.03)
    col *= 1 - 0.08 * socket[..., None]
    # Freckles over nose and cheeks.
    if look.freckles > 0.02:
        dots = value_noise(t, t / 3, rng)[..., 0]
        zone = np.exp(-((x / 0.05) ** 2 + ((y + 0.0) / 0.025) ** 2)) * (z > 0.04)
        fr = _smooth(0.9, 1.4, dots) * zone * look.freckles
        col *= 1 - 0.35 * fr[..., None] * np.array([0.8, 1.0, 1.2])

    # Stubble on the beard area.
    if look.beard > 0.02:
        wobble = 0.006 * value_noise(t, 40, rng)[..., 0]
        beard_zone = _smooth(-0.004, 0.02, -(y - (-0.026 + 0.3 * np.maximum(ax - 0.02, 0))) + wobble)
        beard_zone *= _smooth(0.0, 0.01, z + 0.01) * (1 - _smooth(0.0, 0.005, -(y + 0.11)))
        lips_gap = np.exp(-((x / 0.026) ** 2 + ((y - ft.MOUTH_Y) / 0.009) ** 2))
        beard_zone *= 1 - lips_gap
        dots = value_noise(t, t / 2.0, rng)[..., 0]
        hairs = _smooth(0.2, 0.9, dots) * beard_zone * look.beard
        shadow = beard_zone * look.beard * 0.25
        col = col * (1 - (0.55 * hairs + shadow)[..., None]) + look.hair[None, None] * (0.55 * hairs)[..., None] * 0.5

    # Lips.
    s = np.clip(x / ft.MOUTH_HALF_WIDTH, -1.2, 1.2)
    sc = np.clip(s, -1, 1)
    line = ft.mouth_line_y(sc)
    upper = line + ft.upper_lip_height(sc)
    lower = line - ft.lower_lip_height(sc)
    edge = 0.0006
    lip_mask = _smooth(-edge, edge, upper - y) * _smooth(-edge, edge, y - lower)
    lip_mask *= 1 - _smooth(0.96, 1.06, np.abs(s))
    lip_mask *= (z > 0.05) & skin_part
    stripes = 1 + 0.06 * np.sin(x * 2 * np.pi / 0.0011 + 3 * value_noise(t, 40, rng)[..., 0])
    lip_col = look.lips[None, None] * (stripes * (1 - 0.18 * _smooth(0.0, 0.004, np.abs(y - line))))[..., None]
    col = col * (1 - lip_mask[..., None]) + lip_col * lip_mask[..., None]
    spec += 0.9 * lip_mask
    # Mouth corners and the slit itself a bit darker.
    corner = np.exp(-(((ax - ft.MOUTH_HALF_WIDTH) / 0.003) ** 2 + ((y - ft.MOUTH_Y) / 0.002) ** 2))
    col *= 1 - 0.35 * corner[..., None]

    # Nostrils.
    for sx in (-1.0, 1.0):
        nos = np.exp(-(((x - sx * 0.0066) / 0.0032) ** 2 + ((y + 0.0225) / 0.0019) ** 2)) * (z > 0.065)
        col *= 1 - 0.75 * np.clip(nos, 0, 1)[..., None]

    # Eyelids: lash lines, a slightly pink inner corner.
    side = np.where(x >= 0, 1.0, -1.0)
    es = ft.eye_s_of_x(x, side)
    esc = np.clip(es, -1, 1)
    yu, yl = ft.eye_upper_y(esc), ft.eye_lower_y(esc)
    inside_s = _smooth(1.12, 0.95, np.abs(es))
    lash_up = (1 - _smooth(0.0, 0.0011, y - yu)) * (y > yu - 0.0004) * inside_s
    lash_lo = (1 - _smooth(0.0, 0.0006, yl - y)) * (y < yl + 0.0004) * inside_s
    eye_zone = (np.abs(ax - 0.031) < 0.02) & (np.abs(y - 0.03) < 0.012) & (z > 0.04) & skin_part
    lash = np.clip(0.85 * lash_up + 0.45 * lash_lo, 0, 1) * eye_zone
    col = col * (1 - lash[..., None]) + (look.hair * 0.35)[None, None] * lash[..., None]
    crease = np.exp(-(((y - (yu + 0.0045)) / 0.0012) ** 2)) * inside_s * eye_zone
    col *= 1 - 0.12 * crease[..., None]
    canthus = np.exp(-(((es + 1.0) / 0.12) ** 2 + ((y - ft.eye_upper_y(-1.0)) / 0.0015) ** 2)) * eye_zone
    col = col * (1 - 0.5 * canthus[..., None]) + np.array([0.85, 0.45, 0.45])[None, None] * 0.5 * canthus[..., None]

    # Brows: a band along the brow curve, thicker medially, hair strokes along x.
    strokes = value_noise(t, t / 3, rng)[..., 0]
    stretch = cv2.GaussianBlur(strokes, (0, 0), sigmaX=3.0, sigmaY=0.6)
    thick = look.brow_thickness * (0.0042 - 0.0022 * np.clip((ax - 0.016) / 0.042, 0, 1))
    bcentre = ft.brow_y(ax) - 0.0003
    brow = (
        (1 - _smooth(0.5, 1.0, np.abs(y - bcentre) / thick))
        * _smooth(0.011, 0.016, ax)
        * (1 - _smooth(0.056, 0.063, ax))
    )
    brow *= (z > 0.035) & skin_part
    brow = np.clip(brow * (0.75 + 0.6 * stretch), 0, 1)
    col = col * (1 - 0.85 * brow[..., None]) + (look.hair * 0.8)[None, None] * 0.85 * brow[..., None]
    spec *= 1 - 0.6 * brow

    # Scalp hair.
    hairline = look.hairline + 0.012 * (ax / 0.05) ** 2 - 0.004 * np.exp(-((x / 0.012) ** 2))
    nape = -0.02 - 0.05 * look.hair_length
    side_y = 0.008 - 0.014 * look.hair_length
    w_side = _smooth(-0.035, 0.0, z)
    w_front = _smooth(0.02, 0.045, z)
    hair_y = w_front * hairline + (1 - w_front) * (w_side * side_y + (1 - w_side) * nape)
    edge_noise = 0.004 * value_noise(t, 60, rng)[..., 0]
    hair = _smooth(-0.002, 0.003, y - hair_y + edge_noise) * (skin_part | (tm.part < 0))
    strands = cv2.GaussianBlur(value_noise(t, t / 2.5, rng)[..., 0], (0, 0), sigmaX=2.5, sigmaY=0.7)
    clumps = fbm(t, rng, 25, 2)[..., 0]
    hair_col = look.hair[None, None] * (0.9 + 0.25 * strands + 0.12 * clumps)[..., None]
    col = col * (1 - hair[..., None]) + hair_col * hair[..., None]
    spec = spec * (1 - hair) + 0.15 * hair

    # Neck: slightly darker skin, shirt at the bottom of the tube.
    if neck_part.any():
        v = tm.uv[..., 1]
        _, nv0, _, nv1 = ATLAS["neck"]
        depth = np.clip((nv1 - v) / (nv1 - nv0), 0, 1)
        col = np.where(neck_part[..., None], col * 0.93, col)
        shirt = _smooth(0.5, 0.56, depth + 0.02 * value_noise(t, 30, rng)[..., 0]) * neck_part
        weave = 1 + 0.05 * value_noise(t, t / 6, rng)[..., 0]
        col = col * (1 - shirt[..., None]) + (look.shirt[None, None] * weave[..., None]) * shirt[..., None]
        spec = np.where(neck_part, spec * (1 - shirt) + 0.05 * shirt, spec)

    # Eyeballs and mouth from their polar patches.
    eye = (tm.part == PART_LEFT_EYE) | (tm.part == PART_RIGHT_EYE)
    if eye.any():
        ec, er = np.array(ATLAS["eye_centre"]), ATLAS["eye_radius"]
        d = (tm.uv - ec) / er
        rho = np.clip(np.hypot(d[..., 0], d[..., 1]), 0, 1)
        theta = np.degrees(2 * np.arcsin(rho))
        phi = np.arctan2(d[..., 1], d[..., 0])
        sclera = np.array([0.93, 0.90, 0.86]) * (1 - 0.05 * _smooth(40, 90, theta))[..., None]
        veins = np.exp(-((value_noise(t, 70, rng)[..., 0] / 0.05) ** 2)) * _smooth(40, 85, theta)
        sclera = sclera * (1 - 0.3 * veins[..., None] * np.array([0.0, 1.0, 1.0]))
        fibres = (
            1 + 0.18 * np.sin(phi * 37 + 2.0 * value_noise(t, 30, rng)[..., 0]) + 0.1 * value_noise(t, 120, rng)[..., 0]
        )
        iris_r, pupil_r = 28.5, 8.0
        radial = np.clip((theta - pupil_r) / (iris_r - pupil_r), 0, 1)
        iris_col = look.iris[None, None] * (fibres * (1.15 - 0.45 * radial**3))[..., None]
        iris_col = iris_col * (1 - 0.55 * _smooth(0.8, 1.0, radial))[..., None]  # limbal ring
        iris_mask = 1 - _smooth(iris_r - 1.0, iris_r + 1.0, theta)
        pupil_mask = 1 - _smooth(pupil_r - 0.8, pupil_r + 0.8, theta)
        eye_col = sclera * (1 - iris_mask[..., None]) + iris_col * iris_mask[..., None]
        eye_col = eye_col * (1 - pupil_mask[..., None]) + 0.02 * pupil_mask[..., None]
        col = np.where(eye[..., None], eye_col, col)
        spec = np.where(eye, 1.0, spec)
    mouth = tm.part == PART_MOUTH
    if mouth.any():
        mc, mr = np.array(ATLAS["mouth_centre"]), ATLAS["mouth_radius"]
        d = (tm.uv - mc) / mr
        rho = np.clip(np.hypot(d[..., 0], d[..., 1]), 0, 1)
        theta = 2 * np.arcsin(rho)
        phi = np.arctan2(d[..., 1], d[..., 0])
        lx, ly = np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi)
        inner = np.array([0.36, 0.10, 0.10]) * (1 - 0.7 * _smooth(0.5, 1.6, theta))[..., None]
        slit = (ft.MOUTH_Y - MOUTH_BAG_CENTRE[1]) / MOUTH_BAG_RADII[1]
        front = theta < np.radians(60)
        up_teeth = (ly > slit + 0.02) & (ly < slit + 0.42) & (np.abs(lx) < 0.8) & front
        lo_teeth = (ly < slit - 0.10) & (ly > slit - 0.30) & (np.abs(lx) < 0.6) & front
        gums = (ly >= slit + 0.42) & (ly < slit + 0.6) & (np.abs(lx) < 0.85) & front
        width = np.where(np.abs(lx) < 0.3, 4.2, 6.0)  # wider incisors in the middle
        gaps = 1 - 0.18 * np.exp(-(((np.mod(lx * width + 0.5, 1.0) - 0.5) / 0.05) ** 2))
        teeth_col = (
            np.array([0.90, 0.87, 0.79])[None, None]
            * gaps[..., None]
            * (1 - 0.35 * _smooth(0.3, 0.9, np.abs(lx)))[..., None]
        )
        tongue = (ly < slit - 0.22) & ~lo_teeth
        m_col = np.where((up_teeth | lo_teeth)[..., None], teeth_col, inner)
        m_col = np.where(gums[..., None], np.array([0.72, 0.36, 0.38]), m_col)
        m_col = np.where(
            tongue[..., None], np.array([0.62, 0.26, 0.26]) * (1 - 0.4 * _smooth(0.6, 1.4, theta))[..., None], m_col
        )
        col = np.where(mouth[..., None], m_col, col)
        spec = np.where(mouth, 0.3 + 0.5 * (up_teeth | lo_teeth), spec)
    albedo = srgb_to_linear(np.clip(col, 0, 1)).astype(np.float32)
    return albedo, np.clip(spec, 0, 1).astype(np.float32)
