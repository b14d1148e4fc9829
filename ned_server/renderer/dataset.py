"""An actor's training data for the renderer, and sequences of consecutive frames drawn from it.

The tracking/conditioning stages produce, per frame of a shot, the aligned conditioning images, the
aligned real face, its mask and the mouth centre. ``ActorClip`` holds one shot's worth as arrays,
so the renderer never depends on how they were made (real tracking, the synthetic 3D actor, or the
toy generator of ``toy``). A folder of ``.npz`` files (one per clip) is an actor's training set.

On disk, images are float16 (max error 2**-11 on [0,1], well under one 8-bit code value) to halve
the size of a long shot's data; they are float32 again once loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ned_plugin.files import atomic_path
from ned_server.renderer.config import COND_CHANNELS


class RendererDataError(ValueError):
    """Training or rendering data that does not match what the renderer expects."""


@dataclass
class ActorClip:
    """One tracked shot of an actor, aligned to the face template.

    conditioning (T,9,H,W) float in [0,1]: NMFC 3, eye image 3, detailed shape 3.
    frames (T,3,H,W) float in [0,1]: the aligned real face, display-encoded sRGB.
    masks (T,H,W) in {0,1}: the face region the renderer synthesises.
    mouth_centres (T,2): mouth centre (x, y) in pixels of the aligned frame.
    """

    conditioning: np.ndarray
    frames: np.ndarray
    masks: np.ndarray
    mouth_centres: np.ndarray
    name: str = ""
    actor: str = ""

    def __post_init__(self) -> None:
        self.validate()

    def __len__(self) -> int:
        return int(self.conditioning.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return int(self.conditioning.shape[2]), int(self.conditioning.shape[3])

    def validate(self) -> None:
        c, f, m, mc = self.conditioning, self.frames, self.masks, self.mouth_centres
        what = f"clip {self.name!r}" if self.name else "clip"
        if c.ndim != 4 or c.shape[1] != COND_CHANNELS:
            raise RendererDataError(f"{what}: conditioning must be (T,{COND_CHANNELS},H,W) "
                                    f"(NMFC, eyes, shape), got shape {c.shape}")
        t, _, h, w = c.shape
        if t < 1:
            raise RendererDataError(f"{what} has no frames")
        if f.shape != (t, 3, h, w):
            raise RendererDataError(f"{what}: frames must be (T,3,H,W) = {(t, 3, h, w)} like the "
                                    f"conditioning, got {f.shape}")
        if m.shape != (t, h, w):
            raise RendererDataError(f"{what}: masks must be (T,H,W) = {(t, h, w)}, got {m.shape}")
        if mc.shape != (t, 2):
            raise RendererDataError(f"{what}: mouth_centres must be (T,2) pixel (x, y), got {mc.shape}")
        for name, arr in (("conditioning", c), ("frames", f)):
            if not np.issubdtype(arr.dtype, np.floating):
                raise RendererDataError(f"{what}: {name} must be float in [0,1], got dtype {arr.dtype}")
        if not np.isfinite(mc).all():
            raise RendererDataError(f"{what}: mouth_centres hold NaN/inf")

    def slice(self, start: int, end: int) -> ActorClip:
        return ActorClip(self.conditioning[start:end], self.frames[start:end], self.masks[start:end],
                         self.mouth_centres[start:end], name=f"{self.name}[{start}:{end}]", actor=self.actor)

    def resized(self, resolution: int) -> ActorClip:
        """The clip at ``resolution`` x ``resolution`` (area-averaged images, nearest-neighbour masks)."""
        h, w = self.size
        if (h, w) == (resolution, resolution):
            return self
        c = _resize(self.conditioning, resolution, "area")
        f = _resize(self.frames, resolution, "area")
        m = _resize(self.masks[:, None].astype(np.float32), resolution, "nearest")[:, 0]
        scale = np.array([resolution / w, resolution / h], dtype=np.float32)
        return ActorClip(c, f, m, self.mouth_centres.astype(np.float32) * scale, self.name, self.actor)


def _resize(arr: np.ndarray, resolution: int, mode: str) -> np.ndarray:
    out = []
    for i in range(0, arr.shape[0], 64):  # bounded memory for long clips
        x = torch.from_numpy(np.ascontiguousarray(arr[i:i + 64], dtype=np.float32))
        out.append(F.interpolate(x, size=(resolution, resolution), mode=mode).numpy())
    return np.concatenate(out)


# ---------------------------------------------------------------------------------------- files

def save_clip(clip: ActorClip, path: str | Path) -> Path:
    """Write ``clip`` to ``path`` (.npz) atomically."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "xb") as fh:
        np.savez_compressed(
            fh,
            conditioning=clip.conditioning.astype(np.float16),
            frames=clip.frames.astype(np.float16),
            masks=(clip.masks > 0.5).astype(np.uint8),
            mouth_centres=clip.mouth_centres.astype(np.float32),
            name=np.array(clip.name),
            actor=np.array(clip.actor),
        )
    return path


