"""Colour on OpenColorIO: the plate's scene-linear space <-> the networks' display-encoded sRGB.

Plates arrive scene-linear and leave scene-linear; the networks (landmarks, renderer) were trained
on display-encoded sRGB in [0, 1]. The request names the plate's colour space and, optionally, the
OCIO config; with no config the one in $OCIO is used, and with no $OCIO OCIO's built-in
``ocio://default`` (the ACES CG config), so a studio's own config and names work unchanged.

Default input space: "Linear Rec.709 (sRGB)" when the config has it, else the ``scene_linear``
role. Not simply ``scene_linear``, because the built-in config sets that role to ACEScg while plates
written by Nuke's default (and most camera-plate pipelines outside ACES) are linear Rec.709
primaries; guessing ACEScg for them would shift every hue the network sees.

Plates named in another config (the host's: Nuke's script config, Blender's own) are converted
through OCIO's interchange roles (``GetProcessorFromConfigs``, OCIO 2.2+) into this config's
network space, and back into the host's space on the way out: see :class:`PlateColour`.

Pixels are converted as given, per pixel: a non-linear conversion of premultiplied pixels is only
exact where alpha is 0 or 1, so unpremultiply first where that matters. Alpha is passed through
untouched.
"""

from __future__ import annotations

import difflib
import os
import threading
from collections.abc import Callable

import numpy as np
import PyOpenColorIO as ocio

DEFAULT_CONFIG = "ocio://default"
# Tried in order for the networks' space; the first names are the built-in configs', the later ones
# the names studio and legacy configs use for the same sRGB-encoded Rec.709 texture space.
NETWORK_SPACE_CANDIDATES = (
    "sRGB Encoded Rec.709 (sRGB)", "srgb_tx", "sRGB - Texture", "Utility - sRGB - Texture",
    "srgb_texture", "sRGB", "srgb",
)
INPUT_SPACE_CANDIDATES = ("Linear Rec.709 (sRGB)", "lin_rec709_srgb", "lin_rec709", "Utility - Linear - sRGB")
# Names hosts give spaces that OCIO's built-in configs call otherwise (Blender's own config, Nuke's
# nuke-default). Used only when the host's config cannot be read where the conversion runs and the
# name is unknown to the server's config; Blender's display-referred looks (Filmic, AgX) have no
# equivalent there and are refused rather than guessed.
HOST_SPACE_NAMES = {
    "linear rec.709": "Linear Rec.709 (sRGB)",  # Blender 4
    "linear": "Linear Rec.709 (sRGB)",  # Blender 2.8-3.x, nuke-default
    "srgb": "sRGB Encoded Rec.709 (sRGB)",  # Blender, nuke-default (the texture curve, not a display)
    "non-color": "Raw",  # Blender
    "linear rec.2020": "Linear Rec.2020",  # Blender 4
}


class ColourError(ValueError):
    """An OCIO config that cannot be loaded, an unknown colour space, or pixels of the wrong shape."""


