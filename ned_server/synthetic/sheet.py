"""A contact sheet of synthetic actors (identities x emotions), to look at what the fixture draws."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ned_server.synthetic.actor import SyntheticActor
from ned_server.synthetic.config import ActorConfig


def contact_sheet(path: str | Path, seeds: Sequence[int] = (0, 1, 2), emotions: Sequence[str] = ("neutral", "happy",
                  "angry", "surprised"), frames: int = 8, config: ActorConfig | None = None,
                  assets: str | Path | None = None, landmarks: bool = False) -> np.ndarray:
    """Render the last frame of a short clip per (identity, emotion) into one PNG; returns the image (uint8 RGB)."""
    rows = []
    for seed in seeds:
        actor = SyntheticActor(seed, config, assets=assets)
        row = []
        for emotion in emotions:
            clip = actor.render_sequence(frames, emotion, seed=1)
            img = np.ascontiguousarray((clip.frames[-1] * 255 + 0.5).astype(np.uint8))
            if landmarks:
                for x, y in clip.landmarks[-1]:
                    cv2.circle(img, (round(float(x)), round(float(y))), 1, (0, 255, 0), -1)
                for x, y in clip.pupils[-1]:
                    cv2.circle(img, (round(float(x)), round(float(y))), 2, (255, 0, 0), -1)
            cv2.putText(img, f"{seed}:{emotion}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
            row.append(img)
        rows.append(np.concatenate(row, 1))
    sheet = np.concatenate(rows, 0)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), sheet[..., ::-1])
    return sheet
