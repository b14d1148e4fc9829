"""The client side's layout holds: every module of plugin/ned_plugin and nodes/ sits in a layer, imports
point only down, and nothing imports in a circle (the server side has its own twin of this test).

Layers, bottom up: the media core (EXR codec, colour, sequences, chunking, landmark files, the
parameter table, the wire stubs and their one EmotionControl builder) that the server uses too;
the client (``client``); the host runtime (``host/``) that the nodes share; the commands (``cli``,
``batch``, ``farm_cli``, ``farm_jobs``); and the nodes (Nuke, Blender), which may use any of it. Imports are
read from the source (including those inside functions), so an import made late to dodge a cycle
still counts.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "plugin"
PACKAGE_ROOTS = {  # folder holding top-level packages/modules -> the layer name of its modules
    PLUGIN: None,  # classified per module below
    ROOT / "nodes" / "nuke": "nodes",
    ROOT / "nodes" / "blender": "nodes",
}
MEDIA = {"ned_plugin", "ned_plugin.exr", "ned_plugin.colour", "ned_plugin.sequence", "ned_plugin.chunks",
         "ned_plugin.landmarks_io", "ned_plugin.parameters", "ned_plugin.files", "ned_plugin.plate_files",
         "ned_plugin.slider_keys", "ned_plugin.preview", "ned_plugin.qc_files"}
CLIENT = {"ned_plugin.client", "ned_plugin.watchdog"}
HOST_HELPERS = {"ned_plugin.colour_choice", "ned_plugin.face_thumbnails"}  # the nodes' alone, beside host/
COMMANDS = {"ned_plugin.cli", "ned_plugin.batch", "ned_plugin.farm_cli", "ned_plugin.farm_jobs"}
ORDER = ["media", "client", "host", "commands", "nodes"]
# What each layer may import from ours: its own layer and those below it.
ALLOWED = {layer: set(ORDER[: i + 1]) for i, layer in enumerate(ORDER)}


def _layer(module: str, root_layer: str | None) -> str:
    if root_layer is not None:
        return root_layer
    if module in MEDIA or module == "ned_plugin.wire" or module.startswith("ned_plugin.wire."):
        return "media"
    if module in CLIENT:
        return "client"
    if module == "ned_plugin.host" or module.startswith("ned_plugin.host.") or module in HOST_HELPERS:
        return "host"
    if module in COMMANDS:
        return "commands"
    raise AssertionError(f"{module} is in no layer: add it to MEDIA, CLIENT or COMMANDS in {__file__}")


def _modules() -> dict[str, tuple[Path, str]]:
    """module name -> (file, layer) for every .py of the client side."""
    found: dict[str, tuple[Path, str]] = {}
    for root, root_layer in PACKAGE_ROOTS.items():
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join(parts)
            found[name] = (path, _layer(name, root_layer))
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Modules of ours that ``name`` imports anywhere in its source (relative imports resolved)."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".") if package else []
                base_parts = base_parts[: len(base_parts) - (node.level - 1)] if node.level > 1 else base_parts
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        for target in targets:
            # the longest of our modules that the import names (``import a.b.c`` imports a.b.c)
            parts = target.split(".")
            for cut in range(len(parts), 0, -1):
                candidate = ".".join(parts[:cut])
                if candidate in MODULES:
                    if candidate != name:
                        out.add(candidate)
                    break
    return out


GRAPH = {name: _imports(name, path) for name, (path, _) in MODULES.items()}


def test_every_module_is_found_and_placed() -> None:
    layers = {layer for _, layer in MODULES.values()}
    assert {"media", "client", "host", "commands", "nodes"} <= layers
    assert {"ned_plugin.host.controls", "ned_plugin.host.keys", "ned_plugin.host.plates",
            "ned_plugin.host.background", "ned_plugin.host.messages", "ned_plugin.wire.controls",
            "ned_nuke.director", "ned_vse.operators"} <= MODULES.keys()
    assert "ned_plugin.host" in GRAPH["ned_nuke.director"] or any(
        m.startswith("ned_plugin.host.") for m in GRAPH["ned_nuke.director"])


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("ned_plugin")))
def test_every_plugin_module_imports(name: str) -> None:
    importlib.import_module(name)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("ned_nuke")))
def test_every_nuke_module_imports_with_the_fake_nuke(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Nuke node's modules import (against tests/nodes_fakes/nuke.py); Blender's need bpy, so
    tests/test_nodes_blender.py imports them inside Blender, and here they are only read."""
    for folder in (ROOT / "tests" / "nodes_fakes", ROOT / "nodes" / "nuke"):
        monkeypatch.syspath_prepend(str(folder))
    importlib.import_module(name)


def test_imports_point_down_only() -> None:
    wrong = [f"{name} ({MODULES[name][1]}) imports {target} ({MODULES[target][1]})"
             for name, targets in GRAPH.items() for target in sorted(targets)
             if MODULES[target][1] not in ALLOWED[MODULES[name][1]]]
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_the_media_core_never_imports_the_client() -> None:
    media = [n for n, (_, layer) in MODULES.items() if layer == "media"]
    assert {"ned_plugin.sequence", "ned_plugin.exr", "ned_plugin.wire", "ned_plugin.chunks"} <= set(media)
    for name in media:
        assert all(MODULES[t][1] == "media" for t in GRAPH[name]), (name, GRAPH[name])


def test_the_client_side_never_imports_the_server_or_torch() -> None:
    for name, (path, _) in MODULES.items():
        source = ast.parse(path.read_text())
        for node in ast.walk(source):
            roots = ([a.name.split(".")[0] for a in node.names] if isinstance(node, ast.Import)
                     else [(node.module or "").split(".")[0]] if isinstance(node, ast.ImportFrom) and not node.level
                     else [])
            assert "ned_server" not in roots and "torch" not in roots, f"{name} imports {roots}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]  # the checker sees one
    assert _cycles(GRAPH) == []


def test_emotion_control_is_built_in_one_place() -> None:
    """Hosts and the CLI both describe the emotion through ned_plugin.wire.controls, so they cannot drift."""
    builders = [name for name, (path, _) in MODULES.items() if "pb.EmotionControl(" in path.read_text()]
    assert builders == ["ned_plugin.wire.controls"]
    assert "ned_plugin.wire.controls" in GRAPH["ned_plugin.batch"]
    assert "ned_plugin.wire.controls" in GRAPH["ned_plugin.host.keys"]
