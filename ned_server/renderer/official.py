"""Reading the official NED renderer's checkpoints: ``<epoch>_net_G.pth``, ``_net_D.pth``, ``_net_Dm.pth``.

The public NED release gives, per actor and for the meta-renderer, a checkpoints folder holding
one file per network and saved epoch (``15_net_G.pth``, ``15_net_D.pth``, ``15_net_Dm.pth``; a
``latest_`` prefix is accepted too): plain state dicts of the Head2Head++ networks, which
``head2head`` rebuilds key for key. ``load_official`` turns such a folder into the dict
``checkpoint.load`` returns for our own files (format, config of the ``paper`` preset, generator,
and both discriminators when their files are there), so inference (``FaceRenderer``), fine-tuning
(``RendererTrainer(init_from=...)``, ``ned train-renderer --init-from``) and the server's actors
take an official folder wherever they take one of ours.

Files are read with ``torch.load(weights_only=True)`` (tensors only, no code runs) and checked
against the layout of our modules before anything is built from them; a file of another layout
gets an ``OfficialLayoutError`` that names the missing and unexpected keys and the shape
mismatches. DataParallel's ``module.`` prefix is stripped.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ned_server.renderer.checkpoint_format import FORMAT, RendererCheckpointError
from ned_server.renderer.config import RendererConfig, paper_config
from ned_server.renderer.networks import build_discriminators, build_generator

log = logging.getLogger(__name__)

_FILE = re.compile(r"^(?P<epoch>\d+|latest)_net_(?P<net>G|D|Dm)\.pth$")
NETS = {"G": "generator", "D": "image_d", "Dm": "mouth_d"}
WHAT = {"generator": "generator (_net_G)", "image_d": "image discriminator (_net_D)",
        "mouth_d": "mouth discriminator (_net_Dm)"}
SHOWN = 6  # keys named per kind of difference in an error


class OfficialLayoutError(RendererCheckpointError):
    """An official-looking renderer file whose keys or shapes are not the NED renderer's."""


@dataclass(frozen=True)
class OfficialFiles:
    """One epoch of an official checkpoints folder (the discriminators may be absent)."""

    folder: Path
    epoch: str
    generator: Path
    image_d: Path | None
    mouth_d: Path | None


def _epochs(folder: Path) -> dict[str, dict[str, Path]]:
    found: dict[str, dict[str, Path]] = {}
    for f in folder.iterdir() if folder.is_dir() else ():
        m = _FILE.match(f.name)
        if m and f.is_file():
            found.setdefault(m["epoch"], {})[NETS[m["net"]]] = f
    return found


def is_official(path: str | Path) -> bool:
    """A ``<epoch>_net_G.pth`` file, or a folder holding one."""
    p = Path(path)
    if p.is_file():
        m = _FILE.match(p.name)
        return bool(m and m["net"] == "G")
    return any("generator" in nets for nets in _epochs(p).values())


def _epoch_key(epoch: str) -> tuple[int, int]:
    return (-1, 0) if epoch == "latest" else (0, int(epoch))


def find(path: str | Path, epoch: int | str | None = None) -> OfficialFiles:
    """The files of ``epoch`` (default: the highest numbered, else ``latest``) in an official folder,
    or of the epoch a given ``<epoch>_net_G.pth`` names."""
    p = Path(path)
    if p.is_file():
        m = _FILE.match(p.name)
        if not m or m["net"] != "G":
            raise RendererCheckpointError(f"{p} is not an official NED renderer generator (<epoch>_net_G.pth)")
        folder, epoch = p.parent, m["epoch"]
    elif p.is_dir():
        folder = p
    else:
        raise RendererCheckpointError(f"official renderer checkpoint {p} does not exist")
    epochs = {e: nets for e, nets in _epochs(folder).items() if "generator" in nets}
    if not epochs:
        raise RendererCheckpointError(f"no official NED renderer checkpoint (<epoch>_net_G.pth) in {folder}")
    if epoch is None:
        chosen = max(epochs, key=_epoch_key)
    else:
        chosen = str(epoch) if str(epoch) == "latest" else _matching_epoch(str(epoch), epochs)
        if chosen not in epochs:
            raise RendererCheckpointError(f"no epoch {epoch} in {folder}: it holds epochs "
                                          f"{', '.join(sorted(epochs, key=_epoch_key))}")
    nets = epochs[chosen]
    return OfficialFiles(folder, chosen, nets["generator"], nets.get("image_d"), nets.get("mouth_d"))


