"""Quality control of one edited shot: how far a compositor can trust each frame's plate.

No tool of this kind tells a compositor, per shot, whether the speech survived the edit or where
the tracking was weak; this module does, from plain arrays the Manipulate call already holds:

* tracking, per frame: the landmark reprojection error of the 3D fit (``ShotTrack.fit_error``, in
  plate pixels, and relative to the face's size), a confidence made from it, and the untracked
  frames;
* speech preservation: the mouth opening of the original and of the edited face, and their Pearson
  correlation over the shot's tracked frames. The opening is the inner lips' gap on the fitted face
  (``face3d.mouth``), as a landmarker re-tracking the output would measure it: the jaw rotation alone
  (NED's speech-preserving loss) misses the lips the expression coefficients part, press or stretch.
  Without a landmark embedding in the model the jaw rotation is the measure. Both are reported;
* the expression change per frame (mean absolute change of the 51-d expression vector);
* temporal flicker: per frame the mean absolute change from the previous frame of the composite
  (plate over original) and of the original itself, over the face (weighted by the matte); their
  ratio over the shot is 1 when the edit adds no flicker of its own;

and a summary of pass/warn checks against ``QcThresholds``.

Confidence: the fit's error relative to the face size (the normalised mean error landmark
benchmarks use), mapped to 0..1 by ``1 / (1 + (error / CONFIDENCE_HALF) ** 2)``: 1 for a perfect
fit, 0.5 at 2% of the face size (about a detector's noise on a clean frame is well under that).
A heuristic, named as one: no per-frame detector score survives into the track.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CONFIDENCE_HALF = 0.02  # relative fit error at which the confidence is 0.5


@dataclass(frozen=True)
class QcThresholds:
    """Where a check turns from pass to warn (each has a ``*_warn`` name in the report)."""

    speech_correlation: float = 0.9  # warn below: the edited mouth does not follow the original's
    confidence: float = 0.5  # warn when the shot's lowest tracked-frame confidence is below
    untracked_share: float = 0.05  # warn when more of the range than this is untracked
    flicker_ratio: float = 1.5  # warn when the composite flickers this much more than the original


@dataclass(frozen=True)
class QcCheck:
    name: str
    value: float  # NaN when it could not be measured (see ``message``)
    threshold: float
    passed: bool
    message: str


@dataclass
class ShotQc:
    """Per-frame figures (arrays indexed like ``frames``) and the summary checks."""

    frames: np.ndarray
    tracked: np.ndarray
    fit_error_px: np.ndarray
    fit_error: np.ndarray  # relative to the face size
    confidence: np.ndarray
    jaw_original: np.ndarray
    jaw_edited: np.ndarray
    mouth_original: np.ndarray  # inner-lip opening / IOD; NaN where not measured (no landmark embedding)
    mouth_edited: np.ndarray
    expression_change: np.ndarray
    flicker_plate: np.ndarray  # NaN where there is no previous tracked frame to compare with
    flicker_original: np.ndarray
    speech_correlation: float
    flicker_ratio: float
    checks: list[QcCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def status(self) -> str:
        return "pass" if self.passed else "warn"

    def summary(self) -> str:
        """One line for a node's label or a log: the status and every check that warns."""
        warned = [c.message for c in self.checks if not c.passed]
        tracked = int(self.tracked.sum())
        head = (f"QC {self.status}: speech {_fmt(self.speech_correlation)}, {tracked}/{len(self.frames)} "
                f"tracked, flicker x{_fmt(self.flicker_ratio)}")
        return head + ("; " + "; ".join(warned) if warned else "")

    def to_json(self) -> dict[str, object]:
        """Plain JSON types (NaN as None) for the wire conversion and files."""
        def floats(a: np.ndarray) -> list[float | None]:
            return [None if not np.isfinite(v) else round(float(v), 6) for v in a]

        return {
            "status": self.status,
            "summary": self.summary(),
            "speech_correlation": _none(self.speech_correlation),
            "flicker_ratio": _none(self.flicker_ratio),
            "checks": [{"name": c.name, "value": _none(c.value), "threshold": c.threshold, "passed": c.passed,
                        "message": c.message} for c in self.checks],
            "frames": {
                "frame": [int(f) for f in self.frames],
                "tracked": [bool(t) for t in self.tracked],
                "fit_error_px": floats(self.fit_error_px),
                "fit_error": floats(self.fit_error),
                "confidence": floats(self.confidence),
                "jaw_original": floats(self.jaw_original),
                "jaw_edited": floats(self.jaw_edited),
                "mouth_original": floats(self.mouth_original),
                "mouth_edited": floats(self.mouth_edited),
                "expression_change": floats(self.expression_change),
                "flicker_plate": floats(self.flicker_plate),
                "flicker_original": floats(self.flicker_original),
            },
        }


