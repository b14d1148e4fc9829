"""Reading a server's store from outside, the way a restarted server would, and listing what is broken.

The store promises that a server killed at any instant leaves each item complete or absent. This
audit checks that promise on a store a killed server left behind: every shot that is visible has
its record and all its frames; every cached track the cache would serve loads, has one entry per
frame of its shot and is the very file its record describes; actor and job records parse; each
actor's last checkpoint loads (weights only). Temporaries and half-received shots are not
problems: they were never visible, and the next start sweeps them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

INCOMING_PREFIX = ".incoming-"


@dataclass
class StoreAudit:
    shots: int = 0
    tracks: int = 0  # cached tracks the cache would serve (record and file complete and agreeing)
    absent_tracks: int = 0  # a track file without its record: the cache treats it as absent
    checkpoints: int = 0
    hidden: int = 0  # temporaries and half-received shots, never visible, swept on the next start
    problems: list[str] = field(default_factory=list)
    track_lengths: dict[str, int] = field(default_factory=dict)  # "shot/face" -> frames


def _load_json(path: Path, audit: StoreAudit) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        audit.problems.append(f"{path}: unreadable record ({exc})")
        return None


def _audit_shot(folder: Path, audit: StoreAudit) -> None:
    from ned_server.errors import InvalidInput
    from ned_server.tracking.result import ShotTrack

    shot = _load_json(folder / "shot.json", audit)
    if shot is None:
        return
    audit.shots += 1
    for frame in shot.get("frames", []):
        path = folder / frame["file"]
        if not path.is_file() or path.stat().st_size != frame["size"]:
            audit.problems.append(f"{path}: frame missing or of the wrong size")
    for meta_path in sorted((folder / "tracks").glob("*.json")):
        meta = _load_json(meta_path, audit)
        npz = meta_path.with_suffix(".npz")
        if meta is None:
            continue
        if not npz.is_file():
            audit.problems.append(f"{meta_path}: describes a track file that is not there")
            continue
        data = npz.read_bytes()
        if "sha256" in meta and hashlib.sha256(data).hexdigest() != meta["sha256"]:
            audit.problems.append(f"{npz}: is not the file its record describes")
            continue
        try:
            track = ShotTrack.load(npz)
        except (InvalidInput, KeyError, ValueError, OSError) as exc:
            audit.problems.append(f"{npz}: half-written or corrupt ({exc})")
            continue
        if len(track) != meta.get("frames") or len(track) != len(shot.get("frames", [])):
            audit.problems.append(f"{npz}: {len(track)} frames, record says {meta.get('frames')}, "
                                  f"shot has {len(shot.get('frames', []))}")
            continue
        audit.tracks += 1
        audit.track_lengths[f"{folder.name}/{npz.stem}"] = len(track)
    for npz in (folder / "tracks").glob("*.npz"):
        if not npz.with_suffix(".json").is_file():
            audit.absent_tracks += 1


def audit_store(root: Path) -> StoreAudit:
    """Audit the store at ``root`` (read only: nothing is swept or repaired)."""
    from ned_server.renderer import checkpoint as ckpt_io

    root = Path(root)
    audit = StoreAudit()
    audit.hidden = sum(1 for p in root.rglob(".*") if p.name.endswith(".tmp") or p.name.startswith(INCOMING_PREFIX))
    for folder in sorted((root / "shots").glob("*")):
        if folder.name.startswith(INCOMING_PREFIX) or not folder.is_dir():
            continue
        if not (folder / "shot.json").is_file():
            audit.problems.append(f"{folder}: a shot folder without its record (half-published)")
            continue
        _audit_shot(folder, audit)
    for meta in sorted((root / "actors").glob("*/actor.json")):
        _load_json(meta, audit)
        latest = meta.parent / "training" / ckpt_io.LATEST
        if latest.is_file():
            try:
                ckpt_io.load(latest, prefer=ckpt_io.LATEST)
                audit.checkpoints += 1
            except ckpt_io.RendererCheckpointError as exc:
                audit.problems.append(f"{latest}: {exc}")
    for job in sorted((root / "jobs").glob("*.json")):
        _load_json(job, audit)
    return audit