def load_clip(path: str | Path) -> ActorClip:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = {"conditioning", "frames", "masks", "mouth_centres"} - set(z.files)
            if missing:
                raise RendererDataError(f"{path} is not an actor clip: it lacks {', '.join(sorted(missing))}")
            return ActorClip(
                conditioning=z["conditioning"].astype(np.float32),
                frames=z["frames"].astype(np.float32),
                masks=z["masks"].astype(np.float32),
                mouth_centres=z["mouth_centres"].astype(np.float32),
                name=str(z["name"]) if "name" in z.files else path.stem,
                actor=str(z["actor"]) if "actor" in z.files else "",
            )
    except (OSError, ValueError) as exc:
        if isinstance(exc, RendererDataError):
            raise
        raise RendererDataError(f"cannot read actor clip {path}: {exc}") from exc


def save_actor_data(folder: str | Path, clips: Sequence[ActorClip]) -> list[Path]:
    """Write an actor's clips as ``clip_000.npz``, ``clip_001.npz``, ... in ``folder``."""
    folder = Path(folder)
    return [save_clip(clip, folder / f"clip_{i:03d}.npz") for i, clip in enumerate(clips)]


def load_actor_data(folder: str | Path) -> list[ActorClip]:
    """All clips (.npz) of ``folder``, in name order; a single .npz file is accepted too."""
    folder = Path(folder)
    if folder.is_file():
        return [load_clip(folder)]
    if not folder.is_dir():
        raise RendererDataError(f"actor data folder {folder} does not exist")
    paths = sorted(p for p in folder.glob("*.npz") if not p.name.startswith("."))
    if not paths:
        raise RendererDataError(f"no actor clips (.npz) in {folder}: export the actor's tracked shots first")
    return [load_clip(p) for p in paths]


# -------------------------------------------------------------------------------- sequences

class SequenceDataset(Dataset):
    """Every run of ``seq_len`` consecutive frames of the given clips, as one item each.

    Items are dicts of float32 tensors: cond (n,9,R,R), frames (n,3,R,R), masks (n,1,R,R),
    mouth (n,2), plus ``clip`` (index of the clip it came from). Clips are resized to
    ``resolution`` once, here, so the trainer only ever sees one size.
    """

    def __init__(self, clips: Sequence[ActorClip], seq_len: int, resolution: int | None = None) -> None:
        if not clips:
            raise RendererDataError("no clips to train on")
        self.clips = [c.resized(resolution) if resolution else c for c in clips]
        sizes = {c.size for c in self.clips}
        if len(sizes) != 1:
            raise RendererDataError(f"clips differ in size {sorted(sizes)}: give a resolution to resize them")
        self.seq_len = seq_len
        starts = [(ci, s) for ci, c in enumerate(self.clips) for s in range(len(c) - seq_len + 1)]
        if not starts:
            longest = max(len(c) for c in self.clips)
            raise RendererDataError(f"every clip is shorter than the training sequence length {seq_len} "
                                    f"(longest has {longest} frames): use longer shots or a smaller seq_len")
        self.index = np.array(starts, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        ci, s = (int(v) for v in self.index[i])
        c, e = self.clips[ci], s + self.seq_len
        return {
            "cond": torch.from_numpy(np.ascontiguousarray(c.conditioning[s:e], dtype=np.float32)),
            "frames": torch.from_numpy(np.ascontiguousarray(c.frames[s:e], dtype=np.float32)),
            "masks": torch.from_numpy(np.ascontiguousarray(c.masks[s:e, None], dtype=np.float32)),
            "mouth": torch.from_numpy(np.ascontiguousarray(c.mouth_centres[s:e], dtype=np.float32)),
            "clip": torch.tensor(ci),
        }

    def batch(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        """Items stacked along a new batch axis: cond (B,n,9,R,R) etc."""
        items = [self[int(i)] for i in indices]
        return {k: torch.stack([it[k] for it in items]) for k in items[0]}
