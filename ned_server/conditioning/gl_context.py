"""A headless OpenGL context for the conditioning shaders, living on a thread of its own.

The context comes from EGL first (no display server: Mesa's llvmpipe on a CPU box, the NVIDIA
driver's EGL on a GPU server), then from moderngl's default backend (GLX, needs a display).

A GL context is current on one thread at a time and EGL refuses to make it current elsewhere
while it still is on the thread that created it. The server calls the pipeline from gRPC and job
threads, so each context is owned by a ``GLThread`` that runs every GL call on its own worker
thread; callers on any thread hand it functions and wait for the result. One process-wide
``shared_gl_thread()`` serves every rasteriser by default: GL work on one device is serialised
by the driver anyway, and one context is cheaper than one per renderer.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import moderngl

T = TypeVar("T")

REQUIRED_GL = 330  # GLSL 3.30 core: texelFetch, noperspective, fragment output arrays, gl_PrimitiveID
DEFAULT_BACKENDS: tuple[str | None, ...] = ("egl", None)
DEVICE_ENV = "NED_EGL_DEVICE"

INSTALL_HINT = """\
The conditioning renderer needs an OpenGL 3.3 context without a display (EGL).
- Debian/Ubuntu without a GPU (Mesa software rendering, llvmpipe):
    apt-get install libegl1 libgl1-mesa-dri libegl-mesa0
- NVIDIA GPU servers: the NVIDIA driver's EGL library (libEGL_nvidia.so.0, shipped with the driver;
  in containers run with NVIDIA_DRIVER_CAPABILITIES including 'graphics'), plus libegl1 (glvnd).
- Check with:
    python -c "import moderngl; print(moderngl.create_standalone_context(backend='egl').info['GL_RENDERER'])"
  (or `eglinfo -B` from mesa-utils)."""


class GLUnavailableError(RuntimeError):
    """No usable OpenGL context could be created; the message says what was tried and what to install."""


def create_context(backends: Sequence[str | None] = DEFAULT_BACKENDS, require: int = REQUIRED_GL,
                   device_index: int | None = None) -> moderngl.Context:
    """A standalone context from the first backend that works (``None`` = moderngl's default).

    ``device_index`` picks the EGL device (GPU) on a machine with several; EGL numbers devices in
    its own order, which need not be CUDA's. Raises GLUnavailableError listing why each backend
    failed, with installation advice.
    """
    failures: list[str] = []
    for backend in backends:
        kwargs: dict[str, Any] = {"require": require}
        if backend is not None:
            kwargs["backend"] = backend
        if backend == "egl" and device_index is not None:
            kwargs["device_index"] = device_index
        try:
            ctx = moderngl.create_standalone_context(**kwargs)
        except Exception as exc:  # the backends raise plain Exceptions, ValueErrors, moderngl.Errors
            failures.append(f"{backend or 'default'}: {type(exc).__name__}: {exc}".strip())
            continue
        if ctx.version_code < require:
            failures.append(f"{backend or 'default'}: OpenGL {ctx.version_code} is older than the {require} required")
            ctx.release()
            continue
        return ctx
    tried = "\n".join(f"  - {f}" for f in failures) or "  (no backend given)"
    raise GLUnavailableError(f"No OpenGL context could be created. Tried:\n{tried}\n{INSTALL_HINT}")


class GLThread:
    """One GL context and the single thread that every call on it runs on."""

    def __init__(self, backends: Sequence[str | None] = DEFAULT_BACKENDS, device_index: int | None = None) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ned-gl")
        self._thread_id: int | None = None
        try:
            self.ctx: moderngl.Context = self._executor.submit(self._start, tuple(backends), device_index).result()
            # moderngl reads (and caches) the limits from the current context: read them here.
            self.info: dict[str, Any] = dict(self._executor.submit(lambda: self.ctx.info).result())
        except BaseException:
            self._executor.shutdown(wait=True)
            raise
        self._finalizer = weakref.finalize(self, _shutdown, self._executor, self.ctx)

    def _start(self, backends: tuple[str | None, ...], device_index: int | None) -> moderngl.Context:
        self._thread_id = threading.get_ident()
        return create_context(backends, device_index=device_index)

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on the GL thread, its result or exception passed back here."""
        if not self._finalizer.alive:
            raise RuntimeError("this GL context was closed; create a new renderer")
        if threading.get_ident() == self._thread_id:  # already on the GL thread (nested call)
            return fn(*args, **kwargs)
        return self._executor.submit(fn, *args, **kwargs).result()

    @property
    def renderer(self) -> str:
        """The GL implementation in use, e.g. 'llvmpipe (LLVM 15.0.6, 256 bits)' or an NVIDIA GPU."""
        return str(self.info["GL_RENDERER"])

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def close(self) -> None:
        """Destroy the context (and every GL object made on it) and stop the thread."""
        self._finalizer()


def _shutdown(executor: ThreadPoolExecutor, ctx: moderngl.Context) -> None:
    with contextlib.suppress(RuntimeError):  # interpreter shutting down: the executor takes no more work
        executor.submit(ctx.release).result()
    executor.shutdown(wait=True)


_shared: GLThread | None = None
_shared_lock = threading.Lock()


def shared_gl_thread() -> GLThread:
    """The process-wide GL context, created on first use (a failure is retried on the next call).

    ``NED_EGL_DEVICE`` (an integer) picks the EGL device on a multi-GPU server.
    """
    global _shared
    with _shared_lock:
        if _shared is None or _shared.closed:
            _shared = GLThread(device_index=_env_device())
        return _shared


def _env_device() -> int | None:
    value = os.environ.get(DEVICE_ENV, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise GLUnavailableError(f"{DEVICE_ENV}={value!r} must be an EGL device number (0, 1, ...)") from None
