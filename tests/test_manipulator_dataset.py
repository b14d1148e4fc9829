"""Synthetic expressions and the dataset loaders (ned track .npz + MEAD / CSV / JSON / Aff-Wild2 labels)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ned_server.domains import EMOTIONS
from ned_server.manipulator.dataset import DatasetError, ExpressionDataset, load_expression_dataset
from ned_server.synthetic.expressions import (
    CANONICAL_STYLE,
    actor_style,
    blinks,
    emotion_envelope,
    emotion_expression_sequence,
    make_synthetic_dataset,
    mix_emotion_sequence,
    speech_jaw,
    speech_rounding,
)
from ned_server.synthetic.semantics import ACTIONS, EMOTION_DYNAMICS, EMOTION_JAW_OFFSET, EMOTION_STYLES, FACS_UNITS


def test_speech_jaw_has_syllables_and_pauses():
    jaw = speech_jaw(25 * 40, np.random.default_rng(0))
    assert jaw.shape == (1000,) and jaw.min() >= 0 and jaw.max() <= 0.35
    assert jaw.max() > 0.2
    still = np.abs(np.diff(jaw)) < 1e-9
    assert 0.05 < still.mean() < 0.6  # pauses exist, but it is mostly talking
    spectrum = np.abs(np.fft.rfft(jaw - jaw.mean())) ** 2
    freqs = np.fft.rfftfreq(jaw.size, 1 / 25)
    band = spectrum[(freqs >= 2.0) & (freqs <= 12.5)].sum() / spectrum[freqs > 0.5].sum()
    assert band > 0.5  # syllable-rate motion, not slow drift
    peak = freqs[np.argmax(np.where(freqs > 1.5, spectrum, 0))]
    assert 2.5 <= peak <= 12.0


def test_blinks_are_brief_closures():
    b = blinks(25 * 60, np.random.default_rng(1))
    assert b.min() >= 0 and b.max() <= 1
    closed = b > 0.8
    onsets = np.flatnonzero(closed[1:] & ~closed[:-1]).size
    assert 5 <= onsets <= 40  # a blink every ~1.5-12 s over a minute
    assert (b > 0.05).mean() < 0.2


def test_emotion_sequence_shows_the_emotion_and_keeps_the_speech():
    rng = np.random.default_rng(2)
    speech = speech_jaw(200, rng)
    seq = emotion_expression_sequence("happy", 200, rng, speech=speech, envelope=np.ones(200))
    assert seq.shape == (200, 51) and seq.dtype == np.float32
    assert np.allclose(seq[:, 0], np.clip(speech + EMOTION_JAW_OFFSET["happy"], 0, None), atol=1e-6)
    for action in ("squint", "cheek_puff"):  # at the apex, the actions without dynamics of their own
        assert seq[:, 1 + ACTIONS[action]].mean() == pytest.approx(EMOTION_STYLES["happy"][action], rel=0.35)
    assert np.abs(seq[:, 1 + ACTIONS["frown_mouth"]]).mean() < 0.5
    assert seq[:, 1 + ACTIONS["blink"]].max() <= 1.0
    weak = emotion_expression_sequence("happy", 200, np.random.default_rng(2), intensity=0.3, speech=speech)
    assert weak[:, 1 + ACTIONS["smile"]].mean() < 0.5 * seq[:, 1 + ACTIONS["smile"]].mean()
    with pytest.raises(KeyError, match="expected one of"):
        emotion_expression_sequence("bored", 10, rng)
    with pytest.raises(ValueError, match="speech must have shape"):
        emotion_expression_sequence("happy", 10, rng, speech=np.zeros(9))


def test_an_emotion_has_onset_apex_and_offset():
    env = emotion_envelope(25 * 30, np.random.default_rng(4), EMOTION_DYNAMICS["happy"])
    assert env.max() > 0.95 and 0.2 < env.min() < 0.6  # reaches the apex, never fully goes away
    rises = np.flatnonzero((env[1:] > 0.9) & (env[:-1] <= 0.9))
    assert len(rises) >= 3  # several episodes in 30 s
    clip = emotion_expression_sequence("happy", 25 * 30, np.random.default_rng(4), envelope=env)
    smile = clip[:, 1 + ACTIONS["smile"]]
    assert smile[env > 0.95].mean() > 1.5 * smile[env < 0.6].mean()


def test_a_smile_narrows_on_oo_and_surprise_drops_the_jaw_between_syllables():
    rng = np.random.default_rng(5)
    speech = speech_jaw(25 * 30, rng)
    happy = emotion_expression_sequence("happy", speech.size, rng, speech=speech, envelope=np.ones(speech.size))
    rounding = speech_rounding(speech, np.random.default_rng(0))
    assert rounding.max() > 0.5 and (rounding > 0.3).mean() < 0.3
    smile, pucker = happy[:, 1 + ACTIONS["smile"]], happy[:, 1 + ACTIONS["pucker"]]
    assert np.corrcoef(smile, pucker)[0, 1] < -0.5  # the "oo" that rounds the lips takes the smile away
    surprised = emotion_expression_sequence("surprised", speech.size, rng, speech=speech,
                                            envelope=np.ones(speech.size))
    extra = surprised[:, 0] - speech - EMOTION_JAW_OFFSET["surprised"]
    assert extra.min() > -1e-5
    assert extra[speech < np.percentile(speech, 20)].mean() > 4 * extra[speech > np.percentile(speech, 80)].mean()
    assert np.corrcoef(surprised[:, 0], speech)[0, 1] > 0.9  # the speech still drives the jaw


def test_emotions_blink_at_their_own_rates():
    def onsets(emotion: str) -> int:
        clip = emotion_expression_sequence(emotion, 25 * 120, np.random.default_rng(6))
        closed = clip[:, 1 + ACTIONS["blink"]] > 0.8
        return int(np.flatnonzero(closed[1:] & ~closed[:-1]).size)

    assert onsets("surprised") * 3 < onsets("disgusted")
    assert EMOTION_DYNAMICS["surprised"].blinks_per_s < EMOTION_DYNAMICS["neutral"].blinks_per_s


def test_two_actors_happy_differ_and_can_be_one_sided():
    a, b = actor_style(np.random.default_rng(7)), actor_style(np.random.default_rng(8))
    ha, hb = a.apex_of("happy"), b.apex_of("happy")
    assert np.abs(ha - hb).max() > 0.3
    assert ha[ACTIONS["smile_asym"]] == pytest.approx(a.asymmetry * ha[ACTIONS["smile"]])
    assert np.all(CANONICAL_STYLE.apex_of("happy")[[ACTIONS["smile_asym"], ACTIONS["brow_asym"]]] == 0)
    assert set(FACS_UNITS) == set(ACTIONS)  # every named action says which action units it stands for


def test_mixer_changes_emotion_smoothly():
    expr, labels = mix_emotion_sequence([("happy", 40), ("sad", 40)], np.random.default_rng(3))
    assert expr.shape == (80, 51) and labels.shape == (80,)
    assert labels[0] == EMOTIONS.index("happy") and labels[-1] == EMOTIONS.index("sad")
    smile = expr[:, 1 + ACTIONS["smile"]]
    assert smile[:30].mean() > 1.5 and smile[50:].mean() < 0.5
    frown = expr[:, 1 + ACTIONS["frown_mouth"]]  # no speech interaction of its own: the fade alone
    assert np.abs(np.diff(frown)).max() < 0.5  # a cross-fade, not a cut


def test_synthetic_dataset_has_balanced_emotions_and_distinct_actors():
    data = make_synthetic_dataset(4, 50, seed=0, num_actors=2)
    assert data.sequences.shape == (28, 50, 51)
    assert np.bincount(data.labels).tolist() == [4] * 7
    a0 = data.sequences[data.actors == 0].mean(axis=(0, 1))
    a1 = data.sequences[data.actors == 1].mean(axis=(0, 1))
    assert np.abs(a0 - a1).max() > 0.2
    again = make_synthetic_dataset(4, 50, seed=0, num_actors=2)
    assert np.array_equal(again.sequences, data.sequences)


def _write_clip(path: Path, frames: int, value: float = 0.1, start: int = 0, **extra) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    expr = np.full((frames, 51), value, np.float32)
    np.savez(path, expression51=expr, frames=np.arange(start, start + frames), **extra)


def test_mead_names_give_emotion_and_actor(tmp_path: Path):
    _write_clip(tmp_path / "M003_happy_level3_001.npz", 20)
    _write_clip(tmp_path / "W029" / "sad" / "level_1" / "002.npz", 20)
    _write_clip(tmp_path / "M003_contempt_level1_003.npz", 20)
    _write_clip(tmp_path / "random.npz", 20)
    data = load_expression_dataset(tmp_path)
    by_name = {c.name: c for c in data.clips}
    assert by_name["M003_happy_level3_001"].labels[0] == EMOTIONS.index("happy")
    assert by_name["M003_happy_level3_001"].actor == "M003"
    assert by_name["W029/sad/level_1/002"].labels[0] == EMOTIONS.index("sad")
    assert by_name["W029/sad/level_1/002"].actor == "W029"
    assert len(data.clips) == 2 and len(data.skipped) == 2
    train, val = data.split_actors(["m003"])
    assert [c.actor for c in val.clips] == ["M003"] and [c.actor for c in train.clips] == ["W029"]


def test_csv_and_json_labels(tmp_path: Path):
    _write_clip(tmp_path / "clips" / "a.npz", 15)
    _write_clip(tmp_path / "clips" / "sub" / "b.npz", 15)
    csv_file = tmp_path / "labels.csv"
    csv_file.write_text("clip,emotion,actor\na,Happiness,bob\nsub/b.npz,2,ann\n")
    data = load_expression_dataset(tmp_path / "clips", csv_file)
    labels = {c.name: (int(c.labels[0]), c.actor) for c in data.clips}
    assert labels == {"a": (EMOTIONS.index("happy"), "bob"), "sub/b": (2, "ann")}
    (tmp_path / "labels.json").write_text(json.dumps({"a": "fear", "sub/b": "surprise"}))
    data = load_expression_dataset(tmp_path / "clips", tmp_path / "labels.json")
    assert sorted(int(c.labels[0]) for c in data.clips) == [EMOTIONS.index("fear"), EMOTIONS.index("surprised")]
    (tmp_path / "list.json").write_text(json.dumps([{"clip": "a", "emotion": "angry", "actor": "x"}]))
    data = load_expression_dataset(tmp_path / "clips", tmp_path / "list.json")
    assert [(c.name, int(c.labels[0]), c.actor) for c in data.clips] == [("a", 1, "x")]
    bad = tmp_path / "bad.csv"
    bad.write_text("file_name,mood\na,happy\n")
    with pytest.raises(DatasetError, match="'clip' and 'emotion'"):
        load_expression_dataset(tmp_path / "clips", bad)
    bad.write_text("clip,emotion\na,joyful\n")
    with pytest.raises(DatasetError, match="expected one of"):
        load_expression_dataset(tmp_path / "clips", bad)


def test_affwild_per_frame_labels_map_order_and_drop_other(tmp_path: Path):
    # Frames 100..129 of a video were tracked; labels cover video frames from 100 (frame_offset).
    tracked = np.ones(30, bool)
    tracked[25] = False
    _write_clip(tmp_path / "tracks" / "video7.npz", 30, start=100, tracked=tracked)
    lines = ["Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other"]
    lines += ["4"] * 12 + ["7"] * 3 + ["-1"] * 2 + ["6"] * 13  # happiness, Other, none, surprise
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "video7.txt").write_text("\n".join(lines) + "\n")
    data = load_expression_dataset(tmp_path / "tracks", tmp_path / "labels", frame_offset=100)
    lab = data.clips[0].labels
    assert lab[:12].tolist() == [EMOTIONS.index("happy")] * 12
    assert lab[12:17].tolist() == [-1] * 5
    assert lab[17:25].tolist() == [EMOTIONS.index("surprised")] * 8
    assert lab[25] == -1  # untracked
    windows = data.windows(10)
    # Only windows inside one label and clear of dropped frames: starts 0..2 (happy); none in 17..25.
    assert windows.starts.tolist() == [0, 1, 2]
    assert set(windows.labels.tolist()) == {EMOTIONS.index("happy")}


def test_nan_rows_are_never_trained_on(tmp_path: Path):
    expr = np.zeros((30, 51), np.float32)
    expr[14] = np.nan
    data = ExpressionDataset.from_arrays([expr], [3])
    assert np.isfinite(data.frames).all()
    assert data.clips[0].labels[14] == -1
    starts = data.windows(10).starts
    assert starts.size and all(not (s <= 14 < s + 10) for s in starts)
    np.savez(tmp_path / "W011_angry_001.npz", expression51=expr, frames=np.arange(30))
    loaded = load_expression_dataset(tmp_path)
    assert loaded.clips[0].labels[14] == -1 and np.isfinite(loaded.frames).all()


def test_loader_errors_are_actionable(tmp_path: Path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_expression_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="ned track"):
        load_expression_dataset(tmp_path / "empty")
    np.savez(tmp_path / "empty" / "M003_happy.npz", something=np.zeros(3))
    with pytest.raises(DatasetError, match="expression51"):
        load_expression_dataset(tmp_path / "empty")
    _write_clip(tmp_path / "x" / "clip.npz", 12)
    with pytest.raises(DatasetError, match="no labelled clips"):
        load_expression_dataset(tmp_path / "x")