def _none(v: float) -> float | None:
    return None if not np.isfinite(v) else round(float(v), 6)


def _fmt(v: float) -> str:
    return "n/a" if not np.isfinite(v) else f"{v:.2f}"


def tracking_confidence(fit_error_px: np.ndarray, face_size_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(relative error, confidence 0..1) per frame from the fit's pixel error and the face's size."""
    size = np.maximum(np.asarray(face_size_px, dtype=np.float64), 1.0)
    rel = np.asarray(fit_error_px, dtype=np.float64) / size
    return rel, 1.0 / (1.0 + (rel / CONFIDENCE_HALF) ** 2)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two signals; NaN when either does not move (nothing to preserve)."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.size < 3:
        return float("nan")
    x, y = x - x.mean(), y - y.mean()
    den = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / den) if den > 1e-12 else float("nan")


class FlickerMeter:
    """Frame-to-frame change of the composite and of the original over the face, in frame space.

    ``push`` one tracked frame at a time, in order, with its face box (x, y, width, height in frame
    pixels), the composite and the original over that box (h, w, 3) and the matte (h, w). The two
    frames are compared over the intersection of their boxes, weighted by the larger of the two
    mattes, so a face moving across the frame is compared where both plates hold it. ``reset`` at
    a gap (an untracked frame): nothing is compared across it."""

    def __init__(self) -> None:
        self._prev: tuple[tuple[int, int, int, int], np.ndarray, np.ndarray, np.ndarray] | None = None

    def reset(self) -> None:
        self._prev = None

    def push(self, box: tuple[int, int, int, int], composite: np.ndarray, original: np.ndarray,
             matte: np.ndarray) -> tuple[float, float]:
        """(composite flicker, original flicker) against the previous frame; NaN for the first."""
        cur = (tuple(int(v) for v in box), np.asarray(composite, np.float32)[..., :3],
               np.asarray(original, np.float32)[..., :3], np.asarray(matte, np.float32))
        prev, self._prev = self._prev, cur  # type: ignore[assignment]
        if prev is None:
            return float("nan"), float("nan")
        (px, py, pw, ph), pc, po, pm = prev
        (cx, cy, cw, ch), cc, co, cm = cur
        x0, y0 = max(px, cx), max(py, cy)
        x1, y1 = min(px + pw, cx + cw), min(py + ph, cy + ch)
        if x1 <= x0 or y1 <= y0:
            return float("nan"), float("nan")

        def part(a: np.ndarray, ox: int, oy: int) -> np.ndarray:
            return a[y0 - oy:y1 - oy, x0 - ox:x1 - ox]

        weight = np.maximum(part(pm, px, py), part(cm, cx, cy))
        total = float(weight.sum())
        if total <= 1e-6:
            return float("nan"), float("nan")

        def change(a: np.ndarray, b: np.ndarray) -> float:
            return float((np.abs(a - b).mean(axis=-1) * weight).sum() / total)

        return change(part(cc, cx, cy), part(pc, px, py)), change(part(co, cx, cy), part(po, px, py))


def shot_qc(
    frames: np.ndarray,
    tracked: np.ndarray,
    fit_error_px: np.ndarray,
    face_size_px: np.ndarray,
    original51: np.ndarray,
    edited51: np.ndarray,
    flicker_plate: np.ndarray,
    flicker_original: np.ndarray,
    thresholds: QcThresholds | None = None,
    mouth_original: np.ndarray | None = None,
    mouth_edited: np.ndarray | None = None,
) -> ShotQc:
    """The QC report of the returned frames (every array indexed like ``frames``).

    ``original51`` / ``edited51``: (T, 51) expression vectors (jaw opening first) as tracked and as
    rendered; ``flicker_*``: from ``FlickerMeter`` (NaN where not measured); ``mouth_*``: (T,) mouth
    openings (``face3d.mouth.mouth_opening``), the speech measure when given, else the jaw rotation."""
    th = thresholds or QcThresholds()
    n = len(frames)
    tracked = np.asarray(tracked, dtype=bool)
    original51 = np.asarray(original51, dtype=np.float64)
    edited51 = np.asarray(edited51, dtype=np.float64)
    arrays = {"tracked": tracked, "fit_error_px": fit_error_px, "face_size_px": face_size_px,
              "original51": original51, "edited51": edited51, "flicker_plate": flicker_plate,
              "flicker_original": flicker_original}
    for name, a in arrays.items():
        if len(a) != n:
            raise ValueError(f"shot_qc: {name} has {len(a)} rows for {n} frames")
    rel, confidence = tracking_confidence(fit_error_px, face_size_px)
    fit_px = np.where(tracked, np.asarray(fit_error_px, np.float64), np.nan)
    rel = np.where(tracked, rel, np.nan)
    confidence = np.where(tracked, confidence, 0.0)
    change = np.abs(edited51 - original51).mean(axis=1)
    jaw_o, jaw_e = original51[:, 0], edited51[:, 0]
    nan = np.full(n, np.nan)
    mouth_o = nan if mouth_original is None else np.asarray(mouth_original, np.float64)
    mouth_e = nan if mouth_edited is None else np.asarray(mouth_edited, np.float64)
    if len(mouth_o) != n or len(mouth_e) != n:
        raise ValueError(f"shot_qc: the mouth openings have {len(mouth_o)} and {len(mouth_e)} rows for {n} frames")
    by_mouth = bool(np.isfinite(mouth_o[tracked]).all() and np.isfinite(mouth_e[tracked]).all()) and tracked.any()
    speech_o, speech_e = (mouth_o, mouth_e) if by_mouth else (jaw_o, jaw_e)
    speech = correlation(speech_o[tracked], speech_e[tracked])
    if not np.isfinite(speech) and tracked.sum() >= 3 and np.ptp(speech_o[tracked]) > 1e-6:
        speech = 0.0  # the original speaks and the edit holds still: the speech is lost, not unmeasured
    fp, fo = np.asarray(flicker_plate, np.float64), np.asarray(flicker_original, np.float64)
    both = np.isfinite(fp) & np.isfinite(fo)
    flicker = float(fp[both].sum() / fo[both].sum()) if both.any() and fo[both].sum() > 1e-9 else float("nan")

    checks = []
    if np.isfinite(speech):
        checks.append(QcCheck("speech_correlation", speech, th.speech_correlation, speech >= th.speech_correlation,
                              f"speech preservation {speech:.2f} is under {th.speech_correlation:g}: the edited "
                              "mouth does not follow the original's speech; raise speech preservation"))
    else:
        checks.append(QcCheck("speech_correlation", float("nan"), th.speech_correlation, True,
                              "speech not measured: the mouth does not move in the tracked frames"))
    low = float(confidence[tracked].min()) if tracked.any() else float("nan")
    checks.append(QcCheck("confidence", low, th.confidence, bool(tracked.any()) and low >= th.confidence,
                          f"tracking confidence falls to {_fmt(low)} (frame "
                          f"{int(frames[np.argmin(np.where(tracked, confidence, np.inf))]) if tracked.any() else '-'}"
                          "): check the landmarks there"))
    share = 1.0 - float(tracked.mean()) if n else 1.0
    checks.append(QcCheck("untracked_share", share, th.untracked_share, share <= th.untracked_share,
                          f"{int((~tracked).sum())} of {n} frames untracked (they pass through unedited)"))
    checks.append(QcCheck("flicker_ratio", flicker, th.flicker_ratio,
                          not np.isfinite(flicker) or flicker <= th.flicker_ratio,
                          f"the edited face flickers x{_fmt(flicker)} the original's frame-to-frame change"))
    return ShotQc(np.asarray(frames, np.int64), tracked, fit_px, rel, confidence, jaw_o, jaw_e, mouth_o, mouth_e,
                  change, fp, fo,
                  speech, flicker, checks)


class QcMeter:
    """Collects a Manipulate's per-frame QC figures while its plates are made, for either render path.

    Frames are ``first..first+count-1`` of the range; ``measure`` each plate made, ``gap`` where a frame
    gives no plate (untracked, the face outside the frame). Flicker is compared only between frames
    that follow each other in the shot: a frame list (1001, 1050) or a gap restarts it.
    """

    def __init__(self, first: int, count: int) -> None:
        self.first = first
        self.flicker = FlickerMeter()
        self.flicker_plate = np.full(count, np.nan)
        self.flicker_original = np.full(count, np.nan)
        self._last = -2

    def gap(self) -> None:
        self.flicker.reset()
        self._last = -2

    def measure(self, index: int, box: tuple[int, int, int, int], rgba: np.ndarray, matte: np.ndarray,
                original: np.ndarray) -> None:
        """One plate: ``rgba`` premultiplied over ``box``; ``original`` the plate's pixels there."""
        if index != self._last + 1:
            self.flicker.reset()
        self._last = index
        background = np.asarray(original, np.float32)[..., :3]
        composite = rgba[..., :3] + background * (1.0 - rgba[..., 3:4])
        k = index - self.first
        self.flicker_plate[k], self.flicker_original[k] = self.flicker.push(box, composite, background, matte)
