"""Full-resolution edits: the warp's backward map (GL), the resampler, the hybrid matte, the STMap layer.

Meshes are procedural planes in plate pixels, so every expected offset is known exactly; the
synthetic actor's whole path is measured in tests/bench/hybrid.py.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from ned_plugin.exr import Frame, Window, decode_exr, encode_exr
from ned_server.composite.align import Box
from ned_server.composite.edit import colour_gain, edit_face, edit_plate, neural_matte, resample, stmap
from ned_server.composite.plate import over
from ned_server.conditioning import ConditioningError
from ned_server.conditioning.primitives import grid
from ned_server.conditioning.warp import WarpMapper, WarpMaps

BOX = (20, 10, 96, 80)  # x, y, width, height in the plate
H, W = 120, 140  # the plate


def plane(cx: float, cy: float, size: float, depth: float, n: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """A square of ``size`` px centred at (cx, cy) plate px, facing the camera at ``depth``."""
    v, f, _ = grid(n, size)
    out = np.empty((len(v), 3))
    out[:, 0] = cx + v[:, 0]
    out[:, 1] = cy - v[:, 1]
    out[:, 2] = depth
    return out, f


def two_layers(front_shift: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An 'eyeball' plane behind a smaller 'lid' plane; the lid moves up by ``front_shift`` px."""
    back, fb = plane(68, 50, 60, 50.0)
    front, ff = plane(68, 50, 30, 10.0)
    old = np.concatenate([back, front])
    new = old.copy()
    new[len(back):, 1] -= front_shift
    return old, new, np.concatenate([fb, ff + len(back)])


@pytest.fixture(scope="module")
def plate() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.random((H, W, 3)).astype(np.float32) * 2.0


def box_pixels(plate: np.ndarray) -> torch.Tensor:
    x, y, w, h = BOX
    return torch.from_numpy(np.ascontiguousarray(plate[y:y + h, x:x + w])).permute(2, 0, 1)[None].contiguous()


# ---------------------------------------------------------------------------- the map
def test_no_motion_is_the_identity_and_the_plate_comes_back_bit_for_bit(plate):
    v, f = plane(68, 50, 50, 10.0)
    with WarpMapper(f) as mapper:
        maps = mapper.maps(v, v.copy(), BOX)
    assert maps.identity and not maps.offset.any() and not maps.neural.any()
    layers = edit_face(box_pixels(plate), Box(*BOX), maps.offset, maps.moved, maps.neural)
    assert torch.equal(layers.result, box_pixels(plate)) and not layers.alpha.any()
    out = over(edit_plate(layers, (H, W)), plate)
    assert np.array_equal(out, plate)


def test_a_moved_face_maps_each_pixel_back_to_where_its_surface_point_was():
    v, f = plane(68, 50, 40, 10.0)
    new = v.copy()
    new[:, :2] += (3.0, -2.0)
    with WarpMapper(f, feather_px=9.0) as mapper:
        maps = mapper.maps(new, v, BOX)
    x, y = BOX[:2]
    inside = maps.coverage
    assert inside.sum() > 30 * 30
    np.testing.assert_allclose(maps.offset[inside], np.broadcast_to([-3.0, 2.0], maps.offset[inside].shape),
                               atol=1e-4)
    # past the silhouette the offset fades out within the feather and is exactly 0 beyond it
    ys, xs = np.nonzero(inside)
    far = np.ones_like(inside)
    far[max(0, ys.min() - 10):ys.max() + 11, max(0, xs.min() - 10):xs.max() + 11] = False
    assert not maps.offset[far].any() and not maps.moved[far].any()
    assert maps.moved[inside].all()
    src = maps.source_pixels()
    r, c = ys[0], xs[0]
    np.testing.assert_allclose(src[r, c], [x + c - 3.0, y + r + 2.0], atol=1e-4)
    assert not maps.neural.any()  # nothing was hidden, nothing is new


