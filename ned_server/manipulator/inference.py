"""Test-time emotion manipulation: expression sequence + control -> translated expression sequence.

As in the paper, the clip is cut into every 10-frame window (hop 1), each window is translated by
G and the overlaps are merged with Gaussian weights; a reference clip's style is the geometric
median of its per-window styles. On top (see ``controls``): intensity, emotion mixes, keyframes,
a seed and a speech-preservation blend.

The actor's own style (for intensity) is read by E from each window itself rather than from the
whole clip, and the target style comes from the seed and the keyframes (in shot frame numbers), so
an output frame depends only on the input frames within N-1 = 9 frames of it: a chunk of a shot
translated with at least 9 frames of context before *and after* it (preroll and postroll, except
at the shot's ends) gives exactly the frames of one full run.

Clips shorter than one window (T < 10) are padded at the end by repeating the last frame, translated,
and cropped back (``InferenceConfig.pad_short``; False raises instead).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ned_server.domains import EXPRESSION_DIM, JAW_INDEX, LATENT_DIM
from ned_server.errors import InvalidInput
from ned_server.manipulator.checkpoint import networks_from_checkpoint, resolve_checkpoint
from ned_server.manipulator.config import InferenceConfig
from ned_server.manipulator.controls import EmotionSettings, resolve_schedule
from ned_server.manipulator.networks import ManipulatorNetworks
from ned_server.manipulator.windows import gaussian_window_weights, geometric_median, sliding_windows


class ExpressionInputError(InvalidInput):
    """An expression sequence the manipulator cannot take (shape, NaN, too short)."""


def latent_for_seed(seed: int, count: int = 1) -> torch.Tensor:
    """The mapping network's latent codes for a seed: repeatable on every machine (CPU generator)."""
    seed = int(seed)
    if seed < 0:
        raise InvalidInput(f"seed must be >= 0, got {seed}")
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(count, LATENT_DIM, generator=gen)


