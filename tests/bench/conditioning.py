"""Conditioning images benchmark: the GLSL renderer against a software z-buffered rasteriser.

    python tests/bench/conditioning.py [--quick] [--size 256] [--batch 16]

Mesh: a procedural ellipsoid head of 5,002 vertices / 10,000 faces (FLAME has 5,023 / 9,976),
turning and nodding over the frames, with a face region, a mouth region and two pupils.
Both renderers produce the three conditioning images (NMFC, detailed shape without detail, eye
image) and both masks at SIZE x SIZE, from the same inputs:

* GL: ``ConditioningRenderer.render`` on batches of frames, everything included (per-vertex
  normals on the CPU, upload, one draw per frame, float32 read-back, unpacking into the output
  arrays). Headless EGL: Mesa llvmpipe on a CPU-only machine, the NVIDIA driver on a GPU server;
  the renderer in use is printed.
* Software baseline: ``reference.software_conditioning``: per triangle, OpenCV's polygon filler
  (``cv2.fillConvexPoly``, fillPoly's convex-shape variant) finds the candidate pixels, numpy
  computes barycentric weights, depth-tests against a z-buffer and writes the interpolated
  attributes; shading and eye disks in numpy. Same coverage rule, so the images match.

Times are the best of N interleaved repetitions (the least disturbed on a shared machine), medians
alongside. The mean absolute difference of the NMFC (and shape) images between the two on the
same frames is a sanity figure: near 0 means the comparison is of the same work.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ned_server.conditioning import ConditioningRenderer, MeshRasterizer, nmfc_colors  # noqa: E402
from ned_server.conditioning.primitives import to_pixels, uv_sphere  # noqa: E402
from ned_server.conditioning.reference import software_conditioning  # noqa: E402


def head_mesh():
    v, f = uv_sphere(52, 100)
    v = (v * np.array([0.8, 1.0, 0.85], np.float32)).astype(np.float32)
    face = v[:, 2] > 0.1
    mouth = face & (np.abs(v[:, 0]) < 0.3) & (v[:, 1] > -0.6) & (v[:, 1] < -0.3)
    return v, f, face, mouth


def rotation(yaw: float, pitch: float) -> np.ndarray:
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return rx @ ry


def poses(v: np.ndarray, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, V, 3) projected vertices and (n, 2, 2) pupils of a head turning and nodding."""
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    eyes_model = np.array([[-0.3, 0.25, 0.8], [0.3, 0.25, 0.8]])
    verts, pupils = [], []
    for k in range(n):
        r = rotation(0.6 * np.sin(t[k]), 0.2 * np.sin(2 * t[k]))
        verts.append(to_pixels(v, size, size, 0.4 * size, r))
        pupils.append(to_pixels(eyes_model, size, size, 0.4 * size, r)[:, :2])
    return np.stack(verts), np.stack(pupils).astype(np.float32)


def time_gl(renderer: ConditioningRenderer, verts, faces, colours, pupils, face, mouth, batch: int) -> float:
    """Seconds for all frames, in batches."""
    start = time.perf_counter()
    for s in range(0, len(verts), batch):
        renderer.render(verts[s : s + batch], faces, colours, None, pupils[s : s + batch], face, mouth)
    return time.perf_counter() - start


def time_nmfc_only(raster: MeshRasterizer, verts, faces, colours, batch: int) -> float:
    start = time.perf_counter()
    for s in range(0, len(verts), batch):
        raster.rasterize(verts[s : s + batch], faces, colours[None])
    return time.perf_counter() - start


def time_software(verts, faces, colours, pupils, face, mouth, size: int) -> float:
    start = time.perf_counter()
    software_conditioning(verts, faces, colours, size, size, pupils, face, mouth)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer frames and repetitions (under a minute)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16, help="frames per render call")
    args = ap.parse_args()
    gl_frames, sw_frames, reps = (32, 2, 3) if args.quick else (128, 8, 5)
    size = args.size

    v, f, face, mouth = head_mesh()
    colours = nmfc_colors(v)
    verts, pupils = poses(v, gl_frames, size)
    sw_idx = np.linspace(0, gl_frames - 1, sw_frames).astype(int)
    renderer = ConditioningRenderer(size, size)
    raster = MeshRasterizer(size, size)
    print(f"mesh: {len(v)} vertices, {len(f)} faces; {size}x{size}; GL renderer: {renderer.gl.renderer}")
    print(f"GL: {gl_frames} frames in batches of {args.batch}; software: {sw_frames} frames; {reps} repetitions")

    # Warm up (shader compilation, allocation) and sanity check on the software frames.
    gl_out = renderer.render(verts[sw_idx], f, colours, None, pupils[sw_idx], face, mouth)
    sw_out = software_conditioning(verts[sw_idx], f, colours, size, size, pupils[sw_idx], face, mouth)
    nmfc_diff = float(np.abs(gl_out.nmfc - sw_out.nmfc).mean())
    shape_diff = float(np.abs(gl_out.shape - sw_out.shape).mean())
    eyes_diff = float(np.abs(gl_out.eyes - sw_out.eyes).mean())
    time_nmfc_only(raster, verts[: args.batch], f, colours, args.batch)

    gl_fps, nmfc_fps, sw_fps = [], [], []
    for rep in range(reps):
        gl_fps.append(gl_frames / time_gl(renderer, verts, f, colours, pupils, face, mouth, args.batch))
        nmfc_fps.append(gl_frames / time_nmfc_only(raster, verts, f, colours, args.batch))
        sw_fps.append(sw_frames / time_software(verts[sw_idx], f, colours, pupils[sw_idx], face, mouth, size))
        print(f"  repetition {rep + 1}/{reps}: GL {gl_fps[-1]:.1f} frames/s, NMFC-only raster {nmfc_fps[-1]:.1f}, "
              f"software {sw_fps[-1]:.2f}", flush=True)
    renderer.close()
    raster.close()

    print(f"median: GL {statistics.median(gl_fps):.1f} frames/s, software {statistics.median(sw_fps):.2f} frames/s")
    figures = {
        "gl_conditioning_fps": round(max(gl_fps), 1),
        "gl_nmfc_raster_fps": round(max(nmfc_fps), 1),
        "software_conditioning_fps": round(max(sw_fps), 2),
        "speedup_gl_vs_software": round(max(gl_fps) / max(sw_fps), 1),
        "nmfc_mean_abs_diff": f"{nmfc_diff:.2e}",
        "shape_mean_abs_diff": f"{shape_diff:.2e}",
        "eyes_mean_abs_diff": f"{eyes_diff:.2e}",
    }
    for key, value in figures.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