def test_what_a_moving_lid_uncovers_is_marked_for_the_neural_renderer():
    old, new, f = two_layers(front_shift=12.0)
    with WarpMapper(f, feather_px=6.0) as mapper:
        maps = mapper.maps(new, old, BOX)
    x, y = BOX[:2]
    neural = maps.neural > 0.5
    assert neural.any()
    ys, xs = np.nonzero(neural)
    # the uncovered strip: the back plane under where the lid's lower part was (rows 53..65 of the plate)
    assert (ys + y).min() >= 50 and (ys + y).max() <= 66
    assert (xs + x).min() >= 52 and (xs + x).max() <= 84
    # the lid's new place shows the lid itself, which the plate had: warped, not neural
    assert not neural[35 - y:45 - y, 60 - x:76 - x].any()


def test_only_the_revealable_surfaces_are_tested_for_what_comes_into_view():
    """The 'eyeball' flagged as revealable gives the same strip as testing every surface (the original's
    depth is then drawn only over the eyeball's box); the 'lid' alone flagged gives none (it was never
    hidden)."""
    old, new, f = two_layers(front_shift=12.0)
    n_back = len(old) - len(plane(68, 50, 30, 10.0)[0])
    with WarpMapper(f, feather_px=6.0) as mapper:
        every = mapper.maps(new, old, BOX).neural
    eyeball = np.zeros(len(old), bool)
    eyeball[:n_back] = True
    with WarpMapper(f, feather_px=6.0, reveal_vertices=eyeball) as mapper:
        window = mapper._seen_window(old, BOX)
        assert window is not None and window[2] < BOX[2] and window[3] < BOX[3]
        np.testing.assert_array_equal(mapper.maps(new, old, BOX).neural, every)
    with WarpMapper(f, feather_px=6.0, reveal_vertices=~eyeball) as mapper:
        assert not mapper.maps(new, old, BOX).neural.any()


def test_an_opening_hole_in_the_silhouette_is_neural_where_it_moves():
    # a ring of two halves; the lower half drops, the hole between them grows (an opening mouth)
    top, ft = plane(68, 33, 30, 10.0)  # rows 18..48
    bottom, fb = plane(68, 67, 30, 10.0)  # rows 52..82: a slit of 4 rows between them
    left, fl = plane(50, 50, 12, 10.0, n=4)  # the mouth corners close the slit at both ends
    right, fr = plane(86, 50, 12, 10.0, n=4)
    parts = [top, bottom, left, right]
    faces, base = [], 0
    for p, f in zip(parts, (ft, fb, fl, fr)):
        faces.append(f + base)
        base += len(p)
    old = np.concatenate(parts)
    new = old.copy()
    sl = slice(len(top), len(top) + len(bottom))
    new[sl, 1] += 6.0
    left_right = slice(len(top) + len(bottom), None)
    new[left_right, 1] += 3.0
    with WarpMapper(np.concatenate(faces), feather_px=6.0) as mapper:
        maps = mapper.maps(new, old, BOX)
    neural = maps.neural > 0.5
    x, y = BOX[:2]
    ys, xs = np.nonzero(neural)
    assert neural.sum() > 4 * 20  # the slit, wider now
    assert (ys + y).min() >= 47 and (ys + y).max() <= 59 and (xs + x).min() >= 55 and (xs + x).max() <= 81


def test_bad_warp_input_is_refused_with_a_message():
    v, f = plane(68, 50, 40, 10.0)
    with WarpMapper(f) as mapper:
        with pytest.raises(ConditioningError, match="box"):
            mapper.maps(v, v, (0, 0, 0, 10))
        with pytest.raises(ConditioningError, match=r"\(V, 3\)"):
            mapper.maps(v[:, :2], v[:, :2], BOX)
        bad = v.copy()
        bad[0, 0] = np.nan
        with pytest.raises(ConditioningError, match="NaN"):
            mapper.maps(bad, v, BOX)
    with pytest.raises(ConditioningError, match="feather"):
        WarpMapper(f, feather_px=0.0)


