"""Colour handed over by the host: the plate's space named in the host's own OCIO config.

The server finds the networks' sRGB in its own config and crosses to the host's through OCIO's
interchange roles (``GetProcessorFromConfigs``), so an ACEScg plate of an ACES show comes back in
ACEScg, and a space unknown to both configs is refused before anything is stored.
"""

from __future__ import annotations

import numpy as np
import PyOpenColorIO as ocio
import pytest

from ned_plugin.client import NedClientError
from ned_plugin.colour import Colour, ColourError, PlateColour, host_space_candidates, plate_colour
from ned_plugin.exr import Frame, Window, decode_exr, encode_exr
from ned_plugin.wire import pb
from tests.pipeline_assets import synthetic_shot, write_tiny_actor, write_tiny_manipulator

ACES_CONFIG = "ocio://cg-config-latest"
FRAMES = 8


def srgb_encode(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(np.maximum(x, 0), 1 / 2.4) - 0.055)


@pytest.fixture(scope="module")
def shot():
    return synthetic_shot(frames=FRAMES, size=128, seed=5, face_scale=(3.2, 3.6))


def decoded_rgba(data: bytes) -> np.ndarray:
    return decode_exr(data).full_frame(0.0)[..., :4].astype(np.float32)


def to_acescg(shot) -> list[tuple[int, bytes]]:  # type: ignore[no-untyped-def]
    """The shot's Linear Rec.709 plates as the ACEScg float EXRs an ACES show would hand over."""
    config = ocio.Config.CreateFromFile(ACES_CONFIG)
    proc = config.getProcessor("Linear Rec.709 (sRGB)", "ACEScg").getDefaultCPUProcessor()
    out = []
    for number, data in shot.frames:
        rgba = decoded_rgba(data)
        rgb = np.ascontiguousarray(rgba[..., :3]).reshape(-1, 3)
        proc.applyRGB(rgb)
        rgba[..., :3] = rgb.reshape((*rgba.shape[:2], 3))
        window = Window(0, 0, rgba.shape[1], rgba.shape[0])
        out.append((number, encode_exr(Frame(rgba, ("R", "G", "B", "A"), window, window), pixel_type="float")))
    return out


def track_and_render(client, frames, shot, shot_id: str, colour: pb.ColourSettings) -> list:  # type: ignore[no-untyped-def]
    settings = pb.TrackSettings(shot_id=shot_id, colour=colour)
    for frame, pts in shot.landmarks.items():
        settings.landmarks.add(frame=frame, points=pts.reshape(-1).tolist())
    summary = client.track(frames, settings).summary
    assert summary.tracked_frames == FRAMES
    # the face picker's thumbnail: a frame of the shot and the face's box there
    assert summary.faces[0].thumbnail_frame in shot.landmarks and len(summary.faces[0].thumbnail_box) == 4
    # render="neural": this test measures the colour round trip. The hybrid warp's bicubic overshoot is
    # clamped to the plate's range in the input's own space, so at a few edge pixels an ACEScg and a
    # Rec.709 input legitimately differ by more than the conversion tolerance.
    request = pb.ManipulateSettings(shot_id=shot_id, actor_id="anna", emotion=pb.EmotionControl(emotion="happy"),
                                    colour=colour, output=pb.OutputSettings(pixel_type="float"), render="neural")
    return list(client.manipulate(request))


# ============================================================================ the conversion itself
def test_a_host_config_crosses_to_the_servers_through_the_interchange_roles() -> None:
    working = Colour("ocio://default")
    host = Colour(ACES_CONFIG)
    plate = PlateColour(working, host, "ACES - ACEScg")  # an ACES 1.x alias of the host's ACEScg
    assert plate.space == "ACEScg" and not plate.same_config
    rec709 = np.random.default_rng(0).uniform(0, 1, (64, 3)).astype(np.float32)
    acescg = host.convert(rec709, "Linear Rec.709 (sRGB)", "ACEScg")
    network = plate.to_network(acescg)
    np.testing.assert_allclose(network, np.clip(srgb_encode(rec709), 0, 1), atol=2e-4)
    np.testing.assert_allclose(plate.from_network(network), acescg, atol=2e-4)


