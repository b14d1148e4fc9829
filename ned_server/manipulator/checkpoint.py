"""Manipulator checkpoints: our format, the official NED format, and how one becomes the other.

Official NED (foivospar/NED) - one ``torch.save`` per epoch:
  ``{epoch:02d}_nets.pth``   {"generator": state_dict, "mapping_network": state_dict,
                              "style_encoder": state_dict, ["discriminator": state_dict]}
  ``{epoch:02d}_optims.pth`` {same keys: Adam state_dicts}
Parameter keys: ``seq1.{0,2}.*``, ``LSTM.{weight,bias}_{ih,hh}_l{0,1}[_reverse]``, ``seq2.{0,2,4}.*``
for G/E/D; ``shared.{0,2,4}.*`` and ``unshared.{k}.{0,2}.*`` for M (k = domain, in EMOTIONS order).
Files saved from ``nn.DataParallel`` carry a ``module.`` prefix, which is stripped.
The released manipulator (pre-trained on Aff-Wild2, fine-tuned on MEAD) is one such file named
``02_nets_finetuned.pth``; a folder holding one is resolved to it (see ``resolve_checkpoint``).

Ours - a superset, so NED's own loaders read our files too:
  ``{epoch:02d}_nets.pth``   the official dict plus ``"ned_vfx"``: {"format": 1, "emotions": [...],
                              "sizes": NetworkSizes as dict, "epoch", "iteration", "config"}
  ``{epoch:02d}_optims.pth`` the official dict plus ``"ned_vfx"``: {"epoch", "batch", "iteration"}
  ``partial_{iteration:08d}_{nets,optims}.pth``  mid-epoch snapshots (same content)
  ``latest.json``            {"nets": file, "optims": file, "epoch": completed epochs,
                              "batch": batches done in the next epoch, "iteration": total}
Everything is plain tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(weights_only=True)``: a checkpoint file can never run code. Files are written to a
temporary name and renamed, so a kill never leaves a half-written checkpoint, and ``latest.json``
is renamed last, so it always names a complete pair.

Network widths are read back from the tensor shapes, so paper-size and small checkpoints load
through the same path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ned_server.domains import EMOTIONS, EXPRESSION_DIM, LATENT_DIM, STYLE_DIM
from ned_server.errors import InvalidInput, Precondition
from ned_server.manipulator.config import NetworkSizes
from ned_server.manipulator.networks import NET_NAMES, ManipulatorNetworks

FORMAT_KEY = "ned_vfx"
FORMAT_VERSION = 1
REQUIRED_NETS = ("generator", "mapping_network", "style_encoder")
LATEST = "latest.json"


class CheckpointError(InvalidInput):
    """A checkpoint whose content does not match the manipulator's layout."""


class MissingCheckpoint(Precondition, FileNotFoundError):
    """No checkpoint file where one was expected."""


def nets_filename(epoch: int) -> str:
    return f"{epoch:02d}_nets.pth"


def optims_filename(epoch: int) -> str:
    return f"{epoch:02d}_optims.pth"


# ----------------------------------------------------------------------------------------- io
def safe_load(path: str | Path) -> dict[str, Any]:
    """torch.load restricted to tensors and plain containers (never unpickles arbitrary objects)."""
    path = Path(path)
    if not path.is_file():
        raise MissingCheckpoint(f"manipulator checkpoint {path} not found; download the NED manipulator "
                                "checkpoint (see models/manifest.json) or train one with `ned train-manipulator`")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, truncated files, forbidden globals
        raise CheckpointError(f"{path} is not a loadable weights-only torch checkpoint ({exc})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, expected a dict of state dicts")
    return obj


# ------------------------------------------------------------------------------ layout checks
def _strip_prefix(sd: Mapping[str, Any]) -> dict[str, Any]:
    if sd and all(k.startswith("module.") for k in sd):
        return {k[len("module."):]: v for k, v in sd.items()}
    return dict(sd)


