"""Draw the NED_Director's 24x24 toolbar icon (nodes/nuke/icons/ned_director.png).

A face (a disk with two eyes and a smile) on the node's purple, drawn with numpy and written by
OpenImageIO, so the committed PNG can be remade and checked instead of being an opaque binary.

    python tools/make_nuke_icon.py          # (re)write the icon
    python tools/make_nuke_icon.py --check  # exit 1 when the committed icon differs from the drawing
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ICON = ROOT / "nodes" / "nuke" / "icons" / "ned_director.png"
SIZE = 24
PURPLE = (0x7A, 0x3E, 0x9D)
SKIN = (0xF2, 0xC9, 0x8E)
INK = (0x2B, 0x1B, 0x33)


def draw(size: int = SIZE) -> np.ndarray:
    """(size, size, 4) uint8 RGBA, supersampled 4x so the edges are smooth."""
    ss = 4
    n = size * ss
    y, x = (np.mgrid[0:n, 0:n] + 0.5) / ss
    c = size / 2
    rgb = np.zeros((n, n, 3), np.float64)
    alpha = np.zeros((n, n), np.float64)
    corner = 4.0  # a rounded square of the node's colour
    qx, qy = np.abs(x - c) - (c - corner), np.abs(y - c) - (c - corner)
    inside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) <= corner
    rgb[inside], alpha[inside] = PURPLE, 1.0
    face = np.hypot(x - c, y - c) <= 8.5
    rgb[face] = SKIN
    for ex in (c - 3.2, c + 3.2):
        rgb[np.hypot(x - ex, y - (c - 2.0)) <= 1.3] = INK
    r = np.hypot(x - c, y - (c + 0.5))
    rgb[(np.abs(r - 4.6) <= 0.75) & (y > c + 2.0)] = INK
    rgba = np.concatenate([rgb * alpha[..., None], alpha[..., None] * 255], axis=-1)
    small = rgba.reshape(size, ss, size, ss, 4).mean(axis=(1, 3))
    a = small[..., 3:4] / 255
    small[..., :3] = np.where(a > 0, small[..., :3] / np.maximum(a, 1e-9), 0)  # PNG is unpremultiplied
    return np.clip(np.round(small), 0, 255).astype(np.uint8)


def write(path: Path, pixels: np.ndarray) -> None:
    import OpenImageIO as oiio

    path.parent.mkdir(parents=True, exist_ok=True)
    spec = oiio.ImageSpec(pixels.shape[1], pixels.shape[0], 4, "uint8")
    spec.attribute("oiio:UnassociatedAlpha", 1)  # the pixels are PNG's straight alpha already
    out = oiio.ImageOutput.create(str(path))
    if out is None or not out.open(str(path), spec):
        raise OSError(f"cannot write {path}: {oiio.geterror()}")
    out.write_image(pixels)
    out.close()


def read(path: Path) -> np.ndarray:
    import OpenImageIO as oiio

    config = oiio.ImageSpec()
    config.attribute("oiio:UnassociatedAlpha", 1)
    return oiio.ImageBuf(str(path), 0, 0, config).get_pixels(oiio.UINT8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    pixels = draw()
    if args.check:
        same = ICON.is_file() and np.array_equal(read(ICON), pixels)
        print(f"{ICON.relative_to(ROOT)} {'matches' if same else 'differs from'} the drawing")
        return 0 if same else 1
    write(ICON, pixels)
    print(ICON)
    return 0


if __name__ == "__main__":
    sys.exit(main())
