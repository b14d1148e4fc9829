"""Face plates: Merge(over) of the plate reproduces the blended frame, nothing outside the face changes,
untracked frames come back empty, and the plate survives the trip through an EXR file."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from ned_server.composite import (
    CompositeConfig,
    CompositeError,
    build_plate,
    composite_frame,
    empty_plate,
    over,
)
from ned_server.composite.plate import blend_face, box_margin

S = 48  # aligned crop size for the tests (the pipeline's is 256)


def alignment(scale: float, angle_deg: float, centre: tuple[float, float]) -> np.ndarray:
    """Original -> aligned similarity putting the frame point ``centre`` at the crop centre."""
    a = math.radians(angle_deg)
    A = np.array([[scale * math.cos(a), -scale * math.sin(a), 0.0], [scale * math.sin(a), scale * math.cos(a), 0.0]])
    A[:, 2] = (S - 1) / 2.0 - A[:, :2] @ np.asarray(centre)
    return A


def scene(h: int = 77, w: int = 101, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A scene-linear frame (values above 1 too), a rendered aligned face and its soft elliptical mask."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    frame = np.stack([xs / w * 3.0, ys / h, 0.2 + 0.1 * np.sin(xs / 5.0)], -1).astype(np.float32)
    frame += rng.normal(0, 0.01, frame.shape).astype(np.float32)
    face = rng.random((3, S, S)).astype(np.float32) * 2.0
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    r = np.hypot((xx - (S - 1) / 2) / (0.36 * S), (yy - (S - 1) / 2) / (0.44 * S))
    mask = np.clip((1.0 - r) * 8.0, 0, 1).astype(np.float32)
    return frame, face, mask


@pytest.mark.parametrize("method", ["laplacian", "poisson", "copy"])
def test_over_of_the_plate_is_the_blended_frame(method: str) -> None:
    frame, face, mask = scene(97, 131)
    A = alignment(1.3, 15.0, (70.0, 45.0))
    cfg = CompositeConfig(method=method, levels=4, erode_px=1.5, feather_px=3.0)
    plate = build_plate(face, frame, A, mask, cfg)
    full = composite_frame(face, frame, A, mask, cfg)
    merged = over(plate, frame)

    x, y, w, h = plate.data_window
    assert plate.tracked and plate.display_window == (0, 0, 131, 97)
    assert plate.rgba.shape == (h, w, 4) and plate.rgba.dtype == np.float32
    assert plate.matte.shape == (h, w) and plate.matte.dtype == np.float32
    assert w * h < 0.5 * 131 * 97  # cropped to the face, not the frame
    np.testing.assert_array_equal(plate.rgba[..., 3], plate.matte)
    # Premultiplied: colour never exceeds what alpha allows of the (unpremultiplied) blend.
    assert np.all(plate.rgba[..., :3][plate.matte == 0] == 0)

    inside = np.zeros(frame.shape[:2], bool)
    inside[y:y + h, x:x + w] = True
    assert np.abs(merged[inside] - full[inside]).max() < 1e-5
    np.testing.assert_array_equal(merged[~inside], frame[~inside])
    np.testing.assert_array_equal(full[~inside], frame[~inside])
    # Where the matte is 0 inside the box the frame is untouched too; where it is 1 the face shows.
    box_matte = np.zeros(frame.shape[:2], np.float32)
    box_matte[y:y + h, x:x + w] = plate.matte
    np.testing.assert_array_equal(merged[box_matte == 0], frame[box_matte == 0])
    assert (box_matte > 0.999).sum() > 100
    assert np.abs(merged[box_matte > 0.999] - frame[box_matte > 0.999]).mean() > 0.1


def test_copy_places_the_face_where_cv2_says() -> None:
    """Independent check of the un-alignment: a flat-colour face through a hard mask lands where
    cv2.warpAffine with the inverse map puts the mask."""
    frame, _, _ = scene()
    face = np.empty((3, S, S), np.float32)
    face[:] = np.array([5.0, 0.25, 1.0], np.float32)[:, None, None]
    mask = np.zeros((S, S), np.float32)
    cv2.circle(mask, (S // 2, S // 2), S // 3, 1.0, -1)
    A = alignment(1.2, -20.0, (40.0, 40.0))
    cfg = CompositeConfig(method="copy", erode_px=0.0, feather_px=0.0)
    merged = over(build_plate(face, frame, A, mask, cfg), frame)
    where = cv2.warpAffine(mask, cv2.invertAffineTransform(A), (frame.shape[1], frame.shape[0]))
    solid = where > 0.999
    assert solid.sum() > 150
    np.testing.assert_allclose(merged[solid], np.broadcast_to([5.0, 0.25, 1.0], merged[solid].shape), atol=1e-5)
    untouched = where < 1e-3
    np.testing.assert_allclose(merged[untouched], frame[untouched], atol=1e-6)


def test_box_covers_the_feathered_matte_and_is_odd_sized() -> None:
    frame, face, mask = scene(77, 101)
    A = alignment(0.95, 33.0, (50.0, 40.0))
    cfg = CompositeConfig(feather_px=4.0, erode_px=0.0, margin_px=3)
    fb = blend_face(face, frame, A, mask, cfg)
    assert fb is not None
    m = fb.matte[0, 0]
    # The matte fades out before the box's edge: the box holds all of it.
    assert float(m[0].max()) < 1e-3 and float(m[-1].max()) < 1e-3
    assert float(m[:, 0].max()) < 1e-3 and float(m[:, -1].max()) < 1e-3
    assert box_margin(cfg) == 3 + 6 + 1


def test_untracked_and_off_frame_plates_are_empty_and_say_so() -> None:
    frame, face, mask = scene()
    plate = empty_plate(frame.shape[:2], "no face found")
    assert not plate.tracked and plate.note == "no face found" and plate.empty
    assert plate.data_window == (0, 0, 1, 1) and plate.display_window == (0, 0, 101, 77)
    assert not plate.rgba.any() and not plate.matte.any()
    np.testing.assert_array_equal(over(plate, frame), frame)
    far = alignment(1.0, 0.0, (500.0, 500.0))
    off = build_plate(face, frame, far, mask)
    assert off.tracked and off.empty and "outside the frame" in off.note
    np.testing.assert_array_equal(over(off, frame), frame)


def test_small_face_box_lowers_the_levels_and_says_so() -> None:
    frame, face, mask = scene()
    A = alignment(6.0, 0.0, (50.0, 38.0))  # the crop covers only ~8 px of the frame
    cfg = CompositeConfig(levels=8, feather_px=0.0, erode_px=0.0, margin_px=0)
    plate = build_plate(face, frame, A, mask, cfg)
    assert plate.tracked and "lowered from 8" in plate.note


def test_plate_through_an_exr_file_keeps_windows_and_layers() -> None:
    from ned_plugin.exr import decode_exr, encode_exr

    frame, face, mask = scene()
    A = alignment(0.9, 10.0, (50.0, 40.0))
    plate = build_plate(face, frame, A, mask, {"blend_method": "laplacian", "matte_feather": 2.0})
    back = decode_exr(encode_exr(plate.to_frame(), compression="zip", pixel_type="float"))
    assert back.data_window.x == plate.data_window[0] and back.data_window.y == plate.data_window[1]
    assert (back.data_window.width, back.data_window.height) == plate.data_window[2:]
    assert (back.display_window.width, back.display_window.height) == (101, 77)
    np.testing.assert_array_equal(back.layer("matte")[..., 0], plate.matte)
    np.testing.assert_array_equal(back.layer("rgba"), plate.rgba)
    assert int(back.metadata["ned/tracked"]) == 1
    # An untracked plate is a valid EXR too (EXR cannot store an empty window: 1x1, transparent).
    empty = decode_exr(encode_exr(empty_plate((77, 101), "no face found").to_frame()))
    assert int(empty.metadata["ned/tracked"]) == 0 and empty.metadata["ned/note"] == "no face found"
    assert not np.asarray(empty.pixels, np.float32).any()


def test_origin_offsets_both_windows() -> None:
    frame, face, mask = scene()
    A = alignment(0.9, 10.0, (50.0, 40.0))
    base = build_plate(face, frame, A, mask)
    moved = build_plate(face, frame, A, mask, origin=(-8, 4))
    assert moved.display_window == (-8, 4, 101, 77)
    assert moved.data_window[:2] == (base.data_window[0] - 8, base.data_window[1] + 4)
    np.testing.assert_array_equal(over(moved, frame), over(base, frame))


def test_bad_inputs_are_refused_with_clear_messages() -> None:
    frame, face, mask = scene()
    A = alignment(1.0, 0.0, (50.0, 40.0))
    with pytest.raises(CompositeError, match=r"\(3, S, S\)"):
        build_plate(face[:2], frame, A, mask)
    with pytest.raises(CompositeError, match="face mask must be"):
        build_plate(face, frame, A, mask[:10])
    with pytest.raises(CompositeError, match=r"\(H, W, 3\)"):
        build_plate(face, frame[..., :2], A, mask)
    bad = face.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(CompositeError, match="NaN"):
        build_plate(bad, frame, A, mask)
    with pytest.raises(CompositeError, match="display window"):
        over(build_plate(face, frame, A, mask), frame[:50])


def test_config_validation() -> None:
    assert CompositeConfig().levels == 4 and CompositeConfig().method == "laplacian"
    with pytest.raises(CompositeError, match="matte_erode"):
        CompositeConfig(erode_px=-1.0)
    with pytest.raises(CompositeError, match="blend_levels"):
        CompositeConfig(levels=0)
    with pytest.raises(CompositeError, match="blend_levels"):
        CompositeConfig(levels=9)
    with pytest.raises(CompositeError, match="blend_method"):
        CompositeConfig(method="screen")
    with pytest.raises(CompositeError, match="matte_feather"):
        CompositeConfig(feather_px=float("inf"))
    cfg = CompositeConfig.from_settings({"blend_method": "poisson", "blend_levels": 5.0, "matte_erode": 3,
                                         "emotion": "happy"}, temporal_sigma=0.0)
    assert (cfg.method, cfg.levels, cfg.erode_px, cfg.temporal_sigma) == ("poisson", 5, 3.0, 0.0)
    with pytest.raises(CompositeError, match="blend_levels"):
        CompositeConfig.from_settings({"blend_levels": 2.5})
    assert isinstance(CompositeError("x"), ValueError)


def test_runs_on_tensors_and_keeps_their_device() -> None:
    frame, face, mask = scene()
    A = alignment(0.9, 10.0, (50.0, 40.0))
    a = build_plate(torch.from_numpy(face), torch.from_numpy(frame), torch.from_numpy(A), torch.from_numpy(mask))
    b = build_plate(face, frame, A, mask)
    assert a.data_window == b.data_window
    np.testing.assert_allclose(a.rgba, b.rgba, atol=1e-6)


def test_empty_face_mask_gives_a_transparent_plate_with_a_note() -> None:
    frame, face, _ = scene()
    A = alignment(0.9, 10.0, (50.0, 40.0))
    plate = build_plate(face, frame, A, np.zeros((S, S), np.float32))
    assert plate.tracked and plate.empty and "mask is empty" in plate.note
    np.testing.assert_array_equal(over(plate, frame), frame)
