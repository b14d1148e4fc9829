"""EmotionManipulator: intensity, mixes, keyframes, reference styles, seeds, speech, chunks, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ned_server.domains import EMOTIONS
from ned_server.manipulator.config import TINY_SIZES, InferenceConfig
from ned_server.manipulator.controls import EmotionSettings, resolve_schedule
from ned_server.manipulator.inference import EmotionManipulator, ExpressionInputError
from ned_server.manipulator.networks import ManipulatorNetworks, he_init
from ned_server.synthetic.expressions import emotion_expression_sequence

STYLE = slice(1, 17)


class StyleEchoGenerator(nn.Module):
    """Writes the style it is given into coefficients 1..16 and copies the rest: shows what G got."""

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        if style.dim() == 2:
            style = style[:, None, :].expand(-1, x.shape[1], -1)
        out = x.clone()
        out[..., STYLE] = style
        return out


class MeanEncoder(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., STYLE].mean(dim=1)


def tiny_nets(seed: int = 0) -> ManipulatorNetworks:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        nets = ManipulatorNetworks(TINY_SIZES, with_discriminator=False)
        nets.apply(he_init)
    return nets


@pytest.fixture(scope="module")
def echo() -> EmotionManipulator:
    nets = tiny_nets()
    nets.generator = StyleEchoGenerator()
    nets.style_encoder = MeanEncoder()
    return EmotionManipulator(networks=nets)


@pytest.fixture(scope="module")
def real() -> EmotionManipulator:
    return EmotionManipulator(networks=tiny_nets(1))


def clip(frames: int = 40, own: float = 0.3) -> np.ndarray:
    x = emotion_expression_sequence("neutral", frames, np.random.default_rng(0))
    x[:, STYLE] = own
    return x


def test_intensity_moves_from_own_style_to_target_and_beyond(echo: EmotionManipulator):
    x = clip()
    target = echo.emotion_styles(seed=3)[EMOTIONS.index("happy")]
    for alpha in (0.0, 0.5, 1.0, 1.5):
        out = echo.translate(x, EmotionSettings(emotion="happy", intensity=alpha, seed=3, speech_preservation=0))
        expected = 0.3 + alpha * (target - 0.3)
        assert np.allclose(out[:, STYLE], expected, atol=1e-5), alpha
        assert np.allclose(out[:, 17:], x[:, 17:], atol=1e-6)


def test_intensity_zero_ignores_the_target(real: EmotionManipulator):
    x = clip()
    a = real.translate(x, EmotionSettings(emotion="happy", intensity=0.0))
    b = real.translate(x, EmotionSettings(emotion="sad", intensity=0.0, seed=9))
    assert np.allclose(a, b, atol=1e-6)


def test_mix_and_reference_style(echo: EmotionManipulator):
    x = clip()
    styles = echo.emotion_styles(seed=0)
    out = echo.translate(x, EmotionSettings(mix={"happy": 1.0, "sad": 3.0}, speech_preservation=0))
    expected = 0.25 * styles[EMOTIONS.index("happy")] + 0.75 * styles[EMOTIONS.index("sad")]
    assert np.allclose(out[:, STYLE], expected, atol=1e-5)
    ref = np.linspace(-1, 1, 16)
    out = echo.translate(x, EmotionSettings(emotion="happy", reference_style=ref, speech_preservation=0))
    assert np.allclose(out[:, STYLE], ref, atol=1e-5)


def test_keyframes_follow_shot_frame_numbers(echo: EmotionManipulator):
    x = clip(60)
    control = EmotionSettings(keyframes=[(1010, "happy", 1.0), (1040, "sad", 0.5)], seed=2, speech_preservation=0)
    out = echo.translate(x, control, first_frame=1000)
    sched = resolve_schedule(control, 60, EMOTIONS, first_frame=1000)
    target = sched.weights @ echo.emotion_styles(seed=2)
    expected = 0.3 + sched.intensity[:, None] * (target - 0.3)
    assert np.allclose(out[:, STYLE], expected, atol=1e-5)
    assert np.allclose(out[:10, STYLE], out[10, STYLE], atol=1e-5)  # held before the first key
    happy = echo.emotion_styles(seed=2)[EMOTIONS.index("happy")]
    assert np.allclose(out[10, STYLE], happy, atol=1e-5)


def test_seed_is_repeatable_and_matters(real: EmotionManipulator):
    x = clip()
    a = real.translate(x, EmotionSettings(emotion="fear", seed=5))
    b = real.translate(x, EmotionSettings(emotion="fear", seed=5))
    c = real.translate(x, EmotionSettings(emotion="fear", seed=6))
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_speech_preservation_blends_the_jaw(real: EmotionManipulator):
    x = clip()
    free = real.translate(x, EmotionSettings(emotion="angry", speech_preservation=0.0))
    kept = real.translate(x, EmotionSettings(emotion="angry", speech_preservation=1.0))
    half = real.translate(x, EmotionSettings(emotion="angry", speech_preservation=0.5))
    assert np.array_equal(kept[:, 0], x[:, 0])
    assert np.allclose(half[:, 0], 0.5 * (free[:, 0] + x[:, 0]), atol=1e-6)
    assert np.allclose(kept[:, 1:], free[:, 1:])


def test_a_chunk_with_nine_frames_of_context_matches_the_full_run(real: EmotionManipulator):
    x = clip(70)
    x[:, STYLE] += np.random.default_rng(1).normal(0, 0.2, size=(70, 16)).astype(np.float32)
    control = EmotionSettings(keyframes=[(0, "happy", 0.2), (50, "surprised", 1.2)], seed=4)
    full = real.translate(x, control)
    chunk = real.translate(x[21:59], control, first_frame=21)  # frames 30..49 plus 9 on each side
    assert np.allclose(chunk[9:29], full[30:50], atol=1e-5)


def test_short_clips_are_padded_or_refused(real: EmotionManipulator):
    x = clip(4)
    out = real.translate(x, EmotionSettings(emotion="sad"))
    assert out.shape == (4, 51) and np.isfinite(out).all()
    strict = EmotionManipulator(networks=real.nets, config=InferenceConfig(pad_short=False))
    with pytest.raises(ExpressionInputError, match="at least 10 frames"):
        strict.translate(x, EmotionSettings(emotion="sad"))


def test_bad_inputs_get_actionable_errors(real: EmotionManipulator):
    control = EmotionSettings(emotion="happy")
    x = clip(20)
    x[3, 7] = np.nan
    with pytest.raises(ValueError, match=r"NaN/Inf .* first at index 3"):
        real.translate(x, control)
    with pytest.raises(ValueError, match=r"\(frames, 51\)"):
        real.translate(np.zeros((20, 50), np.float32), control)
    with pytest.raises(ValueError, match="empty"):
        real.translate(np.zeros((0, 51), np.float32), control)
    with pytest.raises(KeyError, match="neutral, angry, disgusted, fear, happy, sad, surprised"):
        real.translate(clip(20), EmotionSettings(emotion="contempt"))
    with pytest.raises(ValueError, match="seed"):
        real.translate(clip(20), EmotionSettings(emotion="happy", seed=-1))


def test_extract_style_is_the_geometric_median_of_window_styles(echo: EmotionManipulator):
    x = clip(30, own=0.3)
    x[12, STYLE] = 40.0  # one glitched frame pollutes 10 of the 21 windows, a minority
    style = echo.extract_style(x)
    assert style.shape == (16,) and style.dtype == np.float32
    assert np.allclose(style, 0.3, atol=0.05)
    assert echo.window_styles(x).mean(axis=0)[0] > 1.5  # where a mean would have landed


def test_style_similarity_names_every_emotion(real: EmotionManipulator):
    with torch.no_grad():
        from ned_server.manipulator.inference import latent_for_seed

        happy = real.nets.mapping_network.all_domains(latent_for_seed(0, 64)).mean(dim=0)[EMOTIONS.index("happy")]
    sims = real.style_similarity(happy.numpy())
    assert set(sims) == set(EMOTIONS)
    assert sims["happy"] == pytest.approx(1.0, abs=1e-5)


def test_keep_details_returns_the_input_at_intensity_zero(real: EmotionManipulator):
    x = clip(30)
    x[:, 20:] += np.random.default_rng(3).normal(0, 0.3, size=(30, 31)).astype(np.float32)
    detail = EmotionManipulator(networks=real.nets, config=InferenceConfig(keep_details=True))
    same = detail.translate(x, EmotionSettings(emotion="happy", intensity=0.0, speech_preservation=0))
    assert np.allclose(same, x, atol=1e-5)
    # At full intensity, the change is exactly what the style changes in the plain output.
    plain = real.translate(x, EmotionSettings(emotion="happy", speech_preservation=0))
    plain_own = real.translate(x, EmotionSettings(emotion="happy", intensity=0.0, speech_preservation=0))
    moved = detail.translate(x, EmotionSettings(emotion="happy", speech_preservation=0))
    assert np.allclose(moved - x, plain - plain_own, atol=1e-4)
