"""Expression-sequence datasets with emotion labels, for training the manipulator.

Sources
-------
* **Tracked shots / ``ned track`` output**: a folder (searched recursively) of ``.npz`` files, one
  per clip, each with at least ``expression51`` (T, 51) float (jaw opening, then 50 expression
  coefficients) and ``frames`` (T,) int (the frame numbers tracked). An optional ``tracked`` (T,)
  bool marks frames that were tracked; rows that are not, or hold NaN, are never used.
* **Labels**, chosen with ``label_format`` (``"auto"`` picks by what ``labels`` is):
  - ``"filename"`` (no label file): MEAD-style names - the emotion is a token of the clip's path,
    e.g. ``M003_happy_level3_001.npz`` or ``M003/happy/level_3/001.npz``; MEAD's ``contempt`` is not
    one of our 7 domains and is skipped. The actor is a ``M###``/``W###`` token when present.
  - ``"csv"``: a table with a header holding ``clip`` and ``emotion`` columns (``file``/``name`` and
    ``label`` are accepted too) and optionally ``actor``. ``clip`` is the npz path relative to the
    folder, with or without ``.npz``, or just its stem. Emotions are names (aliases such as
    ``happiness`` are understood) or indices in our order.
  - ``"json"``: ``{"clip": "emotion", ...}`` or ``[{"clip": ..., "emotion": ..., "actor": ...}, ...]``.
  - ``"affwild"``: Aff-Wild2 expression annotations, per frame: a folder of ``<clip stem>.txt``
    files (or one .txt), first line the class names, then one integer per video frame in
    Aff-Wild2's order (Neutral, Anger, Disgust, Fear, Happiness, Sadness, Surprise, Other).
    They are mapped by name to our order; ``Other`` and ``-1`` frames are dropped. Line k of
    the labels (k from 0) belongs to the npz frame numbered ``k + frame_offset``.
* **Synthetic**: ``ned_server.synthetic.datasets.synthetic_expression_dataset(...)`` (tests, the demo and
  ``train-manipulator --synthetic``; the pipeline never reaches it).

Training uses windows of N frames that lie inside one clip and share one label.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ned_server.domains import EMOTIONS, EXPRESSION_DIM, emotion_index
from ned_server.errors import InvalidInput

AFFWILD_CLASSES = ("neutral", "anger", "disgust", "fear", "happiness", "sadness", "surprise", "other")
LABEL_FORMATS = ("auto", "filename", "csv", "json", "affwild")
_ACTOR_TOKEN = re.compile(r"^[MW]\d{3}$", re.IGNORECASE)
_SKIPPED_EMOTIONS = frozenset({"contempt", "other"})


class DatasetError(InvalidInput):
    """A dataset folder or label file that cannot be used as given."""


@dataclass
class ExpressionClip:
    """One clip: ``expression`` (T, 51) float32; ``labels`` (T,) EMOTIONS index, -1 = unusable frame."""

    name: str
    expression: np.ndarray
    labels: np.ndarray
    actor: str = ""


@dataclass
class WindowIndex:
    """Training windows: global start row in the concatenated frames, and the window's label."""

    starts: np.ndarray
    labels: np.ndarray
    clips: np.ndarray  # which clip each window comes from


