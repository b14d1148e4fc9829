"""ConditioningRenderer: NMFC, detailed shape, eye image, masks, and the 9-channel network input."""

from __future__ import annotations

import numpy as np
import pytest

from ned_server.conditioning import (
    ConditioningConfig,
    ConditioningError,
    ConditioningRenderer,
    Light,
    UVDisplacement,
    nmfc_colors,
)
from ned_server.conditioning.primitives import grid, rotation_y, to_pixels, uv_sphere
from ned_server.conditioning.reference import software_conditioning

SIZE = 64


@pytest.fixture(scope="module")
def renderer():
    with ConditioningRenderer(SIZE, SIZE) as r:
        yield r


@pytest.fixture(scope="module")
def head():
    """An ellipsoid "head": model vertices, faces, NMFC colours, front (face) and mouth vertex flags."""
    v, f = uv_sphere(16, 28)
    v = v * np.array([0.8, 1.0, 0.85], np.float32)
    face = v[:, 2] > 0.1
    mouth = face & (np.abs(v[:, 0]) < 0.3) & (v[:, 1] > -0.6) & (v[:, 1] < -0.3)
    return v, f, nmfc_colors(v), face, mouth


def project(v, angles, size=SIZE, offsets=None):
    offsets = offsets or [(0.0, 0.0)] * len(angles)
    return np.stack([to_pixels(v, size, size, 0.4 * size, rotation_y(a), o) for a, o in zip(angles, offsets)])


# ---------------------------------------------------------------------- NMFC
def test_nmfc_colors_normalise_each_axis():
    v = np.array([[0, 10, 5], [2, 30, 5], [1, 20, 5]], np.float32)
    c = nmfc_colors(v)
    np.testing.assert_allclose(c, [[0, 0, 0.5], [1, 1, 0.5], [0.5, 0.5, 0.5]])
    with pytest.raises(ConditioningError, match=r"\(V, 3\)"):
        nmfc_colors(np.zeros((4, 2)))


def test_nmfc_in_unit_range_and_identical_across_frames(renderer, head):
    v, f, colours, face, mouth = head
    shifts = [(0.0, 0.0), (5.0, 0.0), (-3.0, 4.0)]  # whole pixels: every pixel sees the same surface point
    frames = project(v, [0.35] * 3, offsets=shifts)
    c = renderer.render(frames, f, colours, None, None, face, mouth)
    assert c.nmfc.dtype == np.float32 and c.nmfc.min() >= 0.0 and c.nmfc.max() <= 1.0
    assert c.nmfc.max() > 0.9
    for t, (dx, dy) in enumerate(shifts[1:], start=1):
        moved = np.roll(c.nmfc[0], (int(dy), int(dx)), axis=(0, 1))
        np.testing.assert_allclose(c.nmfc[t][10:-10, 10:-10], moved[10:-10, 10:-10], atol=2e-6)


def test_a_vertex_keeps_its_colour_in_every_pose(renderer, head):
    v, f, colours, _face, _mouth = head
    angles = [-0.5, 0.0, 0.4, 0.8]
    frames = project(v, angles)
    c = renderer.render(frames, f, colours)
    # Sample each frame at the pixels holding vertices that face the camera: the colour read back
    # is that vertex's colour, up to the colour change between the vertex and the pixel centre
    # (<= 0.71 px away; the surface is foreshortened by at most 1/0.6 where n.z > 0.6).
    per_pixel = 1.0 / (0.4 * SIZE * np.array([1.6, 2.0, 1.7]))  # colour change per pixel, per axis, head-on
    for t, a in enumerate(angles):
        nz = (v @ rotation_y(a).T)[:, 2] / np.linalg.norm(v, axis=1)
        visible = nz > 0.6
        x, y = frames[t, visible, 0], frames[t, visible, 1]
        got = c.nmfc[t, y.astype(int), x.astype(int)]
        assert visible.sum() > 20
        assert (np.abs(got - colours[visible]) <= 0.75 / 0.6 * per_pixel + 1e-4).all()


