"""The headless GL context, its error when none can be made, and the shader sources."""

from __future__ import annotations

import threading

import moderngl
import pytest

import ned_shaders
from ned_server.conditioning import GLThread, GLUnavailableError, MeshRasterizer, create_context, shared_gl_thread
from ned_server.conditioning.gl_resources import Resources


def failing_context(**kwargs):
    raise Exception(f"eglGetDisplay failed (backend={kwargs.get('backend', 'default')})")


def gl_threads() -> int:
    return sum(t.name.startswith("ned-gl") for t in threading.enumerate())


def test_headless_egl_context_renders():
    ctx = create_context(backends=("egl",))
    try:
        assert ctx.version_code >= 330
        assert ctx.info["GL_RENDERER"]
    finally:
        ctx.release()


def test_no_context_error_says_what_to_install(monkeypatch):
    monkeypatch.setattr(moderngl, "create_standalone_context", failing_context)
    with pytest.raises(GLUnavailableError) as info:
        create_context()
    msg = str(info.value)
    assert isinstance(info.value, RuntimeError)
    for needed in ("egl: Exception: eglGetDisplay failed", "default: Exception", "libegl1", "libgl1-mesa-dri",
                   "libegl-mesa0", "libEGL_nvidia", "create_standalone_context(backend='egl')"):
        assert needed in msg


def test_too_old_gl_is_refused(monkeypatch):
    with pytest.raises(GLUnavailableError, match="egl: "):  # EGL itself refuses to make a 9.9 context
        create_context(backends=("egl",), require=990)

    released = []

    class OldContext:
        version_code = 310

        def release(self):
            released.append(True)

    monkeypatch.setattr(moderngl, "create_standalone_context", lambda **kw: OldContext())
    with pytest.raises(GLUnavailableError, match="OpenGL 310 is older than the 330 required"):
        create_context(backends=("egl",))
    assert released == [True]


def test_failed_context_leaves_no_thread_behind(monkeypatch):
    before = gl_threads()
    monkeypatch.setattr(moderngl, "create_standalone_context", failing_context)
    with pytest.raises(GLUnavailableError, match="libegl1"):
        MeshRasterizer(8, 8, gl=GLThread())
    assert gl_threads() == before


def test_gl_thread_close_stops_it_and_later_use_is_refused():
    before = gl_threads()
    gl = GLThread(backends=("egl",))
    assert gl_threads() == before + 1
    r = MeshRasterizer(8, 8, gl=gl)
    assert "llvmpipe" in gl.renderer or gl.renderer  # whichever driver, it has a name
    gl.close()
    assert gl.closed and gl_threads() == before
    with pytest.raises(RuntimeError, match="closed"):
        gl.run(lambda: None)
    r.close()  # closing after the context is gone is harmless


def test_missing_egl_device_is_reported():
    with pytest.raises(GLUnavailableError, match=r"egl: .*device"):
        create_context(backends=("egl",), device_index=999)


def test_shared_context_is_one_per_process():
    assert shared_gl_thread() is shared_gl_thread()


def test_program_source_expands_includes_and_puts_defines_after_version():
    text = ned_shaders.program_source("attributes.vert", {"GROUPS": 3})
    lines = text.splitlines()
    assert lines[0] == "#version 330 core"
    assert lines[1] == "#define GROUPS 3"
    assert "#include" not in text
    assert "vec4 pixel_to_clip(vec3 p)" in text  # from common.glsl


def test_include_cycle_is_reported(monkeypatch):
    fake = {"a.vert": '#version 330 core\n#include "b.glsl"\n', "b.glsl": '#include "b.glsl"\n'}
    monkeypatch.setattr(ned_shaders, "source", fake.__getitem__)
    with pytest.raises(ValueError, match="cycle"):
        ned_shaders.program_source("a.vert")


@pytest.mark.parametrize(("vert", "frag", "defines"), [
    ("attributes.vert", "attributes.frag", {"GROUPS": 1}),
    ("attributes.vert", "attributes.frag", {"GROUPS": 8}),
    ("conditioning.vert", "conditioning.frag", {}),
])
def test_every_program_compiles_headless(vert, frag, defines):
    gl = shared_gl_thread()
    res = gl.run(Resources, gl.ctx)
    try:
        prog = gl.run(res.program, vert, frag, defines)
        assert prog.glo > 0
        assert gl.run(res.program, vert, frag, defines) is prog  # compiled once, then cached
    finally:
        gl.run(res.release_all)
