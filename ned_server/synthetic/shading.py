"""Deferred shading of the rasterised actor: lights, skin-like diffuse, specular, occlusion.

Inputs are per-pixel images from the rasteriser (albedo looked up from the atlas, normals, baked
ambient occlusion, part id). Skin uses wrapped diffuse (light bleeding past the terminator, a
cheap stand-in for subsurface scattering); eyes get a sharp highlight; surfaces seen from behind
(the inside of the head through the eye corners) read as dark tissue. All values scene-linear.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import sparse

from ned_server.synthetic.procedural.mesh import PART_LEFT_EYE, PART_MOUTH, PART_RIGHT_EYE

VIEW = np.array([0.0, 0.0, 1.0])  # the orthographic camera looks down -z from +z


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


@dataclass
class Lighting:
    """Directions point from the surface towards the light (FLAME frame: x left of the subject, y up, z to camera)."""

    key_dir: np.ndarray
    key_colour: np.ndarray
    fill_dir: np.ndarray
    fill_colour: np.ndarray
    ambient: np.ndarray
    rim_colour: np.ndarray

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Lighting:
        az = rng.uniform(-1.0, 1.0)
        el = rng.uniform(0.1, 0.8)
        key = _unit(np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)]))
        fill = _unit(np.array([-np.sign(az) * rng.uniform(0.4, 0.9), rng.uniform(-0.2, 0.3), 1.0]))
        warmth = rng.uniform(-1, 1)
        key_col = np.array([1.0 + 0.12 * warmth, 1.0, 1.0 - 0.15 * warmth]) * rng.uniform(0.85, 1.35)
        fill_col = np.array([1.0 - 0.08 * warmth, 1.0, 1.0 + 0.1 * warmth]) * rng.uniform(0.12, 0.35)
        amb = rng.uniform(0.12, 0.28) * np.array([0.95, 1.0, 1.08]) * rng.uniform(0.9, 1.1, 3)
        rim = rng.uniform(0.0, 0.4) * np.array([1.0, 0.98, 0.95])
        return cls(key, key_col, fill, fill_col, amb, rim)


def shade(
    albedo: np.ndarray,
    specular: np.ndarray,
    normals: np.ndarray,
    ao: np.ndarray,
    part: np.ndarray,
    covered: np.ndarray,
    light: Lighting,
) -> np.ndarray:
    """(H, W, 3) linear radiance of covered pixels (0 elsewhere).

    Only the covered pixels are shaded, in float32: the head fills well under half of the
    supersampled frame, and this shading is most of what filming a synthetic shot costs.
    """
    out = np.zeros(albedo.shape, np.float32)
    if covered.any():
        out[covered] = _shade_pixels(albedo[covered], specular[covered], normals[covered], ao[covered],
                                     part[covered], light)
    return out


def _shade_pixels(
    albedo: np.ndarray, specular: np.ndarray, normals: np.ndarray, ao: np.ndarray, part: np.ndarray, light: Lighting
) -> np.ndarray:
    """(N, 3) radiance of N covered pixels given as rows."""
    f32 = np.float32
    n = normals / np.maximum(np.linalg.norm(normals, axis=-1, keepdims=True), f32(1e-6))
    facing = n[:, 2]
    eye = (part == PART_LEFT_EYE) | (part == PART_RIGHT_EYE)
    mouth = part == PART_MOUTH
    interior = (facing < -0.05) & ~eye & ~mouth
    wrap = np.where(eye, f32(0.0), f32(0.3))[:, None]
    diffuse = np.zeros_like(albedo)
    warm = np.array([0.4, -0.1, -0.2], f32)
    for d, c in ((light.key_dir, light.key_colour), (light.fill_dir, light.fill_colour)):
        ndl = (n @ d.astype(f32))[:, None]
        lam = np.clip((ndl + wrap) / (1 + wrap), 0, 1)
        tint = 1 + np.clip(f32(0.25) - np.abs(ndl - f32(0.1)), 0, None) * warm  # warm terminator
        diffuse += lam * c.astype(f32) * np.where(eye[:, None], f32(1.0), tint)
    hemi = f32(0.75) + f32(0.25) * n[:, 1:2]
    rim = light.rim_colour.astype(f32) * np.clip(1 - facing, 0, 1)[:, None] ** 3 * f32(0.4)
    diffuse += light.ambient.astype(f32) * hemi * ao[:, None] + rim
    lum = albedo @ np.array([0.2126, 0.7152, 0.0722], f32)
    teeth = np.clip((lum - f32(0.25)) / f32(0.3), 0, 1)
    occl = np.where(mouth, f32(0.35) + f32(0.5) * teeth, f32(1.0))[:, None]
    out = albedo * diffuse * occl * np.sqrt(ao)[:, None]
    # Blinn-Phong highlights.
    rough = np.where(eye, f32(350.0), np.where(specular > 0.6, f32(45.0), f32(18.0)))
    strength = np.where(eye, f32(1.2), f32(0.05) + f32(0.1) * specular) * np.where(mouth, f32(0.3), f32(1.0))
    fres = 1 + 2 * np.clip(1 - facing, 0, 1) ** 5
    for d, c in ((light.key_dir, light.key_colour), (light.fill_dir, light.fill_colour * 0.5)):
        h = _unit(d + VIEW).astype(f32)
        ndh = np.clip(n @ h, 0, 1)
        lit = (n @ d.astype(f32)) > 0
        out += (strength * fres * ndh**rough * lit)[:, None] * c.astype(f32) * ao[:, None]
    out[interior] = np.array([0.05, 0.012, 0.012]) * light.ambient.mean() * 4
    return out.astype(np.float32)


def socket_occlusion(eye_mask: np.ndarray, pixels_per_mm: float) -> np.ndarray:
    """(H, W) factor darkening eyeball pixels near the lids (the lids' shadow and the eye's recess)."""
    if not eye_mask.any():
        return np.ones(eye_mask.shape, np.float32)
    dist = cv2.distanceTransform(eye_mask.astype(np.uint8), cv2.DIST_L2, 3)
    sigma = max(0.8, 1.1 * pixels_per_mm)
    return np.where(eye_mask, 1 - 0.55 * np.exp(-dist / sigma), 1.0).astype(np.float32)


def vertex_occlusion(
    vertices: np.ndarray, faces: np.ndarray, normals: np.ndarray, weld: np.ndarray, iterations: int = 3
) -> np.ndarray:
    """Per-vertex ambient occlusion guess from concavity (creases, sockets, nostrils get darker)."""
    v = vertices
    f = weld[faces]
    n_v = v.shape[0]
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    edges = np.concatenate([edges, edges[:, ::-1]])
    adj = sparse.csr_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n_v, n_v))
    adj.data[:] = 1.0
    deg = np.asarray(adj.sum(1)).ravel()
    deg = np.maximum(deg, 1)
    mean_nb = (adj @ v) / deg[:, None]
    lap = mean_nb - v
    lengths = np.linalg.norm(v[edges[:, 0]] - v[edges[:, 1]], axis=1)
    elen = np.bincount(edges[:, 0], lengths, minlength=n_v) / np.maximum(np.bincount(edges[:, 0], minlength=n_v), 1)
    cav = (lap * normals).sum(1) / np.maximum(elen, 1e-6)
    for _ in range(iterations):
        cav = 0.5 * cav + 0.5 * (adj @ cav) / deg
    ao = np.clip(1 - 2.2 * np.maximum(cav, 0), 0.45, 1.0)
    return ao[weld].astype(np.float32)