# ---------------------------------------------------------------------- shape
def frontal_only() -> ConditioningConfig:
    return ConditioningConfig(lights=(Light((0.0, 0.0, -1.0), 1.0),), ambient=0.0, albedo=1.0)


def plane(n: int = 9, size_px: float = 48.0):
    g, gf, uv = grid(n)
    return g, gf, uv, to_pixels(g, SIZE, SIZE, size_px)[None]


def test_flat_plane_facing_camera_has_the_expected_grey():
    g, gf, _uv, verts = plane()
    cfg = ConditioningConfig()
    with ConditioningRenderer(SIZE, SIZE, cfg) as r:
        c = r.render(verts, gf, nmfc_colors(g))
    expected = cfg.albedo * (cfg.ambient + sum(
        lt.intensity * max(0.0, -lt.direction[2] / np.linalg.norm(lt.direction)) for lt in cfg.lights))
    m = c.face_mask[0] > 0
    np.testing.assert_allclose(c.shape[0][m], expected, atol=1e-5)
    assert (c.shape[0][~m] == 0).all()
    np.testing.assert_array_equal(c.shape[0][..., 0], c.shape[0][..., 2])


def test_sphere_is_brightest_where_it_faces_the_camera(renderer, head):
    v, f, colours, *_ = head
    c = renderer.render(project(v, [0.0]), f, colours)
    s = c.shape[0, ..., 0]
    assert s[SIZE // 2, SIZE // 2] > s[SIZE // 2, int(SIZE / 2 + 0.31 * SIZE)] + 0.2  # centre vs near the limb


def test_winding_and_two_sided_shading(head):
    v, f, colours, *_ = head
    frames = project(v, [0.2])
    flipped = f[:, ::-1]  # inward normals
    cfg = frontal_only()
    with ConditioningRenderer(SIZE, SIZE, cfg) as r:
        out = r.render(frames, f, colours).shape
        two_sided = r.render(frames, flipped, colours).shape
    with ConditioningRenderer(SIZE, SIZE, ConditioningConfig(lights=cfg.lights, ambient=0.0, albedo=1.0,
                                                             two_sided=False)) as r:
        one_sided = r.render(frames, f, colours).shape
        inside_out = r.render(frames, flipped, colours).shape
    np.testing.assert_allclose(two_sided, out, atol=1e-5)
    np.testing.assert_allclose(one_sided, out, atol=1e-5)
    assert inside_out.max() == 0.0  # every normal points away from the only light


def test_given_normals_are_used(renderer, head):
    v, f, colours, *_ = head
    frames = project(v, [0.0])
    computed = renderer.render(frames, f, colours)
    facing = np.tile([0.0, 0.0, -1.0], (len(v), 1)).astype(np.float32)
    flat = renderer.render(frames, f, colours, facing)
    m = flat.face_mask[0] > 0
    assert np.ptp(flat.shape[0][m]) < 1e-6 and np.ptp(computed.shape[0][m]) > 0.2


def ramp_shade(k: float) -> float:
    """Frontal light only: a surface with height slope k along x has normal (-k, 0, -1)/|.|."""
    return 1.0 / np.sqrt(1.0 + k * k)


def test_uv_displacement_map_bump_maps_the_normal():
    g, gf, uv, verts = plane(size_px=48.0)
    width_px = 48.0
    texels = 32
    ramp = np.tile((np.arange(texels) + 0.5) / texels, (8, 1)).astype(np.float32)  # value = u
    with ConditioningRenderer(SIZE, SIZE, frontal_only()) as r:
        colours = nmfc_colors(g)
        none = r.render(verts, gf, colours)
        const = r.render(verts, gf, colours, detail_displacement=UVDisplacement(np.full((8, 8), 3.0), uv, 5.0))
        sloped = r.render(verts, gf, colours, detail_displacement=UVDisplacement(ramp, uv, 24.0))
    m = none.face_mask[0] > 0
    np.testing.assert_allclose(const.shape[0][m], none.shape[0][m], atol=1e-5)  # flat detail changes nothing
    interior = np.zeros_like(m)
    interior[12:52, 12:52] = True
    k = 24.0 / width_px  # d(height)/d(x pixels)
    np.testing.assert_allclose(sloped.shape[0][interior & m], ramp_shade(k), atol=2e-3)


def test_per_vertex_displacement_matches_the_uv_map():
    g, gf, uv, verts = plane(n=33, size_px=48.0)
    colours = nmfc_colors(g)
    height = lambda u, w: 8.0 * np.sin(2 * np.pi * u) * np.cos(np.pi * w)  # noqa: E731
    texels = 128
    tu = (np.arange(texels) + 0.5) / texels
    uv_map = height(tu[None, :], tu[:, None]).astype(np.float32)
    with ConditioningRenderer(SIZE, SIZE, frontal_only()) as r:
        zero = r.render(verts, gf, colours, detail_displacement=np.zeros(len(g), np.float32))
        none = r.render(verts, gf, colours)
        per_vertex = r.render(verts, gf, colours, detail_displacement=height(uv[:, 0], uv[:, 1]).astype(np.float32))
        mapped = r.render(verts, gf, colours, detail_displacement=UVDisplacement(uv_map, uv, 1.0))
    np.testing.assert_allclose(zero.shape, none.shape, atol=1e-6)
    interior = np.zeros((SIZE, SIZE), bool)
    interior[14:50, 14:50] = True
    a, b = per_vertex.shape[0][interior][:, 0], mapped.shape[0][interior][:, 0]
    assert a.std() > 0.03  # the detail is visible
    assert np.abs(a - b).mean() < 0.01
    assert np.corrcoef(a, b)[0, 1] > 0.95
    # Both against the analytic normal of the displaced plane (it spans pixels 8..56, u = v = 0 at 8).
    ys, xs = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    u, w = (xs - 8) / 48, (ys - 8) / 48
    hx = 8.0 * 2 * np.pi * np.cos(2 * np.pi * u) * np.cos(np.pi * w) / 48
    hy = -8.0 * np.pi * np.sin(2 * np.pi * u) * np.sin(np.pi * w) / 48
    exact = (1.0 / np.sqrt(1.0 + hx**2 + hy**2))[interior]
    assert np.abs(a - exact).mean() < 0.005 and np.abs(b - exact).mean() < 0.01


def test_per_frame_uv_maps():
    g, gf, uv, verts = plane()
    colours = nmfc_colors(g)
    ramp = np.tile((np.arange(16) + 0.5) / 16, (4, 1)).astype(np.float32)
    maps = np.stack([ramp * 0, ramp * 24, ramp * 48])
    frames = np.repeat(verts, 3, axis=0)
    with ConditioningRenderer(SIZE, SIZE, frontal_only()) as r:
        c = r.render(frames, gf, colours, detail_displacement=UVDisplacement(maps, uv, 1.0))
    centre = c.shape[:, SIZE // 2, SIZE // 2, 0]
    np.testing.assert_allclose(centre, [ramp_shade(0), ramp_shade(0.5), ramp_shade(1.0)], atol=3e-3)


# ---------------------------------------------------------------------- eyes and masks
def test_eye_disks_at_the_pupils_only_on_the_face(head):
    v, f, colours, face, mouth = head
    frames = project(v, [0.0, 0.0])
    pupils = np.array([[[24.0, 26.0], [40.0, 26.0]], [[24.0, 26.0], [np.nan, np.nan]]], np.float32)
    with ConditioningRenderer(SIZE, SIZE, ConditioningConfig(eye_radius=3.0 / SIZE)) as r:
        c = r.render(frames, f, colours, None, pupils, face, mouth)
        none = r.render(frames, f, colours, None, None, face, mouth)
        bigger = r.render(frames, f, colours, None, pupils, face, mouth, eye_radius_px=5.0)
        off_face = r.render(frames, f, colours, None, pupils, np.zeros(len(v), bool), mouth)
    ys, xs = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    disk = lambda x, y, r: (xs - x) ** 2 + (ys - y) ** 2 <= r * r  # noqa: E731
    np.testing.assert_array_equal(c.eyes[0, ..., 0] > 0, disk(24, 26, 3) | disk(40, 26, 3))
    np.testing.assert_array_equal(c.eyes[1, ..., 0] > 0, disk(24, 26, 3))  # the NaN pupil draws nothing
    np.testing.assert_array_equal(bigger.eyes[0, ..., 0] > 0, disk(24, 26, 5) | disk(40, 26, 5))
    assert set(np.unique(c.eyes)) == {0.0, 1.0} and (c.eyes[..., 1:] == 0).all()
    assert none.eyes.max() == 0 and off_face.eyes.max() == 0


def test_eye_hidden_behind_the_head_is_not_drawn(head):
    v, f, colours, face, mouth = head
    frames = project(v, [np.pi])  # the face (front) turned away: the back of the head is seen
    with ConditioningRenderer(SIZE, SIZE) as r:
        c = r.render(frames, f, colours, None, np.array([[[28, 26], [36, 26]]], np.float32), face, mouth)
    assert c.face_mask.max() == 0 and c.eyes.max() == 0


def test_eye_radius_scales_with_the_image():
    assert ConditioningConfig().eye_radius_px(256, 256) == pytest.approx(4.096)
    assert ConditioningConfig().eye_radius_px(512, 300) == pytest.approx(4.8)


def test_masks_follow_the_vertex_flags(renderer, head):
    v, f, colours, face, mouth = head
    frames = project(v, [0.0])
    c = renderer.render(frames, f, colours, None, None, face, mouth)
    allface = renderer.render(frames, f, colours)
    covered = allface.face_mask[0] > 0
    fm, mm = c.face_mask[0] > 0, c.mouth_mask[0] > 0
    assert set(np.unique(c.face_mask)) <= {0.0, 1.0} and set(np.unique(c.mouth_mask)) <= {0.0, 1.0}
    assert (fm <= covered).all() and (mm <= fm).all()
    assert 0.3 * covered.sum() < fm.sum() < covered.sum() and mm.sum() > 10
    ys, _xs = np.nonzero(mm)
    assert ys.mean() > SIZE / 2 + 0.25 * 0.4 * SIZE  # the mouth is in the lower half of the face
    assert allface.mouth_mask.max() == 0


def test_restrict_to_face_blanks_nmfc_and_shape_outside_it(head):
    v, f, colours, face, mouth = head
    frames = project(v, [0.9])
    with ConditioningRenderer(SIZE, SIZE, ConditioningConfig(restrict_to_face=True)) as r:
        c = r.render(frames, f, colours, None, None, face, mouth)
    outside = c.face_mask[0] == 0
    assert (c.nmfc[0][outside] == 0).all() and (c.shape[0][outside] == 0).all()
    assert c.nmfc[0][~outside].max() > 0.5


# ---------------------------------------------------------------------- batch, sizes, reference
def test_matches_the_software_reference(head):
    v, f, colours, face, mouth = head
    frames = project(v, [0.0, 0.6])
    pupils = np.array([[[26, 27], [38, 27]], [[30, 27], [44, 28]]], np.float32)
    with ConditioningRenderer(SIZE, SIZE) as r:
        gl = r.render(frames, f, colours, None, pupils, face, mouth)
    sw = software_conditioning(frames, f, colours, SIZE, SIZE, pupils, face, mouth)
    for name in ("nmfc", "shape", "eyes", "face_mask", "mouth_mask"):
        a, b = getattr(gl, name), getattr(sw, name)
        bad = np.abs(a - b).reshape(2, SIZE, SIZE, -1).max(axis=-1) > 1e-4
        assert bad.sum() <= 4, f"{name}: {bad.sum()} pixels differ"  # ties on edges at most


def test_batch_equals_single_calls_and_non_square_size(head):
    v, f, colours, face, mouth = head
    frames = np.stack([to_pixels(v, 80, 50, 20.0, rotation_y(a)) for a in (0.0, 0.5, -0.7)])
    pupils = np.array([[[35, 20], [45, 20]]] * 3, np.float32)
    with ConditioningRenderer(80, 50) as r:
        batch = r.render(frames, f, colours, None, pupils, face, mouth)
        assert batch.nmfc.shape == (3, 50, 80, 3) and batch.face_mask.shape == (3, 50, 80)
        for t in range(3):
            one = r.render(frames[t : t + 1], f, colours, None, pupils[t : t + 1], face, mouth)
            for name in ("nmfc", "shape", "eyes", "face_mask", "mouth_mask"):
                np.testing.assert_array_equal(getattr(batch, name)[t], getattr(one, name)[0])
    sw = software_conditioning(frames[:1], f, colours, 80, 50, pupils[:1], face, mouth)
    assert (np.abs(batch.nmfc[:1] - sw.nmfc).max(axis=-1) > 1e-4).sum() <= 3


def test_network_input_stacks_nmfc_eyes_shape(renderer, head):
    v, f, colours, face, _mouth = head
    c = renderer.render(project(v, [0.0]), f, colours, None, np.array([[[26, 27], [38, 27]]], np.float32), face)
    x = c.network_input()
    assert x.shape == (1, 9, SIZE, SIZE) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0, 0:3], c.nmfc[0].transpose(2, 0, 1))
    np.testing.assert_array_equal(x[0, 3:6], c.eyes[0].transpose(2, 0, 1))
    np.testing.assert_array_equal(x[0, 6:9], c.shape[0].transpose(2, 0, 1))
    assert x.min() >= 0.0 and x.max() <= 1.0
    signed = c.network_input("-1,1")
    np.testing.assert_allclose(signed, 2 * x - 1, atol=1e-7)
    assert signed.min() == -1.0
    with pytest.raises(ConditioningError, match="value_range"):
        c.network_input("0,255")