class EmotionManipulator:
    """A loaded manipulator. ``checkpoint``: a nets file, a training folder, or a loaded dict
    (official or ours); or pass ``networks`` directly."""

    def __init__(self, checkpoint: str | Path | Mapping[str, Any] | None = None,
                 config: InferenceConfig | None = None, device: str | None = None,
                 networks: ManipulatorNetworks | None = None) -> None:
        self.config = config or InferenceConfig()
        self.device = torch.device(device or self.config.device)
        if networks is None:
            if checkpoint is None:
                raise InvalidInput("EmotionManipulator needs a checkpoint or networks")
            source = resolve_checkpoint(checkpoint) if isinstance(checkpoint, str | Path) else checkpoint
            networks = networks_from_checkpoint(source, self.device)
        self.nets = networks.to(self.device).eval()
        self.emotions: tuple[str, ...] = tuple(self.nets.emotions)
        self._kernel = gaussian_window_weights(self.config.seq_len, self.config.merge_sigma)

    # ----------------------------------------------------------------------------- checks
    def _prepare(self, expr: np.ndarray) -> tuple[np.ndarray, int]:
        """Validated float32 (T', 51) with T' >= N, and the original T."""
        x = np.asarray(expr)
        if x.ndim != 2 or x.shape[1] != EXPRESSION_DIM:
            raise ExpressionInputError(f"expression sequence must be (frames, {EXPRESSION_DIM}) (jaw opening + "
                                       f"50 FLAME expression parameters), got shape {x.shape}")
        if not np.issubdtype(x.dtype, np.number):
            raise ExpressionInputError(f"expression sequence must be numeric, got dtype {x.dtype}")
        n = x.shape[0]
        if n == 0:
            raise ExpressionInputError("expression sequence is empty (0 frames)")
        bad = ~np.isfinite(x).all(axis=1)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise ExpressionInputError(f"expression sequence has NaN/Inf values in {int(bad.sum())} frame(s), "
                                       f"first at index {first}; fill untracked frames before manipulating")
        x = x.astype(np.float32)
        length = self.config.seq_len
        if n < length:
            if not self.config.pad_short:
                raise ExpressionInputError(f"need at least {length} frames (one window), got {n}")
            x = np.concatenate([x, np.repeat(x[-1:], length - n, axis=0)])
        return x, n

    # ---------------------------------------------------------------------------- styles
    @torch.no_grad()
    def window_styles(self, expr: np.ndarray) -> np.ndarray:
        """E's style of every window (hop 1): (W, 16)."""
        x, _ = self._prepare(expr)
        return self._window_styles(sliding_windows(x, self.config.seq_len))

    def _window_styles(self, windows: np.ndarray) -> np.ndarray:
        out = []
        step = self.config.batch_windows
        for i in range(0, windows.shape[0], step):
            batch = torch.from_numpy(np.array(windows[i:i + step], dtype=np.float32)).to(self.device)
            out.append(self.nets.style_encoder(batch).float().cpu().numpy())
        return np.concatenate(out).astype(np.float64)

    def extract_style(self, expr: np.ndarray) -> np.ndarray:
        """A reference clip's style: geometric median of its per-window styles, (16,) float32."""
        styles = self.window_styles(expr)
        return geometric_median(styles, eps=self.config.median_eps,
                                max_iter=self.config.median_max_iter).astype(np.float32)

    @torch.no_grad()
    def emotion_styles(self, seed: int = 0) -> np.ndarray:
        """The mapping network's style of every domain for the seed's latent code: (K, 16)."""
        z = latent_for_seed(seed).to(self.device)
        return self.nets.mapping_network.all_domains(z)[0].float().cpu().numpy().astype(np.float64)

    def style_similarity(self, style: np.ndarray, samples: int = 64, seed: int = 0) -> dict[str, float]:
        """Cosine similarity of a style to each emotion's mean mapped style (for ExtractStyle replies)."""
        s = np.asarray(style, dtype=np.float64).reshape(-1)
        with torch.no_grad():
            z = latent_for_seed(seed, samples).to(self.device)
            means = self.nets.mapping_network.all_domains(z).mean(dim=0).cpu().numpy().astype(np.float64)
        norms = np.linalg.norm(means, axis=1) * max(np.linalg.norm(s), 1e-12)
        sims = means @ s / np.maximum(norms, 1e-12)
        return {e: float(v) for e, v in zip(self.emotions, sims)}

    # --------------------------------------------------------------------------- translate
    @torch.no_grad()
    def translate(self, expr: np.ndarray, control: EmotionSettings, first_frame: int = 0) -> np.ndarray:
        """Translate (T, 51) expressions following ``control``; keyframe frame numbers are shot frame
        numbers, ``first_frame`` being the number of ``expr[0]``. Returns (T, 51) float32."""
        x, n = self._prepare(expr)
        length = self.config.seq_len
        schedule = resolve_schedule(control, x.shape[0], self.emotions, first_frame)
        if schedule.reference is not None:
            target = np.tile(schedule.reference, (x.shape[0], 1))
        else:
            target = schedule.weights @ self.emotion_styles(control.seed)  # (T, 16)
        windows = sliding_windows(x, length)  # (W, N, 51)
        num = windows.shape[0]
        own = self._window_styles(windows)  # (W, 16)
        idx = np.arange(num)[:, None] + np.arange(length)[None, :]  # frame of each window position
        alpha = schedule.intensity[idx][..., None]  # (W, N, 1)
        styles = own[:, None, :] + alpha * (target[idx] - own[:, None, :])  # (W, N, 16)

        merged = np.zeros((x.shape[0], EXPRESSION_DIM))
        total = np.zeros(x.shape[0])
        step = self.config.batch_windows
        for i in range(0, num, step):
            xb = torch.from_numpy(np.array(windows[i:i + step], dtype=np.float32)).to(self.device)
            sb = torch.from_numpy(styles[i:i + step].astype(np.float32)).to(self.device)
            yb = self.nets.generator(xb, sb).float().cpu().numpy()
            if self.config.keep_details:  # only the change the style makes, added to the input
                ob = torch.from_numpy(own[i:i + step].astype(np.float32)).to(self.device)
                yb = yb - self.nets.generator(xb, ob).float().cpu().numpy() + windows[i:i + step]
            for j in range(length):
                merged[i + j:i + j + yb.shape[0]] += self._kernel[j] * yb[:, j]
                total[i + j:i + j + yb.shape[0]] += self._kernel[j]
        out = merged / total[:, None]
        p = float(control.speech_preservation)
        if p > 0:
            out[:, JAW_INDEX] = (1.0 - p) * out[:, JAW_INDEX] + p * x[:, JAW_INDEX]
        if self.config.jaw_floor is not None:
            floor = np.minimum(self.config.jaw_floor, x[:, JAW_INDEX])
            out[:, JAW_INDEX] = np.maximum(out[:, JAW_INDEX], floor)
        return out[:n].astype(np.float32)
