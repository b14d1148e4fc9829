"""The model asset manifest (models/manifest.json): what each pretrained file is and whether it is here.

GetInfo reports this list so a compositor sees at once which asset is missing and where to get it,
instead of a stack trace on the first Track.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ned_server.errors import Precondition

MANIFEST = Path(__file__).resolve().parents[2] / "models" / "manifest.json"


@dataclass(frozen=True)
class Asset:
    name: str
    path: str
    description: str
    licence: str
    source: str
    sha256: str | None
    needed_for: tuple[str, ...]
    # An optional asset improves or speeds up the work it is needed for, and the server has a fallback
    # (FAN -> landmark files; VGG -> no perceptual loss); a required one makes those RPCs unavailable.
    optional: bool = False

    def location(self, models_dir: Path) -> Path:
        return Path(models_dir) / self.path

    def found(self, models_dir: Path) -> bool:
        """The file is there (a path ending in "/" names a folder, found when it exists)."""
        location = self.location(models_dir)
        return location.is_dir() if self.path.endswith("/") else location.is_file()

    def require(self, models_dir: Path) -> Path:
        """The asset's path, or FAILED_PRECONDITION naming the file and where to obtain it."""
        path = self.location(models_dir)
        if not path.is_file():
            raise Precondition(f"model asset '{self.name}' is missing: put it at {path}. Get it from {self.source}")
        return path

    def verify(self, models_dir: Path) -> bool:
        """Checksum check where the manifest gives one (True when none is given)."""
        if self.sha256 is None:
            return True
        digest = hashlib.sha256()
        with open(self.location(models_dir), "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest() == self.sha256


def load_manifest(path: Path = MANIFEST) -> dict[str, Asset]:
    raw = json.loads(Path(path).read_text())
    return {
        a["name"]: Asset(
            name=a["name"], path=a["path"], description=a["description"], licence=a["licence"],
            source=a["source"], sha256=a.get("sha256"), needed_for=tuple(a.get("needed_for", ())),
            optional=bool(a.get("optional", False)),
        )
        for a in raw["assets"]
    }
