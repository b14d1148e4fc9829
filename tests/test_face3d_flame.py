"""The FLAME layer and the safe loaders, on the generated FLAME-format model and hand-made pickles."""

from __future__ import annotations

import io
import pickle
import sys
import types

import numpy as np
import pytest
import torch

from ned_server.face3d.config import FlameConfig
from ned_server.face3d.flame import FlameInputError, FlameLayer
from ned_server.face3d.landmark_embedding import (
    MASK_NAMES,
    bin_yaw_deg,
    contour_bin,
    load_flame_masks,
    load_landmark_embedding,
)
from ned_server.face3d.model_file import load_flame_model
from ned_server.face3d.mouth import mouth_opening
from ned_server.face3d.safe_pickle import FlameAssetError, UnsafePickleError, safe_load_npy, safe_loads
from ned_server.synthetic.flame_assets import make_tiny_flame_assets, tiny_flame
from ned_server.synthetic.procedural import features as ft


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return make_tiny_flame_assets(tmp_path_factory.mktemp("flame"), seed=0)


@pytest.fixture(scope="module")
def flame(assets):
    return FlameLayer(assets.model, assets.landmarks)


def test_loader_round_trips_the_generated_file(assets):
    gen = tiny_flame(0)
    model = load_flame_model(assets.model)
    assert model.parents == [-1, 0, 1, 1, 1]
    np.testing.assert_array_equal(model.v_template, gen.v_template)
    np.testing.assert_array_equal(model.shapedirs, gen.shapedirs)
    np.testing.assert_array_equal(model.posedirs, gen.posedirs)
    np.testing.assert_allclose(model.j_regressor, gen.j_regressor, atol=1e-7)
    np.testing.assert_array_equal(model.weights, gen.weights)
    np.testing.assert_array_equal(model.faces, gen.faces)
    assert (model.shape_components, model.expression_components) == (300, 100)
    assert 3000 <= model.num_vertices <= 6000
    emb = load_landmark_embedding(assets.landmarks)
    np.testing.assert_array_equal(emb.dynamic_faces, gen.landmarks.dynamic_faces)
    np.testing.assert_allclose(emb.static_bary, gen.landmarks.static_bary)
    masks = load_flame_masks(assets.masks, model.num_vertices)
    assert set(MASK_NAMES) <= set(masks)
    for name in MASK_NAMES:
        np.testing.assert_array_equal(masks[name], gen.masks[name])
        assert masks[name].size > 0, name
    # Cached: a second call with the same seed does not rewrite the files.
    stamp = assets.model.stat().st_mtime_ns
    again = make_tiny_flame_assets(assets.folder.parent, seed=0)
    assert again == assets and assets.model.stat().st_mtime_ns == stamp


def test_zero_parameters_give_the_template(flame):
    out = flame(batch_size=2)
    assert out.vertices.shape == (2, flame.num_vertices, 3)
    assert torch.allclose(out.vertices, flame.v_template[None].expand(2, -1, -1), atol=1e-6)
    assert out.landmarks.shape == (2, 68, 3) and out.joints.shape == (2, 5, 3)


def test_jaw_rotation_moves_only_jaw_weighted_vertices(flame):
    jaw = torch.zeros(1, 15)
    jaw[0, 6] = 0.3
    rest = flame().vertices[0]
    opened = flame(pose=jaw).vertices[0]
    moved = (opened - rest).norm(dim=1)
    on_jaw = flame.lbs_weights[:, 2] > 0
    assert moved[~on_jaw].max() < 1e-6  # the skull, eyes and neck stay exactly still
    assert moved[flame.lbs_weights[:, 2] > 0.99].min() > 1e-3
    # The chin goes down and back (positive jaw opening).
    chin = int(torch.argmin(rest[:, 1] + 10 * (flame.lbs_weights[:, 2] < 0.99)))
    assert opened[chin, 1] < rest[chin, 1]


def test_global_rotation_is_rigid_about_the_root(flame):
    pose = torch.zeros(1, 15)
    pose[0, 1] = np.pi / 2
    out = flame(pose=pose)
    root = flame().joints[0, 0]
    rel = flame.v_template - root
    expected = torch.stack([rel[:, 2], rel[:, 1], -rel[:, 0]], 1) + root
    assert torch.allclose(out.vertices[0], expected, atol=1e-5)


