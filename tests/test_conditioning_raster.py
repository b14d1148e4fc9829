"""MeshRasterizer: pixel convention, interpolation, depth test, batching, channel packing, resources."""

from __future__ import annotations

import gc
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ned_server.conditioning import ConditioningError, MeshRasterizer
from ned_server.conditioning.primitives import rotation_y, to_pixels, uv_sphere
from ned_server.conditioning.reference import software_rasterize


@pytest.fixture(scope="module")
def raster():
    with MeshRasterizer(32, 24) as r:
        yield r


def centres(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    return xs, ys


def barycentric(tri: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(3, H, W) barycentric weights of points (x, y) in the 2D triangle tri (3, 2)."""
    (x0, y0), (x1, y1), (x2, y2) = tri
    det = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    w1 = ((x - x0) * (y2 - y0) - (x2 - x0) * (y - y0)) / det
    w2 = ((x1 - x0) * (y - y0) - (x - x0) * (y1 - y0)) / det
    return np.stack([1 - w1 - w2, w1, w2])


def edge_distance(tri: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Distance of each point to the nearest edge line of the triangle."""
    d = np.full(x.shape, np.inf)
    for a, b in ((0, 1), (1, 2), (2, 0)):
        (ax, ay), (bx, by) = tri[a], tri[b]
        d = np.minimum(d, np.abs((bx - ax) * (y - ay) - (by - ay) * (x - ax)) / np.hypot(bx - ax, by - ay))
    return d


def one_triangle(tri2d, z=(0.0, 0.0, 0.0)) -> np.ndarray:
    return np.concatenate([np.asarray(tri2d, np.float32), np.asarray(z, np.float32)[:, None]], axis=1)[None]


FACE = np.array([[0, 1, 2]])
ONES = np.ones((1, 3, 1), np.float32)


def test_pixel_convention_square_covers_exact_pixels(raster):
    # Two triangles covering x in [2, 5), y in [3, 7): exactly columns 2..4 of rows 3..6.
    verts = np.array([[[2, 3, 0], [5, 3, 0], [5, 7, 0], [2, 7, 0]]], np.float32)
    out = raster.rasterize(verts, np.array([[0, 1, 2], [0, 2, 3]]), np.ones((1, 4, 1), np.float32))
    expected = np.zeros((24, 32), bool)
    expected[3:7, 2:5] = True
    np.testing.assert_array_equal(out.mask[0], expected)
    assert set(np.unique(out.face_index[0])) == {-1, 0, 1}


def test_triangle_covers_the_pixels_whose_centre_is_inside(raster):
    tri = np.array([[3.2, 2.7], [28.9, 5.1], [9.6, 21.3]])
    out = raster.rasterize(one_triangle(tri), FACE, ONES)
    xs, ys = centres(32, 24)
    inside = (barycentric(tri, xs, ys) >= 0).all(axis=0)
    np.testing.assert_array_equal(out.mask[0], inside)  # no centre lies on an edge here
    np.testing.assert_array_equal(out.face_index[0], np.where(inside, 0, -1))
    np.testing.assert_array_equal(out.attributes[0, ..., 0], inside.astype(np.float32))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-4.0, 36.0, allow_nan=False, width=32), min_size=6, max_size=6))
def test_random_triangles_differ_only_on_edges(raster, coords):
    tri = np.array(coords, np.float64).reshape(3, 2)
    (ax, ay), (bx, by) = tri[1] - tri[0], tri[2] - tri[0]
    area = abs(ax * by - ay * bx)
    if area < 1.0:
        return
    out = raster.rasterize(one_triangle(tri), FACE, ONES)
    xs, ys = centres(32, 24)
    inside = (barycentric(tri, xs, ys) >= 0).all(axis=0)
    wrong = out.mask[0] != inside
    assert (edge_distance(tri, xs, ys)[wrong] < 1.0).all(), "a pixel more than 1 px inside/outside was misjudged"


def test_attributes_are_the_barycentric_blend_at_pixel_centres(raster):
    tri = np.array([[1.3, 0.4], [30.2, 8.8], [6.1, 23.5]])
    rng = np.random.default_rng(0)
    attrs = rng.uniform(-5, 5, (1, 3, 5)).astype(np.float32)
    out = raster.rasterize(one_triangle(tri, z=(1.0, 2.0, 3.0)), FACE, attrs)
    xs, ys = centres(32, 24)
    w = barycentric(tri, xs, ys)
    expected = np.einsum("khw,kc->hwc", w, attrs[0].astype(np.float64))
    m = out.mask[0]
    np.testing.assert_allclose(out.attributes[0][m], expected[m], atol=2e-5)
    assert (out.attributes[0][~m] == 0).all()


