"""The FLAME model file (``generic_model.pkl`` layout): read safely, validate, write.

Native layout (a pickled dict): ``v_template`` (V, 3), ``shapedirs`` (V, 3, S + E) with the S shape
components first and the E expression components after them (FLAME 2020: 300 + 100),
``posedirs`` (V, 3, (J-1)*9), ``J_regressor`` (J, V) scipy sparse, ``weights`` (V, J),
``kintree_table`` (2, J) whose first row holds the parents (root: -1 or 2**32-1), ``f`` (F, 3).
The file does not record S, so it is a setting (``shape_components_in_file``, 300 as in FLAME).
Arrays may be chumpy objects (official file) or numpy arrays (the generated stand-in).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from ned_plugin.files import write_bytes
from ned_server.face3d.safe_pickle import ChumpyShim, FlameAssetError, safe_load_pickle

REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
FLAME_SHAPE_COMPONENTS = 300  # FLAME 2020 stores 300 shape then 100 expression components
ROOT_PARENTS = (-1, 2**32 - 1)


@dataclass
class FlameModel:
    """The model's arrays as float32/int64 numpy, with the parents decoded from ``kintree_table``.

    ``extras`` keeps any other keys of the file (e.g. ``vertex_uvs`` of the generated model).
    """

    v_template: np.ndarray
    shapedirs: np.ndarray
    posedirs: np.ndarray
    j_regressor: np.ndarray
    weights: np.ndarray
    parents: list[int]
    faces: np.ndarray
    shape_components: int
    expression_components: int
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def num_joints(self) -> int:
        return len(self.parents)


# A file of this name beside a FLAME-format model says the model is the procedural stand-in head
# (ned_server.synthetic), not the licensed FLAME: the server reports it as such.
STANDIN_MARKER = "NED_PROCEDURAL_STANDIN"


def _array(raw: dict[str, Any], key: str, path: Path) -> np.ndarray:
    value = raw[key]
    if isinstance(value, ChumpyShim):
        value.to_numpy()  # raises, naming the chumpy class that holds no array
    if sparse.issparse(value):
        value = value.toarray()
    try:
        return np.asarray(value)
    except Exception as exc:
        raise FlameAssetError(f"{path}: '{key}' is not an array ({exc})") from None


def parse_flame_dict(raw: Any, path: Path, shape_components_in_file: int = FLAME_SHAPE_COMPONENTS) -> FlameModel:
    """Validate a loaded FLAME dict and convert it (see the module docstring for the layout)."""
    if not isinstance(raw, dict):
        raise FlameAssetError(f"{path}: a FLAME model file holds a dict, found {type(raw).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise FlameAssetError(f"{path}: not a FLAME model, missing keys {missing} (expected {list(REQUIRED_KEYS)})")
    v_template = _array(raw, "v_template", path).astype(np.float32)
    if v_template.ndim != 2 or v_template.shape[1] != 3:
        raise FlameAssetError(f"{path}: v_template must be (V, 3), got {v_template.shape}")
    n_v = v_template.shape[0]
    shapedirs = _array(raw, "shapedirs", path).astype(np.float32)
    if shapedirs.ndim != 3 or shapedirs.shape[:2] != (n_v, 3):
        raise FlameAssetError(f"{path}: shapedirs must be ({n_v}, 3, components), got {shapedirs.shape}")
    kintree = _array(raw, "kintree_table", path).astype(np.int64)
    if kintree.ndim != 2 or kintree.shape[0] != 2:
        raise FlameAssetError(f"{path}: kintree_table must be (2, joints), got {kintree.shape}")
    n_j = kintree.shape[1]
    order = kintree[1]
    if not np.array_equal(order, np.arange(n_j)):
        raise FlameAssetError(f"{path}: kintree_table's second row must list joints 0..{n_j - 1} in order")
    parents = [-1 if int(p) in ROOT_PARENTS else int(p) for p in kintree[0]]
    if parents[0] != -1 or any(not 0 <= p < j for j, p in enumerate(parents) if j > 0):
        raise FlameAssetError(
            f"{path}: kintree_table parents {parents} are not a tree rooted at joint 0 "
            "with each parent listed before its children"
        )
    posedirs = _array(raw, "posedirs", path).astype(np.float32)
    if posedirs.shape != (n_v, 3, (n_j - 1) * 9):
        raise FlameAssetError(f"{path}: posedirs must be ({n_v}, 3, {(n_j - 1) * 9}), got {posedirs.shape}")
    j_regressor = _array(raw, "J_regressor", path).astype(np.float32)
    if j_regressor.shape != (n_j, n_v):
        raise FlameAssetError(f"{path}: J_regressor must be ({n_j}, {n_v}), got {j_regressor.shape}")
    weights = _array(raw, "weights", path).astype(np.float32)
    if weights.shape != (n_v, n_j):
        raise FlameAssetError(f"{path}: weights must be ({n_v}, {n_j}), got {weights.shape}")
    faces = _array(raw, "f", path).astype(np.int64)
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= n_v:
        raise FlameAssetError(f"{path}: f must be (F, 3) vertex indices below {n_v}")
    total = shapedirs.shape[2]
    n_shape = min(shape_components_in_file, total)
    extras = {k: v for k, v in raw.items() if k not in REQUIRED_KEYS}
    return FlameModel(
        v_template=v_template,
        shapedirs=shapedirs,
        posedirs=posedirs,
        j_regressor=j_regressor,
        weights=weights,
        parents=parents,
        faces=faces,
        shape_components=n_shape,
        expression_components=total - n_shape,
        extras=extras,
    )


def load_flame_model(path: str | Path, shape_components_in_file: int = FLAME_SHAPE_COMPONENTS) -> FlameModel:
    """Read a FLAME model pickle (official chumpy/Python 2 file or the generated one) safely."""
    p = Path(path)
    return parse_flame_dict(safe_load_pickle(p), p, shape_components_in_file)


def save_flame_model(
    path: str | Path,
    v_template: np.ndarray,
    shapedirs: np.ndarray,
    posedirs: np.ndarray,
    j_regressor: np.ndarray | sparse.spmatrix,
    weights: np.ndarray,
    parents: list[int],
    faces: np.ndarray,
    extras: dict[str, Any] | None = None,
) -> Path:
    """Write a model in the official pickle layout (numpy arrays, sparse J_regressor, uint32 root parent)."""
    p = Path(path)
    kintree = np.stack(
        [np.array([2**32 - 1 if q < 0 else q for q in parents], np.int64), np.arange(len(parents), dtype=np.int64)]
    ).astype(np.uint32)
    data: dict[str, Any] = {
        "v_template": np.asarray(v_template),
        "shapedirs": np.asarray(shapedirs),
        "posedirs": np.asarray(posedirs),
        "J_regressor": sparse.csc_matrix(j_regressor),
        "weights": np.asarray(weights),
        "kintree_table": kintree,
        "f": np.asarray(faces, dtype=np.uint32),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }
    data.update(extras or {})
    write_bytes(p, pickle.dumps(data, protocol=4))
    return p
