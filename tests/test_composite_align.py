"""The alignment maths of the compositing stage against OpenCV, whose pixel convention it follows."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from ned_server.composite import Box, CompositeError, face_box, invert_affine, warp_affine
from ned_server.composite.align import aligned_to_box, compose_affine


def similarity(scale: float, angle_deg: float, tx: float, ty: float) -> np.ndarray:
    a = math.radians(angle_deg)
    c, s = scale * math.cos(a), scale * math.sin(a)
    return np.array([[c, -s, tx], [s, c, ty]], np.float64)


def centred(scale: float, angle_deg: float, centre: tuple[float, float], crop: int) -> np.ndarray:
    """Original -> aligned similarity that puts the frame point ``centre`` at the crop's centre."""
    A = similarity(scale, angle_deg, 0.0, 0.0)
    A[:, 2] = (crop - 1) / 2.0 - A[:, :2] @ np.asarray(centre, np.float64)
    return A


def smooth_image(h: int, w: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.random((h, w, channels)).astype(np.float32)
    return cv2.GaussianBlur(img, (0, 0), 2.0).reshape(h, w, channels)


def test_invert_affine_round_trip_and_matches_cv2() -> None:
    A = similarity(1.7, 23.0, -40.5, 12.25)
    inv = invert_affine(torch.from_numpy(A))
    np.testing.assert_allclose(inv.numpy(), cv2.invertAffineTransform(A), atol=1e-12)
    ident = compose_affine(torch.from_numpy(A), inv)
    np.testing.assert_allclose(ident.numpy(), [[1, 0, 0], [0, 1, 0]], atol=1e-12)
    back = invert_affine(inv)
    np.testing.assert_allclose(back.numpy(), A, atol=1e-12)
    batch = torch.from_numpy(np.stack([A, similarity(0.5, -80, 3, 4)]))
    assert invert_affine(batch).shape == (2, 2, 3)


def test_invert_affine_rejects_singular() -> None:
    with pytest.raises(CompositeError, match="singular"):
        invert_affine(torch.zeros(2, 3, dtype=torch.float64))


@pytest.mark.parametrize("A", [similarity(1.3, 17.0, -5.0, 8.0), similarity(0.6, -140.0, 30.0, 10.0),
                               similarity(1.0, 0.0, 0.5, -0.25)])
def test_warp_affine_matches_cv2(A: np.ndarray) -> None:
    img = smooth_image(45, 61)
    out_h, out_w = 40, 52
    ref = cv2.warpAffine(img, A, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=0)
    t = torch.from_numpy(img).permute(2, 0, 1)[None]
    ours = warp_affine(t, torch.from_numpy(A), (out_h, out_w))[0].permute(1, 2, 0).numpy()
    assert ours.shape == ref.shape
    # OpenCV quantises source coordinates to 1/32 pixel; on this smooth image that is < 0.01.
    assert np.abs(ours - ref).max() < 0.01
    assert np.abs(ours - ref).mean() < 1e-3


def test_warp_affine_batch_uses_each_matrix() -> None:
    img = smooth_image(30, 30, 1)
    As = [similarity(1.1, 10, 2, 3), similarity(0.9, -30, 15, 1)]
    t = torch.from_numpy(img).permute(2, 0, 1)[None].expand(2, -1, -1, -1)
    ours = warp_affine(t, torch.from_numpy(np.stack(As)), (28, 28))
    for k, A in enumerate(As):
        ref = cv2.warpAffine(img, A, (28, 28))
        assert np.abs(ours[k, 0].numpy() - ref).max() < 0.01


def test_face_box_holds_the_uncropped_face_and_is_clipped() -> None:
    S = 32
    # A pure shift: the crop's pixels are frame pixels 10..41 x 20..51.
    A = np.array([[1.0, 0.0, -10.0], [0.0, 1.0, -20.0]])
    box = face_box(A, S, (100, 120), margin=0)
    assert box.x <= 10 and box.y <= 20 and box.x + box.width >= 42 and box.y + box.height >= 52
    assert box.width <= S + 2 and box.height <= S + 2  # at most one pixel of slack per side
    grown = face_box(A, S, (100, 120), margin=5)
    assert (grown.x, grown.y) == (box.x - 5, box.y - 5)
    assert (grown.width, grown.height) == (box.width + 10, box.height + 10)
    # Rotated and scaled: every crop pixel's frame position lies in the box.
    A = centred(0.4, 30.0, (200.0, 150.0), S)
    box = face_box(A, S, (300, 400), margin=0)
    assert box.x > 0 and box.x + box.width < 400 and box.y > 0 and box.y + box.height < 300
    inv = cv2.invertAffineTransform(A)
    ys, xs = np.mgrid[0:S, 0:S]
    pts = np.stack([xs.ravel(), ys.ravel(), np.ones(S * S)], 0)
    fx, fy = inv @ pts
    assert fx.min() >= box.x and fx.max() < box.x + box.width
    assert fy.min() >= box.y and fy.max() < box.y + box.height
    # Clipped to the frame, empty when outside.
    edge = face_box(np.array([[1.0, 0.0, 10.0], [0.0, 1.0, 10.0]]), S, (100, 120), margin=4)
    assert (edge.x, edge.y) == (0, 0) and edge.width <= S - 10 + 6
    assert face_box(np.array([[1.0, 0.0, 500.0], [0.0, 1.0, 0.0]]), S, (100, 120), 0).empty


def test_aligned_to_box_undoes_the_alignment() -> None:
    """Cut the aligned crop with cv2, then un-align it into the box with ours: the frame comes back."""
    frame = smooth_image(120, 140, seed=3)
    S = 48
    A = centred(1.25, 12.0, (70.0, 60.0), S)
    crop = cv2.warpAffine(frame, A, (S, S))
    box = face_box(A, S, frame.shape[:2], margin=0)
    back = warp_affine(torch.from_numpy(crop).permute(2, 0, 1)[None], aligned_to_box(A, box), box.size)
    back = back[0].permute(1, 2, 0).numpy()
    cover = warp_affine(torch.ones(1, 1, S, S), aligned_to_box(A, box), box.size)[0, 0].numpy()
    inner = cover > 0.999  # pixels well inside the crop's footprint
    eroded = cv2.erode(inner.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert eroded.sum() > 500
    rows, cols = box.slices
    assert np.abs(back[eroded] - frame[rows, cols][eroded]).max() < 0.03


def test_bad_matrices_are_refused() -> None:
    with pytest.raises(CompositeError, match="2x3"):
        face_box(np.eye(3), 32, (10, 10))
    with pytest.raises(CompositeError, match="NaN"):
        face_box(np.full((2, 3), np.nan), 32, (10, 10))
    assert Box(1, 2, 3, 4).slices == (slice(2, 6), slice(1, 4))
