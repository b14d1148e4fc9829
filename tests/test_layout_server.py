"""The server's layering, read from the source: arrows point down only, and nothing forms a cycle.

api -> orchestration -> (config) -> stages -> runtime -> foundation (errors, domains) and the media
core of ned_plugin. The synthetic world (actor, procedural head, demo) sits apart: the pipeline
never imports it; only the CLIs that offer synthetic data on purpose (train-manipulator
--synthetic, train-renderer --toy-actor) and the tests do. Static (AST) so that a lazy import
inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("tracking", "manipulator", "renderer", "conditioning", "composite", "face3d")
CLIENT_PROPER = ("ned_plugin.client", "ned_plugin.cli", "ned_plugin.batch", "ned_plugin.host")
MEDIA_CORE = ("ned_plugin.exr", "ned_plugin.colour", "ned_plugin.sequence", "ned_plugin.chunks",
              "ned_plugin.landmarks_io", "ned_plugin.parameters", "ned_plugin.wire", "ned_plugin.files",
              "ned_plugin.plate_files")
# Allowed to reach ned_server.synthetic besides the synthetic package itself.
SYNTHETIC_USERS = ("ned_server.api.train_manipulator", "ned_server.api.train_renderer")


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: inside its own package (the server's tree uses none, see below)
                continue
            if node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in ("ned_server", "ned_plugin")}


def _server_modules() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in (ROOT / "ned_server").rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        graph[name] = {m for m in _imports(path) if m in modules or m.startswith("ned_plugin")}
    return graph


GRAPH = _server_modules()


def layer(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "ned_plugin":
        return "media" if module == "ned_plugin" or module.startswith(MEDIA_CORE) else "client"
    if len(parts) == 1 or parts[1] in ("errors", "domains"):
        return "foundation"
    if parts[1] in STAGES:
        return "stage"
    return parts[1]  # api, orchestration, config, runtime, synthetic


RANK = {"foundation": 0, "media": 0, "runtime": 1, "stage": 2, "config": 3, "orchestration": 4, "api": 5}


def test_the_layers_are_the_ones_the_design_names() -> None:
    assert {layer(m) for m in GRAPH} == {"foundation", "runtime", "stage", "config", "orchestration", "api",
                                         "synthetic"}


def violations(graph: dict[str, set[str]], module: str) -> list[str]:
    """What is wrong with ``module``'s imports under the layering rules (empty when it is fine)."""
    mine, out = layer(module), []
    for target in sorted(graph[module]):
        theirs = layer(target)
        if theirs == "synthetic":
            if mine != "synthetic" and module not in SYNTHETIC_USERS:
                out.append(f"{module} imports {target}: the pipeline must not reach the synthetic world")
        elif theirs == "client":
            if module != "ned_server.synthetic.demo":  # the demo is a client of the server it starts
                out.append(f"{module} imports {target}: the server uses the media core, never the client")
        elif mine == "synthetic" or mine == theirs or (mine == "foundation" and theirs == "media"):
            continue
        elif RANK[theirs] >= RANK[mine]:
            out.append(f"{module} ({mine}) imports {target} ({theirs}): an arrow pointing up")
    return out


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of the graph, or []."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return []

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return []


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_arrows_point_down(module: str) -> None:
    assert violations(GRAPH, module) == []


def test_no_import_cycles() -> None:
    assert cycle(GRAPH) == []


def test_the_server_uses_absolute_imports() -> None:
    for path in (ROOT / "ned_server").rglob("*.py"):
        tree = ast.parse(path.read_text())
        relative = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]
        assert not relative, f"{path}: relative imports at lines {relative}; the server's modules import absolutely"


def test_the_media_core_never_imports_the_server() -> None:
    for path in (ROOT / "plugin" / "ned_plugin").rglob("*.py"):
        assert not any(m.startswith("ned_server") for m in _imports(path)), f"{path} imports the server"


def test_the_rules_can_fail() -> None:
    """Each rule is only worth something if it can fail: fed a bad graph, it must say so."""
    bad = {
        "ned_server.tracking.track": {"ned_server.orchestration.facade", "ned_server.synthetic.actor"},
        "ned_server.runtime.store": {"ned_plugin.client"},
        "ned_server.orchestration.facade": {"ned_server.tracking.track"},
        "ned_server.api.train_manipulator": {"ned_server.synthetic.datasets"},
    }
    assert len(violations(bad, "ned_server.tracking.track")) == 2
    assert violations(bad, "ned_server.runtime.store") and not violations(bad, "ned_server.orchestration.facade")
    assert not violations(bad, "ned_server.api.train_manipulator")
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) == []
