"""The server's on-disk store: shots (frames and cached tracking), actors (renderers), jobs.

Everything is written atomically (a temporary file in the same folder, fsync, then os.replace), so a
server killed at any instant leaves each item either complete or absent, never half-written. Ids
come from clients, so they are checked against a strict pattern before they touch a path: no
separators, no "..", nothing that could escape the store.

    root/shots/<shot_id>/shot.json        what the shot is (frames, sizes, content hash)
    root/shots/<shot_id>/frames/<n>.exr   the plates as received
    root/shots/<shot_id>/track.npz        cached tracking (written last, atomically)
    root/actors/<actor_id>/actor.json     renderer metadata; checkpoints beside it
    root/jobs/<job_id>.json               long jobs and their last known state
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ned_plugin.files import atomic_path, write_bytes  # noqa: F401 - the store's writers
from ned_server.errors import InvalidInput, NotFound

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
KINDS = ("shots", "actors", "jobs")


def check_id(kind: str, value: str) -> str:
    """Return ``value`` when it is a safe id, else raise InvalidInput saying what ids may hold."""
    if not isinstance(value, str) or not _ID.match(value) or ".." in value:
        raise InvalidInput(
            f"invalid {kind} id {value!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def write_json(path: Path, obj: Any) -> None:
    write_bytes(path, json.dumps(obj, indent=1, sort_keys=True).encode())


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


class Store:
    def __init__(self, root: Path, sweep: bool = True) -> None:
        """``sweep=False`` for a tool writing beside a running server (whose temporaries are live)."""
        self.root = Path(root).resolve()
        for kind in KINDS:
            (self.root / kind).mkdir(parents=True, exist_ok=True)
        if sweep:
            self._sweep_temporaries()

    def _sweep_temporaries(self) -> None:
        """Remove temporaries a killed server left behind; they were never visible as items."""
        for tmp in self.root.rglob(".*.tmp"):
            tmp.unlink(missing_ok=True)

    def path(self, kind: str, item_id: str, *parts: str) -> Path:
        check_id(kind.rstrip("s"), item_id)
        base = self.root / kind / item_id
        path = base.joinpath(*parts).resolve()
        if not path.is_relative_to(self.root / kind):  # a symlink, or parts with ".."
            where = "/".join((item_id, *parts))
            raise InvalidInput(f"{kind.rstrip('s')} {item_id!r}: {where!r} escapes the store; it is not served")
        return path

    # -- shots
    def shot_dir(self, shot_id: str) -> Path:
        return self.path("shots", shot_id)

    def has_shot(self, shot_id: str) -> bool:
        return (self.shot_dir(shot_id) / "shot.json").is_file()

    def require_shot(self, shot_id: str) -> Path:
        if not self.has_shot(shot_id):
            raise NotFound(f"shot {shot_id!r} is not on the server: send its frames (Track) first")
        return self.shot_dir(shot_id)

    def list_shots(self) -> list[str]:
        return sorted(p.parent.name for p in (self.root / "shots").glob("*/shot.json"))

    # -- actors
    def actor_dir(self, actor_id: str) -> Path:
        return self.path("actors", actor_id)

    def list_actors(self) -> list[dict[str, Any]]:
        actors = []
        for meta in sorted((self.root / "actors").glob("*/actor.json")):
            try:
                actors.append(read_json(meta))
            except (OSError, ValueError):
                continue  # a corrupt record must not hide the others
        return actors

    def require_actor(self, actor_id: str) -> dict[str, Any]:
        meta = self.actor_dir(actor_id) / "actor.json"
        if not meta.is_file():
            known = ", ".join(a.get("actor_id", "?") for a in self.list_actors()) or "none yet"
            raise NotFound(f"unknown actor {actor_id!r} (actors on this server: {known})")
        return read_json(meta)

    # -- jobs
    def job_path(self, job_id: str) -> Path:
        return self.root / "jobs" / (check_id("job", job_id) + ".json")

    def save_job(self, record: dict[str, Any]) -> None:
        write_json(self.job_path(record["job_id"]), record)

    def load_jobs(self) -> list[dict[str, Any]]:
        jobs = []
        for path in sorted((self.root / "jobs").glob("*.json")):
            try:
                jobs.append(read_json(path))
            except (OSError, ValueError):
                continue
        return jobs
