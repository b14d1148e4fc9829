"""Choosing the landmark detector a server uses: FAN when its weights are there, else dlib (offline).

The paper's FAN stays the first choice; on a server without its weights (they download on first
use, so a fresh or offline machine has none) Track falls back to dlib's 68-point predictor, which
the server's install brings with its weights. ``describe`` says which one a server would use and
under what licence, without loading either network, for GetInfo and ``ned info``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ned_server.errors import Precondition
from ned_server.tracking import dlib_landmarks
from ned_server.tracking.config import DetectionConfig
from ned_server.tracking.detection import LandmarkDetector
from ned_server.tracking.fan import FanDetector, find_weights

BACKENDS = ("auto", "fan", "dlib")
FAN_NAME = "fan-2d"
FAN_DESCRIPTION = "face-alignment S3FD face detector + 2D FAN 68-point landmarks (the paper's)"
FAN_LICENCE = "face-alignment: BSD-3-Clause (Adrian Bulat), as in models/manifest.json"


@dataclass(frozen=True)
class LandmarkerInfo:
    """The landmarker a server uses: ``name`` is empty when none is available (``reason`` says why)."""

    name: str
    description: str
    licence: str
    reason: str = ""  # why the preferred one is not used, or why none is


def _fan_missing(config: DetectionConfig) -> str:
    """'' when FAN's weights are on this server, else the actionable reason they are not."""
    try:
        find_weights(config.models_dir)
    except ImportError as exc:
        return f"face-alignment is not installed ({exc})"
    except Precondition as exc:
        return str(exc)
    return ""


def describe(config: DetectionConfig) -> LandmarkerInfo:
    """Which landmarker ``make_detector`` would build, without building it."""
    if config.backend not in BACKENDS:
        raise Precondition(f"unknown landmark backend {config.backend!r}; use one of {', '.join(BACKENDS)}")
    fan_reason = _fan_missing(config) if config.backend in ("auto", "fan") else "not requested"
    if config.backend in ("auto", "fan") and not fan_reason:
        return LandmarkerInfo(FAN_NAME, FAN_DESCRIPTION, FAN_LICENCE)
    if config.backend == "fan":
        return LandmarkerInfo("", "", "", fan_reason)
    why = "" if config.backend == "dlib" else f"FAN unavailable: {fan_reason}"
    if dlib_landmarks.available():
        return LandmarkerInfo(dlib_landmarks.NAME, dlib_landmarks.DESCRIPTION, dlib_landmarks.LICENCE, why)
    return LandmarkerInfo("", "", "", (why + "; " if why else "") + "dlib unavailable: install dlib-bin and "
                          "face-recognition-models (pip install .[server])")


def make_detector(config: DetectionConfig, device: str = "cpu") -> tuple[LandmarkDetector, LandmarkerInfo]:
    """The landmark detector to use and its description; Precondition naming what is missing if none."""
    info = describe(config)
    if info.name == FAN_NAME:
        return FanDetector(config, device=device), info
    if info.name == dlib_landmarks.NAME:
        return dlib_landmarks.DlibDetector(config), info
    raise Precondition(f"no face landmarker on this server: {info.reason}. Or send landmarks from another "
                       "tracker with the Track request (ned track --landmarks)")
