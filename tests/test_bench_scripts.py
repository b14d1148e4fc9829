"""The cheap benchmark scripts run end to end and end with their `name: value` figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parent / "bench"
FIGURE = re.compile(r"^([a-z0-9_]+): (-?[0-9.]+(?:e[-+]?[0-9]+)?)$")


def figures(script: str, *args: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True,
                         timeout=300, check=True).stdout
    found = {}
    for line in out.splitlines():
        m = FIGURE.match(line)
        if m:
            found[m.group(1)] = float(m.group(2))
    return found


def test_transport_bench_prints_its_figures() -> None:
    got = figures("transport.py", "--quick", "--frames", "3")
    for name in ("grpc_mb_per_s", "grpc_frames_per_s", "raw_tcp_mb_per_s", "raw_tcp_frames_per_s",
                 "grpc_vs_raw_ratio", "grpc_bytes_only_vs_raw_ratio"):
        assert got[name] > 0, name
    for comp in ("zip", "piz", "dwaa"):
        assert got[f"exr_{comp}_encode_fps"] > 0 and got[f"exr_{comp}_decode_fps"] > 0
    # the ratio is what the two rates say it is
    assert abs(got["grpc_vs_raw_ratio"] - got["grpc_mb_per_s"] / got["raw_tcp_mb_per_s"]) < 0.01


def test_sliders_bench_prints_its_figures() -> None:
    got = figures("sliders.py", "--quick", "--frames", "16")
    assert 0.0 <= got["slider_direction_ok_fraction"] <= 1.0
    assert got["slider_leakage_max"] >= 0.0 and -1.0 <= got["slider_jaw_correlation_min"] <= 1.0
    assert got["slider_eye_image_follow_ratio"] > 0
