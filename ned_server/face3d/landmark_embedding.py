"""DECA's 68-landmark embedding (``landmark_embedding.npy``) and FLAME's region file (``FLAME_masks.pkl``).

The embedding file is ``np.save`` of a dict (a 0-d object array) with:

* ``static_lmk_faces_idx`` (51,), ``static_lmk_bary_coords`` (51, 3): iBUG points 17..67;
* ``dynamic_lmk_faces_idx`` (79, 17), ``dynamic_lmk_bary_coords`` (79, 17, 3): the jaw contour 0..16
  for each rounded yaw bin (see ``contour_bin``);
* ``full_lmk_faces_idx`` (1, 68), ``full_lmk_bary_coords`` (1, 68, 3): all 68 on the frontal contour.

Each landmark is a point of a triangle, given by the triangle's index and barycentric weights, so
it follows the mesh through any shape, expression and pose.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ned_plugin.files import write_bytes
from ned_server.face3d.safe_pickle import FlameAssetError, safe_load_npy, safe_load_pickle

NUM_CONTOUR = 17
NUM_STATIC = 51
NUM_YAW_BINS = 79
MAX_BIN_DEG = 39


@dataclass
class LandmarkEmbedding:
    static_faces: np.ndarray  # (51,) int64
    static_bary: np.ndarray  # (51, 3) float32
    dynamic_faces: np.ndarray  # (79, 17) int64
    dynamic_bary: np.ndarray  # (79, 17, 3) float32
    full_faces: np.ndarray  # (68,) int64
    full_bary: np.ndarray  # (68, 3) float32

    def check(self, num_faces: int, source: str = "landmark embedding") -> None:
        for name, idx in (("static", self.static_faces), ("dynamic", self.dynamic_faces), ("full", self.full_faces)):
            if idx.size and (idx.min() < 0 or idx.max() >= num_faces):
                raise FlameAssetError(
                    f"{source}: {name} landmark triangles index past the model's {num_faces} faces "
                    "(embedding and model file do not belong together)"
                )


def contour_bin(yaw_deg: np.ndarray | float) -> np.ndarray:
    """DECA's bin of the rounded yaw (degrees, the ``rot_mat_to_y_angle`` of global @ neck).

    Bins 0..39 hold y = -yaw in 0..39 degrees (faces turned towards -x); bins 40..78 hold yaw of
    1..39 degrees (towards +x), i.e. bin 39 - y for y = -yaw < 0; beyond 39 degrees the end bins.
    """
    y = np.round(np.minimum(-np.asarray(yaw_deg, dtype=np.float64), MAX_BIN_DEG)).astype(np.int64)
    return np.where(y < 0, np.where(y < -MAX_BIN_DEG, 2 * MAX_BIN_DEG, MAX_BIN_DEG - y), y)


def bin_yaw_deg(index: int) -> float:
    """The yaw (degrees) a contour bin stands for (inverse of ``contour_bin``)."""
    if not 0 <= index < NUM_YAW_BINS:
        raise ValueError(f"contour bin must be in 0..{NUM_YAW_BINS - 1}, got {index}")
    return float(-index) if index <= MAX_BIN_DEG else float(index - MAX_BIN_DEG)


def _get(raw: dict, key: str, path: Path) -> np.ndarray:
    if key not in raw:
        raise FlameAssetError(f"{path}: landmark embedding misses '{key}' (DECA's landmark_embedding.npy layout)")
    return np.asarray(raw[key])


def parse_landmark_embedding(raw: object, path: Path) -> LandmarkEmbedding:
    if isinstance(raw, np.ndarray) and raw.dtype == object and raw.shape == ():
        raw = raw.item()
    if not isinstance(raw, dict):
        raise FlameAssetError(f"{path}: a landmark embedding holds a dict, found {type(raw).__name__}")
    sf = _get(raw, "static_lmk_faces_idx", path).astype(np.int64).reshape(-1)
    sb = _get(raw, "static_lmk_bary_coords", path).astype(np.float32).reshape(-1, 3)
    df = _get(raw, "dynamic_lmk_faces_idx", path).astype(np.int64)
    db = _get(raw, "dynamic_lmk_bary_coords", path).astype(np.float32)
    ff = _get(raw, "full_lmk_faces_idx", path).astype(np.int64).reshape(-1)
    fb = _get(raw, "full_lmk_bary_coords", path).astype(np.float32).reshape(-1, 3)
    if sf.shape[0] != NUM_STATIC or sb.shape[0] != NUM_STATIC:
        raise FlameAssetError(f"{path}: expected {NUM_STATIC} static landmarks, got {sf.shape[0]}/{sb.shape[0]}")
    if df.shape != (NUM_YAW_BINS, NUM_CONTOUR) or db.shape != (NUM_YAW_BINS, NUM_CONTOUR, 3):
        raise FlameAssetError(
            f"{path}: dynamic contour must be ({NUM_YAW_BINS}, {NUM_CONTOUR}) faces and "
            f"(..., 3) weights, got {df.shape} and {db.shape}"
        )
    if ff.shape[0] != NUM_STATIC + NUM_CONTOUR or fb.shape[0] != ff.shape[0]:
        raise FlameAssetError(f"{path}: full landmarks must be 68, got {ff.shape[0]}")
    return LandmarkEmbedding(sf, sb, df, db, ff, fb)


def load_landmark_embedding(path: str | Path) -> LandmarkEmbedding:
    """Read DECA's ``landmark_embedding.npy`` without numpy's unrestricted ``allow_pickle``."""
    p = Path(path)
    return parse_landmark_embedding(safe_load_npy(p), p)


def save_landmark_embedding(path: str | Path, emb: LandmarkEmbedding) -> Path:
    """Write in DECA's layout: ``np.save`` of a dict (dtypes as DECA's file: int64 / float64)."""
    p = Path(path)
    data = {
        "static_lmk_faces_idx": emb.static_faces.astype(np.int64),
        "static_lmk_bary_coords": emb.static_bary.astype(np.float64),
        "dynamic_lmk_faces_idx": emb.dynamic_faces.astype(np.int64),
        "dynamic_lmk_bary_coords": emb.dynamic_bary.astype(np.float64),
        "full_lmk_faces_idx": emb.full_faces.astype(np.int64)[None],
        "full_lmk_bary_coords": emb.full_bary.astype(np.float64)[None],
    }
    buf = io.BytesIO()
    np.save(buf, np.array(data, dtype=object), allow_pickle=True)
    write_bytes(p, buf.getvalue())
    return p


# --------------------------------------------------------------------------- FLAME_masks.pkl

MASK_NAMES = (
    "face",
    "lips",
    "left_eye_region",
    "right_eye_region",
    "eye_region",
    "left_eyeball",
    "right_eyeball",
    "forehead",
    "nose",
    "neck",
    "scalp",
    "boundary",
    "left_ear",
    "right_ear",
)


def load_flame_masks(path: str | Path, num_vertices: int | None = None) -> dict[str, np.ndarray]:
    """FLAME's region file: a pickled dict of region name -> vertex index array."""
    p = Path(path)
    raw = safe_load_pickle(p)
    if not isinstance(raw, dict) or not raw:
        raise FlameAssetError(f"{p}: FLAME_masks.pkl holds a non-empty dict of region -> vertex indices")
    out: dict[str, np.ndarray] = {}
    for name, idx in raw.items():
        arr = np.asarray(idx).astype(np.int64).reshape(-1)
        if num_vertices is not None and arr.size and (arr.min() < 0 or arr.max() >= num_vertices):
            raise FlameAssetError(f"{p}: region '{name}' indexes past the model's {num_vertices} vertices")
        out[str(name)] = arr
    return out


def save_flame_masks(path: str | Path, masks: dict[str, np.ndarray]) -> Path:
    p = Path(path)
    write_bytes(p, pickle.dumps({k: np.asarray(v, np.int64) for k, v in masks.items()}, protocol=4))
    return p