def _shape(sd: Mapping[str, torch.Tensor], net: str, key: str) -> tuple[int, ...]:
    if key not in sd:
        raise CheckpointError(f"{net}: parameter {key!r} is missing; keys must follow the official layout "
                              f"(seq1/LSTM/seq2 or shared/unshared), found e.g. {sorted(sd)[:6]}")
    value = sd[key]
    if not isinstance(value, torch.Tensor):
        raise CheckpointError(f"{net}.{key} is a {type(value).__name__}, expected a tensor")
    return tuple(value.shape)


def infer_sizes(state: Mapping[str, Mapping[str, torch.Tensor]]) -> tuple[NetworkSizes, int]:
    """(NetworkSizes, number of domains) read from the tensor shapes of a nets dict."""
    g, e, m = state["generator"], state["style_encoder"], state["mapping_network"]
    gen_hidden, g_in = _shape(g, "generator", "seq1.0.weight")
    if g_in != EXPRESSION_DIM + STYLE_DIM:
        raise CheckpointError(f"generator input is {g_in} wide, expected {EXPRESSION_DIM}+{STYLE_DIM}: "
                              "this is not a 51-coefficient NED manipulator")
    gen_lstm = _shape(g, "generator", "LSTM.weight_hh_l0")[1]
    gen_head = _shape(g, "generator", "seq2.0.weight")[0]
    a, e_in = _shape(e, "style_encoder", "seq1.0.weight")
    if e_in != EXPRESSION_DIM:
        raise CheckpointError(f"style encoder input is {e_in} wide, expected {EXPRESSION_DIM}")
    b = _shape(e, "style_encoder", "seq1.2.weight")[0]
    enc_lstm = _shape(e, "style_encoder", "LSTM.weight_hh_l0")[1]
    c = _shape(e, "style_encoder", "seq2.0.weight")[0]
    d = _shape(e, "style_encoder", "seq2.2.weight")[0]
    map_hidden, z_in = _shape(m, "mapping_network", "shared.0.weight")
    if z_in != LATENT_DIM:
        raise CheckpointError(f"mapping network latent is {z_in}-d, expected {LATENT_DIM}")
    layers = 0
    while f"LSTM.weight_ih_l{layers}" in g:
        layers += 1
    domains = 0
    while f"unshared.{domains}.0.weight" in m:
        domains += 1
    if domains == 0:
        raise CheckpointError("mapping_network has no per-domain branches (unshared.0...)")
    sizes = NetworkSizes(gen_hidden=gen_hidden, gen_lstm=gen_lstm, gen_head=gen_head, enc_hidden=(a, b),
                         enc_lstm=enc_lstm, enc_head=(c, d), map_hidden=map_hidden, lstm_layers=max(layers, 1))
    return sizes, domains


def _check_against(nets: ManipulatorNetworks, state: Mapping[str, Mapping[str, torch.Tensor]]) -> None:
    for name, module in nets.named_nets().items():
        expected = module.state_dict()
        got = state[name]
        missing = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        if missing or extra:
            raise CheckpointError(f"{name}: layout differs from the NED manipulator; missing {missing[:8]}, "
                                  f"unexpected {extra[:8]}")
        for key, ref in expected.items():
            if tuple(got[key].shape) != tuple(ref.shape):
                raise CheckpointError(f"{name}.{key} has shape {tuple(got[key].shape)}, expected "
                                      f"{tuple(ref.shape)} for widths inferred from the file")
            if not torch.is_floating_point(got[key]) or not torch.isfinite(got[key]).all():
                raise CheckpointError(f"{name}.{key} is not a finite floating-point tensor")