def test_eye_rotation_moves_only_the_eyeball_about_its_centre(flame):
    pose = torch.zeros(1, 15)
    pose[0, 10] = 0.3  # left eye yaw
    rest = flame()
    out = flame(pose=pose)
    moved = (out.vertices[0] - rest.vertices[0]).norm(dim=1) > 1e-6
    left = flame.lbs_weights[:, 3] > 0.5
    assert torch.equal(moved, left & moved) and moved.sum() > 0.8 * left.sum()
    centre = rest.joints[0, 3]
    r0 = (rest.vertices[0, left] - centre).norm(dim=1)
    r1 = (out.vertices[0, left] - centre).norm(dim=1)
    assert torch.allclose(r0, r1, atol=1e-6)


def test_batching_broadcast_deca_pose_and_gradients(flame):
    shape = torch.zeros(1, 100, requires_grad=True)
    expr = torch.randn(3, 50) * 0.5
    deca_pose = torch.zeros(3, 6)
    deca_pose[:, 3] = torch.tensor([0.0, 0.1, 0.2])  # jaw
    out = flame(shape, expr, deca_pose)
    assert out.vertices.shape[0] == 3 and torch.allclose(out.pose[:, 6], deca_pose[:, 3])
    out.landmarks.sum().backward()
    assert shape.grad is not None and shape.grad.abs().sum() > 0
    with pytest.raises(FlameInputError):
        flame(torch.zeros(2, 100), torch.zeros(3, 50))
    with pytest.raises(FlameInputError):
        flame(pose=torch.zeros(2, 7))
    with pytest.raises(FlameAssetError):
        FlameLayer(flame.model, config=FlameConfig(n_shape=301))


def test_static_landmarks_sit_on_their_features(flame):
    lm = flame().landmarks[0].numpy()
    target = ft.static_landmarks_frontal()
    np.testing.assert_allclose(lm[17:, :2], target, atol=6e-4)
    # iBUG-68 order sanity: image-left before image-right, brows above eyes above nose above mouth.
    assert lm[36, 0] < lm[39, 0] < lm[42, 0] < lm[45, 0]
    assert lm[17:27, 1].min() > lm[36:48, 1].max() > lm[30, 1] > lm[33, 1] > lm[51, 1] > lm[57, 1] > lm[8, 1]
    assert lm[0, 0] < lm[8, 0] < lm[16, 0] and abs(lm[8, 0]) < 2e-3
    # 3D landmarks (frontal contour) agree with the 2D-ready ones on a frontal face.
    assert torch.allclose(flame().landmarks3d, flame().landmarks, atol=1e-6)


def test_dynamic_contour_follows_yaw(flame):
    assert contour_bin(np.array([0.0, -10.0, 10.0, 39.0, 60.0, -60.0])).tolist() == [0, 10, 49, 78, 78, 39]
    assert [bin_yaw_deg(i) for i in (0, 10, 49, 78)] == [0.0, -10.0, 10.0, 39.0]
    yaws = torch.tensor([0.0, 0.5, -0.5])
    pose = torch.zeros(3, 15)
    pose[:, 1] = yaws
    out = flame(pose=pose)
    bins = flame.contour_bins(out.pose)
    assert bins.tolist() == [0, 39 + 29, 29]
    lm2d, lm3d = out.landmarks, out.landmarks3d
    # The static points do not depend on the contour choice; the contour does.
    assert torch.allclose(lm2d[:, 17:], lm3d[:, 17:])
    assert (lm2d[1, :17] - lm3d[1, :17]).norm(dim=1).max() > 5e-3
    # Turned towards +x, the far (subject's left, +x) contour is the outermost silhouette there.
    verts = out.vertices[1]
    skin = flame.lbs_weights[:, 3:].sum(1) == 0
    band = skin & (verts[:, 1] > lm2d[1, 14, 1] - 0.003) & (verts[:, 1] < lm2d[1, 14, 1] + 0.003) & (verts[:, 2] > -0.2)
    assert lm2d[1, 14, 0] > lm3d[1, 14, 0]
    assert lm2d[1, 14, 0] >= verts[band & (flame.lbs_weights[:, 0] == 0), 0].max() - 4e-3


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/ned_face3d_pwned",))


def test_loader_refuses_code_execution(tmp_path):
    payload = pickle.dumps({"v_template": _Evil()}, protocol=2)
    with pytest.raises(UnsafePickleError, match=r"os|posix|system"):
        safe_loads(payload, "evil.pkl")
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(payload)
    with pytest.raises(UnsafePickleError):
        load_flame_model(evil)
    import os

    assert not os.path.exists("/tmp/ned_face3d_pwned")
    # np.save'd object arrays are also read with the restricted rules.
    npy = tmp_path / "evil.npy"
    buf = io.BytesIO()
    np.save(buf, np.array({"x": _Evil()}, dtype=object), allow_pickle=True)
    npy.write_bytes(buf.getvalue())
    with pytest.raises(UnsafePickleError):
        safe_load_npy(npy)


