"""Renderer checkpoints: what is in them, where they live, how they are written and read.

A training folder holds

    latest.pth     everything to resume: config, iteration, G, both Ds, both optimisers, AMP scaler
    renderer.pth   only what inference needs: config, iteration and G (rewritten with latest.pth)
    losses.jsonl   the loss history (one JSON record per logged iteration)

Both .pth files are written to a temporary file beside the target, fsynced and moved over it with
``os.replace``, so a kill at any instant leaves the previous complete checkpoint or the new one.
They hold only tensors, numbers, strings, lists and dicts, and are read with ``weights_only=True``.

An official NED checkpoints folder (``<epoch>_net_G.pth`` / ``_net_D.pth`` / ``_net_Dm.pth``, see
``official``) is read by ``load`` too, into the same dict, wherever a folder or file of ours is
accepted; a folder holding both kinds is read as ours.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ned_server.renderer import official
from ned_server.renderer.checkpoint_format import FORMAT, RendererCheckpointError
from ned_server.renderer.config import RendererConfig

LATEST = "latest.pth"
RENDERER = "renderer.pth"
HISTORY = "losses.jsonl"


def resolve(path: str | Path, prefer: str = RENDERER) -> Path:
    """A checkpoint file from a file or a training folder (``prefer`` first, then the other)."""
    path = Path(path)
    if path.is_dir():
        for name in (prefer, LATEST if prefer == RENDERER else RENDERER):
            if (path / name).is_file():
                return path / name
        raise RendererCheckpointError(f"no renderer checkpoint ({RENDERER}, {LATEST} or an official NED "
                                      f"<epoch>_net_G.pth) in {path}: train the actor first (ned train-actor)")
    if not path.is_file():
        raise RendererCheckpointError(f"renderer checkpoint {path} does not exist")
    return path


def _ours_in(path: Path) -> bool:
    return path.is_file() or (path / RENDERER).is_file() or (path / LATEST).is_file()


def load(path: str | Path, prefer: str = RENDERER) -> dict[str, Any]:
    if official.is_official(path) and not (Path(path).is_dir() and _ours_in(Path(path))):
        return official.load_official(path)
    file = resolve(path, prefer)
    try:
        ckpt = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise RendererCheckpointError(f"cannot read renderer checkpoint {file}: {exc}") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or "generator" not in ckpt:
        raise RendererCheckpointError(f"{file} is not a NED renderer checkpoint (format {FORMAT})")
    ckpt["path"] = str(file)
    return ckpt


def config_of(ckpt: dict[str, Any]) -> RendererConfig:
    return RendererConfig.from_dict(ckpt["config"])


def summary(path: str | Path) -> dict[str, Any]:
    """Facts about a trained renderer for listings (ActorInfo): iterations, resolution, preset, base."""
    ckpt = load(path)
    cfg = config_of(ckpt)
    return {"iterations": int(ckpt.get("iteration", 0)), "resolution": cfg.resolution, "preset": cfg.preset,
            "base": str(ckpt.get("base", "")), "actors": list(ckpt.get("actors", []))}
