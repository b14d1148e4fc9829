"""The synthetic emotional dataset as the manipulator's ExpressionDataset (tests, demo, --synthetic)."""

from __future__ import annotations

from collections.abc import Callable

from ned_server.manipulator.dataset import ExpressionDataset
from ned_server.synthetic.expressions import make_synthetic_dataset
from ned_server.synthetic.tracked import track_synthetic_dataset


def synthetic_expression_dataset(num_clips_per_emotion: int, frames: int, seed: int = 0, num_actors: int = 4,
                                 tracked: bool = False,
                                 progress: Callable[[int, int], None] | None = None) -> ExpressionDataset:
    """The synthetic emotional dataset; ``tracked``: as the tracker recovers it from landmarks
    (``synthetic.tracked``), the domain a manipulator meets at test time (about 20 ms a frame)."""
    data = make_synthetic_dataset(num_clips_per_emotion, frames, seed, num_actors)
    if tracked:
        data = track_synthetic_dataset(data, seed=seed, progress=progress)
    return ExpressionDataset.from_arrays(data.sequences, data.labels, [f"actor{a}" for a in data.actors])