def _fake_chumpy_module():
    """A stand-in ``chumpy.ch.Ch`` that pickles like the real one (state = __dict__ with 'x')."""
    pkg = types.ModuleType("chumpy")
    mod = types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x):
            self.x = np.asarray(x, np.float64)
            self._dirty_vars = {"x"}
            self._itr = None
            self._depends_on_deps = {}

        def __getstate__(self):
            return dict(self.__dict__)

    class LazySum:  # a chumpy expression (no plain array inside), like chumpy.ch_ops.add
        def __init__(self, a, b):
            self.a, self.b = a, b

        def __getstate__(self):
            return {"a": self.a, "b": self.b}

    Ch.__module__ = "chumpy.ch"
    Ch.__qualname__ = "Ch"
    LazySum.__module__ = "chumpy.ch"
    LazySum.__qualname__ = "LazySum"
    mod.Ch, mod.LazySum = Ch, LazySum
    pkg.ch = mod
    return pkg, mod, Ch


def test_loader_reads_chumpy_objects_without_chumpy(tmp_path):
    gen = tiny_flame(0)
    pkg, mod, Ch = _fake_chumpy_module()
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = pkg, mod
    try:
        from scipy import sparse

        data = {
            "v_template": Ch(gen.v_template),
            "shapedirs": Ch(gen.shapedirs[:, :, :310]),
            "posedirs": Ch(gen.posedirs),
            "J_regressor": sparse.csc_matrix(gen.j_regressor),
            "weights": Ch(gen.weights),
            "kintree_table": np.array([[2**32 - 1, 0, 1, 1, 1], [0, 1, 2, 3, 4]]),
            "f": gen.faces.astype(np.uint32),
            "bs_style": "lbs",
            "J": mod.LazySum(Ch(np.zeros(3)), Ch(np.ones(3))),  # unused by the layer: tolerated
        }
        payload = pickle.dumps(data, protocol=2)
        broken = pickle.dumps({**data, "weights": mod.LazySum(Ch(np.zeros(3)), Ch(np.ones(3)))}, protocol=2)
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]
    assert b"chumpy.ch" in payload
    path = tmp_path / "generic_model.pkl"
    path.write_bytes(payload)
    model = load_flame_model(path)
    np.testing.assert_allclose(model.v_template, gen.v_template)
    assert (model.shape_components, model.expression_components) == (300, 10)
    np.testing.assert_allclose(model.shapedirs[:, :, 305], gen.shapedirs[:, :, 305])
    layer = FlameLayer(model, config=FlameConfig(n_shape=100, n_exp=10))
    assert layer(batch_size=1).vertices.shape == (1, gen.v_template.shape[0], 3)
    (tmp_path / "broken.pkl").write_bytes(broken)
    with pytest.raises(FlameAssetError, match=r"chumpy\.ch\.LazySum"):
        load_flame_model(tmp_path / "broken.pkl")


def test_loader_explains_bad_files(tmp_path):
    bad = tmp_path / "model.pkl"
    bad.write_bytes(pickle.dumps({"v_template": np.zeros((3, 3))}, protocol=2))
    with pytest.raises(FlameAssetError, match="missing keys"):
        load_flame_model(bad)
    with pytest.raises(FlameAssetError, match="not found"):
        load_flame_model(tmp_path / "nope.pkl")
    trunc = tmp_path / "trunc.pkl"
    trunc.write_bytes(pickle.dumps({"a": np.zeros(100)})[:50])
    with pytest.raises(FlameAssetError, match="not a readable pickle"):
        load_flame_model(trunc)


def test_the_mouth_opening_follows_the_jaw_and_ignores_identity(flame, assets):
    e = np.zeros((3, 51), np.float32)
    e[:, 0] = [0.0, 0.1, 0.2]  # the jaw opens
    shut, half, open_ = mouth_opening(flame, np.zeros(flame.n_shape), e)
    assert shut < half < open_
    other = mouth_opening(flame, np.zeros(flame.n_shape) + 0.5, e)
    assert np.allclose(other, [shut, half, open_], atol=0.05 * (open_ - shut) + 1e-4)
    assert mouth_opening(FlameLayer(assets.model), np.zeros(flame.n_shape), e) is None  # no landmark embedding
    assert mouth_opening(flame, np.zeros(flame.n_shape), e[:0]).shape == (0,)
