"""The paper's tracker with a DECA file of the official layout: regression, refinement, detail, shape image.

The checkpoint is built key for key and shape for shape from the official layout
(tests/data/deca_layout.json, a copy of ../shared/official_layouts/deca_layout.json: DECA's
``deca_model.tar`` entries E_flame, E_detail, D_detail), with random weights, so loading it proves a
real file loads. E_flame's regressor reads out a fixed code (its last bias: the actor's shape and a
crop-space camera), E_detail is random. Then Track runs the whole path: E_flame and E_detail on
every 224 x 224 face crop, the landmark fit refining DECA's estimate, the detail codes kept in the
track (and its file), D_detail decoding them with each frame's expression and jaw into the UV
displacement, and the detailed shape image drawn with it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from ned_server.conditioning.detail import DecaUV, DetailDisplacement, read_obj_uvs
from ned_server.conditioning.shot import FaceConditioner
from ned_server.synthetic.actor import SyntheticActor
from ned_server.synthetic.config import ActorConfig
from ned_server.tracking.config import TrackingConfig
from ned_server.tracking.deca import DETAIL_SCALE, UV_SIZE, crop_face, load_deca
from ned_server.tracking.result import TRACKER_DECA, TRACKER_FIT, ShotTrack
from ned_server.tracking.track import track_shot

LAYOUT = json.loads((Path(__file__).parent / "data" / "deca_layout.json").read_text())
FRAMES = 6


def _random_state(layout: dict[str, list[int]], gen: torch.Generator) -> dict[str, torch.Tensor]:
    state = {}
    for k, shape in layout.items():
        if k.endswith("num_batches_tracked"):
            state[k] = torch.tensor(7)
        elif k.endswith("running_var"):
            state[k] = torch.rand(shape, generator=gen) + 0.5
        elif k.endswith("running_mean"):
            state[k] = torch.randn(shape, generator=gen) * 0.1
        elif k.endswith(".weight") and len(shape) == 1:  # a norm's gain
            state[k] = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            state[k] = torch.randn(shape, generator=gen) / np.sqrt(fan_in)
    return state


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Torch on one thread (the CPU is shared: more threads only contend), then as it was."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def actor(one_thread) -> SyntheticActor:  # type: ignore[no-untyped-def]
    return SyntheticActor(3, ActorConfig(width=224, height=224, supersample=1, texture_size=256))


@pytest.fixture(scope="module")
def deca_file(tmp_path_factory, clip) -> Path:
    gen = torch.Generator().manual_seed(3)
    e_flame = _random_state(LAYOUT["E_flame"], gen)
    code = torch.zeros(236)
    code[:100] = torch.from_numpy(clip.shape[:100].astype(np.float32))  # DECA "sees" the actor's identity
    code[206:209] = torch.tensor([9.0, 0.0, 0.0])  # crop-space camera: scale, tx, ty
    e_flame["layers.2.weight"].zero_()
    e_flame["layers.2.bias"] = code
    ckpt = {"E_flame": e_flame, "E_detail": _random_state(LAYOUT["E_detail"], gen),
            "D_detail": _random_state(LAYOUT["D_detail"], gen)}
    path = tmp_path_factory.mktemp("deca") / "deca_model.tar"
    torch.save(ckpt, path)
    return path


@pytest.fixture(scope="module")
def clip(actor):  # type: ignore[no-untyped-def]
    return actor.render_sequence(FRAMES, "happy", seed=1)


@pytest.fixture(scope="module")
def tracks(actor, clip, deca_file):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    given = {i: clip.landmarks[i] + rng.normal(0, 0.5, (68, 2)) for i in range(FRAMES)}
    frames = [(i, clip.frames[i]) for i in range(FRAMES)]
    deca = load_deca(deca_file)  # the file is 2 ResNet-50s: loaded once for the module
    with_deca = track_shot(frames, actor.flame, TrackingConfig(), landmarks=given, deca=deca)
    scratch = track_shot(frames, actor.flame, TrackingConfig(), landmarks=given)
    return deca, with_deca, scratch, frames, given


def test_the_official_layout_loads_key_for_key(deca_file, tracks) -> None:
    deca = tracks[0]
    ckpt = torch.load(deca_file, weights_only=True)
    for name in ("E_flame", "E_detail", "D_detail"):
        state = getattr(deca, name).state_dict()
        assert list(state) == list(LAYOUT[name])  # same keys, in the official order
        for k, shape in LAYOUT[name].items():
            assert list(state[k].shape) == shape, k
            assert torch.equal(state[k], ckpt[name][k]), k
    out = deca.displacement(torch.zeros(2, 3), torch.zeros(2, 50), torch.randn(2, 128))
    assert out.shape == (2, UV_SIZE, UV_SIZE)
    assert float(out.abs().max()) <= DETAIL_SCALE + 1e-7 and float(out.std()) > 0


def test_track_runs_deca_on_every_crop_and_refines_it(tracks, clip) -> None:
    deca, with_deca, scratch, frames, given = tracks
    assert with_deca.tracker == TRACKER_DECA and scratch.tracker == TRACKER_FIT
    assert with_deca.tracked.all()
    # The detail code kept per frame is E_detail's output on that frame's 224 x 224 crop.
    for i in (0, FRAMES - 1):
        crop = torch.from_numpy(crop_face(frames[i][1], given[i])[0])
        with torch.no_grad():
            expected = deca.E_detail(crop[None]).numpy()[0]
        np.testing.assert_allclose(with_deca.detail[i], expected, rtol=1e-4, atol=1e-5)
    assert np.abs(scratch.detail).max() == 0
    # The refinement agrees with the landmarks as well as the landmark fit alone does.
    assert with_deca.fit_error.mean() <= 1.1 * scratch.fit_error.mean() + 0.05
    jaw = np.corrcoef(with_deca.expression51[:, 0], clip.expression51[:, 0])[0, 1]
    assert jaw > 0.9


def test_the_track_file_keeps_the_tracker_and_the_detail(tracks, tmp_path) -> None:
    with_deca = tracks[1]
    back = ShotTrack.load(with_deca.save(tmp_path / "t.npz"))
    assert back.tracker == TRACKER_DECA and back.landmarker == "given"
    np.testing.assert_array_equal(back.detail, with_deca.detail)


def _uv_files(tmp_path: Path, flame) -> DecaUV:  # type: ignore[no-untyped-def]
    """A UV template for the test model (planar projection of the mean face) in DECA's OBJ form."""
    v = flame.v_template.cpu().numpy()
    uv = (v[:, :2] - v[:, :2].min(0)) / np.ptp(v[:, :2], axis=0)
    faces = flame.faces.cpu().numpy() + 1
    lines = [f"v {x} {y} {z}" for x, y, z in v] + [f"vt {a} {b}" for a, b in uv]
    lines += [f"f {a}/{a} {b}/{b} {c}/{c}" for a, b, c in faces]
    path = tmp_path / "head_template.obj"
    path.write_text("\n".join(lines) + "\n")
    uvs = read_obj_uvs(path, len(v))
    np.testing.assert_allclose(uvs[:, 1], 1.0 - uv[:, 1], atol=1e-5)
    return DecaUV(uvs=uvs, fixed=np.zeros((UV_SIZE, UV_SIZE), np.float32), mask=np.ones((UV_SIZE, UV_SIZE), np.float32))


