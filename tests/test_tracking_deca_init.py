"""The FLAME fit initialised by DECA's encoder, end to end, with a checkpoint of the official layout.

The DECA weights are random except its regressor, which reads out a fixed code (its last layer's
bias): a shape, no expression, a frontal pose and DECA's crop-space camera. So the test knows what
DECA "said", checks that the tracker ran the encoder on every face crop and that the fit started
from it, and that the fit from there is as good as the fit from scratch.
"""

from __future__ import annotations

import numpy as np
import torch

from ned_server.synthetic.actor import SyntheticActor
from ned_server.synthetic.config import ActorConfig
from ned_server.tracking import fitting
from ned_server.tracking.config import TrackingConfig
from ned_server.tracking.track import track_shot
from tests.test_tracking_assets import _official_encoder_layout, _random_state

FRAMES = 8


def _deca_file(tmp_path, shape: np.ndarray):  # type: ignore[no-untyped-def]
    gen = torch.Generator().manual_seed(1)
    e_flame = _random_state(_official_encoder_layout(236), gen)
    code = torch.zeros(236)
    code[:100] = torch.from_numpy(shape[:100].astype(np.float32))
    code[206:209] = torch.tensor([9.0, 0.0, 0.0])  # crop-space camera: scale, tx, ty
    e_flame["layers.2.weight"].zero_()
    e_flame["layers.2.bias"] = code
    path = tmp_path / "deca_model.tar"
    torch.save({"E_flame": e_flame, "E_detail": _random_state(_official_encoder_layout(128), gen)}, path)
    return path


def test_a_deca_checkpoint_initialises_the_fit(tmp_path, monkeypatch):
    actor = SyntheticActor(3, ActorConfig(width=224, height=224, supersample=1, texture_size=256))
    clip = actor.render_sequence(FRAMES, "happy", seed=1)
    rng = np.random.default_rng(0)
    given = {i: clip.landmarks[i] + rng.normal(0, 1.0, (68, 2)) for i in range(FRAMES)}
    frames = [(i, clip.frames[i]) for i in range(FRAMES)]
    seen: list[np.ndarray] = []
    real = fitting._from_deca

    def spy(codes, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(np.asarray(codes))
        return real(codes, *args, **kwargs)

    monkeypatch.setattr(fitting, "_from_deca", spy)
    config = TrackingConfig()
    config.fit.deca_checkpoint = _deca_file(tmp_path, clip.shape)
    with_deca = track_shot(frames, actor.flame, config, landmarks=given)
    assert len(seen) == 1 and seen[0].shape == (FRAMES, 236)
    np.testing.assert_allclose(seen[0][:, :100], np.tile(clip.shape[:100], (FRAMES, 1)), atol=1e-4)
    np.testing.assert_allclose(seen[0][:, 206], 9.0, atol=1e-4)

    scratch = track_shot(frames, actor.flame, TrackingConfig(), landmarks=given)
    assert with_deca.tracked.all()
    assert with_deca.fit_error.mean() <= 1.1 * scratch.fit_error.mean() + 0.05
    jaw = np.corrcoef(with_deca.expression51[:, 0], clip.expression51[:, 0])[0, 1]
    assert jaw > 0.9
