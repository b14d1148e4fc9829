"""The procedural FLAME-format head: mesh sanity, rig, and the meaning of its named expression components."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ned_server.face3d.flame import FlameLayer
from ned_server.face3d.model_file import FlameModel
from ned_server.synthetic.flame_assets import tiny_flame
from ned_server.synthetic.flame_generator import head_mesh
from ned_server.synthetic.procedural.mesh import PART_LEFT_EYE, PART_NAMES, PART_RIGHT_EYE, PART_SKIN
from ned_server.synthetic.semantics import ACTIONS, NUM_NAMED_ACTIONS


@pytest.fixture(scope="module")
def gen():
    return tiny_flame(0)


@pytest.fixture(scope="module")
def flame(gen):
    model = FlameModel(
        gen.v_template,
        gen.shapedirs,
        gen.posedirs,
        gen.j_regressor.astype(np.float32),
        gen.weights,
        gen.parents,
        gen.faces,
        gen.shape_components,
        gen.expression_components,
    )
    return FlameLayer(model, gen.landmarks)


def _landmarks(flame, action: str | None = None, weight: float = 0.0, jaw: float = 0.0) -> np.ndarray:
    expr = torch.zeros(1, 50)
    if action:
        expr[0, ACTIONS[action]] = weight
    pose = torch.zeros(1, 15)
    pose[0, 6] = jaw
    return flame(expression=expr, pose=pose).landmarks[0].numpy()


def test_mesh_is_a_clean_oriented_surface(gen):
    v, f = gen.v_template.astype(np.float64), gen.faces
    assert 3000 <= len(v) <= 6000
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert counts.max() <= 2  # manifold: no edge shared by three triangles
    assert gen.uvs.min() >= 0.0 and gen.uvs.max() <= 1.0
    assert set(np.unique(gen.part)) == set(range(len(PART_NAMES)))
    # Counter-clockwise seen from outside: each eyeball's signed volume is positive (closed spheres).
    for part in (PART_LEFT_EYE, PART_RIGHT_EYE):
        tri = f[(gen.part[f] == part).all(1)]
        vol = np.einsum("ij,ij->i", v[tri[:, 0]], np.cross(v[tri[:, 1]], v[tri[:, 2]])).sum() / 6
        assert vol == pytest.approx(4 / 3 * np.pi * 0.0125**3, rel=0.08)
    # Skin normals point away from the head's centre.
    skin = f[(gen.part[f] == PART_SKIN).all(1)]
    n = np.cross(v[skin[:, 1]] - v[skin[:, 0]], v[skin[:, 2]] - v[skin[:, 0]])
    c = v[skin].mean(1) - np.array([0.0, 0.015, -0.01])
    assert (np.einsum("ij,ij->i", n, c) > 0).mean() > 0.97


def test_skin_openings_are_exactly_eyes_mouth_and_neck():
    mesh = head_mesh()
    f = mesh.faces[(mesh.part[mesh.faces] == PART_SKIN).all(1)]
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    uniq, counts = np.unique(edges, axis=0, return_counts=True)
    border = {tuple(e) for e in uniq[counts == 1]}

    def chain(ids, closed=False):
        n = len(ids)
        return {tuple(sorted((int(ids[i]), int(ids[(i + 1) % n])))) for i in range(n if closed else n - 1)}

    rims = chain(mesh.neck_ring_skin, closed=True) | chain(mesh.mouth_upper) | chain(mesh.mouth_lower)
    for side in (1, -1):
        rims |= chain(mesh.eye_upper[side]) | chain(mesh.eye_lower[side])
    assert rims <= border  # every rim edge is an open border: eyes and mouth open, neck attached
    rest = border - rims  # only the small cap at the back pole may remain
    back = mesh.vertices[np.array(sorted(rest)).ravel()] if rest else np.zeros((0, 3))
    assert len(rest) <= 16 and (back[:, 2] < -0.1).all()
    # Lips and lids are separate sheets between the corners.
    assert len(set(mesh.mouth_upper[1:-1]) & set(mesh.mouth_lower[1:-1])) == 0


def test_rig_weights_and_joints(gen):
    w = gen.weights
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-5)
    joints = gen.j_regressor @ gen.v_template
    assert joints[3, 0] > 0.02 and joints[4, 0] < -0.02  # left eye at +x
    assert abs(joints[2, 0]) < 2e-3 and joints[0, 1] < joints[1, 1]  # jaw on the midline; root below neck
    np.testing.assert_allclose(gen.j_regressor.sum(1), 1.0, atol=1e-6)
    lm = gen.landmarks
    lower_lip = gen.faces[lm.static_faces[57 - 17]]
    upper_lip = gen.faces[lm.static_faces[51 - 17]]
    assert w[lower_lip, 2].max() > 0.99 and w[upper_lip, 2].max() < 0.01


def test_smile_frown_and_stretch_move_the_mouth_corners(flame):
    rest = _landmarks(flame)
    smile = _landmarks(flame, "smile", 2.5)
    frown = _landmarks(flame, "frown_mouth", 2.0)
    stretch = _landmarks(flame, "lip_stretch", 2.0)
    pucker = _landmarks(flame, "pucker", 2.0)
    for c in (48, 54):
        assert smile[c, 1] - rest[c, 1] > 0.004  # corners up by millimetres
        assert frown[c, 1] - rest[c, 1] < -0.002
    width = lambda lm: lm[54, 0] - lm[48, 0]  # noqa: E731
    assert width(smile) > width(rest) + 0.003 and width(stretch) > width(rest) + 0.004
    assert width(pucker) < width(rest) - 0.005 and pucker[51, 2] > rest[51, 2] + 0.002


def test_eyelid_actions(flame):
    def height(lm):
        return np.mean([lm[37, 1] - lm[41, 1], lm[38, 1] - lm[40, 1], lm[43, 1] - lm[47, 1], lm[44, 1] - lm[46, 1]])

    rest = _landmarks(flame)
    assert height(rest) > 0.006
    closed = _landmarks(flame, "blink", 1.0)
    assert abs(height(closed)) < 3e-4  # the lids meet
    assert height(_landmarks(flame, "eyes_widen", 2.0)) > height(rest) + 0.002
    assert height(_landmarks(flame, "squint", 2.0)) < height(rest) - 0.0015


def test_brow_lip_and_nose_actions(flame):
    rest = _landmarks(flame)
    raised = _landmarks(flame, "brow_raise", 2.5)
    assert (raised[17:27, 1] - rest[17:27, 1]).min() > 0.003
    lowered = _landmarks(flame, "brow_lower", 2.2)
    assert lowered[21, 1] < rest[21, 1] - 0.003 and (lowered[22, 0] - lowered[21, 0]) < (rest[22, 0] - rest[21, 0])
    inner = _landmarks(flame, "inner_brow_raise", 2.2)
    assert inner[21, 1] - rest[21, 1] > 2 * (inner[17, 1] - rest[17, 1]) and inner[21, 1] - rest[21, 1] > 0.003
    pressed = _landmarks(flame, "lip_press", 2.0)
    assert (pressed[51, 1] - pressed[57, 1]) < (rest[51, 1] - rest[57, 1]) - 0.004
    wrinkle = _landmarks(flame, "nose_wrinkle", 2.0)
    assert (wrinkle[31:36, 1] - rest[31:36, 1]).mean() > 0.0015


def test_unnamed_components_are_low_energy_and_eyeballs_stay_rigid(gen, flame):
    exp = gen.shapedirs[:, :, gen.shape_components :]
    energy = np.linalg.norm(exp, axis=(0, 1))
    assert energy[NUM_NAMED_ACTIONS:].max() < np.median(energy[:NUM_NAMED_ACTIONS])
    eyes = (gen.part == PART_LEFT_EYE) | (gen.part == PART_RIGHT_EYE)
    assert np.abs(exp[eyes]).max() == 0.0
    # Identity components move each eyeball as a whole (it stays a sphere around its joint).
    shape = torch.tensor(np.random.default_rng(3).normal(size=(1, 100)), dtype=torch.float32)
    out = flame(shape=shape)
    for part, j in ((PART_LEFT_EYE, 3), (PART_RIGHT_EYE, 4)):
        r = (out.vertices[0, torch.tensor(gen.part == part)] - out.joints[0, j]).norm(dim=1)
        assert float(r.max() - r.min()) < 1e-5


def test_identities_differ(flame):
    rng = np.random.default_rng(0)
    a, b = (flame(shape=torch.tensor(rng.normal(size=(1, 100)), dtype=torch.float32)).vertices for _ in range(2))
    assert float((a - b).norm(dim=2).mean()) > 1e-3
    skin = torch.tensor(flame.model.weights[:, 0] == 0)  # the head, not the neck and shoulders
    width = lambda v: float(v[0, skin, 0].max() - v[0, skin, 0].min())  # noqa: E731
    s = torch.zeros(1, 100)
    s[0, 0] = 2.0
    assert width(flame(shape=s).vertices) > width(flame().vertices) * 1.05  # component 0 = head width


def test_different_model_seeds_share_layout_but_not_random_components():
    a, b = tiny_flame(0), tiny_flame(1)
    np.testing.assert_array_equal(a.faces, b.faces)
    np.testing.assert_array_equal(a.shapedirs[:, :, 300:313], b.shapedirs[:, :, 300:313])  # named actions
    assert not np.allclose(a.shapedirs[:, :, 320], b.shapedirs[:, :, 320])
