"""EXR encode/decode speed of the host codec for ZIP, PIZ and DWAA against uncompressed, in one run.

Frames are 2048x1080 RGBA half, plate-like (gradients plus grain, so compressors work as on a real
plate). For each compression: frames/s of ``encode_exr`` and ``decode_exr`` (bytes in memory,
through the codec's RAM-backed temporary file), the ratio of each to uncompressed ('none') as the
baseline, and the size. It also measures what the temporary file costs: ``encode_exr`` against
``write_exr`` to a RAM-disk path, and ``decode_exr`` against ``read_exr`` of the same file.

    python tests/bench/codec.py [--quick] [--frames N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ned_plugin.exr import Frame, Window, decode_exr, encode_exr, read_exr, write_exr

COMPRESSIONS = ("none", "zip", "piz", "dwaa")


def plate(width: int, height: int, seed: int = 0) -> Frame:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([x / width, y / height, 0.5 + 0.5 * np.sin(x / 50.0) * np.cos(y / 70.0)], -1)
    rgb += rng.normal(0, 0.02, rgb.shape).astype(np.float32)
    rgba = np.concatenate([rgb, np.ones((height, width, 1), np.float32)], -1).astype(np.float16)
    win = Window(0, 0, width, height)
    return Frame(rgba, ("R", "G", "B", "A"), win, win, {"framesPerSecond": 24})


def rate(fn: Callable[[], object], frames: int) -> float:
    """Frames per second of fn, best of two passes (the machine is shared; the best is the least disturbed)."""
    fn()  # warm up: OIIO plugin load, thread pool, page cache
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        for _ in range(frames):
            fn()
        best = min(best, time.perf_counter() - start)
    return frames / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames, finishes in well under a minute")
    parser.add_argument("--frames", type=int, help="frames per measurement (default 12, quick 3)")
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--height", type=int, default=1080)
    args = parser.parse_args()
    frames = args.frames or (3 if args.quick else 12)
    frame = plate(args.width, args.height)
    raw_mb = frame.pixels.nbytes / 1e6
    print(f"{args.width}x{args.height} RGBA half ({raw_mb:.1f} MB of pixels), {frames} frames per measurement")

    results: dict[str, tuple[float, float, float]] = {}
    for comp in COMPRESSIONS:
        data = encode_exr(frame, compression=comp)
        back = decode_exr(data)
        assert back.pixels.shape == frame.pixels.shape
        enc = rate(lambda comp=comp: encode_exr(frame, compression=comp), frames)
        dec = rate(lambda data=data: decode_exr(data), frames)
        results[comp] = (enc, dec, len(data) / 1e6)
        print(f"  {comp:5s} encode {enc:7.1f} fps  decode {dec:7.1f} fps  {len(data) / 1e6:6.2f} MB")

    # the temporary-file detour: same codec, bytes in memory vs a file already on the RAM disk
    scratch = "/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
    path = Path(tempfile.mkdtemp(prefix="ned-bench-", dir=scratch)) / "f.exr"
    try:
        data = encode_exr(frame, compression="zip")
        path.write_bytes(data)
        enc_mem = rate(lambda: encode_exr(frame, compression="zip"), frames)
        enc_file = rate(lambda: write_exr(path, frame, compression="zip"), frames)
        dec_mem = rate(lambda: decode_exr(data), frames)
        dec_file = rate(lambda: read_exr(path), frames)
    finally:
        for p in path.parent.iterdir():
            p.unlink()
        path.parent.rmdir()
    enc_over = 100.0 * (enc_file / enc_mem - 1.0)
    dec_over = 100.0 * (dec_file / dec_mem - 1.0)
    print(f"  tmp-file overhead (zip): encode {enc_over:+.1f}%  decode {dec_over:+.1f}% "
          f"(bytes API vs file API on {scratch})")

    none_enc, none_dec, none_mb = results["none"]
    for comp in COMPRESSIONS:
        enc, dec, mb = results[comp]
        print(f"{comp}_encode_fps: {enc:.2f}")
        print(f"{comp}_decode_fps: {dec:.2f}")
        if comp != "none":
            print(f"{comp}_encode_ratio_vs_none: {enc / none_enc:.3f}")
            print(f"{comp}_decode_ratio_vs_none: {dec / none_dec:.3f}")
            print(f"{comp}_size_ratio_vs_none: {mb / none_mb:.3f}")
    print(f"tmpfile_encode_overhead_pct: {enc_over:.1f}")
    print(f"tmpfile_decode_overhead_pct: {dec_over:.1f}")


if __name__ == "__main__":
    main()
