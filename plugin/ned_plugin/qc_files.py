"""The QC report of a Manipulate written next to its plates: JSON always, a PNG plot when it can be.

``ned manipulate --output out/sh010_happy.####.exr`` writes ``out/sh010_happy.qc.json`` (the
report as the server sent it: summary, checks, per-frame figures) and ``out/sh010_happy.qc.png``
(mouth opening original/edited, tracking confidence and error, flicker and expression change over the
frames). A chunk of a shot (``--frames 1001-1050``) names its range (``sh010_happy.1001-1050.qc.json``)
so farm tasks never overwrite each other's reports. matplotlib is not a client dependency: the
plot is written only where it imports (the server's environment has it), else the JSON alone.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from google.protobuf.json_format import MessageToDict

from .files import write_bytes
from .wire import pb

_FRAME_TOKEN = re.compile(r"[._]?(#+|@+|%0?\d*d|\$F\d*)")


def report_base(output_pattern: str, frame_range: tuple[int, int] | None = None) -> Path:
    """Where a shot's QC files go: the output pattern without its frame token and extension."""
    path = Path(output_pattern)
    name = _FRAME_TOKEN.sub("", path.name)
    stem = name[: -len(path.suffix)] if path.suffix and name.endswith(path.suffix) else name
    stem = stem.rstrip("._") or "shot"
    if frame_range is not None:
        stem += f".{frame_range[0]}-{frame_range[1]}"
    return path.parent / f"{stem}.qc"


def report_dict(report: pb.QcReport) -> dict[str, object]:
    """The report as plain JSON (NaN figures as null, every field present)."""
    doc = MessageToDict(report, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)

    def clean(value: object) -> object:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    out: dict[str, object] = clean(doc)  # type: ignore[assignment]
    for frame in out.get("frames", []):  # type: ignore[attr-defined]
        frame["frame"] = int(frame["frame"])  # int64 comes out of MessageToDict as a string
    return out


def plot_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def write_report(report: pb.QcReport, output_pattern: str, frame_range: tuple[int, int] | None = None
                 ) -> list[Path]:
    """Write the JSON (and the PNG plot when matplotlib imports); returns the files written."""
    base = report_base(output_pattern, frame_range)
    json_path = base.with_name(base.name + ".json")
    write_bytes(json_path, json.dumps(report_dict(report), indent=1).encode())
    written = [json_path]
    if plot_available():
        png = base.with_name(base.name + ".png")
        write_bytes(png, plot_png(report))
        written.append(png)
    return written


def plot_png(report: pb.QcReport) -> bytes:
    """Three panels over the frames: speech (mouth opening), tracking, flicker and change."""
    import io

    from matplotlib.figure import Figure  # a bare Figure renders through Agg, no pyplot state

    frames = [f.frame for f in report.frames]

    def series(name: str) -> list[float]:
        return [getattr(f, name) if f.tracked else math.nan for f in report.frames]

    fig = Figure(figsize=(9, 7), dpi=90)
    ax = fig.subplots(3, 1, sharex=True)
    # The speech figure's own measure: the mouth opening where the server read it, else the jaw.
    by_mouth = any(math.isfinite(f.mouth_original) for f in report.frames if f.tracked)
    what, unit = ("mouth", "mouth opening (IOD)") if by_mouth else ("jaw", "jaw opening (rad)")
    ax[0].plot(frames, series(f"{what}_original"), label=f"original {what}", color="0.3")
    ax[0].plot(frames, series(f"{what}_edited"), label=f"edited {what}", color="tab:red")
    ax[0].set_ylabel(unit)
    ax[0].set_title(f"speech preservation r = {report.speech_correlation:.3f}  [{report.status}]", fontsize=10)
    ax[0].legend(loc="upper right", fontsize=8)
    ax[1].plot(frames, series("confidence"), label="confidence", color="tab:green")
    ax[1].set_ylim(0, 1.05)
    ax[1].set_ylabel("tracking confidence")
    err = ax[1].twinx()
    err.plot(frames, series("fit_error_px"), label="fit error (px)", color="tab:orange", alpha=0.7)
    err.set_ylabel("fit error (px)")
    for f in report.frames:
        if not f.tracked:
            ax[1].axvspan(f.frame - 0.5, f.frame + 0.5, color="tab:red", alpha=0.2, lw=0)
    ax[2].plot(frames, series("flicker_original"), label="original flicker", color="0.3")
    ax[2].plot(frames, series("flicker_plate"), label="edited flicker", color="tab:purple")
    ax[2].set_ylabel("frame-to-frame change")
    change = ax[2].twinx()
    change.plot(frames, series("expression_change"), label="expression change", color="tab:blue", alpha=0.6)
    change.set_ylabel("expression change")
    ax[2].legend(loc="upper left", fontsize=8)
    ax[2].set_xlabel("frame")
    fig.suptitle(report.summary[:110], fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
