"""The emotion domains, in the index order of the official NED checkpoints.

The paper lists the emotions in another order; the released checkpoints (and so every network
output branch here) use this one, so an index always means the same emotion everywhere.
"""

from __future__ import annotations

from ned_plugin.parameters import EMOTIONS

NUM_DOMAINS = len(EMOTIONS)
EXPRESSION_DIM = 51  # jaw opening + 50 FLAME expression parameters
JAW_INDEX = 0
SEQUENCE_LENGTH = 10  # N frames per window
STYLE_DIM = 16
LATENT_DIM = 4


def emotion_index(name: str) -> int:
    """Index of an emotion label; a clear error lists the valid ones (labels are case-insensitive)."""
    key = name.strip().lower()
    aliases = {"disgust": "disgusted", "fearful": "fear", "surprise": "surprised", "anger": "angry",
               "happiness": "happy", "sadness": "sad"}
    key = aliases.get(key, key)
    try:
        return EMOTIONS.index(key)
    except ValueError:
        raise KeyError(f"unknown emotion {name!r}; expected one of: {', '.join(EMOTIONS)}") from None
