"""Meaning of the procedural FLAME-format model's expression components, and per-emotion styles.

The licensed FLAME model's expression basis comes from PCA and has no named components. Our
procedural stand-in (face3d.flame_generator) instead builds its first components as named facial
actions, so that the synthetic actor visibly smiles or frowns and the synthetic emotional dataset
has distributions a classifier can separate. Both the generator and the dataset read this table,
which keeps the rendered faces and the training data in agreement.

Units: expression coefficients are in the same scale as FLAME's (roughly -3..3 standard
deviations); the jaw opening is the first jaw pose parameter in radians.
"""

from __future__ import annotations

from types import MappingProxyType

# Named actions -> index in the 50-d expression vector. Components 13..49 are smooth random
# low-energy deformations (identity-independent "everything else").
ACTIONS: MappingProxyType[str, int] = MappingProxyType(
    {
        "smile": 0,  # mouth corners up and back
        "frown_mouth": 1,  # mouth corners down
        "brow_raise": 2,  # whole brows up
        "brow_lower": 3,  # brows down and together (anger)
        "eyes_widen": 4,  # upper lids up
        "squint": 5,  # lower lids and cheeks up
        "nose_wrinkle": 6,  # nose sides and upper lip up (disgust)
        "lip_press": 7,  # lips pressed thin
        "lip_stretch": 8,  # mouth stretched sideways (fear)
        "pucker": 9,  # lips pushed forward and together
        "inner_brow_raise": 10,  # inner brow ends up (sadness, fear)
        "cheek_puff": 11,
        "blink": 12,  # both upper lids down to closed at 1.0 (blinks are expression components in FLAME too)
    }
)
NUM_NAMED_ACTIONS = len(ACTIONS)

# Mean expression per emotion, as action weights, plus a mean jaw offset (radians) added to speech.
EMOTION_STYLES: MappingProxyType[str, MappingProxyType[str, float]] = MappingProxyType(
    {
        "neutral": MappingProxyType({}),
        "angry": MappingProxyType({"brow_lower": 2.2, "lip_press": 1.6, "eyes_widen": 0.8, "nose_wrinkle": 0.5}),
        "disgusted": MappingProxyType(
            {"nose_wrinkle": 2.2, "brow_lower": 1.0, "frown_mouth": 1.2, "squint": 0.8}
        ),
        "fear": MappingProxyType(
            {"brow_raise": 1.5, "inner_brow_raise": 1.6, "eyes_widen": 2.0, "lip_stretch": 1.8}
        ),
        "happy": MappingProxyType({"smile": 2.5, "squint": 1.4, "cheek_puff": 0.4}),
        "sad": MappingProxyType({"inner_brow_raise": 2.2, "frown_mouth": 2.0, "pucker": 0.4, "squint": 0.3}),
        "surprised": MappingProxyType({"brow_raise": 2.5, "eyes_widen": 2.2, "pucker": 0.5}),
    }
)
EMOTION_JAW_OFFSET: MappingProxyType[str, float] = MappingProxyType(
    {"neutral": 0.0, "angry": -0.01, "disgusted": 0.0, "fear": 0.04, "happy": 0.02, "sad": -0.01, "surprised": 0.12}
)