def _matching_epoch(epoch: str, epochs: Mapping[str, Any]) -> str:
    """'15' finds '15' or '015' (the release writes the epoch as the trainer named it)."""
    for name in epochs:
        if name != "latest" and epoch.isdigit() and int(name) == int(epoch):
            return name
    return epoch


def official_config() -> RendererConfig:
    """The released renderers' settings: the paper preset (Head2Head++ networks, 256x256)."""
    return paper_config()


def expected_modules(config: RendererConfig) -> dict[str, nn.Module]:
    """The three networks of ``config`` built without memory (meta tensors), for their layout."""
    with torch.device("meta"):
        image_d, mouth_d = build_discriminators(config)
        return {"generator": build_generator(config), "image_d": image_d, "mouth_d": mouth_d}


def read_state_dict(file: Path) -> dict[str, torch.Tensor]:
    """A plain state dict from ``file`` (tensors only, read safely; ``module.`` prefixes stripped)."""
    try:
        raw = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, truncated files, forbidden globals
        raise RendererCheckpointError(f"cannot read official renderer file {file} (tensors only are "
                                      f"accepted): {exc}") from exc
    if not isinstance(raw, Mapping) or not raw:
        raise OfficialLayoutError(f"{file} is not a state dict (got {type(raw).__name__})")
    out: dict[str, torch.Tensor] = {}
    for key, value in raw.items():
        if not isinstance(value, torch.Tensor):
            raise OfficialLayoutError(f"{file}: {key!r} is a {type(value).__name__}, not a tensor")
        out[str(key).removeprefix("module.")] = value
    return out


def check_layout(state: Mapping[str, torch.Tensor], module: nn.Module, what: str, file: Path | str) -> None:
    """Raise OfficialLayoutError naming every way ``state`` differs from ``module``'s state dict."""
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    def listed(items: list[str], sep: str = ", ") -> str:
        return sep.join(items[:SHOWN]) + (sep + "..." if len(items) > SHOWN else "")

    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {tuple(state[k].shape)} (expected {expected[k]})" for k in expected
              if k in state and tuple(state[k].shape) != expected[k]]
    problems = []
    if missing:
        problems.append(f"{len(missing)} keys missing ({listed(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys ({listed(unexpected)})")
    if shapes:
        problems.append(f"{len(shapes)} of another shape ({listed(shapes, '; ')})")
    if problems:
        raise OfficialLayoutError(
            f"{file} is not the official NED renderer's {what}: " + "; ".join(problems)
            + ". Expected the layout of the released checkpoints (ngf 64, 3 downsamplings, 9 residual "
            "blocks; discriminators: 2 scales, 3 layers, ndf 64, 12 input channels)")
    bad, seen = [], set()
    for k, v in state.items():  # one reduction a tensor (a sum is NaN or infinite if any value is)
        if v.is_floating_point() and v.data_ptr() not in seen:
            seen.add(v.data_ptr())  # a ResnetBlock's two names share one tensor
            if not torch.isfinite(v.sum()):
                bad.append(k)
    if bad:
        raise OfficialLayoutError(f"{file}: {', '.join(bad[:SHOWN])} hold NaN or infinite values")


def _as_float32(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: (v.to(torch.float32) if v.is_floating_point() else v).contiguous() for k, v in state.items()}


def load_official(path: str | Path, epoch: int | str | None = None) -> dict[str, Any]:
    """An official checkpoints folder (or ``<epoch>_net_G.pth``) as a renderer checkpoint dict.

    Holds ``generator``, and ``image_d`` / ``mouth_d`` when both discriminator files are there
    (fine-tuning then starts from them; otherwise from fresh discriminators, with a warning).
    """
    files = find(path, epoch)
    config = official_config()
    modules = expected_modules(config)
    ckpt: dict[str, Any] = {"format": FORMAT, "config": config.to_dict(), "iteration": 0,
                            "base": f"official NED renderer {files.folder} (epoch {files.epoch})", "actors": [],
                            "official_epoch": files.epoch, "path": str(files.generator)}
    for name in ("image_d", "mouth_d", "generator"):  # the small files first: a wrong one fails fast
        file = getattr(files, name)
        if file is None:
            continue
        state = read_state_dict(file)
        check_layout(state, modules[name], WHAT[name], file)
        ckpt[name] = _as_float32(state)
    if ("image_d" in ckpt) != ("mouth_d" in ckpt):
        log.warning("%s holds only one of %s_net_D.pth / %s_net_Dm.pth: fine-tuning starts both "
                    "discriminators afresh", files.folder, files.epoch, files.epoch)
        ckpt.pop("image_d", None)
        ckpt.pop("mouth_d", None)
    return ckpt