class Colour:
    """Conversions within one OCIO config, with processors cached per (src, dst) pair.

    ``config``: None -> $OCIO if set, else ``ocio://default``; also any ``ocio://`` built-in URI or
    a path to a .ocio file. ``network_space``/``input_space`` override the defaults described in
    the module docstring. Safe to share between threads.
    """

    def __init__(self, config: str | None = None, *, network_space: str | None = None,
                 input_space: str | None = None) -> None:
        source = "given"
        if not config:
            env = os.environ.get("OCIO", "").strip()
            config, source = (env, "$OCIO") if env else (DEFAULT_CONFIG, "built-in")
        self.config_name: str = config
        try:
            self.config: ocio.Config = ocio.Config.CreateFromFile(config)
        except Exception as exc:  # OCIO raises its own Exception type for every failure
            hint = f" (from {source} OCIO config)" if source == "$OCIO" else ""
            raise ColourError(
                f"cannot load OCIO config {config!r}{hint}: {_short(exc)}; give a path to a .ocio file "
                f"or a built-in URI such as {DEFAULT_CONFIG}"
            ) from None
        self._processors: dict[tuple[str, str], ocio.CPUProcessor] = {}
        self._lock = threading.Lock()
        self._network_override = network_space
        self.default_input_space: str = (
            self.resolve(input_space) if input_space else self._default_input_space()
        )
        if network_space:
            self.resolve(network_space)  # fail early on a bad name

    # ------------------------------------------------------------------ names
    def colour_spaces(self) -> list[str]:
        """Every colour space of the config, canonical names, in the config's order."""
        return [cs.getName() for cs in self.config.getColorSpaces()]

    def find(self, name: str) -> str | None:
        """A colour space's canonical name from its name, an alias or a role; None when unknown."""
        return self._find(name.strip()) if isinstance(name, str) and name.strip() else None

    def _find(self, name: str) -> str | None:
        canonical = self.config.getCanonicalName(name)
        if canonical:
            return canonical
        cs = self.config.getColorSpace(name)
        return cs.getName() if cs is not None else None

    def resolve(self, name: str) -> str:
        """A colour space's canonical name from its name, an alias or a role (case-insensitive)."""
        if not isinstance(name, str) or not name.strip():
            raise ColourError(f"empty colour space name; the config {self.config_name!r} has "
                              f"{', '.join(self.colour_spaces()[:8])}, ...")
        found = self._find(name.strip())
        if found:
            return found
        raise ColourError(f"unknown colour space {name!r} in OCIO config {self.config_name!r}{self._suggest(name)}")

    def _suggest(self, name: str) -> str:
        canonical = self.colour_spaces()
        names = list(canonical)
        for cs in self.config.getColorSpaces():
            names.extend(cs.getAliases())
        names.extend(role for role, _ in self.config.getRoles())
        query = name.strip().lower()
        lowered = {n.lower(): n for n in reversed(names)}  # first spelling wins
        close = [n.lower() for n in canonical if query in n.lower()]
        close += [c for c in difflib.get_close_matches(query, list(lowered), n=6, cutoff=0.5) if c not in close]
        if close:
            return "; close matches: " + ", ".join(repr(lowered[c]) for c in close[:6])
        return "; colour spaces: " + ", ".join(canonical[:12]) + (", ..." if len(canonical) > 12 else "")

    def _default_input_space(self) -> str:
        for candidate in INPUT_SPACE_CANDIDATES:
            found = self._find(candidate)
            if found:
                return found
        for role in ("scene_linear", "default"):
            if self.config.hasRole(role):
                found = self._find(role)
                if found:
                    return found
        spaces = self.colour_spaces()
        if not spaces:
            raise ColourError(f"OCIO config {self.config_name!r} has no colour spaces")
        return spaces[0]

    @property
    def network_space(self) -> str:
        """The config's sRGB-encoded Rec.709 space, which the networks see."""
        if self._network_override:
            return self.resolve(self._network_override)
        for candidate in NETWORK_SPACE_CANDIDATES:
            found = self._find(candidate)
            if found:
                return found
        if self.config.hasRole("texture_paint"):
            return self.resolve("texture_paint")
        raise ColourError(
            f"OCIO config {self.config_name!r} has no sRGB-encoded Rec.709 colour space (tried "
            f"{', '.join(NETWORK_SPACE_CANDIDATES)}); name the networks' space explicitly"
        )

    # ------------------------------------------------------------------ conversion
    def _processor(self, src: str, dst: str) -> ocio.CPUProcessor:
        key = (src, dst)
        with self._lock:
            proc = self._processors.get(key)
            if proc is None:
                try:
                    proc = self.config.getProcessor(src, dst).getDefaultCPUProcessor()
                except Exception as exc:
                    raise ColourError(f"OCIO cannot convert {src!r} -> {dst!r}: {_short(exc)}") from None
                self._processors[key] = proc
        return proc

    def convert(self, pixels: np.ndarray, src: str, dst: str) -> np.ndarray:
        """(..., 3 or 4) pixels from ``src`` to ``dst`` as a new float32 array; alpha untouched."""
        arr = np.asarray(pixels)
        if arr.ndim < 1 or arr.shape[-1] not in (3, 4):
            raise ColourError(f"pixels must have 3 (RGB) or 4 (RGBA) channels last, got shape {arr.shape}")
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise ColourError(f"pixels must be numeric, got {arr.dtype}")
        src_name, dst_name = self.resolve(src), self.resolve(dst)
        rgb = np.ascontiguousarray(arr[..., :3], dtype=np.float32).copy()
        if src_name != dst_name and rgb.size:
            flat = rgb.reshape(-1, 3)
            self._processor(src_name, dst_name).applyRGB(flat)
            rgb = flat.reshape(rgb.shape)
        if arr.shape[-1] == 4:
            return np.concatenate([rgb, arr[..., 3:].astype(np.float32)], axis=-1)
        return rgb

    def to_network(self, pixels: np.ndarray, scene_linear_space: str | None = None) -> np.ndarray:
        """Scene-linear -> the networks' display-encoded sRGB, clipped to [0, 1].

        Negative and >1 values are clipped because the networks were trained on [0, 1] images;
        highlights above display white are lost here, which is why only the face region the
        renderer replaces ever comes back from the network.
        """
        out = self.convert(pixels, scene_linear_space or self.default_input_space, self.network_space)
        np.clip(out[..., :3], 0.0, 1.0, out=out[..., :3])
        return out

    def from_network(self, pixels: np.ndarray, scene_linear_space: str | None = None) -> np.ndarray:
        """The networks' display-encoded sRGB (clipped to [0, 1] first) -> scene-linear."""
        arr = np.array(pixels, dtype=np.float32)
        if arr.ndim >= 1 and arr.shape[-1] in (3, 4):
            np.clip(arr[..., :3], 0.0, 1.0, out=arr[..., :3])
        return self.convert(arr, self.network_space, scene_linear_space or self.default_input_space)


