"""A small fake of Nuke's ``nuke`` module: just what ned_nuke.nuke_api calls, with real-like behaviour.

Nuke is commercial and cannot be installed here. This fake keeps the parts of Nuke's model the
node relies on (groups with their own node context, knobs with flags and keyframes, enumeration
values, Read/Merge/Write nodes, ProgressTask, executeInMainThread's queue) and records what a
test needs to assert (messages, progress, executed renders). ``reset()`` starts a new script.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

GUI = True
EXE_PATH = "/opt/Nuke15.1v1/Nuke15.1"
STARTLINE = 0x1000
NO_ANIMATION = 0x100
INVISIBLE = 0x400

messages: list[str] = []
progress_tasks: list[ProgressTask] = []
executed: list[tuple[str, int, int]] = []
# Called as render_hook(write_node, frame) by execute(); tests install one that writes files.
render_hook: Callable[[Node, int], None] | None = None
_main_queue: list[tuple[Callable, tuple]] = []
_queue_lock = threading.Condition()
_main_thread = threading.main_thread()


# ============================================================================ knobs
class Knob:
    def __init__(self, name: str, label: str = "", value: Any = "") -> None:
        self._name, self._label = name, label or name
        self._value = value
        self._flags = 0
        self._tooltip = ""
        self._keys: dict[float, float] = {}

    def name(self) -> str:
        return self._name

    def label(self) -> str:
        return self._label

    def value(self) -> Any:
        return self._value

    def getValue(self) -> Any:
        return self._value

    def setValue(self, value: Any) -> bool:
        _check_thread()
        self._value = value
        return True

    def setTooltip(self, text: str) -> None:
        self._tooltip = text

    def tooltip(self) -> str:
        return self._tooltip

    def setLabel(self, label: str) -> None:
        self._label = label

    def setFlag(self, flag: int) -> None:
        self._flags |= flag

    def clearFlag(self, flag: int) -> None:
        self._flags &= ~flag

    def getFlag(self, flag: int) -> bool:
        return bool(self._flags & flag)

    def isAnimated(self) -> bool:
        return False

    def execute(self) -> None:
        pass


class Tab_Knob(Knob):
    pass


class Text_Knob(Knob):
    def __init__(self, name: str, label: str = "", text: str = "") -> None:
        super().__init__(name, label, text)


class String_Knob(Knob):
    def __init__(self, name: str, label: str = "", text: str = "") -> None:
        super().__init__(name, label, text)


class Password_Knob(String_Knob):
    pass


class File_Knob(String_Knob):
    pass


class Boolean_Knob(Knob):
    def __init__(self, name: str, label: str = "", value: bool = False) -> None:
        super().__init__(name, label, bool(value))


class PyScript_Knob(Knob):
    def __init__(self, name: str, label: str = "", command: str = "") -> None:
        super().__init__(name, label, command)
        self.command = command

    def execute(self) -> None:
        exec(self.command, {"nuke": __import__(__name__)})


class Array_Knob(Knob):
    """Numbers that can be keyed: linear interpolation between keys, held outside them."""

    _cast: Callable[[Any], Any] = float

    def __init__(self, name: str, label: str = "", value: float = 0) -> None:
        super().__init__(name, label, self._cast(value))
        self._range = (0.0, 1.0)

    def setValue(self, value: Any) -> bool:
        _check_thread()
        if self._keys:
            raise RuntimeError(f"{self._name} is animated: use setValueAt")
        self._value = self._cast(value)
        return True

    def setRange(self, minimum: float, maximum: float) -> None:
        self._range = (minimum, maximum)

    def range(self) -> tuple[float, float]:
        return self._range

    def setAnimated(self) -> None:
        if self._flags & NO_ANIMATION:
            raise RuntimeError(f"{self._name} cannot be animated")
        self._keys.setdefault(0.0, float(self._value))

    def setValueAt(self, value: float, time: float) -> bool:
        if self._flags & NO_ANIMATION:
            raise RuntimeError(f"{self._name} cannot be animated")
        if not self._keys:
            self._keys = {}
        self._keys[float(time)] = float(value)
        return True

    def clearAnimated(self) -> None:
        self._keys.clear()

    def isAnimated(self) -> bool:
        return bool(self._keys)

    def getValueAt(self, time: float) -> Any:
        if not self._keys:
            return self._value
        times = sorted(self._keys)
        if time <= times[0]:
            return self._cast(self._keys[times[0]])
        if time >= times[-1]:
            return self._cast(self._keys[times[-1]])
        for a, b in itertools.pairwise(times):
            if a <= time <= b:
                t = (time - a) / (b - a)
                return self._cast(self._keys[a] + (self._keys[b] - self._keys[a]) * t)
        raise AssertionError

    def value(self) -> Any:
        return self.getValueAt(root()._frame) if self._keys else self._value


class Double_Knob(Array_Knob):
    _cast = float


class Int_Knob(Array_Knob):
    _cast = int


class Enumeration_Knob(Knob):
    def __init__(self, name: str, label: str = "", values: list[str] | None = None) -> None:
        values = list(values or [])
        super().__init__(name, label, values[0] if values else "")
        self._values = values

    def values(self) -> list[str]:
        return list(self._values)

    def setValues(self, values: list[str]) -> None:
        self._values = list(values)
        if self._value not in self._values:
            self._value = self._values[0] if self._values else ""

    def setValue(self, value: Any) -> bool:
        _check_thread()
        if isinstance(value, int) and not isinstance(value, bool):
            value = self._values[value]
        if value not in self._values:
            raise ValueError(f"{self._name}: {value!r} is not one of {self._values}")
        self._value = value
        return True


# ============================================================================ nodes
class Node:
    def __init__(self, cls: str, parent: Node | None, **knob_values: Any) -> None:
        self._class = cls
        self._parent = parent
        self._inputs: dict[int, Node | None] = {}
        self._knobs: dict[str, Knob] = {"name": String_Knob("name", "name", "")}
        for name, default in _CLASS_KNOBS.get(cls, {}).items():
            self._knobs[name] = _make_default_knob(name, default)
        self._children: list[Node] = []
        self.first_frame, self.last_frame = 1, 1
        name = knob_values.pop("name", None) or _unique(parent, cls)
        self._knobs["name"]._value = name
        for key, value in knob_values.items():
            self[key].setValue(value)
        if parent is not None:
            parent._children.append(self)

    # identity
    def name(self) -> str:
        return self._knobs["name"].value()

    def setName(self, name: str, uncollide: bool = True, updateExpressions: bool = False) -> None:
        taken = {n.name() for n in (self._parent._children if self._parent else []) if n is not self}
        if name in taken:
            if not uncollide:
                raise ValueError(f"name {name} is taken")
            name = _unique(self._parent, name.rstrip("0123456789"))
        self._knobs["name"]._value = name

    def Class(self) -> str:
        return self._class

    def fullName(self) -> str:
        parent = self._parent
        if parent is None or parent is _root:
            return self.name()
        return f"{parent.fullName()}.{self.name()}"

    # knobs
    def knobs(self) -> dict[str, Knob]:
        return dict(self._knobs)

    def knob(self, name: str) -> Knob | None:
        return self._knobs.get(name)

    def addKnob(self, knob: Knob) -> None:
        _check_thread()
        if knob.name() in self._knobs:
            raise ValueError(f"{self.name()} already has a knob {knob.name()}")
        self._knobs[knob.name()] = knob

    def removeKnob(self, knob: Knob) -> None:
        del self._knobs[knob.name()]

    def __getitem__(self, name: str) -> Knob:
        try:
            return self._knobs[name]
        except KeyError:
            raise NameError(f"knob {name} does not exist") from None

    # graph
    def setInput(self, index: int, node: Node | None) -> bool:
        _check_thread()
        self._inputs[index] = node
        return True

    def input(self, index: int) -> Node | None:
        return self._inputs.get(index)

    def dependencies(self) -> list[Node]:
        return [n for n in self._inputs.values() if n is not None]

    def firstFrame(self) -> int:
        if self._class == "Read":
            return int(self["first"].value())
        return self.first_frame

    def lastFrame(self) -> int:
        if self._class == "Read":
            return int(self["last"].value())
        return self.last_frame

    # groups
    def begin(self) -> None:
        _context.append(self)

    def end(self) -> None:
        assert _context[-1] is self, "end() without matching begin()"
        _context.pop()

    def nodes(self) -> list[Node]:
        return list(self._children)

    def __repr__(self) -> str:
        return f"<fake {self._class} {self.name()}>"


_CLASS_KNOBS: dict[str, dict[str, Any]] = {
    "Read": {"file": "", "first": 1, "last": 1, "origfirst": 1, "origlast": 1, "frame": "",
             "premultiplied": False, "on_error": "error", "reload": None, "colorspace": "default"},
    "Write": {"file": "", "file_type": "", "channels": "rgb"},
    "Merge2": {"operation": "over", "also_merge": "none", "mix": 1.0},
    "STMap": {"uv": "rgb", "channels": "rgba", "filter": "Cubic"},
    "Copy": {"from0": "", "to0": ""},
    "Premult": {},
    "Shuffle": {"in": "rgba"},
    "Group": {"help": "", "tile_color": 0},
    "Input": {},
    "Output": {},
}


def _make_default_knob(name: str, default: Any) -> Knob:
    if default is None:
        return PyScript_Knob(name, name, "")
    if name == "on_error":
        knob = Enumeration_Knob(name, name, ["error", "black", "checkerboard", "nearest frame"])
        knob._value = default
        return knob
    if isinstance(default, bool):
        return Boolean_Knob(name, name, default)
    if isinstance(default, int):
        return Int_Knob(name, name, default)
    if isinstance(default, float):
        return Double_Knob(name, name, default)
    return String_Knob(name, name, default)


class _Root(Node):
    def __init__(self) -> None:
        super().__init__("Root", None, name="root")
        self.script_name = "Root"
        self._frame = 1
        self._colour_defaults()

    def _colour_defaults(self) -> None:
        """Nuke 15's colour knobs of a new script (Nuke's own colour management)."""
        for name in ("colorManagement", "OCIO_config", "customOCIOConfigPath", "workingSpaceLUT", "floatLut"):
            self._knobs.pop(name, None)
        self._knobs["colorManagement"] = Enumeration_Knob("colorManagement", "color management", ["Nuke", "OCIO"])
        self._knobs["OCIO_config"] = Enumeration_Knob("OCIO_config", "OpenColorIO config", [
            "nuke-default", "fn-nuke_cg-config-v1.0.0_aces-v1.3_ocio-v2.1", "aces_1.2", "custom"])
        self._knobs["customOCIOConfigPath"] = File_Knob("customOCIOConfigPath", "custom OCIO config")
        self._knobs["workingSpaceLUT"] = String_Knob("workingSpaceLUT", "working space", "linear")
        self._knobs["floatLut"] = String_Knob("floatLut", "float files", "linear")

    def name(self) -> str:  # Nuke: the script's path, "Root" while untitled
        return self.script_name


_root = _Root()
_context: list[Node] = []


def _current() -> Node:
    return _context[-1] if _context else _root


def _unique(parent: Node | None, base: str) -> str:
    taken = {n.name() for n in (parent._children if parent else [])}
    i = 1
    while f"{base}{i}" in taken:
        i += 1
    return f"{base}{i}"


class _NodeFactory:
    def __getattr__(self, cls: str) -> Callable[..., Node]:
        return lambda **knob_values: _new(cls, **knob_values)


nodes = _NodeFactory()


def _new(cls: str, **knob_values: Any) -> Node:
    _check_thread()
    return Node(cls, _current(), **knob_values)


def createNode(cls: str, knobs: str = "", inpanel: bool = True) -> Node:
    return _new(cls)


def root() -> _Root:
    return _root


def frame(value: int | None = None) -> int:
    """The current frame; nuke.frame(n) moves to frame n, as in Nuke."""
    if value is not None:
        _root._frame = int(value)
    return int(_root._frame)


plugin_paths: list[str] = []


def pluginAddPath(path: str) -> None:
    plugin_paths.append(path)


def toNode(name: str) -> Node | None:
    """A node by name in the current context, or by full path from the root ("root.Group1.Read1")."""
    _check_thread()
    parent: Node = _current()
    parts = name.split(".")
    if parts[0] == "root":
        parent, parts = _root, parts[1:]
    for i, part in enumerate(parts):
        found = next((n for n in parent._children if n.name() == part), None)
        if found is None or i == len(parts) - 1:
            return found
        parent = found
    return None


def allNodes(filter: str | None = None, group: Node | None = None) -> list[Node]:
    return [n for n in (group or _current())._children if filter is None or n.Class() == filter]


def delete(node: Node) -> None:
    node._parent._children.remove(node)


def filename(node: Node, type: int = 0) -> str:
    return node["file"].value()


_this: list[Node] = []


def thisNode() -> Node:
    return _this[-1]


def execute(node: Node, start: int, end: int, incr: int = 1) -> None:
    """Render a Write: calls ``render_hook(write, frame)`` for each frame (the test writes the file)."""
    _check_thread()
    if node.Class() != "Write":
        raise RuntimeError(f"{node.name()} cannot be executed")
    executed.append((node.name(), start, end))
    for frame in range(start, end + 1, incr):
        if render_hook is None:
            raise RuntimeError("Write failed: no render hook installed")
        render_hook(node, frame)


def message(text: str) -> None:
    messages.append(text)


# ============================================================================ threads and progress
def _check_thread() -> None:
    """Like Nuke, refuse changes to the node graph from a worker thread."""
    if threading.current_thread() is not _main_thread:
        raise RuntimeError("nuke: the node graph was touched outside the main thread")


def executeInMainThread(call: Callable, args: tuple = (), kwargs: dict | None = None) -> None:
    with _queue_lock:
        _main_queue.append((call, tuple(args) if isinstance(args, tuple | list) else (args,)))
        _queue_lock.notify_all()


def process_main_thread(timeout: float = 10.0, until: Callable[[], bool] | None = None) -> int:
    """Run queued main-thread calls (what Nuke's event loop does); wait up to `timeout` for `until`."""
    import time

    deadline = time.monotonic() + timeout
    ran = 0
    while True:
        with _queue_lock:
            batch = list(_main_queue)
            _main_queue.clear()
        for call, args in batch:
            call(*args)
            ran += 1
        if (until is None or until()) and (until is None or not _main_queue):
            return ran
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("nothing arrived for the main thread in time")
        with _queue_lock:
            _queue_lock.wait(min(remaining, 0.05))


class ProgressTask:
    def __init__(self, title: str) -> None:
        self.title = title
        self.messages: list[str] = []
        self.progress: list[int] = []
        self._cancelled = False
        progress_tasks.append(self)

    def setMessage(self, text: str) -> None:
        self.messages.append(text)

    def setProgress(self, percent: int) -> None:
        if not isinstance(percent, int) or not 0 <= percent <= 100:
            raise ValueError(f"progress must be an int 0..100, got {percent!r}")
        self.progress.append(percent)

    def isCancelled(self) -> bool:
        return self._cancelled

    def press_cancel(self) -> None:  # test helper: the artist clicks Cancel
        self._cancelled = True


# ============================================================================ menus
class Menu:
    def __init__(self, name: str) -> None:
        self.name = name
        self.items: dict[str, Any] = {}
        self.options: dict[str, Any] = {}
        self.command_options: dict[str, dict[str, Any]] = {}

    def addMenu(self, name: str, **kwargs: Any) -> Menu:
        menu = self.items.setdefault(name, Menu(name))
        menu.options.update(kwargs)
        return menu

    def addCommand(self, name: str, command: Any = None, shortcut: str = "", icon: str = "", tooltip: str = "",
                   **kwargs: Any) -> None:
        self.items[name] = command
        self.command_options[name] = {"shortcut": shortcut, "icon": icon, "tooltip": tooltip, **kwargs}


menus: dict[str, Menu] = {}


def menu(name: str) -> Menu:
    return menus.setdefault(name, Menu(name))


def reset(script: str = "Root") -> None:
    """A new, empty script (and no recorded messages, tasks or renders)."""
    global render_hook, GUI
    _root._children.clear()
    _root.script_name = script
    _root._frame = 1
    _root._colour_defaults()
    plugin_paths.clear()
    _context.clear()
    _this.clear()
    messages.clear()
    progress_tasks.clear()
    executed.clear()
    _main_queue.clear()
    menus.clear()
    render_hook = None
    GUI = True
