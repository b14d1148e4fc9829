"""Meaning of the procedural FLAME-format model's expression components, and per-emotion styles.

The licensed FLAME model's expression basis comes from PCA and has no named components. Our
procedural stand-in (face3d.flame_generator) instead builds its first components as named facial
actions, so that the synthetic actor visibly smiles or frowns and the synthetic emotional dataset
has distributions a classifier can separate. Both the generator and the dataset read this table,
which keeps the rendered faces and the training data in agreement.

This module is the one place that says what the synthetic emotions are (a FACS-like description):
``ACTIONS`` (each named action with the FACS action units it stands for, ``FACS_UNITS``), the mean
action weights of each emotion (``EMOTION_STYLES``) and how each emotion moves over time and with
speech (``EMOTION_DYNAMICS``). ``synthetic.expressions`` turns them into clips; nothing else
defines an emotion. Emotions are dynamic on purpose: an emotion that were a constant offset of the
coefficients could be faked by shifting a clip's mean (the benchmark measures that baseline), so
here an emotion also has an onset, an apex and an offset, speech interactions, a blink rate and a
brow motion of its own, and every synthetic actor has a personal, partly one-sided version of it.

Units: expression coefficients are in the same scale as FLAME's (roughly -3..3 standard
deviations); the jaw opening is the first jaw pose parameter in radians.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

# Named actions -> index in the 50-d expression vector. Components 15..49 are smooth random
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
        "smile_asym": 13,  # the actor's left (+x) mouth corner up, the right one down (one-sided smile = smile + this)
        "brow_asym": 14,  # the actor's left (+x) brow up, the right one down (one-sided brow raise)
    }
)
NUM_NAMED_ACTIONS = len(ACTIONS)

# Mean expression per emotion at its apex, as action weights, plus a constant jaw offset (radians) added to
# speech (surprise's larger, pause-only jaw drop is in EMOTION_DYNAMICS).
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
    {"neutral": 0.0, "angry": -0.01, "disgusted": 0.0, "fear": 0.04, "happy": 0.02, "sad": -0.01, "surprised": 0.03}
)

# The FACS action units each named action stands for (Ekman & Friesen's numbering).
FACS_UNITS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "smile": ("AU12 lip corner puller", "AU6 cheek raiser (part)"),
        "frown_mouth": ("AU15 lip corner depressor", "AU17 chin raiser (part)"),
        "brow_raise": ("AU1+AU2 inner and outer brow raiser",),
        "brow_lower": ("AU4 brow lowerer",),
        "eyes_widen": ("AU5 upper lid raiser",),
        "squint": ("AU6 cheek raiser", "AU7 lid tightener"),
        "nose_wrinkle": ("AU9 nose wrinkler", "AU10 upper lip raiser"),
        "lip_press": ("AU24 lip pressor", "AU23 lip tightener"),
        "lip_stretch": ("AU20 lip stretcher",),
        "pucker": ("AU18 lip pucker (also the rounding of an 'oo')",),
        "inner_brow_raise": ("AU1 inner brow raiser",),
        "cheek_puff": ("AU34 puff",),
        "blink": ("AU45 blink",),
        "smile_asym": ("AU12 unilateral (L12 - R12)",),
        "brow_asym": ("AU2 unilateral (L2 - R2)",),
    }
)


@dataclass(frozen=True)
class EmotionDynamics:
    """How one emotion moves (all figures are per second at 25 fps, coefficient units otherwise).

    ``blinks_per_s`` and ``blink_hold_s``: the blink rate and how long the lids stay shut (staring
    emotions blink rarely, sadness slowly). ``brow``: which brow action moves with the emotion and how:
    ``"flash"`` (short raises at the start of an utterance, surprise), ``"stress"`` (follows the
    syllables' stress, anger's lowered brow beating with the words), ``"tremor"`` (a 1.5-3 Hz
    wavering, sadness and fear), ``""`` none; ``brow_gain`` its size. ``smile_rounding`` is how much
    of the smile an "oo" (lip rounding) takes away: a smile narrows when the actor says "oo".
    ``pause_jaw`` opens the jaw (radians at full intensity) only between syllables and utterances:
    surprise's dropped jaw, which speech then closes and reopens. ``onset_s`` / ``apex_s`` /
    ``offset_s``: ranges of the durations of one episode of the emotion; ``rest`` the range of the
    intensity the emotion falls back to between episodes (it never fully goes away in a clip).
    """

    blinks_per_s: float = 0.3
    blink_hold_s: float = 0.02
    brow: str = ""
    brow_action: str = ""
    brow_gain: float = 0.0
    smile_rounding: float = 0.0
    pause_jaw: float = 0.0
    onset_s: tuple[float, float] = (0.3, 0.8)
    apex_s: tuple[float, float] = (0.8, 2.5)
    offset_s: tuple[float, float] = (0.4, 1.2)
    rest: tuple[float, float] = (0.3, 0.55)


EMOTION_DYNAMICS: MappingProxyType[str, EmotionDynamics] = MappingProxyType(
    {
        "neutral": EmotionDynamics(blinks_per_s=0.3, brow="flash", brow_action="brow_raise", brow_gain=0.35),
        "angry": EmotionDynamics(blinks_per_s=0.12, brow="stress", brow_action="brow_lower", brow_gain=1.6,
                                 onset_s=(0.2, 0.5)),
        "disgusted": EmotionDynamics(blinks_per_s=0.45, brow="stress", brow_action="nose_wrinkle", brow_gain=1.0),
        "fear": EmotionDynamics(blinks_per_s=0.5, brow="tremor", brow_action="inner_brow_raise", brow_gain=0.7,
                                pause_jaw=0.04),
        "happy": EmotionDynamics(blinks_per_s=0.3, brow="", smile_rounding=0.75, onset_s=(0.4, 1.0)),
        "sad": EmotionDynamics(blinks_per_s=0.22, blink_hold_s=0.18, brow="tremor", brow_action="inner_brow_raise",
                               brow_gain=0.8, onset_s=(0.8, 1.6), offset_s=(1.0, 2.0)),
        "surprised": EmotionDynamics(blinks_per_s=0.08, brow="flash", brow_action="brow_raise", brow_gain=1.4,
                                     pause_jaw=0.08, onset_s=(0.1, 0.3), apex_s=(0.6, 1.5), rest=(0.25, 0.45)),
    }
)

# Speech articulation every emotion shares: an "oo" syllable rounds the lips (pucker) by this much.
ROUNDING_PUCKER = 1.4