class PlateColour:
    """A plate's colour space in the host's config, against the networks' sRGB in the server's config.

    ``working`` is the server's config (the networks' space is found there); ``source`` is the config
    the plate's space is named in (the host's), the same object when the host named none. When the
    two configs differ, pixels cross between them through OCIO's interchange roles
    (``aces_interchange`` for scene-referred spaces), so an ACEScg plate of an ACES show and a
    Blender "Linear Rec.709" strip both reach the networks as the same sRGB and come back in their
    own space. A host config without those roles (an OCIO v1 config) falls back to converting inside
    the host config itself when it has an sRGB texture space. Safe to share between threads.
    """

    def __init__(self, working: Colour, source: Colour, space: str) -> None:
        self.working, self.source = working, source
        self.space = source.resolve(space)
        self._procs: dict[bool, ocio.CPUProcessor] = {}
        self._lock = threading.Lock()
        self._processor(False)  # fail now, before any frame is read, when the configs cannot meet

    @property
    def same_config(self) -> bool:
        return self.source is self.working or self.source.config_name == self.working.config_name

    def _processor(self, back: bool) -> ocio.CPUProcessor:
        with self._lock:
            proc = self._procs.get(back)
            if proc is not None:
                return proc
        if self.same_config:
            net = self.working.network_space
            proc = self.working._processor(*((net, self.space) if back else (self.space, net)))
        else:
            proc = self._bridge(back)
        with self._lock:
            self._procs[back] = proc
        return proc

    def _bridge(self, back: bool) -> ocio.CPUProcessor:
        src = (self.source.config, self.space)
        dst = (self.working.config, self.working.network_space)
        if back:
            src, dst = dst, src
        try:
            return ocio.Config.GetProcessorFromConfigs(src[0], src[1], dst[0], dst[1]).getDefaultCPUProcessor()
        except Exception as exc:
            try:  # an OCIO v1 config has no interchange roles: stay inside it when it can reach the sRGB
                net = self.source.network_space
                return self.source._processor(*((net, self.space) if back else (self.space, net)))
            except ColourError:
                pass
            raise ColourError(
                f"OCIO cannot convert {self.space!r} of config {self.source.config_name!r} to the server's config "
                f"{self.working.config_name!r}: {_short(exc)}; give the host config the aces_interchange role, "
                "or pick a colour space of the server's config") from None

    def _apply(self, pixels: np.ndarray, back: bool) -> np.ndarray:
        arr = np.asarray(pixels)
        if arr.ndim < 1 or arr.shape[-1] not in (3, 4):
            raise ColourError(f"pixels must have 3 (RGB) or 4 (RGBA) channels last, got shape {arr.shape}")
        rgb = np.ascontiguousarray(arr[..., :3], dtype=np.float32).copy()
        if back:
            np.clip(rgb, 0.0, 1.0, out=rgb)
        if rgb.size:
            flat = rgb.reshape(-1, 3)
            self._processor(back).applyRGB(flat)
            rgb = flat.reshape(rgb.shape)
        if not back:
            np.clip(rgb, 0.0, 1.0, out=rgb)
        if arr.shape[-1] == 4:
            return np.concatenate([rgb, arr[..., 3:].astype(np.float32)], axis=-1)
        return rgb

    def to_network(self, linear: np.ndarray) -> np.ndarray:
        """The plate's pixels -> the networks' display-encoded sRGB in [0, 1] (see Colour.to_network)."""
        return self._apply(linear, back=False)

    def from_network(self, srgb: np.ndarray) -> np.ndarray:
        """The networks' sRGB (clipped to [0, 1]) -> the plate's own space in the host's config."""
        return self._apply(srgb, back=True)


