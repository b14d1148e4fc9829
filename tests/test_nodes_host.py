"""The host layer both nodes share: controls from GetInfo, emotion keys, plates, errors, background work."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import numpy as np
import pytest

from ned_plugin.client import AuthenticationFailed, CallCancelled, ConnectionSettings, ServerUnreachable
from ned_plugin.exr import decode_exr
from ned_plugin.host import background, controls, keys, plates, requests
from ned_plugin.host.messages import HostError, artist_message
from ned_plugin.wire import pb
from tests.nodes_fakes.fake_server import EMOTIONS, FakeNed, serve, write_plates


@pytest.fixture
def fake():
    servicer = FakeNed()
    with serve(servicer) as address:
        servicer.address = address
        yield servicer


def conn(address: str, token: str | None = None) -> ConnectionSettings:
    return ConnectionSettings(address=address, token=token, deadline_s=5, attempts=2)


def specs_of(fake: FakeNed) -> list[controls.KnobSpec]:
    return controls.knob_specs(requests.server_info(conn(fake.address)))


class Values:
    """A ValueSource for tests: constants and keyed curves (linear between keys)."""

    def __init__(self, values=None, keys=None):  # type: ignore[no-untyped-def]
        self.values = values or {}
        self.keys = keys or {}

    def value(self, name):  # type: ignore[no-untyped-def]
        return self.values[name]

    def is_animated(self, name):  # type: ignore[no-untyped-def]
        return name in self.keys

    def value_at(self, name, frame):  # type: ignore[no-untyped-def]
        return float(np.interp(frame, *zip(*sorted(self.keys[name].items()))))


# ============================================================================ controls
def test_knob_specs_come_from_get_info(fake) -> None:
    specs = {s.name: s for s in specs_of(fake)}
    assert specs["emotion"].kind == "enum" and specs["emotion"].choices == EMOTIONS
    assert specs["emotion"].default_choice == "happy"
    assert specs["intensity"].animatable and (specs["intensity"].minimum, specs["intensity"].maximum) == (0, 2)
    assert specs["seed"].kind == "int" and not specs["seed"].animatable
    assert specs["matte_erode"].group == "matte" and specs["matte_feather"].maximum == 128
    assert "from_the_future" not in specs  # a parameter the node cannot route is not shown
    assert [s.label for s in specs.values() if s.group == "mix"] == list(EMOTIONS)
    assert all(s.animatable for s in specs.values() if s.group == "mix")


def test_knob_specs_follow_the_server_emotion_list() -> None:
    info = pb.ServerInfo(emotions=["calm", "furious"],
                         parameters=[pb.ParameterInfo(name="emotion", choices=["x"], default_choice="x")])
    specs = controls.knob_specs(info)
    assert specs[0].choices == ("calm", "furious") and specs[0].default_choice == "calm"
    assert [s.name for s in specs[1:]] == ["mix_calm", "mix_furious"]


def test_knob_specs_from_the_real_server(client) -> None:
    info = client.info()
    specs = {s.name: s for s in controls.knob_specs(info)}
    assert specs["emotion"].choices == tuple(info.emotions)
    assert specs["intensity"].default == 1.0 and specs["intensity"].animatable
    assert {"matte_erode", "matte_feather", "blend_method", "seed"} <= set(specs)
    assert specs["render_mode"].choices == ("hybrid", "warp", "neural")  # the knob; "render" is the button
    assert specs["render_mode"].default_choice == "hybrid"
    assert list(info.render_modes) == ["hybrid", "warp", "neural"]
    assert "neutral" in controls.server_summary(info) or "emotions" in controls.server_summary(info)


def test_constant_controls_make_a_plain_emotion(fake) -> None:
    specs = specs_of(fake)
    values = Values({"emotion": "sad", "intensity": 0.7, "seed": 3.0, "matte_erode": 4, "matte_feather": 9.5,
                     "blend_method": "copy", "compression": "piz"})
    s = requests.manipulate_settings(specs, values, first=1001, last=1010, shot_id="sh", actor_id="anna", face_id=1)
    assert s.emotion.emotion == "sad" and s.emotion.intensity == pytest.approx(0.7)
    assert s.emotion.seed == 3 and not s.emotion.keys and not s.emotion.mix
    assert (s.blend.erode, s.blend.feather, s.blend.method) == (4, 9.5, "copy")
    assert s.output.compression == "piz" and s.output.pixel_type == "half"  # unset -> server default
    assert s.blend.levels == 4 and s.preroll == 0
    assert (s.range.first, s.range.last, s.face_id, s.actor_id) == (1001, 1010, 1, "anna")


def test_face_minus_one_means_largest(fake) -> None:
    s = requests.manipulate_settings(specs_of(fake), Values(), first=1, last=2, actor_id="anna", face_id=-1)
    assert not s.HasField("face_id")


def test_constant_mix_replaces_the_label(fake) -> None:
    values = Values({"emotion": "happy", "mix_happy": 0.7, "mix_surprised": 0.3, "mix_sad": 0.0})
    control = keys.emotion_control(specs_of(fake), values, 1, 10)
    assert dict(control.mix) == pytest.approx({"happy": 0.7, "surprised": 0.3})
    assert not control.keys


def test_animated_intensity_becomes_reduced_keys(fake) -> None:
    specs = specs_of(fake)
    ramp = Values({"emotion": "angry"}, {"intensity": {1: 0.0, 11: 1.0}})
    control = keys.emotion_control(specs, ramp, 1, 11)
    assert [(k.frame, round(k.intensity, 4)) for k in control.keys] == [(1, 0.0), (11, 1.0)]
    assert all(k.emotion == "angry" for k in control.keys)
    bend = Values({"emotion": "angry"}, {"intensity": {1: 0.0, 5: 1.0, 11: 0.4}})
    control = keys.emotion_control(specs, bend, 1, 11)
    assert [k.frame for k in control.keys] == [1, 5, 11]
    assert [round(k.intensity, 4) for k in control.keys] == [0.0, 1.0, 0.4]


def test_a_slow_ease_is_not_flattened_into_one_line() -> None:
    frames = range(1, 1001)
    ease = [keys.KeySample(f, 0.5 - 0.5 * np.cos(np.pi * (f - 1) / 999), {}) for f in frames]
    kept = keys.reduce_keys(ease)
    assert 2 < len(kept) < 200  # far fewer keys than frames...
    k_frames = [k.frame for k in kept]
    rebuilt = np.interp(list(frames), k_frames, [k.intensity for k in kept])
    assert np.abs(rebuilt - [s.intensity for s in ease]).max() <= 1e-4  # ...and still the same curve


def test_animated_mix_changes_emotion_over_the_shot(fake) -> None:
    # happy fades out while surprised fades in between frames 10 and 20
    values = Values({"emotion": "happy", "intensity": 1.0},
                    {"mix_happy": {10: 1.0, 20: 0.0}, "mix_surprised": {10: 0.0, 20: 1.0}})
    control = keys.emotion_control(specs_of(fake), values, 1, 30)
    mixes = {k.frame: dict(k.mix) for k in control.keys}
    assert sorted(mixes) == [1, 10, 20, 30]
    assert mixes[1] == pytest.approx({"happy": 1.0, "surprised": 0.0})
    assert mixes[20] == pytest.approx({"happy": 0.0, "surprised": 1.0})
    assert all(k.intensity == pytest.approx(1.0) for k in control.keys)


def test_bad_controls_are_refused_with_a_clear_message(fake) -> None:
    specs = specs_of(fake)
    with pytest.raises(HostError, match="pick one of neutral, angry"):
        requests.manipulate_settings(specs, Values({"emotion": "bored"}), first=1, last=2, actor_id="anna")
    with pytest.raises(HostError, match="no actor"):
        requests.manipulate_settings(specs, Values(), first=1, last=2, actor_id="")
    with pytest.raises(HostError, match="empty"):
        requests.manipulate_settings(specs, Values(), first=5, last=2, actor_id="anna")


def test_snapshot_reads_once_and_samples_curves() -> None:
    source = Values({"intensity": 0.0, "seed": 2}, {"intensity": {1: 0.0, 3: 1.0}})
    snap = controls.take_snapshot(source, ["intensity", "seed", "not_there"], 1, 3)
    assert snap.values == {"intensity": 0.0, "seed": 2}
    assert snap.curves == {"intensity": {1: 0.0, 2: 0.5, 3: 1.0}}
    assert snap.value_at("intensity", 10) == 1.0  # held past the sampled range
    with pytest.raises(KeyError):
        snap.value("not_there")


# ============================================================================ render and track
def render_job(fake: FakeNed, tmp_path: Path, first: int = 1, last: int = 4, **kw) -> plates.RenderJob:  # type: ignore[no-untyped-def]
    pattern = write_plates(tmp_path / "in", first, last)
    specs = specs_of(fake)
    settings = requests.manipulate_settings(specs, Values({"emotion": "happy"}), first=first, last=last,
                                            actor_id="anna", shot_id=kw.pop("shot_id", ""),
                                            frames=kw.pop("frames", ()))
    return plates.RenderJob(conn(fake.address), settings, plates.frame_files(pattern, first, last),
                            str(tmp_path / "out" / "face.####.exr"), **kw)


def test_render_writes_plates_and_empty_plates_for_untracked_frames(fake, tmp_path: Path) -> None:
    fake.untracked = {3}
    seen: list[tuple[str, int, int]] = []
    result = plates.render_shot(render_job(fake, tmp_path), lambda p: seen.append((p.stage, p.done, p.total)))
    assert [f for f, _ in result.files] == [1, 2, 3, 4] and result.tracked == 3
    assert result.untracked == [(3, "no face found")] and "no face on frame(s) 3" in result.summary()
    assert fake.recorded.frames_sent["Manipulate"] == [[1, 2, 3, 4]]
    assert seen[-1] == ("render", 4, 4)
    plate = decode_exr(Path(result.files[1][1]).read_bytes())
    assert plate.channels == ("R", "G", "B", "A", "matte.Y")
    assert plate.display_window.width == 32 and plate.data_window.width == 16  # cropped to the face
    assert float(plate.channel("R")[0, 0]) == pytest.approx(0.02 * 0.8, abs=1e-3)  # frame 2's plate
    empty = decode_exr(Path(result.files[2][1]).read_bytes())
    assert float(np.abs(empty.pixels).max()) == 0.0 and empty.display_window.width == 32


def test_a_frame_list_sends_its_span_and_writes_only_its_frames(fake, tmp_path: Path) -> None:
    result = plates.render_shot(render_job(fake, tmp_path, 1, 7, frames=[1, 4, 7]))
    assert [f for f, _ in result.files] == [1, 4, 7]
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert [n for n in written if n.endswith(".exr")] == ["face.0001.exr", "face.0004.exr", "face.0007.exr"]
    assert sorted(p.name for p in result.qc_files) == sorted(n for n in written if ".qc." in n)  # and its QC
    assert fake.recorded.frames_sent["Manipulate"] == [list(range(1, 8))]  # the frames between are context
    assert list(fake.recorded.manipulate_settings[-1].output_frames) == [1, 4, 7]
    # a list covering the whole range asks for every frame (the wire's empty list); one outside it is refused
    whole = requests.manipulate_settings(specs_of(fake), Values(), first=1, last=3, actor_id="anna", frames=[1, 2, 3])
    assert list(whole.output_frames) == []
    with pytest.raises(HostError, match=r"frame\(s\) 9 are outside the range 1-7"):
        requests.manipulate_settings(specs_of(fake), Values(), first=1, last=7, actor_id="anna", frames=[1, 9])


def test_blank_like_is_a_transparent_full_frame(fake, tmp_path: Path) -> None:
    plate = plates.render_shot(render_job(fake, tmp_path, 1, 1)).files[0][1].read_bytes()
    blank = decode_exr(plates.blank_like(plate))
    assert blank.data_window == blank.display_window == decode_exr(plate).display_window
    assert float(np.abs(blank.pixels.astype(np.float32)).max()) == 0.0


def test_render_full_frame_plates_and_matte_sequence(fake, tmp_path: Path) -> None:
    job = render_job(fake, tmp_path, full_frame=True, matte_output=str(tmp_path / "out" / "matte.####.exr"))
    result = plates.render_shot(job)
    plate = decode_exr(result.files[0][1].read_bytes())
    assert plate.data_window == plate.display_window  # padded for hosts that ignore data windows
    alpha = plate.channel("A").astype(np.float32)
    assert alpha[0, 0] == 0 and alpha[12, 16] == pytest.approx(0.8, abs=1e-3)
    matte = decode_exr(result.matte_files[0][1].read_bytes())
    assert matte.channels == ("R", "G", "B", "A") and float(matte.channel("R")[12, 16]) == 1.0
    assert float(matte.channel("R")[0, 0]) == 0.0


def test_render_uses_the_tracked_shot_and_falls_back_to_sending(fake, tmp_path: Path) -> None:
    job = render_job(fake, tmp_path, shot_id="sh010", use_cache=True)
    tracked = requests.track_shot(requests.TrackJob(conn(fake.address), requests.track_settings("sh010"), job.frames))
    assert tracked.summary.shot_id == "sh010" and "4/4 frames tracked" in requests.track_summary(tracked)
    plates.render_shot(job)
    assert fake.recorded.frames_sent["Manipulate"] == [[]]  # the cached shot: no frames re-sent
    fake.shots.clear()  # the server restarted
    result = plates.render_shot(job)
    assert fake.recorded.frames_sent["Manipulate"] == [[], [], [1, 2, 3, 4]]
    assert len(result.files) == 4


def test_preroll_frames_that_exist_are_sent(fake, tmp_path: Path) -> None:
    job = render_job(fake, tmp_path, first=1, last=8)
    job.settings.range.first, job.settings.preroll = 5, 2
    result = plates.render_shot(job)
    assert fake.recorded.frames_sent["Manipulate"] == [[3, 4, 5, 6, 7, 8]]
    assert [f for f, _ in result.files] == [5, 6, 7, 8]  # preroll frames are not returned


def test_reference_clip_style_is_sent(fake, tmp_path: Path) -> None:
    clip = write_plates(tmp_path / "ref", 1, 3, name="ref")
    job = render_job(fake, tmp_path, reference_clip=plates.frame_files(clip, 1, 3))
    plates.render_shot(job)
    assert fake.recorded.style_requests == 1
    assert list(fake.recorded.manipulate_settings[-1].emotion.reference_style) == [0.25] * 16


def test_missing_frames_are_named(tmp_path: Path) -> None:
    with pytest.raises(HostError, match=r"no frames of .*plate\.####\.exr exist between 1 and 3"):
        plates.frame_files(str(tmp_path / "plate.####.exr"), 1, 3)


# ============================================================================ errors an artist reads
def test_unreachable_server_message(tmp_path: Path) -> None:
    with pytest.raises(ServerUnreachable) as err:
        requests.server_info(conn("127.0.0.1:1"))
    text = artist_message(err.value, "the render", "the add-on preferences")
    assert "Cannot reach the NED server" in text and "127.0.0.1:1" in text
    assert "add-on preferences" in text


def test_wrong_token_message_from_the_real_server(server_config) -> None:
    from ned_server.api.app import NedServer

    server_config.token = "right"
    srv = NedServer(server_config).start()
    try:
        with pytest.raises(AuthenticationFailed) as err:
            requests.server_info(conn(f"127.0.0.1:{srv.port}", "wrong"))
        assert requests.server_info(conn(f"127.0.0.1:{srv.port}", "right")).api == "ned.v1"
    finally:
        srv.stop(grace=0.5)
    text = artist_message(err.value, "the render", "the node")
    assert "refused the token" in text and "NED_TOKEN" in text


@pytest.mark.parametrize(("code", "expect"), [
    (grpc.StatusCode.UNAVAILABLE, "Cannot reach the NED server"),
    (grpc.StatusCode.CANCELLED, "The render was cancelled"),
    (grpc.StatusCode.FAILED_PRECONDITION, "missing a model file"),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, "busy"),
])
def test_server_errors_become_artist_messages(fake, tmp_path: Path, code, expect) -> None:  # type: ignore[no-untyped-def]
    fake.fail["Manipulate"] = (code, "because the test said so")
    with pytest.raises(Exception) as err:
        plates.render_shot(render_job(fake, tmp_path))
    assert expect in artist_message(err.value, "the render")


def test_unknown_actor_says_what_to_do(fake, tmp_path: Path) -> None:
    job = render_job(fake, tmp_path)
    job.settings.actor_id = "bob"
    with pytest.raises(Exception) as err:
        plates.render_shot(job)
    assert "no actor 'bob'" in artist_message(err.value, "the render")
    assert "pick an actor the server has" in artist_message(err.value, "the render")


# ============================================================================ background work
def test_background_job_reports_progress_and_result(fake, tmp_path: Path) -> None:
    job = render_job(fake, tmp_path)
    done: list[background.BackgroundJob] = []
    bg = background.BackgroundJob("render", lambda progress, cancel: plates.render_shot(job, progress, cancel),
                                   on_done=done.append).start()
    assert bg.wait(20)
    status = bg.snapshot()
    assert status.finished and status.error is None and status.fraction == 1.0
    assert len(status.result.files) == 4 and done == [bg]
    assert status.line.startswith("render: render 4/4")


def test_cancel_stops_the_stream_and_reports_cancelled(fake, tmp_path: Path) -> None:
    fake.delay_s = 0.3
    job = render_job(fake, tmp_path, last=10)
    bg = background.BackgroundJob("render", lambda progress, cancel: plates.render_shot(job, progress, cancel)).start()
    assert fake.started.wait(10)
    time.sleep(0.4)
    t0 = time.monotonic()
    bg.cancel()
    assert bg.wait(5), "the worker did not stop after cancel"
    assert time.monotonic() - t0 < 2.0
    status = bg.snapshot()
    assert status.cancelled and isinstance(status.error, CallCancelled)
    assert artist_message(status.error, "the render") == "The render was cancelled."
    written = sorted((tmp_path / "out").glob("*.exr"))
    assert len(written) < 10 and not list((tmp_path / "out").glob(".*.tmp"))  # no half-written plates


def test_training_cancel_also_cancels_the_server_job(fake) -> None:
    fake.delay_s = 0.2
    request = pb.TrainActorRequest(actor_id="bob", shot_ids=["sh010"], preset="tiny")
    bg = background.BackgroundJob(
        "train", lambda progress, cancel: requests.train_actor(conn(fake.address), request, progress, cancel)).start()
    deadline = time.monotonic() + 10
    while bg.snapshot().done < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    bg.cancel()
    assert bg.wait(5)
    assert bg.snapshot().cancelled
    assert fake.recorded.cancelled_jobs == ["job-1"]


def test_training_runs_to_the_end(fake) -> None:
    request = pb.TrainActorRequest(actor_id="bob", shot_ids=["sh010"], preset="tiny")
    seen: list[int] = []
    job = requests.train_actor(conn(fake.address), request, lambda p: seen.append(p.done))
    assert job.state == pb.JOB_STATE_SUCCEEDED and seen[-1] == 5
    assert ("bob", "bob") in controls.actor_choices(requests.server_info(conn(fake.address)))
    with pytest.raises(HostError, match="Track"):
        requests.train_actor(conn(fake.address), pb.TrainActorRequest(actor_id="bob"))


# ============================================================================ face sliders
def test_face_sliders_become_animatable_knobs_in_their_own_group(fake) -> None:
    specs = {s.name: s for s in specs_of(fake)}
    smile, gaze = specs["slider_smile"], specs["slider_gaze_horizontal"]
    assert smile.group == gaze.group == "sliders" and smile.animatable and gaze.animatable
    assert (gaze.minimum, gaze.maximum, gaze.default) == (-20, 20, 0) and "degrees" in gaze.tooltip
    assert smile.label == "smile"


def test_face_sliders_are_sent_as_curves_only_when_moved(fake) -> None:
    specs = specs_of(fake)
    untouched = requests.manipulate_settings(specs, Values({"emotion": "happy", "slider_smile": 0.0}), first=1,
                                             last=11, actor_id="anna")
    assert not untouched.sliders  # at the default: not sent
    values = Values({"emotion": "happy", "slider_smile": 0.4}, {"slider_gaze_horizontal": {1: 0.0, 6: 10.0, 11: 10.0}})
    s = requests.manipulate_settings(specs, values, first=1, last=11, actor_id="anna")
    curves = {c.name: [(k.frame, round(k.value, 4)) for k in c.keys] for c in s.sliders}
    assert curves == {"smile": [(1, 0.4)], "gaze_horizontal": [(1, 0.0), (6, 10.0), (11, 10.0)]}


def test_the_cli_reads_a_slider_keys_file(tmp_path: Path) -> None:
    from ned_plugin.slider_keys import SliderKeysError, read_slider_keys

    path = tmp_path / "keys.json"
    path.write_text('{"smile": [[1001, 0], [1024, 0.8]], "slider_gaze_horizontal": 5}')
    curves = {c.name: [(k.frame, round(k.value, 4)) for k in c.keys] for c in read_slider_keys(path)}
    assert curves == {"smile": [(1001, 0.0), (1024, 0.8)], "gaze_horizontal": [(0, 5.0)]}
    for bad in ('[1, 2]', '{"smile": [[1, 2, 3]]}', '{"smile": "lots"}', "not json"):
        path.write_text(bad)
        with pytest.raises(SliderKeysError):
            read_slider_keys(path)
