"""Writing the procedural FLAME-format assets to disk, in the official files' layouts.

``make_tiny_flame_assets(folder, seed)`` writes, under ``folder/tiny_flame_seed{seed}/``:

* ``generic_model.pkl`` - the model (FLAME pickle layout: numpy arrays, sparse J_regressor);
* ``landmark_embedding.npy`` - DECA's 68-landmark embedding layout;
* ``FLAME_masks.pkl`` - region name -> vertex indices (FLAME's names plus ``mouth_interior``);
* ``tiny_flame_extras.npz`` - what the official files do not hold: per-vertex ``uvs`` (u right,
  v up), ``part`` labels (``part_names``), the ``weld`` map of coincident duplicate vertices;
* ``manifest.json`` - seed, settings and format version (written last: its presence means done).

Calls with the same seed and settings reuse the files (and, within a process, the arrays), so
tests and the demo can call it freely. The real loaders (``load_flame_model`` etc.) read these
files exactly as they read the licensed ones.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ned_plugin.files import write_bytes
from ned_server.face3d.landmark_embedding import save_flame_masks, save_landmark_embedding
from ned_server.face3d.model_file import STANDIN_MARKER, save_flame_model
from ned_server.face3d.safe_pickle import FlameAssetError
from ned_server.synthetic.config import ActorConfig, TinyFlameConfig
from ned_server.synthetic.flame_generator import PART_NAMES, TinyFlame, generate_tiny_flame

FORMAT_VERSION = 7
MODEL_FILE = "generic_model.pkl"
LANDMARK_FILE = "landmark_embedding.npy"
MASKS_FILE = "FLAME_masks.pkl"
EXTRAS_FILE = "tiny_flame_extras.npz"
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class TinyFlameAssets:
    """Paths of the written files (and the seed they were made with)."""

    folder: Path
    model: Path
    landmarks: Path
    masks: Path
    extras: Path
    seed: int


@dataclass
class TinyFlameExtras:
    uvs: np.ndarray
    part: np.ndarray
    weld: np.ndarray
    part_names: tuple[str, ...]


_lock = threading.Lock()
_memory: dict[tuple, TinyFlame] = {}


def tiny_flame(seed: int = 0, config: TinyFlameConfig | None = None) -> TinyFlame:
    """The generated arrays, memoised per process."""
    cfg = config or TinyFlameConfig()
    key = (int(seed), tuple(sorted(asdict(cfg).items())))
    with _lock:
        if key not in _memory:
            _memory[key] = generate_tiny_flame(seed, cfg)
        return _memory[key]


def default_assets_folder() -> Path:
    """Where the synthetic actor keeps its model when no folder is given (per user temp dir)."""
    return Path(tempfile.gettempdir()) / "ned_tiny_flame"


def _generator_digest() -> str:
    """Hash of the generator's sources: files written by an older generator are rebuilt."""
    here = Path(__file__).parent
    h = hashlib.sha1()
    for f in sorted([here / "flame_generator.py", *(here / "procedural").glob("*.py")]):
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _manifest(seed: int, cfg: TinyFlameConfig) -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "generator": _generator_digest(),
        "seed": int(seed),
        "config": asdict(cfg),
    }


def make_tiny_flame_assets(
    folder: str | Path | None = None, seed: int = 0, config: TinyFlameConfig | None = None
) -> TinyFlameAssets:
    """Write (or reuse) the procedural model's files for ``seed`` under ``folder``; return their paths."""
    cfg = config or TinyFlameConfig()
    base = Path(folder) if folder is not None else default_assets_folder()
    out = base / f"tiny_flame_seed{int(seed)}"
    paths = TinyFlameAssets(
        folder=out,
        model=out / MODEL_FILE,
        landmarks=out / LANDMARK_FILE,
        masks=out / MASKS_FILE,
        extras=out / EXTRAS_FILE,
        seed=int(seed),
    )
    manifest_path = out / MANIFEST_FILE
    wanted = _manifest(seed, cfg)
    if manifest_path.is_file():
        try:
            if json.loads(manifest_path.read_text()) == wanted and all(
                p.is_file() for p in (paths.model, paths.landmarks, paths.masks, paths.extras)
            ):
                return paths
        except (OSError, ValueError):
            pass
    model = tiny_flame(seed, cfg)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path.unlink(missing_ok=True)
    save_flame_model(
        paths.model,
        model.v_template,
        model.shapedirs,
        model.posedirs,
        model.j_regressor,
        model.weights,
        model.parents,
        model.faces,
    )
    save_landmark_embedding(paths.landmarks, model.landmarks)
    save_flame_masks(paths.masks, model.masks)
    buf = io.BytesIO()
    np.savez_compressed(buf, uvs=model.uvs, part=model.part, weld=model.weld, part_names=np.array(PART_NAMES))
    write_bytes(paths.extras, buf.getvalue())
    write_bytes(manifest_path, json.dumps(wanted, indent=1).encode())
    return paths


def load_tiny_flame_extras(path: str | Path) -> TinyFlameExtras:
    p = Path(path)
    if not p.is_file():
        raise FlameAssetError(f"file not found: {p} (write it with make_tiny_flame_assets)")
    with np.load(p, allow_pickle=False) as z:
        try:
            return TinyFlameExtras(
                uvs=z["uvs"].astype(np.float32),
                part=z["part"].astype(np.int64),
                weld=z["weld"].astype(np.int64),
                part_names=tuple(str(s) for s in z["part_names"]),
            )
        except KeyError as exc:
            raise FlameAssetError(f"{p}: missing array {exc} (expected uvs, part, weld, part_names)") from None


def install_standin_flame(models_dir: str | Path, seed: int | None = None) -> Path:
    """Put the procedural head into ``models_dir/flame/`` under the official FLAME file names.

    The server loads FLAME only from its models folder and never builds the stand-in itself, so
    the demo and the tests install it there, marked with ``STANDIN_MARKER`` so the server reports
    it as the stand-in. Files already in place (same size and time) are kept.
    """
    assets = make_tiny_flame_assets(None, seed=ActorConfig().model_seed if seed is None else seed)
    folder = Path(models_dir) / "flame"
    folder.mkdir(parents=True, exist_ok=True)
    for src in (assets.model, assets.landmarks, assets.masks):
        dst = folder / src.name
        s = src.stat()
        if dst.is_file() and dst.stat().st_size == s.st_size and int(dst.stat().st_mtime) == int(s.st_mtime):
            continue
        dst.unlink(missing_ok=True)
        try:
            os.link(src, dst)  # the tests install it for every server: 23 MB, so share it where we can
        except OSError:
            shutil.copy2(src, dst)
    (folder / STANDIN_MARKER).write_text(f"procedural stand-in head, seed {assets.seed} ({assets.folder})\n")
    return folder