def convert_official_checkpoint(source: str | Path | Mapping[str, Any],
                                emotions: Sequence[str] | None = None) -> dict[str, Any]:
    """An official NED ``*_nets.pth`` (path or loaded dict), or one of ours, as our format.

    Validates every key and shape (clear CheckpointError naming what is wrong), strips
    DataParallel prefixes, converts to float32 CPU tensors and adds our metadata. ``emotions``
    names the mapping network's branches when a checkpoint was trained on a subset of domains.
    """
    raw = safe_load(source) if isinstance(source, str | Path) else dict(source)
    missing = [n for n in REQUIRED_NETS if n not in raw]
    if missing:
        raise CheckpointError(f"checkpoint lacks {', '.join(missing)}; expected a dict with keys "
                              f"{', '.join(REQUIRED_NETS)} (and optionally discriminator), got {sorted(raw)}")
    state: dict[str, dict[str, torch.Tensor]] = {}
    for name in NET_NAMES:
        if name not in raw:
            continue
        if not isinstance(raw[name], Mapping):
            raise CheckpointError(f"{name} is a {type(raw[name]).__name__}, expected a state_dict")
        state[name] = _strip_prefix(raw[name])
    sizes, domains = infer_sizes(state)
    meta = dict(raw.get(FORMAT_KEY) or {})
    names = tuple(emotions) if emotions is not None else tuple(meta.get("emotions") or ())
    if not names:
        if domains != len(EMOTIONS):
            raise CheckpointError(f"mapping network has {domains} domains, not {len(EMOTIONS)}; pass the "
                                  "emotion names it was trained on (in its order)")
        names = EMOTIONS
    if len(names) != domains:
        raise CheckpointError(f"{len(names)} emotion names given for a mapping network with {domains} domains")
    unknown = [n for n in names if n not in EMOTIONS]
    if unknown:
        raise CheckpointError(f"unknown emotion names {unknown}; expected names from {', '.join(EMOTIONS)}")
    nets = ManipulatorNetworks(sizes, names, with_discriminator="discriminator" in state)
    _check_against(nets, state)
    out: dict[str, Any] = {n: {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in sd.items()}
                           for n, sd in state.items()}
    meta.update({"format": FORMAT_VERSION, "emotions": list(names), "sizes": sizes.to_dict()})
    out[FORMAT_KEY] = meta
    return out


def networks_from_checkpoint(source: str | Path | Mapping[str, Any], device: str | torch.device = "cpu",
                             with_discriminator: bool = False) -> ManipulatorNetworks:
    """Networks built at the checkpoint's widths with its weights loaded (strictly)."""
    ckpt = convert_official_checkpoint(source)
    meta = ckpt[FORMAT_KEY]
    has_d = "discriminator" in ckpt
    if with_discriminator and not has_d:
        raise CheckpointError("this checkpoint has no discriminator (an inference-only release); "
                              "training from it starts a fresh discriminator instead")
    nets = ManipulatorNetworks(NetworkSizes.from_dict(meta["sizes"]), meta["emotions"],
                               with_discriminator=with_discriminator)
    for name, module in nets.named_nets().items():
        module.load_state_dict(ckpt[name])
    return nets.to(device)


def networks_state(nets: ManipulatorNetworks, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Our nets dict for ``nets`` (official keys plus metadata)."""
    out: dict[str, Any] = {name: {k: v.detach().cpu() for k, v in m.state_dict().items()}
                           for name, m in nets.named_nets().items()}
    info = {"format": FORMAT_VERSION, "emotions": list(nets.emotions), "sizes": nets.sizes.to_dict()}
    info.update(meta or {})
    out[FORMAT_KEY] = info
    return out


def read_latest(directory: str | Path) -> dict[str, Any] | None:
    """The ``latest.json`` pointer of a training folder, or None when there is none."""
    path = Path(directory) / LATEST
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path} is corrupt ({exc}); delete it to start over") from None
    for key in ("nets", "optims", "epoch", "batch", "iteration"):
        if key not in info:
            raise CheckpointError(f"{path} lacks {key!r}")
    return info


def resolve_checkpoint(path: str | Path) -> Path:
    """A nets file from a file path or a training folder (its latest checkpoint)."""
    p = Path(path)
    if p.is_dir():
        info = read_latest(p)
        if info is None:
            # The release's fine-tuned file (02_nets_finetuned.pth) is the one to use when it is there.
            epochs = sorted([*p.glob("[0-9]*_nets.pth"), *p.glob("[0-9]*_nets_finetuned.pth")],
                            key=lambda f: (f.name.endswith("_finetuned.pth"), int(f.name.split("_")[0])))
            if not epochs:
                raise MissingCheckpoint(f"no manipulator checkpoint in {p} (no latest.json, *_nets.pth or "
                                        "*_nets_finetuned.pth)")
            return epochs[-1]
        return p / info["nets"]
    return p
