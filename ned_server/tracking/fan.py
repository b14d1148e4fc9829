"""Face detection (S3FD) and 68 landmarks (2D FAN) through the face-alignment package, offline-safe.

face-alignment downloads its weights on first use. A render node or a locked-down GPU server has no
internet, and a download attempt there hangs a Track request until the socket times out. So we
never let the package fetch anything: we look for the two files ourselves and build its networks
from them, or raise FAILED_PRECONDITION naming the missing file and where to put it.

Placing the weights on an offline server: copy the two files face-alignment downloads (their names
depend on the installed face-alignment version; ``required_weights()`` lists them, e.g. for 1.5:
``2DFAN4-11f355bf06.pth.tar`` and ``s3fd-619a316812.pth``; older releases use the TorchScript
``2DFAN4-cd938726ad.zip``, also accepted) into any of

* ``<models>/torch_hub/checkpoints/`` (the server's models folder, NED_MODELS),
* ``$TORCH_HOME/hub/checkpoints/`` (torch's hub folder; TORCH_HOME defaults to
  ``$XDG_CACHE_HOME/torch``),
* ``~/.cache/torch/hub/checkpoints/``.

On a machine with internet, ``python -c "import face_alignment as f;
f.FaceAlignment(f.LandmarksType.TWO_D, device='cpu')"`` fills ~/.cache/torch/hub/checkpoints.

face_alignment itself is imported inside the functions that use it, the one exception to the
project's top-of-module imports: it pulls in scikit-image and its detectors (seconds at start-up),
which a server that gets its landmarks elsewhere (dlib, landmark files) never needs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch

from ned_server.errors import Precondition
from ned_server.tracking.config import DetectionConfig
from ned_server.tracking.detection import FaceDetection

# TorchScript FAN of face-alignment < 1.4; accepted when found, loaded with torch.jit.
LEGACY_FAN_FILE = "2DFAN4-cd938726ad.zip"


class FanWeightsMissing(Precondition, RuntimeError):
    """A face-alignment weight file is not on this server."""


@dataclass(frozen=True)
class WeightFile:
    name: str  # what it is
    filename: str
    url: str  # where face-alignment would fetch it


def required_weights() -> list[WeightFile]:
    """The files the installed face-alignment version loads (read from its own URL tables)."""
    from face_alignment import api
    from face_alignment.detection.sfd import sfd_detector

    fan_url = api.models_urls["2DFAN-4"]
    s3fd_url = sfd_detector.models_urls["s3fd"]
    return [
        WeightFile("2D FAN landmark network", os.path.basename(urlparse(fan_url).path), fan_url),
        WeightFile("S3FD face detector", os.path.basename(urlparse(s3fd_url).path), s3fd_url),
    ]


def search_dirs(models_dir: Path | None = None) -> list[Path]:
    """Where weights are looked for, in order (see the module docstring)."""
    dirs = []
    if models_dir is not None:
        dirs.append(Path(models_dir) / "torch_hub" / "checkpoints")
    dirs.append(Path(torch.hub.get_dir()) / "checkpoints")  # honours TORCH_HOME and XDG_CACHE_HOME
    dirs.append(Path.home() / ".cache" / "torch" / "hub" / "checkpoints")
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def find_weights(models_dir: Path | None = None) -> dict[str, Path]:
    """{'fan': path, 's3fd': path}, or FanWeightsMissing naming each missing file and the folders."""
    dirs = search_dirs(models_dir)
    fan_file, s3fd_file = required_weights()
    found: dict[str, Path] = {}
    missing: list[WeightFile] = []
    for key, wanted, alternatives in (("fan", fan_file, (fan_file.filename, LEGACY_FAN_FILE)),
                                      ("s3fd", s3fd_file, (s3fd_file.filename,))):
        hit = next((d / name for name in alternatives for d in dirs if (d / name).is_file()), None)
        if hit is None:
            missing.append(wanted)
        else:
            found[key] = hit
    if missing:
        what = "; ".join(f"{w.name} '{w.filename}' (downloadable from {w.url})" for w in missing)
        where = ", ".join(str(d) for d in dirs)
        raise FanWeightsMissing(
            f"face detection needs the face-alignment weights, and this server has not got: {what}. "
            f"It does not download them: copy the file(s) into one of {where}. "
            "Or send landmarks from another tracker with the Track request (ned track --landmarks).")
    return found


def _load_fan(path: Path, device: str) -> torch.nn.Module:
    if path.suffix == ".zip":
        net = torch.jit.load(str(path), map_location=device)
    else:
        from face_alignment.models import FAN

        net = FAN(4)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a truncated download, another file under the same name
            raise FanWeightsMissing(f"cannot read the FAN weights {path}: {exc}. Replace the file.") from None
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            raise FanWeightsMissing(f"{path} is not the 2D FAN-4 checkpoint face-alignment expects: {exc}") from None
        net.to(device)
    net.eval()
    return net


class FanDetector:
    """S3FD boxes + FAN landmarks for every face of a frame (the paper's landmark detector).

    Built from weight files already on disk (``find_weights``); nothing is ever downloaded.
    """

    name = "fan-2d"  # tracking.landmarkers.FAN_NAME, recorded in the track

    def __init__(self, config: DetectionConfig | None = None, device: str = "cpu") -> None:
        from face_alignment.detection.sfd import FaceDetector as S3FD

        self.config = config or DetectionConfig()
        self.device = str(device)
        paths = find_weights(self.config.models_dir)
        try:
            self.detector = S3FD(device=self.device, path_to_detector=str(paths["s3fd"]),
                                 filter_threshold=self.config.detector_threshold)
        except Exception as exc:
            raise FanWeightsMissing(f"cannot load the S3FD detector weights {paths['s3fd']}: {exc}. "
                                    "Replace the file.") from None
        self.net = _load_fan(paths["fan"], self.device)

    @torch.no_grad()
    def landmarks_in_boxes(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(N, 68, 2) landmarks for given (N, 4) boxes of an sRGB float (H, W, 3) image."""
        from face_alignment.utils import CENTER_Y_OFFSET, REFERENCE_SCALE, crop, flip

        rgb8 = _to_uint8(image)
        out = np.zeros((len(boxes), 68, 2), dtype=np.float32)
        for i, box in enumerate(np.asarray(boxes, dtype=np.float64).reshape(-1, 4)):
            x0, y0, x1, y1 = box[:4]
            centre = np.array([0.5 * (x0 + x1), 0.5 * (y0 + y1) - (y1 - y0) * CENTER_Y_OFFSET])
            scale = (x1 - x0 + y1 - y0) / REFERENCE_SCALE
            patch = crop(rgb8, centre, scale).transpose(2, 0, 1).astype(np.float32) / 255.0
            inp = torch.from_numpy(patch)[None].to(self.device)
            heat = self._heatmaps(inp)
            if self.config.flip_input:
                heat = heat + flip(self._heatmaps(flip(inp)), is_label=True)
            out[i] = decode_heatmaps(heat[0].float().cpu().numpy(), centre, scale)
        return out

    def _heatmaps(self, inp: torch.Tensor) -> torch.Tensor:
        res = self.net(inp)
        return (res[-1] if isinstance(res, list | tuple) else res).detach()

    def detect(self, frame: int, image: np.ndarray) -> list[FaceDetection]:
        rgb8 = _to_uint8(image)
        found = self.detector.detect_from_image(rgb8.copy())
        if len(found) == 0:
            return []
        arr = np.asarray(found, dtype=np.float64).reshape(len(found), -1)
        landmarks = self.landmarks_in_boxes(image, arr[:, :4])
        return [FaceDetection(box=arr[i, :4].astype(np.float32), landmarks=landmarks[i],
                              score=float(arr[i, 4]) if arr.shape[1] > 4 else 1.0)
                for i in range(len(arr))]


def decode_heatmaps(heat: np.ndarray, centre: np.ndarray, scale: float) -> np.ndarray:
    """(68, 2) plate points from FAN's (68, R, R) heatmaps of a crop made by face-alignment's ``crop``.

    The peak, moved a quarter cell towards its higher neighbour (FAN's usual sub-cell refinement),
    mapped back through the crop: the crop spans ``200 * scale`` plate pixels around ``centre``.
    Written out here rather than taken from face-alignment, whose version rounds the result to whole
    plate pixels (and compiles with numba on first use, seconds of a Track request).
    """
    n, res, _ = heat.shape
    flat = heat.reshape(n, -1).argmax(axis=1)
    py, px = np.divmod(flat, res)
    pts = np.stack([px, py], axis=1).astype(np.float64)
    inner = (px > 0) & (px < res - 1) & (py > 0) & (py < res - 1)
    rows = np.flatnonzero(inner)
    dx = heat[rows, py[rows], px[rows] + 1] - heat[rows, py[rows], px[rows] - 1]
    dy = heat[rows, py[rows] + 1, px[rows]] - heat[rows, py[rows] - 1, px[rows]]
    pts[rows] += 0.25 * np.stack([np.sign(dx), np.sign(dy)], axis=1)
    side = 200.0 * scale
    return ((pts + 0.5) * side / res + np.asarray(centre) - 0.5 * side).astype(np.float32)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """face-alignment's networks take 8-bit RGB (they divide by 255 / subtract 8-bit means)."""
    return (np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
