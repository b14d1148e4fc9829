"""OCIO conversions between plate colour spaces and the networks' sRGB, and how the config is chosen."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ned_plugin.colour import DEFAULT_CONFIG, Colour, ColourError

TINY_CONFIG = """ocio_profile_version: 2

roles:
  default: lin
  scene_linear: lin

file_rules:
  - !<Rule> {name: Default, colorspace: default}

displays:
  screen:
    - !<View> {name: Raw, colorspace: lin}

colorspaces:
  - !<ColorSpace>
    name: lin
    aliases: [linear_tiny]

  - !<ColorSpace>
    name: gam
    aliases: [sqrt_tiny]
    from_scene_reference: !<ExponentTransform> {value: [2, 2, 2, 1], direction: inverse}
"""


def srgb_encode(x: np.ndarray) -> np.ndarray:
    """The sRGB piecewise curve (IEC 61966-2-1), written out here as an independent reference."""
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(np.maximum(x, 0), 1 / 2.4) - 0.055)


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.ocio"
    path.write_text(TINY_CONFIG)
    return path


@pytest.fixture
def builtin(monkeypatch: pytest.MonkeyPatch) -> Colour:
    monkeypatch.delenv("OCIO", raising=False)
    return Colour()


def test_builtin_default_config_and_spaces(builtin: Colour) -> None:
    assert builtin.config_name == DEFAULT_CONFIG
    assert builtin.default_input_space == "Linear Rec.709 (sRGB)"
    assert builtin.network_space == "sRGB Encoded Rec.709 (sRGB)"
    spaces = builtin.colour_spaces()
    assert "ACEScg" in spaces and "Linear Rec.709 (sRGB)" in spaces


@pytest.mark.parametrize(("name", "canonical"), [
    ("scene_linear", "ACEScg"),  # a role
    ("ACEScg", "ACEScg"),
    ("acescg", "ACEScg"),  # case-insensitive
    ("Linear Rec.709 (sRGB)", "Linear Rec.709 (sRGB)"),
    ("lin_rec709", "Linear Rec.709 (sRGB)"),  # an alias
    ("sRGB - Texture", "sRGB Encoded Rec.709 (sRGB)"),
    ("sRGB Encoded Rec.709 (sRGB)", "sRGB Encoded Rec.709 (sRGB)"),
])
def test_resolve_names_aliases_and_roles(builtin: Colour, name: str, canonical: str) -> None:
    assert builtin.resolve(name) == canonical


def test_unknown_space_lists_close_matches(builtin: Colour) -> None:
    with pytest.raises(ColourError, match=r"unknown colour space 'ACEScgg'.*close matches: .*'ACEScg'"):
        builtin.resolve("ACEScgg")
    with pytest.raises(ColourError, match=r"unknown colour space 'sRGB'.*'sRGB Encoded Rec\.709 \(sRGB\)'"):
        builtin.convert(np.zeros((2, 2, 3), np.float32), "sRGB", "ACEScg")
    with pytest.raises(ColourError, match="empty colour space"):
        builtin.resolve("  ")


def test_linear_to_network_matches_the_srgb_curve(builtin: Colour) -> None:
    lin = np.linspace(0.0, 1.0, 61, dtype=np.float32).reshape(1, -1, 1).repeat(3, axis=-1)
    out = builtin.to_network(lin)
    assert out.dtype == np.float32 and out.shape == lin.shape
    np.testing.assert_allclose(out, srgb_encode(lin), atol=2e-4)


def test_round_trip_through_network_space_with_alpha_untouched(builtin: Colour) -> None:
    rng = np.random.default_rng(0)
    rgba = rng.random((16, 20, 4), dtype=np.float32)
    net = builtin.to_network(rgba, "Linear Rec.709 (sRGB)")
    assert net.min() >= 0.0 and net.max() <= 1.0
    np.testing.assert_array_equal(net[..., 3], rgba[..., 3])
    back = builtin.from_network(net, "Linear Rec.709 (sRGB)")
    np.testing.assert_allclose(back, rgba, atol=1e-4)
    np.testing.assert_array_equal(back[..., 3], rgba[..., 3])
    assert not np.shares_memory(net, rgba)


def test_acescg_plates_convert_through_their_own_primaries(builtin: Colour) -> None:
    rng = np.random.default_rng(1)
    rec709 = rng.uniform(0.02, 0.95, (8, 8, 3)).astype(np.float32)
    acescg = builtin.convert(rec709, "lin_rec709", "ACEScg")
    assert np.abs(acescg - rec709).max() > 0.01  # different primaries, really converted
    net_from_ap1 = builtin.to_network(acescg, "ACEScg")
    np.testing.assert_allclose(net_from_ap1, builtin.to_network(rec709), atol=1e-4)
    np.testing.assert_allclose(builtin.from_network(net_from_ap1, "ACEScg"), acescg, atol=2e-4)


def test_out_of_range_values_are_clipped_for_the_network(builtin: Colour) -> None:
    hot = np.array([[[4.0, -0.5, 0.18]]], np.float32)
    net = builtin.to_network(hot)
    assert net[0, 0, 0] == 1.0 and net[0, 0, 1] == 0.0
    assert net[0, 0, 2] == pytest.approx(float(srgb_encode(np.float32(0.18))), abs=2e-4)
    back = builtin.from_network(np.array([[[1.5, -1.0, 1.0]]], np.float32))
    np.testing.assert_allclose(back, [[[1.0, 0.0, 1.0]]], atol=1e-4)


def test_bad_pixel_shapes(builtin: Colour) -> None:
    with pytest.raises(ColourError, match=r"3 \(RGB\) or 4 \(RGBA\) channels"):
        builtin.convert(np.zeros((4, 4, 2), np.float32), "ACEScg", "lin_rec709")
    with pytest.raises(ColourError, match="numeric"):
        builtin.convert(np.array([["a", "b", "c"]]), "ACEScg", "lin_rec709")


def test_ocio_environment_variable_is_honoured(tiny_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIO", str(tiny_config))
    colour = Colour()
    assert colour.config_name == str(tiny_config)
    assert colour.colour_spaces() == ["lin", "gam"]
    assert colour.default_input_space == "lin"  # no Linear Rec.709 here: the scene_linear role
    out = colour.convert(np.array([[0.25, 0.81, 0.0]], np.float32), "linear_tiny", "gam")
    np.testing.assert_allclose(out, [[0.5, 0.9, 0.0]], atol=1e-4)
    with pytest.raises(ColourError, match=r"no sRGB-encoded Rec\.709 colour space"):
        colour.to_network(np.zeros((1, 1, 3), np.float32))


def test_explicit_config_path_wins_over_environment(tiny_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIO", "/nowhere/missing.ocio")
    with pytest.raises(ColourError, match=r"cannot load OCIO config '/nowhere/missing.ocio' \(from \$OCIO"):
        Colour()
    colour = Colour(str(tiny_config), network_space="sqrt_tiny")
    assert colour.network_space == "gam"
    rgba = np.array([[[0.25, 0.04, 1.0, 0.3]]], np.float32)
    net = colour.to_network(rgba)
    np.testing.assert_allclose(net, [[[0.5, 0.2, 1.0, 0.3]]], atol=1e-4)
    np.testing.assert_allclose(colour.from_network(net), rgba, atol=1e-4)


def test_other_builtin_configs_and_bad_configs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OCIO", raising=False)
    older = Colour("ocio://cg-config-v1.0.0_aces-v1.3_ocio-v2.1")
    assert older.network_space == "sRGB - Texture"
    assert older.default_input_space == "Linear Rec.709 (sRGB)"
    with pytest.raises(ColourError, match="cannot load OCIO config 'ocio://no-such-config'"):
        Colour("ocio://no-such-config")
    broken = tmp_path / "broken.ocio"
    broken.write_text("this: [is not an ocio config")
    with pytest.raises(ColourError, match=r"broken\.ocio"):
        Colour(str(broken))
    with pytest.raises(ColourError, match="unknown colour space 'nope'"):
        Colour(input_space="nope")
