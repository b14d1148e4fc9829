"""Plates read in place: the server reads a client's plate files under its trusted roots, and only there.

The wire-level tests send FramePath messages themselves (as a hostile or confused client would), so
the server's rules are tested on their own: roots, links, changed files, and that nothing reaches
the store when a frame is refused. The client-level tests check that a server with read roots gets
paths (not bytes) from `ned track`, and that the client streams the bytes when a path is refused.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import grpc
import pytest

from ned_plugin import client as client_module
from ned_plugin.chunks import split_frame
from ned_plugin.client import ConnectionSettings, NedClient
from ned_plugin.plate_files import PlateFiles, describe_file, under_roots
from ned_plugin.wire import IN_PLACE_REFUSED_KEY, pb, rpc
from tests.pipeline_assets import synthetic_shot


@pytest.fixture(scope="module")
def shot():
    return synthetic_shot(frames=4, size=96, seed=5, first=1001, face_scale=(3.2, 3.6))


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    """(a trusted root holding the plates, a folder outside it)."""
    trusted, outside = tmp_path / "show", tmp_path / "elsewhere"
    (trusted / "sh010").mkdir(parents=True)
    outside.mkdir()
    return trusted, outside


@pytest.fixture
def reading_server(server_config, roots, tmp_path: Path):
    from ned_server.api.app import NedServer

    config = dataclasses.replace(server_config, read_roots=(roots[0],), store_dir=tmp_path / "reading-store")
    srv = NedServer(config).start()
    try:
        yield srv
    finally:
        srv.stop(grace=1.0)


def write_plates(shot, folder: Path) -> list[tuple[int, Path]]:
    files = []
    for number, data in shot.frames:
        path = folder / f"plate.{number:04d}.exr"
        path.write_bytes(data)
        files.append((number, path))
    return files


def landmarks(shot) -> list[pb.FrameLandmarks]:
    return [pb.FrameLandmarks(frame=n, points=[float(v) for v in pts.reshape(-1)]) for n, pts in shot.landmarks.items()]


def path_message(number: int, path: Path, **override: object) -> pb.TrackRequest:
    ref = dataclasses.replace(describe_file(number, path), **override)
    return pb.TrackRequest(frame_path=pb.FramePath(frame=ref.frame, path=str(ref.path), size=ref.size,
                                                   mtime_ns=ref.mtime_ns, crc32=ref.crc32))


def raw_track(server, messages: list[pb.TrackRequest]) -> list[pb.TrackReply]:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        return list(rpc.NedStub(channel).Track(iter(messages), timeout=60))


def stored_shots(server) -> list[str]:
    return sorted(p.name for p in (server.config.store_dir / "shots").iterdir())


def refused(server, messages: list[pb.TrackRequest]) -> grpc.RpcError:
    before = stored_shots(server)
    with pytest.raises(grpc.RpcError) as err:
        raw_track(server, messages)
    assert dict(err.value.trailing_metadata() or ())[IN_PLACE_REFUSED_KEY] == "refused"
    assert stored_shots(server) == before, "a refused shot must leave nothing in the store"
    return err.value


def settings_message(shot, shot_id: str = "sh010") -> pb.TrackRequest:
    return pb.TrackRequest(settings=pb.TrackSettings(shot_id=shot_id, landmarks=landmarks(shot),
                                                     frame_count=len(shot.frames)))


# ---------------------------------------------------------------------- the server's rules
def test_getinfo_lists_the_read_roots_and_none_by_default(reading_server, server, roots) -> None:
    with NedClient(ConnectionSettings(address=f"127.0.0.1:{reading_server.port}")) as c:
        assert c.read_roots() == (str(roots[0].resolve()),)
    with NedClient(ConnectionSettings(address=f"127.0.0.1:{server.port}")) as c:
        assert c.read_roots() == ()


def test_a_server_without_read_roots_refuses_every_path(server, shot, roots) -> None:
    files = write_plates(shot, roots[0] / "sh010")
    err = refused(server, [settings_message(shot), *(path_message(n, p) for n, p in files)])
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED and "--read-root" in err.details()


def test_a_path_outside_the_roots_is_refused(reading_server, shot, roots) -> None:
    files = write_plates(shot, roots[1])
    err = refused(reading_server, [settings_message(shot), *(path_message(n, p) for n, p in files)])
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "frame 1001" in err.details() and "outside the folders" in err.details()
    # ".." inside a root is resolved before the check, not after
    sneaky = roots[0] / "sh010" / ".." / ".." / roots[1].name / files[0][1].name
    err = refused(reading_server, [settings_message(shot), path_message(1001, sneaky)])
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_link_out_of_a_root_is_refused_not_followed(reading_server, shot, roots) -> None:
    files = write_plates(shot, roots[1])
    inside = roots[0] / "sh010"
    (inside / "plate.1001.exr").symlink_to(files[0][1])  # a file link
    (inside / "more").symlink_to(roots[1], target_is_directory=True)  # a folder link
    for path in (inside / "plate.1001.exr", inside / "more" / files[0][1].name):
        err = refused(reading_server, [settings_message(shot), path_message(1001, path)])
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED and "resolves to" in err.details()


def test_a_file_changed_since_the_client_hashed_it_is_refused(reading_server, shot, roots) -> None:
    files = write_plates(shot, roots[0] / "sh010")
    number = files[2][0]
    for override in ({"crc32": 12345}, {"size": 7}, {"mtime_ns": 1}):
        messages = [settings_message(shot), *(path_message(n, p, **(override if n == number else {}))
                                              for n, p in files)]
        err = refused(reading_server, messages)
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert f"frame {number}" in err.details() and "changed since the client hashed it" in err.details()


def test_missing_and_relative_paths_are_refused(reading_server, shot, roots) -> None:
    files = write_plates(shot, roots[0] / "sh010")
    gone = pb.TrackRequest(frame_path=pb.FramePath(frame=1001, path=str(roots[0] / "sh010" / "nope.exr")))
    assert refused(reading_server, [settings_message(shot), gone]).code() == grpc.StatusCode.NOT_FOUND
    relative = pb.TrackRequest(frame_path=pb.FramePath(frame=1001, path="sh010/plate.1001.exr"))
    assert refused(reading_server, [settings_message(shot), relative]).code() == grpc.StatusCode.INVALID_ARGUMENT
    twice = [settings_message(shot), path_message(*files[0]), path_message(*files[0])]
    with pytest.raises(grpc.RpcError) as err:
        raw_track(reading_server, twice)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "sent twice" in err.value.details()


def test_paths_and_chunks_mix_in_one_shot_and_equal_the_streamed_shot(reading_server, shot, roots) -> None:
    files = write_plates(shot, roots[0] / "sh010")
    mixed = [settings_message(shot, shot_id="")]
    for i, (number, path) in enumerate(files):
        if i % 2:
            mixed += [pb.TrackRequest(chunk=c) for c in split_frame(number, path.read_bytes())]
        else:
            mixed.append(path_message(number, path))
    summary = raw_track(reading_server, mixed)[-1].summary
    streamed = [settings_message(shot, shot_id="")]
    streamed += [pb.TrackRequest(chunk=c) for n, p in files for c in split_frame(n, p.read_bytes())]
    again = raw_track(reading_server, streamed)[-1].summary
    assert summary.shot_id == again.shot_id and summary.frame_count == 4  # same content hash, same shot
    assert again.from_cache


# ---------------------------------------------------------------------- the client
def test_under_roots_resolves_links_on_the_client_too(roots) -> None:
    trusted, outside = roots
    (outside / "a.exr").write_bytes(b"x")
    (trusted / "link.exr").symlink_to(outside / "a.exr")
    assert under_roots(trusted / "sh010" / "b.exr", [str(trusted)])
    assert not under_roots(trusted / "link.exr", [str(trusted)])
    assert not under_roots(outside / "a.exr", [])


def test_the_cli_names_plates_by_path_to_a_reading_server(reading_server, shot, roots, tmp_path, monkeypatch,
                                                           capsys) -> None:
    from ned_plugin.cli import main

    write_plates(shot, roots[0] / "sh010")
    lm = tmp_path / "lm.json"
    lm.write_text(json.dumps({str(n): p.tolist() for n, p in shot.landmarks.items()}))
    described: list[int] = []
    real = client_module.describe_file
    monkeypatch.setattr(client_module, "describe_file", lambda n, p: described.append(n) or real(n, p))
    pattern = str(roots[0] / "sh010" / "plate.####.exr")
    assert main(["track", pattern, "--shot-id", "sh010", "--landmarks", str(lm), "--progress", "none",
                 "--server", f"127.0.0.1:{reading_server.port}"]) == 0
    assert described == [1001, 1002, 1003, 1004]
    assert "4/4 frames tracked" in capsys.readouterr().out


def test_the_client_streams_the_bytes_when_the_server_refuses_a_path(reading_server, shot, roots,
                                                                     monkeypatch, caplog) -> None:
    files = write_plates(shot, roots[0] / "sh010")
    real = client_module.describe_file
    # As if frame 1003 were re-rendered between the client's hash and the server's read.
    monkeypatch.setattr(client_module, "describe_file",
                        lambda n, p: dataclasses.replace(real(n, p), crc32=1) if n == 1003 else real(n, p))
    settings = pb.TrackSettings(shot_id="", landmarks=landmarks(shot), frame_count=4)
    with NedClient(ConnectionSettings(address=f"127.0.0.1:{reading_server.port}")) as c:
        result = c.track(PlateFiles(files), settings)
        assert result.summary.frame_count == 4
        assert "frame 1003" in caplog.text and "sending the frames' bytes instead" in caplog.text
        streamed = c.track([(n, p.read_bytes()) for n, p in files], settings)
    assert streamed.summary.shot_id == result.summary.shot_id and streamed.summary.from_cache


def test_a_client_outside_the_roots_streams_without_asking(reading_server, shot, roots, monkeypatch) -> None:
    files = write_plates(shot, roots[1])
    monkeypatch.setattr(client_module, "describe_file", lambda n, p: pytest.fail("named a path the server cannot read"))
    settings = pb.TrackSettings(shot_id="", landmarks=landmarks(shot), frame_count=4)
    with NedClient(ConnectionSettings(address=f"127.0.0.1:{reading_server.port}")) as c:
        assert c.track(PlateFiles(files), settings).summary.frame_count == 4
    assert os.path.exists(files[0][1])