# ---------------------------------------------------------------------------- resampling
def test_resample_is_opencvs_bicubic_and_copies_what_does_not_move():
    h, w = 40, 50
    rng = np.random.default_rng(2)
    img = rng.random((h, w, 3)).astype(np.float32)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    offset = np.zeros((h, w, 2), np.float32)
    offset[10:30, 10:40] = (0.375, -1.25)  # on OpenCV's 1/32-px table, so both sample the same points
    offset[15:20, 15:20] = (2.0, 3.0)
    moved = (offset != 0).any(axis=-1)
    t = torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()
    out = resample(t, torch.from_numpy(offset), torch.from_numpy(moved))[0].permute(1, 2, 0).numpy()
    want = cv2.remap(img, xs + offset[..., 0], ys + offset[..., 1], cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    np.testing.assert_allclose(out[moved], np.clip(want, img.min(), img.max())[moved], atol=2e-3)
    np.testing.assert_allclose(out[15:20, 15:20], img[18:23, 17:22], atol=1e-5)  # whole pixels: the pixels
    assert np.array_equal(out[~moved], img[~moved])
    with pytest.raises(Exception, match="warp map"):
        resample(t, torch.zeros(3, 3, 2), torch.zeros(3, 3, dtype=torch.bool))


def test_resample_keeps_detail_a_bilinear_one_loses():
    rng = np.random.default_rng(1)
    img = torch.from_numpy(rng.random((1, 3, 64, 64)).astype(np.float32))
    offset = torch.full((64, 64, 2), 0.5)
    moved = torch.ones(64, 64, dtype=torch.bool)
    cubic = resample(img, offset, moved)
    linear = resample(img, offset, moved, mode="bilinear")
    assert cubic[..., 4:-4, 4:-4].std() > 1.05 * linear[..., 4:-4, 4:-4].std()
    assert cubic.min() >= img.min() and cubic.max() <= img.max()  # overshoot clamped to the plate's range


# ---------------------------------------------------------------------------- the hybrid matte
def test_neural_matte_holds_the_hard_region_feathers_out_and_stays_in_the_renderers_face():
    need = torch.zeros(1, 1, 60, 60)
    need[..., 25:35, 25:35] = 1.0
    coverage = torch.zeros(1, 1, 60, 60)
    coverage[..., 10:50, 10:50] = 1.0
    m = neural_matte(need, coverage, feather_px=4.0)
    assert torch.all(m[..., 25:35, 25:35] == 1.0)
    assert 0 < m[0, 0, 30, 37] < 1.0  # the feather
    assert not m[..., :10, :].any() and not m[..., 50:, :].any()  # outside the renderer's face
    warped = torch.full((1, 3, 60, 60), 0.4)
    face = torch.full((1, 3, 60, 60), 0.8)
    gain = colour_gain(face, warped, m, coverage, ring_px=6.0)
    np.testing.assert_allclose(gain.flatten().numpy(), [0.5, 0.5, 0.5], rtol=1e-5)


def test_hybrid_blends_the_neural_face_only_where_the_warp_cannot_explain_the_frame(plate):
    old, new, f = two_layers(front_shift=12.0)
    with WarpMapper(f, feather_px=6.0) as mapper:
        maps = mapper.maps(new, old, BOX)
    x, y, w, _ = BOX
    S = 64
    # a renderer face covering the whole box in an aligned crop that is the box itself (A = translate)
    A = np.array([[1.0, 0.0, -x], [0.0, 1.0, -y]]) * (S / w)
    A[1, 1] = S / w
    rendered = torch.full((3, S, S), 0.25)
    mask = torch.ones(S, S)
    px = box_pixels(plate)
    layers = edit_face(px, Box(*BOX), maps.offset, maps.moved, maps.neural, rendered=rendered, mask=mask, A=A,
                       feather_px=3.0, levels=3)
    assert layers.neural_matte is not None and layers.neural is not None
    hard = torch.from_numpy(maps.neural > 0.5)
    far = layers.neural_matte[0, 0] == 0
    assert torch.all(layers.neural_matte[0, 0][hard] == 1.0)
    warped_only = edit_face(px, Box(*BOX), maps.offset, maps.moved, None)
    # far from the matte's reach the hybrid is the warp
    reach = torch.nn.functional.max_pool2d((~far).float()[None, None], 33, stride=1, padding=16)[0, 0] > 0
    assert torch.equal(layers.result[..., ~reach], warped_only.result[..., ~reach])
    plate_out = edit_plate(layers, (H, W))
    assert set(plate_out.layers) == {"stmap.R", "stmap.G", "neural.R", "neural.G", "neural.B", "neural.A"}
    np.testing.assert_array_equal(plate_out.layers["neural.A"], layers.neural_matte[0, 0].numpy())


# ---------------------------------------------------------------------------- STMap and the plate's layers
def test_stmap_follows_nukes_convention_origin_bottom_left_pixel_centres():
    src = np.array([[[0.0, 0.0], [W - 1.0, H - 1.0]]], np.float32)
    uv = stmap(src, (H, W))
    np.testing.assert_allclose(uv[0, 0], [0.5 / W, 1.0 - 0.5 / H], rtol=1e-6)  # top-left pixel
    np.testing.assert_allclose(uv[0, 1], [1.0 - 0.5 / W, 0.5 / H], rtol=1e-5)  # bottom-right pixel
    # Nuke samples the source at (u * W - 0.5, (1 - v) * H - 0.5) in pixel centres, top-down rows
    back = np.stack([uv[..., 0] * W - 0.5, (1.0 - uv[..., 1]) * H - 0.5], -1)
    np.testing.assert_allclose(back, src, atol=1e-3)


def test_the_plate_carries_a_float_stmap_beside_half_rgba(plate):
    v, f = plane(68, 50, 40, 10.0)
    new = v.copy()
    new[:, 0] += 2.5
    with WarpMapper(f) as mapper:
        maps = mapper.maps(new, v, BOX)
    layers = edit_face(box_pixels(plate), Box(*BOX), maps.offset, maps.moved, None)
    p = edit_plate(layers, (H, W), neural_layer=False)
    assert set(p.layers) == {"stmap.R", "stmap.G"} and p.float_channels == ("stmap.R", "stmap.G")
    back = decode_exr(encode_exr(p.to_frame(), pixel_type="half", float_channels=p.float_channels))
    assert back.channels == ("R", "G", "B", "A", "matte.Y", "stmap.R", "stmap.G")
    np.testing.assert_array_equal(back.channel("stmap.R"), p.layers["stmap.R"])  # 32-bit: exact
    # a half STMap would be off by a good fraction of a pixel at this plate's width already
    half = p.layers["stmap.R"].astype(np.float16).astype(np.float32)
    assert np.abs(half - p.layers["stmap.R"]).max() * W > 0.01
    # and the warped pixels, merged over the plate, are the edit: the plate shifted by the map
    out = over(p, plate)
    assert not np.array_equal(out, plate)
    untouched = p.rgba[..., 3] == 0
    x, y, w, h = BOX
    assert np.array_equal(out[y:y + h, x:x + w][untouched], plate[y:y + h, x:x + w][untouched])


def test_float_channels_must_name_channels_of_the_frame():
    frame = Frame(np.zeros((2, 2, 1), np.float32), ("Y",), Window(0, 0, 2, 2), Window(0, 0, 2, 2), {})
    with pytest.raises(ValueError, match="float channels"):
        encode_exr(frame, float_channels=("stmap.R",))


def test_identity_maps_have_the_box_shape():
    maps = WarpMaps.identity_maps((3, 4, 5, 6))
    assert maps.offset.shape == (6, 5, 2) and maps.identity and maps.source_pixels()[0, 0].tolist() == [3.0, 4.0]
