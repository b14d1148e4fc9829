"""FID on face-recognition features: the NED paper's realism figure for rendered faces.

The Fréchet distance between two Gaussians fitted to feature vectors of real and of generated
faces, ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``; the paper computes it on features of
a face-recognition network rather than Inception's. Here the network is dlib's face-recognition
ResNet (``dlib_face_recognition_resnet_model_v1.dat``, 128-d descriptors of 150x150 aligned face
chips), found where the optional packages ``dlib-bin`` (or ``dlib``) and ``face-recognition-models``
are installed (``pip install ".[fid]"``). Neither is a dependency: without them
``face_feature_extractor`` says why and the renderer benchmark skips the figure with that reason.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import linalg

FaceFeatures = Callable[[np.ndarray], np.ndarray]  # (N, H, W, 3) sRGB 0..1 -> (N, D)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two sets of feature rows (N, D) and (M, D)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be (N, D) and (M, D) with the same D, got {a.shape} and {b.shape}")
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError("each feature set needs at least 2 rows for a covariance")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(root).all():  # singular product: the usual offset on the diagonals
        eps = 1e-6 * np.eye(cov_a.shape[0])
        root = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    root = np.real(root)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(root))


def face_feature_extractor() -> tuple[FaceFeatures | None, str]:
    """(extractor, description) when dlib's face-recognition ResNet is installed, else (None, why not)."""
    try:
        import dlib
    except ImportError:
        return None, "dlib is not installed (pip install dlib-bin face-recognition-models)"
    try:
        import face_recognition_models
    except ImportError:
        return None, "face-recognition-models (dlib's face-recognition ResNet weights) is not installed"
    import cv2

    path = face_recognition_models.face_recognition_model_location()
    net = dlib.face_recognition_model_v1(path)

    def features(images: np.ndarray) -> np.ndarray:
        out = []
        for img in np.asarray(images, dtype=np.float32):
            chip = cv2.resize(np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8), (150, 150),
                              interpolation=cv2.INTER_CUBIC)
            out.append(np.asarray(net.compute_face_descriptor(np.ascontiguousarray(chip)), dtype=np.float64))
        return np.stack(out)

    return features, f"dlib face-recognition ResNet v1 (128-d, {path})"