@dataclass
class ExpressionDataset:
    clips: list[ExpressionClip]
    emotions: tuple[str, ...] = EMOTIONS
    skipped: list[str] = field(default_factory=list)  # clip names left out, with the reason

    def __post_init__(self) -> None:
        for clip in self.clips:
            if clip.expression.ndim != 2 or clip.expression.shape[1] != EXPRESSION_DIM:
                raise DatasetError(f"clip {clip.name!r}: expression must be (T, {EXPRESSION_DIM}), "
                                   f"got {clip.expression.shape}")
            if clip.labels.shape != (clip.expression.shape[0],):
                raise DatasetError(f"clip {clip.name!r}: labels must be ({clip.expression.shape[0]},), "
                                   f"got {clip.labels.shape}")
            bad = ~np.isfinite(clip.expression).all(axis=1)
            if bad.any():  # never train on NaN/Inf rows: unlabel and zero them
                clip.labels = np.where(bad, -1, clip.labels)
                clip.expression = np.where(bad[:, None], 0.0, clip.expression).astype(np.float32)
        self._frames: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.clips)

    @property
    def frames(self) -> np.ndarray:
        """All clips' frames concatenated (F, 51) float32; windows index into it."""
        if self._frames is None:
            self._frames = (np.concatenate([c.expression for c in self.clips]).astype(np.float32)
                            if self.clips else np.zeros((0, EXPRESSION_DIM), np.float32))
        return self._frames

    def windows(self, length: int, stride: int = 1) -> WindowIndex:
        """Every window of ``length`` frames (starting every ``stride``) inside one clip with one label."""
        starts, labels, clips = [], [], []
        offset = 0
        for i, clip in enumerate(self.clips):
            n = clip.labels.shape[0]
            if n >= length:
                lab = clip.labels
                # A window is usable when all its labels equal its first and are >= 0.
                same = np.lib.stride_tricks.sliding_window_view(lab, length)
                ok = (same == same[:, :1]).all(axis=1) & (same[:, 0] >= 0)
                idx = np.flatnonzero(ok)
                idx = idx[idx % stride == 0] if stride > 1 else idx
                starts.append(idx + offset)
                labels.append(lab[idx])
                clips.append(np.full(idx.size, i))
            offset += n
        if not starts:
            return WindowIndex(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
        return WindowIndex(np.concatenate(starts).astype(np.int64), np.concatenate(labels).astype(np.int64),
                           np.concatenate(clips).astype(np.int64))

    def gather(self, starts: np.ndarray, length: int) -> np.ndarray:
        """Windows (B, length, 51) starting at the given global rows."""
        return self.frames[starts[:, None] + np.arange(length)[None, :]]

    def label_counts(self) -> dict[str, int]:
        """Labelled frames per emotion."""
        lab = np.concatenate([c.labels for c in self.clips]) if self.clips else np.zeros(0, np.int64)
        return {e: int((lab == i).sum()) for i, e in enumerate(self.emotions)}

    def actors(self) -> list[str]:
        return sorted({c.actor for c in self.clips})

    def split_actors(self, held_out: Sequence[str]) -> tuple[ExpressionDataset, ExpressionDataset]:
        """(clips of other actors, clips of ``held_out`` actors) - e.g. MEAD's M023 for validation."""
        keep = {a.lower() for a in held_out}
        train = [c for c in self.clips if c.actor.lower() not in keep]
        val = [c for c in self.clips if c.actor.lower() in keep]
        return ExpressionDataset(train, self.emotions), ExpressionDataset(val, self.emotions)

    @classmethod
    def from_arrays(cls, sequences: np.ndarray | Sequence[np.ndarray], labels: Sequence[int] | np.ndarray,
                    actors: Sequence[object] | None = None, names: Sequence[str] | None = None
                    ) -> ExpressionDataset:
        """Clips with one label each (or per-frame label arrays)."""
        clips = []
        for i, seq in enumerate(sequences):
            expr = np.asarray(seq, dtype=np.float32)
            lab = labels[i]
            lab_arr = (np.full(expr.shape[0], int(lab), np.int64) if np.ndim(lab) == 0
                       else np.asarray(lab, np.int64))
            actor = "" if actors is None else str(actors[i])
            clips.append(ExpressionClip(names[i] if names else f"clip{i:05d}", expr, lab_arr, actor))
        return cls(clips)



# ---------------------------------------------------------------------------------------- loading
def _parse_emotion(value: str) -> int | None:
    """Our index for a label value (name, alias or index); None for classes we do not model."""
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        idx = int(text)
        if not 0 <= idx < len(EMOTIONS):
            raise DatasetError(f"emotion index {idx} is out of range 0..{len(EMOTIONS) - 1} ({', '.join(EMOTIONS)})")
        return idx
    if text.lower() in _SKIPPED_EMOTIONS:
        return None
    try:
        return emotion_index(text)
    except KeyError as exc:
        raise DatasetError(str(exc.args[0])) from None


def _emotion_from_path(rel: Path) -> tuple[int | None, str]:
    """(emotion index or None, reason) from MEAD-style path tokens."""
    tokens = [t for part in rel.with_suffix("").parts for t in re.split(r"[_\-\s.]+", part) if t]
    for token in tokens:
        low = token.lower()
        if low in _SKIPPED_EMOTIONS:
            return None, f"emotion {low!r} is not one of ours"
        try:
            return emotion_index(low), ""
        except KeyError:
            continue
    return None, "no emotion name in its path"


def _actor_from_path(rel: Path) -> str:
    for part in rel.with_suffix("").parts:
        for token in re.split(r"[_\-\s.]+", part):
            if _ACTOR_TOKEN.match(token):
                return token.upper()
    return rel.parent.name if rel.parent.name else ""


def load_npz_clip(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(expression (T, 51) float32 with unusable rows zeroed, frames (T,) int64, valid (T,) bool)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if "expression51" not in data:
                raise DatasetError(f"{path}: no 'expression51' array (found: {', '.join(data.files)}); "
                                   "expected the output of `ned track`")
            expr = np.asarray(data["expression51"], dtype=np.float32)
            frames = np.asarray(data["frames"], dtype=np.int64) if "frames" in data else np.arange(expr.shape[0])
            valid = (np.asarray(data["tracked"], dtype=bool) if "tracked" in data
                     else np.ones(expr.shape[0], dtype=bool))
    except (OSError, ValueError) as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"{path}: cannot read as .npz ({exc})") from None
    if expr.ndim != 2 or expr.shape[1] != EXPRESSION_DIM:
        raise DatasetError(f"{path}: expression51 must be (T, {EXPRESSION_DIM}), got {expr.shape}")
    if frames.shape != (expr.shape[0],) or valid.shape != (expr.shape[0],):
        raise DatasetError(f"{path}: 'frames'/'tracked' must have one entry per expression row ({expr.shape[0]})")
    valid &= np.isfinite(expr).all(axis=1)
    expr = np.where(valid[:, None], expr, 0.0).astype(np.float32)
    return expr, frames, valid


def _read_table(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV or JSON label file as {"clip", "emotion", "actor"} dicts."""
    rows: list[dict[str, str]] = []
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}: not valid JSON ({exc})") from None
        items = data.items() if isinstance(data, dict) else None
        if items is not None:
            rows = [{"clip": str(k), "emotion": str(v), "actor": ""} for k, v in items]
        elif isinstance(data, list) and all(isinstance(r, dict) for r in data):
            for r in data:
                clip = r.get("clip", r.get("file", r.get("name")))
                emo = r.get("emotion", r.get("label"))
                if clip is None or emo is None:
                    raise DatasetError(f"{path}: every entry needs 'clip' and 'emotion', got {r}")
                rows.append({"clip": str(clip), "emotion": str(emo), "actor": str(r.get("actor", ""))})
        else:
            raise DatasetError(f"{path}: expected {{clip: emotion}} or a list of {{clip, emotion}} objects")
        return rows
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        cols = {c.strip().lower(): c for c in (reader.fieldnames or [])}
        clip_col = next((cols[c] for c in ("clip", "file", "name", "path") if c in cols), None)
        emo_col = next((cols[c] for c in ("emotion", "label") if c in cols), None)
        if clip_col is None or emo_col is None:
            raise DatasetError(f"{path}: the CSV needs a header with 'clip' and 'emotion' columns, "
                               f"got {reader.fieldnames}")
        actor_col = cols.get("actor")
        for r in reader:
            rows.append({"clip": r[clip_col].strip(), "emotion": r[emo_col].strip(),
                         "actor": (r.get(actor_col) or "").strip() if actor_col else ""})
    return rows


def read_affwild_labels(path: Path) -> np.ndarray:
    """Per-video-frame labels in OUR order from an Aff-Wild2 expression .txt (-1 = none/Other)."""
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    if not lines:
        raise DatasetError(f"{path}: empty Aff-Wild2 label file")
    classes: tuple[str, ...] = AFFWILD_CLASSES
    body = lines
    if not lines[0].lstrip("-").isdigit():
        classes = tuple(c.strip().lower() for c in lines[0].split(","))
        body = lines[1:]
    mapping = np.full(len(classes), -1, np.int64)
    for i, name in enumerate(classes):
        ours = _parse_emotion(name) if name not in _SKIPPED_EMOTIONS else None
        mapping[i] = -1 if ours is None else ours
    try:
        raw = np.array([int(float(v)) for v in body], dtype=np.int64)
    except ValueError:
        raise DatasetError(f"{path}: Aff-Wild2 labels must be one integer per line after the header") from None
    out = np.full(raw.shape, -1, np.int64)
    ok = (raw >= 0) & (raw < len(classes))
    out[ok] = mapping[raw[ok]]
    return out


def _clip_keys(rel: Path) -> list[str]:
    no_ext = rel.with_suffix("")
    return [rel.as_posix(), no_ext.as_posix(), rel.stem]


def load_expression_dataset(root: str | Path, labels: str | Path | None = None, label_format: str = "auto",
                            frame_offset: int = 0) -> ExpressionDataset:
    """A folder of tracked clips (.npz) plus labels; see the module docstring for the formats."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist or is not a folder")
    if label_format not in LABEL_FORMATS:
        raise DatasetError(f"unknown label format {label_format!r}; expected one of: {', '.join(LABEL_FORMATS)}")
    files = sorted(root.rglob("*.npz"))
    if not files:
        raise DatasetError(f"no .npz clips under {root}; run `ned track` on the videos first")
    label_path = Path(labels) if labels is not None else None
    if label_path is not None and not label_path.exists():
        raise DatasetError(f"label file {label_path} does not exist")
    fmt = label_format
    if fmt == "auto":
        if label_path is None:
            fmt = "filename"
        elif label_path.is_dir() or label_path.suffix.lower() == ".txt":
            fmt = "affwild"
        elif label_path.suffix.lower() == ".json":
            fmt = "json"
        else:
            fmt = "csv"
    if fmt != "filename" and label_path is None:
        raise DatasetError(f"label format {fmt!r} needs a label file (--labels)")

    table: dict[str, dict[str, str]] = {}
    if fmt in ("csv", "json"):
        assert label_path is not None
        for row in _read_table(label_path):
            key = row["clip"].replace("\\", "/")
            table[key] = row
            table.setdefault(Path(key).with_suffix("").as_posix() if key.endswith(".npz") else key, row)
    affwild: dict[str, Path] = {}
    if fmt == "affwild":
        assert label_path is not None
        txts = [label_path] if label_path.is_file() else sorted(label_path.rglob("*.txt"))
        affwild = {p.stem: p for p in txts}
        if label_path.is_file() and len(files) == 1:
            affwild[files[0].stem] = label_path

    clips: list[ExpressionClip] = []
    skipped: list[str] = []
    for path in files:
        rel = path.relative_to(root)
        expr, frames, valid = load_npz_clip(path)
        actor = _actor_from_path(rel)
        name = rel.with_suffix("").as_posix()
        if fmt == "filename":
            idx, why = _emotion_from_path(rel)
            if idx is None:
                skipped.append(f"{name}: {why}")
                continue
            lab = np.full(expr.shape[0], idx, np.int64)
        elif fmt in ("csv", "json"):
            found: dict[str, str] | None = next((table[k] for k in _clip_keys(rel) if k in table), None)
            if found is None:
                skipped.append(f"{name}: not in {label_path.name if label_path else 'the label file'}")
                continue
            idx = _parse_emotion(found["emotion"])
            if idx is None:
                skipped.append(f"{name}: emotion {found['emotion']!r} is not one of ours")
                continue
            lab = np.full(expr.shape[0], idx, np.int64)
            actor = found["actor"] or actor
        else:
            txt = affwild.get(rel.stem)
            if txt is None:
                skipped.append(f"{name}: no {rel.stem}.txt Aff-Wild2 label file")
                continue
            per_video = read_affwild_labels(txt)
            k = frames - frame_offset
            inside = (k >= 0) & (k < per_video.shape[0])
            lab = np.full(expr.shape[0], -1, np.int64)
            lab[inside] = per_video[k[inside]]
            actor = actor or rel.stem
        lab[~valid] = -1
        clips.append(ExpressionClip(name, expr, lab, actor))
    if not clips:
        detail = "; ".join(skipped[:5])
        raise DatasetError(f"no labelled clips under {root} (format {fmt}): {detail}")
    return ExpressionDataset(clips, skipped=skipped)
