"""Face sliders through real gRPC: GetInfo lists them, Manipulate applies them, a one-frame preview
shows them, bad ones are refused with INVALID_ARGUMENT and the server keeps serving."""

from __future__ import annotations

import numpy as np
import pytest

from ned_plugin.client import NedClientError
from ned_plugin.exr import decode_exr
from ned_plugin.wire import pb
from tests.pipeline_assets import synthetic_shot, write_tiny_actor, write_tiny_manipulator


@pytest.fixture(scope="module")
def shot():
    return synthetic_shot(frames=12, size=128, seed=7)


@pytest.fixture
def tracked(client, server, shot):
    write_tiny_manipulator(server.config.models_dir)
    write_tiny_actor(server.config.store_dir, "anna")
    settings = pb.TrackSettings(shot_id="sh020")
    for frame, pts in shot.landmarks.items():
        settings.landmarks.add(frame=frame, points=pts.reshape(-1).tolist())
    client.track(shot.frames, settings)
    return "sh020"


def _plates(client, sliders=(), **kw) -> dict[int, bytes]:
    settings = pb.ManipulateSettings(shot_id="sh020", actor_id="anna", emotion=pb.EmotionControl(emotion="happy"),
                                     **kw)
    settings.sliders.extend(sliders)
    return {p.header.frame: p.exr for p in client.manipulate(settings)}


def _curve(name: str, *keys: tuple[int, float]) -> pb.SliderCurve:
    curve = pb.SliderCurve(name=name)
    for frame, value in keys:
        curve.keys.add(frame=frame, value=value)
    return curve


def _rgb(exr: bytes) -> np.ndarray:
    return decode_exr(exr).pixels.astype(np.float32)[..., :3]


def test_get_info_lists_every_slider_with_its_range_and_unit(client):
    info = client.info()
    sliders = {p.name: p for p in info.parameters if p.name.startswith("slider_")}
    assert {"slider_smile", "slider_gaze_horizontal", "slider_head_yaw", "slider_jaw_offset", "slider_blink"} <= set(
        sliders)
    for p in sliders.values():
        assert p.animatable and p.unit and p.minimum < p.maximum


def test_sliders_change_the_plates_and_a_one_frame_preview_shows_them(client, tracked):
    plain = _plates(client)
    at_default = _plates(client, [_curve("smile", (1001, 0.0))])
    assert at_default == plain  # a slider at its default changes nothing
    moved = _plates(client, [_curve("jaw_offset", (1001, 0.0), (1012, 10.0)), _curve("gaze_horizontal", (0, 20.0))])
    assert moved.keys() == plain.keys()
    diff = [np.abs(_rgb(moved[f]) - _rgb(plain[f])).max() for f in plain
            if plain[f] and moved[f] and decode_exr(plain[f]).data_window == decode_exr(moved[f]).data_window]
    assert diff and max(diff) > 0
    # a farm chunk with keyed sliders renders the very frames of the full run (keys are shot frame numbers)
    chunk = _plates(client, [_curve("jaw_offset", (1001, 0.0), (1012, 10.0)), _curve("gaze_horizontal", (0, 20.0))],
                    range=pb.FrameRange(first=1005, last=1008), preroll=25)
    assert list(chunk) == [1005, 1006, 1007, 1008] and all(chunk[f] == moved[f] for f in chunk)
    # preview: one frame from the cached track, the same request narrowed to it
    preview = _plates(client, [_curve("gaze_horizontal", (0, 20.0))], range=pb.FrameRange(first=1006, last=1006),
                      preroll=2)
    preview_plain = _plates(client, range=pb.FrameRange(first=1006, last=1006), preroll=2)
    assert list(preview) == [1006] and preview[1006] != preview_plain[1006]


def test_a_head_slider_alone_moves_the_warped_plate(client, tracked):
    """At intensity 0 the warp is the identity; a head or gaze slider must still move the plate (the
    head is drawn posed by the sliders, the original plate's geometry stays the tracked one)."""
    still = pb.EmotionControl(emotion="happy", intensity=0.0)
    settings = dict(range=pb.FrameRange(first=1004, last=1005), preroll=2, render="warp")
    plain = {p.header.frame: p.exr for p in client.manipulate(pb.ManipulateSettings(
        shot_id="sh020", actor_id="anna", emotion=still, **settings))}
    turned = pb.ManipulateSettings(shot_id="sh020", actor_id="anna", emotion=still, **settings)
    turned.sliders.append(_curve("head_yaw", (0, 8.0)))
    moved = {p.header.frame: p.exr for p in client.manipulate(turned)}
    assert moved.keys() == plain.keys() == {1004, 1005}
    for frame in plain:
        a, b = decode_exr(plain[frame]), decode_exr(moved[frame])
        assert "stmap.R" in b.channels
        if a.data_window == b.data_window:
            assert np.abs(a.pixels.astype(np.float32) - b.pixels.astype(np.float32)).max() > 0
        else:  # the edit covers other pixels: it moved
            assert b.data_window != a.data_window


def test_bad_sliders_are_refused_and_the_server_keeps_serving(client, tracked):
    for curve, words in ((_curve("grin", (0, 1.0)), "unknown face slider"), (_curve("smile", (0, 3.0)), "out of range"),
                         (_curve("smile"), "no keys")):
        with pytest.raises(NedClientError) as err:
            _plates(client, [curve])
        assert err.value.code == "INVALID_ARGUMENT" and words in str(err.value), (curve, err.value)
    assert len(_plates(client, range=pb.FrameRange(first=1001, last=1002), preroll=0)) == 2


def test_cli_keys_file_and_one_frame_preview(client, server, tracked, tmp_path, capsys):
    from ned_plugin.cli import main

    address = f"127.0.0.1:{server.port}"
    assert main(["info", "--server", address]) == 0
    listed = capsys.readouterr().out
    assert "face sliders" in listed and "gaze_horizontal" in listed and "degrees" in listed
    keys = tmp_path / "sliders.json"
    keys.write_text('{"smile": [[1001, 0.0], [1012, 0.8]], "gaze_horizontal": 10}')
    out = tmp_path / "out" / "sh020.####.exr"
    assert main(["manipulate", "--shot-id", "sh020", "--actor", "anna", "--emotion", "happy", "--sliders", str(keys),
                 "--output", str(out), "--server", address, "--progress", "none"]) == 0
    assert len(list(out.parent.glob("*.exr"))) == 12
    preview = tmp_path / "preview" / "p.####.exr"
    assert main(["manipulate", "--shot-id", "sh020", "--actor", "anna", "--emotion", "happy", "--sliders", str(keys),
                 "--preview", "1006", "--output", str(preview), "--server", address, "--progress", "none"]) == 0
    assert [p.name for p in preview.parent.glob("*.exr")] == ["p.1006.exr"]
    keys.write_text('{"smile": "lots"}')
    with pytest.raises(SystemExit, match="smile"):
        main(["manipulate", "--shot-id", "sh020", "--actor", "anna", "--emotion", "happy", "--sliders", str(keys),
              "--output", str(out), "--server", address])
