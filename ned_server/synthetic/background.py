"""A textured, moving background for the synthetic actor (an out-of-focus room, panning).

One canvas larger than the frame is painted per clip (wall gradient, blurred window and shelf
shapes, bokeh discs, fine texture) and a crop window pans and zooms slowly over it, so tracking
and compositing tests never see a flat or static backdrop. Values are scene-linear.
"""

from __future__ import annotations

import cv2
import numpy as np

from ned_server.synthetic.colour import srgb_to_linear
from ned_server.synthetic.motion import smooth_signal


class MovingBackground:
    """``frame(t)`` -> (H, W, 3) float32 scene-linear."""

    def __init__(
        self, width: int, height: int, num_frames: int, rng: np.random.Generator, fps: float = 25.0, motion: float = 1.0
    ) -> None:
        self.width, self.height = int(width), int(height)
        self.margin = 1.45
        cw, ch = int(np.ceil(self.width * self.margin)) + 4, int(np.ceil(self.height * self.margin)) + 4
        self.canvas = self._paint(cw, ch, rng)
        span_x = (cw - self.width) / 2 - 2
        span_y = (ch - self.height) / 2 - 2
        self.path = np.column_stack(
            [
                motion * 0.8 * span_x * np.clip(smooth_signal(num_frames, rng, fps, (5.0, 14.0), 2) / 1.5, -1, 1),
                motion * 0.5 * span_y * np.clip(smooth_signal(num_frames, rng, fps, (6.0, 16.0), 2) / 1.5, -1, 1),
                1.0 + motion * 0.04 * (0.5 + 0.5 * np.clip(smooth_signal(num_frames, rng, fps, (8.0, 20.0), 2), -1, 1)),
            ]
        )

    def _paint(self, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        u, v = xx / w, yy / h
        c0 = rng.uniform(0.15, 0.75, 3) * rng.uniform(0.6, 1.0)
        c1 = np.clip(c0 * rng.uniform(0.5, 1.3, 3), 0, 1)
        ang = rng.uniform(0, 2 * np.pi)
        g = np.cos(ang) * u + np.sin(ang) * v
        g = (g - g.min()) / max(np.ptp(g), 1e-6)
        img = c0 * (1 - g[..., None]) + c1 * g[..., None]
        scale = max(w, h)
        for _ in range(rng.integers(3, 7)):  # windows, doors, shelves, posters
            x0, y0 = rng.uniform(-0.1, 0.9) * w, rng.uniform(-0.1, 0.9) * h
            rw, rh = rng.uniform(0.08, 0.45) * w, rng.uniform(0.08, 0.6) * h
            col = rng.uniform(0.05, 1.0, 3)
            alpha = rng.uniform(0.4, 0.95)
            m = ((xx > x0) & (xx < x0 + rw) & (yy > y0) & (yy < y0 + rh)).astype(np.float32)
            m = cv2.GaussianBlur(m, (0, 0), scale * rng.uniform(0.004, 0.02))
            img = img * (1 - alpha * m[..., None]) + col * alpha * m[..., None]
        if rng.random() < 0.6:  # stripes (blinds, wallpaper, shelves)
            period = rng.uniform(0.02, 0.08) * scale
            phase = rng.uniform(0, 2 * np.pi)
            a2 = rng.uniform(0, np.pi)
            stripes = 0.5 + 0.5 * np.sin((np.cos(a2) * xx + np.sin(a2) * yy) * 2 * np.pi / period + phase)
            img *= (1 - rng.uniform(0.05, 0.2) * stripes)[..., None]
        for _ in range(rng.integers(6, 18)):  # bokeh
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            r = rng.uniform(0.01, 0.05) * scale
            d = np.hypot(xx - cx, yy - cy)
            disc = np.clip((r - d) / (0.15 * r) + 0.5, 0, 1) * rng.uniform(0.2, 0.7)
            img = img + disc[..., None] * rng.uniform(0.4, 1.0, 3)
        grid = rng.normal(size=(max(4, h // 6), max(4, w // 6), 1)).astype(np.float32)
        noise = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, 1)
        img = img * (1 + 0.04 * noise)
        img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), scale * 0.003)
        return srgb_to_linear(np.clip(img, 0, 1.5)) * float(rng.uniform(0.55, 1.0))

    def frame(self, t: int) -> np.ndarray:
        dx, dy, zoom = self.path[min(t, len(self.path) - 1)]
        ch, cw = self.canvas.shape[:2]
        # Frame pixel (u, v) -> canvas: centre-aligned, zoomed, offset.
        sx = 1.0 / zoom
        m = np.array(
            [[sx, 0, cw / 2 + dx - sx * self.width / 2], [0, sx, ch / 2 + dy - sx * self.height / 2]], np.float32
        )
        return cv2.warpAffine(
            self.canvas,
            m,
            (self.width, self.height),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT,
        )