def test_float32_values_survive(raster):
    value = np.float32(0.123456)
    attrs = np.full((1, 3, 2), value, np.float32)
    attrs[..., 1] = np.float32(-1234.5678)
    out = raster.rasterize(one_triangle([[0, 0], [32, 0], [0, 24]]), FACE, attrs)
    m = out.mask[0]
    assert m.sum() > 100
    np.testing.assert_allclose(out.attributes[0][m][:, 0], 0.123456, atol=1e-6)
    np.testing.assert_allclose(out.attributes[0][m][:, 1], -1234.5678, rtol=1e-6)
    assert out.attributes.dtype == np.float32


@pytest.mark.parametrize("near_first", [True, False])
def test_depth_test_keeps_the_nearer_triangle(raster, near_first):
    near = [[2, 2, 1.0], [20, 2, 1.0], [2, 20, 1.0]]
    far = [[4, 4, 5.0], [30, 4, 5.0], [4, 22, 5.0]]
    verts = np.array([near + far if near_first else far + near], np.float32)
    faces = np.array([[0, 1, 2], [3, 4, 5]])
    tag = np.array([[[1.0]] * 3 + [[2.0]] * 3 if near_first else [[2.0]] * 3 + [[1.0]] * 3], np.float32)
    out = raster.rasterize(verts, faces, tag)
    # Pixel (8, 8) is inside both: the near one (tag 1) shows, whatever the drawing order.
    assert out.attributes[0, 8, 8, 0] == 1.0
    assert out.face_index[0, 8, 8] == (0 if near_first else 1)
    assert out.attributes[0, 5, 25, 0] == 2.0  # only the far one there


def test_interpenetrating_triangles_split_where_depths_cross(raster):
    # A leans from near (left) to far (right), B the other way: A shows left of x = 16, B right.
    verts = np.array([[[0, 0, 0], [32, 0, 10], [0, 24, 0], [0, 0, 10], [32, 0, 0], [32, 24, 0]]], np.float32)
    faces = np.array([[0, 1, 2], [3, 4, 5]])
    xs, ys = centres(32, 24)
    out = raster.rasterize(verts, faces, np.ones((1, 6, 1), np.float32))
    both = (barycentric(verts[0, :3, :2], xs, ys) >= 0).all(0) & (barycentric(verts[0, 3:, :2], xs, ys) >= 0).all(0)
    fi = out.face_index[0]
    assert both.sum() > 20
    assert (fi[both & (xs < 15)] == 0).all() and (fi[both & (xs > 17)] == 1).all()


def sphere_frames(width: int, height: int, angles, n_lat: int = 14, n_lon: int = 24):
    v, f = uv_sphere(n_lat, n_lon)
    frames = np.stack([to_pixels(v * [1.0, 1.2, 1.0], width, height, 0.35 * min(width, height), rotation_y(a),
                                 offset=(1.3 * k, -0.7 * k)) for k, a in enumerate(angles)])
    return v, f, frames


def test_batch_equals_single_calls(raster):
    v, f, frames = sphere_frames(32, 24, [0.0, 0.4, -0.9])
    attrs = np.concatenate([v, v[:, :1] ** 2], axis=1)[None].astype(np.float32)
    batch = raster.rasterize(frames, f, attrs)
    for t in range(3):
        one = raster.rasterize(frames[t : t + 1], f, attrs)
        np.testing.assert_array_equal(batch.attributes[t], one.attributes[0])
        np.testing.assert_array_equal(batch.face_index[t], one.face_index[0])


def test_shared_and_per_frame_attributes_agree(raster):
    v, f, frames = sphere_frames(32, 24, [0.1, 0.5])
    shared = raster.rasterize(frames, f, v[None])
    per_frame = raster.rasterize(frames, f, np.stack([v, v]))
    np.testing.assert_array_equal(shared.attributes, per_frame.attributes)
    changed = raster.rasterize(frames, f, np.stack([v, 2 * v]))
    np.testing.assert_array_equal(changed.attributes[1], 2 * shared.attributes[1])


