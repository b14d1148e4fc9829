"""Faces and 68 landmarks that work on a fresh, offline server: dlib's HOG detector and shape predictor.

FAN (fan.py) is the paper's landmarker, but face-alignment downloads its weights on first use, so a
new or locked-down server has none. dlib's 68-point shape predictor installs from the package
registry with its weights inside (``dlib-bin`` for the library, ``face-recognition-models`` for
``shape_predictor_68_face_landmarks.dat``), and dlib's HOG + linear SVM frontal face detector needs
no file at all. Together they give every server a working Track.

Licence: the 68-point predictor is trained on the iBUG 300-W data set, whose terms allow research
use only (``LICENCE`` below, reported by GetInfo and ``ned info``).

Points follow the iBUG-68 order FAN uses, in plate pixels with OpenCV's convention (dlib's pixel
centres are at integer coordinates too). dlib returns whole pixels; the HOG detector finds frontal
and slightly turned faces (a profile gives no detection: the frame is reported untracked).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ned_server.errors import Precondition
from ned_server.tracking.config import DetectionConfig
from ned_server.tracking.detection import NUM_LANDMARKS, FaceDetection

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
NAME = "dlib-68"
DESCRIPTION = "dlib HOG face detector + 68-point shape predictor (face-recognition-models)"
LICENCE = ("dlib: Boost Software License; shape_predictor_68_face_landmarks.dat is trained on iBUG 300-W: "
           "research use only (commercial use needs a licence from the 300-W data set's owners)")


class DlibUnavailable(Precondition, RuntimeError):
    """dlib or its landmark model is not installed on this server."""


def predictor_path() -> Path:
    """Where ``face-recognition-models`` installed the 68-point model, or DlibUnavailable.

    Found from the package's location without importing it: its ``__init__`` imports
    ``pkg_resources``, which recent setuptools no longer ship.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise DlibUnavailable("the offline landmarker needs the 'face-recognition-models' package (it holds "
                              "shape_predictor_68_face_landmarks.dat): pip install face-recognition-models, "
                              "or install the server with `pip install .[server]`")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / PREDICTOR_FILE
    if not path.is_file():
        raise DlibUnavailable(f"face-recognition-models is installed but {path} is missing: reinstall it")
    return path


def available() -> bool:
    """True when dlib and the 68-point model are importable (checked without loading the model)."""
    try:
        if importlib.util.find_spec("dlib") is None:
            return False
        predictor_path()
    except DlibUnavailable:
        return False
    return True


class DlibDetector:
    """Every face of a frame: HOG boxes, then the 68-point shape predictor in each box."""

    name = NAME
    licence = LICENCE

    def __init__(self, config: DetectionConfig | None = None) -> None:
        try:
            import dlib
        except ImportError:
            raise DlibUnavailable("the offline landmarker needs dlib: pip install dlib-bin (or install the server "
                                  "with `pip install .[server]`)") from None
        self.config = config or DetectionConfig()
        self._dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(predictor_path()))

    def _gray(self, image: np.ndarray) -> np.ndarray:
        # The detector and predictor were trained on 8-bit images; grey is what both use internally.
        rgb = np.clip(np.asarray(image, dtype=np.float32)[..., :3], 0.0, 1.0)
        grey = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return np.ascontiguousarray((grey * 255.0 + 0.5).astype(np.uint8))

    def detect(self, frame: int, image: np.ndarray) -> list[FaceDetection]:
        grey = self._gray(image)
        cfg = self.config
        # A small face (under ~80 px, dlib's window) is only found on an upsampled image.
        upsample = cfg.dlib_upsample if min(grey.shape) < cfg.dlib_upsample_below else 0
        rects, scores, _ = self.detector.run(grey, upsample, cfg.dlib_threshold)
        out = []
        for rect, score in zip(rects, scores, strict=True):
            shape = self.predictor(grey, rect)
            pts = np.array([[shape.part(i).x, shape.part(i).y] for i in range(NUM_LANDMARKS)], dtype=np.float32)
            box = np.array([rect.left(), rect.top(), rect.right(), rect.bottom()], dtype=np.float32)
            out.append(FaceDetection(box=box, landmarks=pts, score=float(score)))
        return out