def host_space_candidates(name: str, builtin_names: bool = True) -> list[str]:
    """The names a host's space may go by: itself, Nuke's "default (X)" and "Family/X" spellings,
    and (``builtin_names``) the built-in configs' name for Blender's and nuke-default's spaces."""
    name = name.strip()
    out = [name]
    if name.lower().startswith("default (") and name.endswith(")"):
        out.append(name[len("default ("):-1].strip())
    out += [n.rsplit("/", 1)[-1].strip() for n in list(out) if "/" in n]
    if builtin_names:
        out += [HOST_SPACE_NAMES[n.lower()] for n in list(out) if n.lower() in HOST_SPACE_NAMES]
    return list(dict.fromkeys(n for n in out if n))


def plate_colour(working: Colour, load: Callable[[str], Colour], config: str, space: str) -> PlateColour:
    """The conversion for a request naming the plate's ``space`` in the host's ``config``.

    The space is looked up in the host's config first (``load(config)``; the server's own when the
    host named none), then in the server's config (the artist picked it from GetInfo's list, or the
    host's config cannot be read on the server: a path on the artist's machine). A space unknown to
    both raises ColourError naming both configs and the close matches, before any pixel is touched.
    """
    config, name = (config or "").strip(), (space or "").strip()
    source: Colour | None = working
    load_error = ""
    if config and config != working.config_name:
        try:
            source = load(config)
        except ColourError as exc:
            source, load_error = None, str(exc)
    if source is not None:
        if not name:
            return PlateColour(working, source, source.default_input_space)
        for candidate in host_space_candidates(name, builtin_names=False):
            found = source.find(candidate)
            if found:
                return PlateColour(working, source, found)
    if not name:
        return PlateColour(working, working, working.default_input_space)
    for candidate in host_space_candidates(name):
        found = working.find(candidate)
        if found:
            return PlateColour(working, working, found)
    where = f"the host's OCIO config {config!r} and " if config and source is not None else ""
    why = f" (and the server cannot use the host's config: {load_error})" if load_error else ""
    raise ColourError(
        f"colour space {name!r} is unknown to {where}the server's OCIO config {working.config_name!r}{why}"
        f"{working._suggest(name)}; pick a colour space from the node's menu (the server's) or fix the "
        "source's colour space")


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."