@pytest.mark.parametrize("channels", [1, 3, 4, 7, 40])
def test_any_number_of_channels_matches_the_software_rasteriser(channels):
    # 40 channels + the face index = 11 RGBA groups: more than the 8 draw buffers of one pass.
    v, f, frames = sphere_frames(40, 30, [0.3])
    rng = np.random.default_rng(channels)
    attrs = (np.concatenate([v, np.ones((len(v), 1))], 1) @ rng.normal(size=(4, channels))).astype(np.float32)
    with MeshRasterizer(40, 30) as r:
        out = r.rasterize(frames, f, attrs[None])
    ref, ref_index = software_rasterize(frames[0], f, attrs, 40, 30)
    assert out.attributes.shape == (1, 30, 40, channels)
    same = (out.face_index[0] == ref_index) & (ref_index >= 0)
    assert (out.mask[0] != (ref_index >= 0)).sum() <= 2  # ties on the silhouette at most
    assert same.sum() >= 0.97 * (ref_index >= 0).sum()
    np.testing.assert_allclose(out.attributes[0][same], ref[same], atol=1e-4)


def test_non_square_output():
    v, f, frames = sphere_frames(320, 200, [0.2], n_lat=20, n_lon=36)
    with MeshRasterizer(320, 200) as r:
        out = r.rasterize(frames, f, v[None])
    assert out.attributes.shape == (1, 200, 320, 3) and out.mask.shape == (1, 200, 320)
    ref, ref_index = software_rasterize(frames[0], f, v, 320, 200)
    assert (out.mask[0] != (ref_index >= 0)).sum() <= 10
    both = out.mask[0] & (ref_index >= 0)
    np.testing.assert_allclose(out.attributes[0][both], ref[both], atol=1e-4)
    ys, xs = np.nonzero(out.mask[0])
    # The sphere is centred on the image: its coverage is centred too (no flip, no transposition).
    assert abs(xs.mean() + 0.5 - 160) < 1.5 and abs(ys.mean() + 0.5 - 100) < 1.5


def test_vertices_outside_the_image_are_clipped(raster):
    out = raster.rasterize(one_triangle([[-100, -50], [200, -50], [-100, 300]], z=(-1e4, 3.0, 1e5)), FACE, ONES)
    assert out.mask[0].all()


def test_resize_and_no_leak_over_200_renders():
    v, f, frames = sphere_frames(16, 16, [0.0, 0.5, 1.0], n_lat=8, n_lon=12)
    with MeshRasterizer(16, 16) as r:
        r.rasterize(frames, f, v[None])
        live = r.live_gl_objects
        for k in range(200):
            r.resize(16, 16) if k % 2 else r.resize(20, 12)
            out = r.rasterize(frames[: 1 + k % 3], f, v[None])
            assert out.mask.shape == (1 + k % 3, r.height, r.width)
        r.resize(16, 16)
        r.rasterize(frames, f, v[None])
        assert r.live_gl_objects == live
    assert r.live_gl_objects == 0


def test_usable_from_any_thread(raster):
    v, f, frames = sphere_frames(32, 24, [0.7])
    here = raster.rasterize(frames, f, v[None])
    results = []
    threads = [threading.Thread(target=lambda: results.append(raster.rasterize(frames, f, v[None]))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3
    for res in results:
        np.testing.assert_array_equal(res.attributes, here.attributes)


@pytest.mark.parametrize(
    ("verts", "faces", "attrs", "words"),
    [
        (np.zeros((1, 3, 2)), FACE, ONES, "(frames, vertices, 3)"),
        (np.full((1, 3, 3), np.nan), FACE, ONES, "NaN"),
        (np.zeros((1, 3, 3)), np.array([[0, 1, 3]]), ONES, "[0, 3)"),
        (np.zeros((1, 3, 3)), np.array([[0.0, 1.0, 2.0]]), ONES, "integer"),
        (np.zeros((2, 3, 3)), FACE, np.ones((3, 3, 1)), "(2 or 1, 3, C)"),
    ],
)
def test_bad_input_says_what_is_expected(raster, verts, faces, attrs, words):
    with pytest.raises(ConditioningError) as info:
        raster.rasterize(verts, faces, attrs)
    assert words in str(info.value)
    assert isinstance(info.value, ValueError)


def test_closed_rasterizer_refuses_work():
    r = MeshRasterizer(8, 8)
    r.close()
    with pytest.raises(RuntimeError, match="closed"):
        r.rasterize(one_triangle([[0, 0], [8, 0], [0, 8]]), FACE, ONES)


def test_a_forgotten_rasterizer_releases_its_gl_objects():
    r = MeshRasterizer(8, 8)
    r.rasterize(one_triangle([[0, 0], [8, 0], [0, 8]]), FACE, ONES)
    res = r._res
    assert res.live > 0
    del r
    gc.collect()
    assert res.live == 0