def test_the_shape_image_is_drawn_with_decas_displacement(tracks, actor, tmp_path) -> None:
    deca, with_deca = tracks[:2]
    uv = _uv_files(tmp_path, actor.flame)
    detail = DetailDisplacement(deca, uv)
    idx = np.arange(2)
    with FaceConditioner(actor.flame, resolution=128) as coarse, \
            FaceConditioner(actor.flame, resolution=128, detail=detail) as fine:
        a = coarse.render(with_deca, idx)
        b = fine.render(with_deca, idx)
        # A manipulated expression changes D_detail's input, hence the wrinkles.
        e51 = with_deca.expression51[idx].copy()
        e51[:, 1:] += 2.0
        c = fine.render(with_deca, idx, expression51=e51)
    shape_a, shape_b, shape_c = (x.conditioning[:, 6:9] for x in (a, b, c))
    face = np.broadcast_to(a.face_masks[:, None] > 0, shape_a.shape)
    # Random D_detail weights decode smooth, faint maps (a real file decodes wrinkles): their trace
    # in the shading is small but there, and it moves with the expression fed to D_detail.
    assert np.abs(shape_b - shape_a)[face].mean() > 1e-6
    assert np.abs(shape_c - shape_b)[face].mean() > 1e-6
    np.testing.assert_array_equal(a.conditioning[:, :3], b.conditioning[:, :3])  # NMFC untouched
    np.testing.assert_array_equal(a.face_masks, b.face_masks)  # the silhouette stays the coarse one
    # DECA's fixed displacement of real amplitude (ridges 2 mm high, 8 texels apart) through the same
    # path: the shading changes visibly, so the map reaches the shader at the right pixel scale.
    ridges = 0.002 * np.sin(np.arange(UV_SIZE) * (2 * np.pi / 8)).astype(np.float32)
    strong = DecaUV(uvs=uv.uvs, fixed=np.tile(ridges, (UV_SIZE, 1)), mask=uv.mask)
    with FaceConditioner(actor.flame, resolution=128, detail=DetailDisplacement(deca, strong)) as ridged:
        d = ridged.render(with_deca, idx)
    assert np.abs(d.conditioning[:, 6:9] - shape_a)[face].mean() > 20 * np.abs(shape_b - shape_a)[face].mean()
    assert np.abs(d.conditioning[:, 6:9] - shape_a)[face].mean() > 1e-3