def test_names_hosts_use_and_spaces_unknown_to_both_configs(tmp_path) -> None:
    working = Colour("ocio://default")

    def load(config: str) -> Colour:
        return Colour(config)

    # Nuke's "default (X)" and family spellings reach the space itself
    assert host_space_candidates("default (ACES - ACEScg)")[:2] == ["default (ACES - ACEScg)", "ACES - ACEScg"]
    assert plate_colour(working, load, ACES_CONFIG, "default (ACES - ACEScg)").space == "ACEScg"
    assert plate_colour(working, load, ACES_CONFIG, "Colorspaces/ACEScg").space == "ACEScg"
    # Blender's config is not readable on this (remote) server: its names map to the built-in ones
    missing = str(tmp_path / "blender" / "config.ocio")
    linear = plate_colour(working, load, missing, "Linear Rec.709")
    assert linear.space == "Linear Rec.709 (sRGB)" and linear.source is working
    assert plate_colour(working, load, missing, "sRGB").space == "sRGB Encoded Rec.709 (sRGB)"
    assert plate_colour(working, load, missing, "Non-Color").space == "Raw"
    # a name from the server's list (GetInfo) works whatever the host's config
    assert plate_colour(working, load, ACES_CONFIG, "lin_rec709").space == "Linear Rec.709 (sRGB)"
    with pytest.raises(ColourError, match=r"'Filmic sRGB' is unknown to the server's OCIO config "
                                          r"'ocio://default' \(and the server cannot use the host's config"):
        plate_colour(working, load, missing, "Filmic sRGB")
    with pytest.raises(ColourError, match=r"unknown to the host's OCIO config 'ocio://cg-config-latest' and "
                                          r"the server's.*close matches.*ACEScg"):
        plate_colour(working, load, ACES_CONFIG, "ACEScgg")


# ============================================================================ through the real server
def test_an_acescg_plate_comes_back_in_acescg_with_the_face_free_pixels_bit_equal(client, server, shot) -> None:
    write_tiny_manipulator(server.config.models_dir)
    write_tiny_actor(server.config.store_dir, "anna")
    acescg = to_acescg(shot)
    aces = track_and_render(client, acescg, shot, "sh_aces", pb.ColourSettings(config=ACES_CONFIG,
                                                                               input_space="ACEScg"))
    plain = track_and_render(client, shot.frames, shot, "sh_709", pb.ColourSettings())
    to_709 = ocio.Config.CreateFromFile(ACES_CONFIG).getProcessor("ACEScg", "Linear Rec.709 (sRGB)") \
        .getDefaultCPUProcessor()
    checked = 0
    for (number, source), plate, reference in zip(acescg, aces, plain, strict=True):
        assert plate.header.frame == number and plate.header.tracked
        face = decoded_rgba(plate.exr)
        original = decoded_rgba(source)
        alpha = face[..., 3:4]
        over = face[..., :3] + original[..., :3] * (1.0 - alpha)  # Merge (over) in the host
        free = alpha[..., 0] == 0.0
        assert free.any() and (~free).any()
        assert np.array_equal(over[free], original[..., :3][free])  # face-free pixels: bit-equal
        assert np.all(face[..., :3][free] == 0.0)
        # the face itself is the same face as the Rec.709 run's, expressed in ACEScg
        inside = alpha[..., 0] > 0.5
        as_709 = np.ascontiguousarray(face[..., :3]).reshape(-1, 3).copy()
        to_709.applyRGB(as_709)
        as_709 = as_709.reshape((*face.shape[:2], 3))
        ref = decoded_rgba(reference.exr)
        np.testing.assert_allclose(as_709[inside], ref[..., :3][inside], atol=3e-3)
        # and really in ACEScg: not the Rec.709 numbers untouched
        assert np.abs(face[..., :3][inside] - ref[..., :3][inside]).max() > 0.01
        checked += 1
    assert checked == FRAMES


def test_a_space_unknown_to_both_configs_is_refused_and_nothing_is_stored(client, server, shot) -> None:
    write_tiny_manipulator(server.config.models_dir)  # so that colour is what a Manipulate is refused for
    write_tiny_actor(server.config.store_dir, "anna")
    shots = server.config.store_dir / "shots"
    before = sorted(shots.rglob("*")) if shots.exists() else []
    with pytest.raises(NedClientError) as err:
        client.track(shot.frames, pb.TrackSettings(shot_id="sh_bad", colour=pb.ColourSettings(
            config=ACES_CONFIG, input_space="Filmic sRGB")))
    assert err.value.code == "INVALID_ARGUMENT"
    assert "Filmic sRGB" in str(err.value) and ACES_CONFIG in str(err.value) and "ocio://default" in str(err.value)
    with pytest.raises(NedClientError) as err:
        list(client.manipulate(pb.ManipulateSettings(shot_id="sh_bad", actor_id="anna",
                                                     emotion=pb.EmotionControl(emotion="happy"),
                                                     colour=pb.ColourSettings(input_space="no such space"))))
    assert err.value.code == "INVALID_ARGUMENT" and "no such space" in str(err.value)
    after = sorted(shots.rglob("*")) if shots.exists() else []
    assert after == before
    assert client.info().version  # the server keeps serving
    # a Blender config only the artist's machine has: Blender's plain names map to the server's
    from ned_server.orchestration.requests import ColourRequest

    missing = str(server.config.store_dir / "elsewhere" / "config.ocio")
    assert server.pipeline.shot_colour(ColourRequest(missing, "Linear Rec.709")).space == "Linear Rec.709 (sRGB)"