def test_no_leak_over_200_renders(head):
    v, f, colours, _face, _mouth = head
    frames = project(v, [0.0, 0.3], size=16)
    ramp = np.ones((4, 4), np.float32)
    detail = UVDisplacement(ramp, np.zeros((len(v), 2), np.float32))
    with ConditioningRenderer(16, 16) as r:
        r.render(frames, f, colours, detail_displacement=detail)
        live = r.live_gl_objects
        for k in range(200):
            r.render(frames[: 1 + k % 2], f, colours, detail_displacement=detail if k % 2 else None)
            assert r.live_gl_objects == live
    assert r.live_gl_objects == 0


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"nmfc_colors": np.full((3, 3), 2.0)}, "[0, 1]"),
        ({"nmfc_colors": np.full((1, 3), 0.5)}, "NMFC colours must be (1, 3, 3) or (3, 3)"),
        ({"pupils_px": np.zeros((1, 3, 2))}, "pupils must be (1, 2, 2)"),
        ({"face_vertex_mask": np.ones(5, bool)}, "face_vertex_mask must be one flag per vertex"),
        ({"normals": np.zeros((1, 3, 2))}, "normals must be"),
        ({"detail_displacement": np.zeros(7)}, "per-vertex detail displacement"),
        ({"detail_displacement": UVDisplacement(np.zeros((4, 4)), np.zeros((2, 2)))}, "detail uvs"),
    ],
)
def test_bad_input_says_what_is_expected(renderer, kwargs, words):
    args = {"verts_px": np.array([[[1, 1, 0], [9, 1, 0], [1, 9, 0]]], np.float32), "faces": np.array([[0, 1, 2]]),
            "nmfc_colors": np.full((3, 3), 0.5, np.float32)}
    args.update(kwargs)
    with pytest.raises(ConditioningError) as info:
        renderer.render(**args)
    assert words in str(info.value)


def test_bad_settings_are_refused():
    with pytest.raises(ConditioningError, match="eye_radius"):
        ConditioningConfig(eye_radius=-1.0)
    with pytest.raises(ConditioningError, match="at most 8"):
        ConditioningConfig(lights=(Light((0, 0, -1), 1.0),) * 9)
    with pytest.raises(ConditioningError, match="not all zero"):
        ConditioningConfig(lights=(Light((0, 0, 0), 1.0),))
