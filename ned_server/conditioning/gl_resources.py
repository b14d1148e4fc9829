"""GL objects the mesh passes share: float render targets, per-vertex data textures, index buffers.

Everything here runs on the GL thread (gl_context.GLThread) and is created once and reused: a
render target is reallocated only when the size changes, data textures only when they must grow,
the index buffer only when the faces change. ``Resources`` keeps every object it made, so an owner
releases all of them in one call and a test can count them (no leak across many renders).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Mapping

import moderngl
import numpy as np

from ned_server.conditioning.gl_context import GLThread
from ned_shaders import program_source

TEXTURE_WIDTH = 4096  # texels per row of the per-vertex data textures (every GL 3.3 driver has >= 4096)


class Resources:
    """The GL objects made for one owner, released together."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self._objects: list = []
        self._programs: dict[tuple, moderngl.Program] = {}

    def track(self, obj):
        self._objects.append(obj)
        return obj

    def release(self, obj) -> None:
        if obj is None:
            return
        self._objects = [o for o in self._objects if o is not obj]
        obj.release()

    def release_all(self) -> None:
        for obj in reversed(self._objects):
            obj.release()
        self._objects.clear()
        self._programs.clear()

    @property
    def live(self) -> int:
        """How many GL objects this owner holds now."""
        return len(self._objects)

    def program(self, vertex: str, fragment: str, defines: Mapping[str, object] | None = None) -> moderngl.Program:
        """The program built from two shader files of ned_shaders, compiled once per set of defines."""
        key = (vertex, fragment, tuple(sorted((defines or {}).items())))
        prog = self._programs.get(key)
        if prog is None:
            prog = self.track(self.ctx.program(vertex_shader=program_source(vertex, defines),
                                               fragment_shader=program_source(fragment, defines)))
            self._programs[key] = prog
        return prog


def release_when_collected(owner: object, gl: GLThread, res: Resources) -> weakref.finalize:
    """Release ``res`` on the GL thread when ``owner`` is closed (call the returned finalizer) or
    garbage-collected, so a renderer a job forgot to close does not keep its buffers on the shared
    context for the life of the server."""
    return weakref.finalize(owner, _release_resources, gl, res)


def _release_resources(gl: GLThread, res: Resources) -> None:
    if gl.closed:
        return
    with contextlib.suppress(RuntimeError):  # interpreter shutting down: the GL thread takes no more work
        gl.run(res.release_all)


def set_uniform(prog: moderngl.Program, name: str, value) -> None:
    """Set a uniform if the compiler kept it (unused uniforms are optimised away and not found)."""
    member = prog.get(name, None)
    if isinstance(member, moderngl.Uniform):
        member.value = value


class RenderTarget:
    """A framebuffer of ``n`` RGBA32F colour attachments and a depth buffer, at one size."""

    def __init__(self, res: Resources) -> None:
        self.res = res
        self.size: tuple[int, int] | None = None
        self.textures: list[moderngl.Texture] = []
        self.depth: moderngl.Renderbuffer | None = None
        self._fbos: dict[int, moderngl.Framebuffer] = {}

    def _drop(self) -> None:
        for fbo in self._fbos.values():
            self.res.release(fbo)
        for tex in self.textures:
            self.res.release(tex)
        self.res.release(self.depth)
        self._fbos.clear()
        self.textures = []
        self.depth = None

    def framebuffer(self, width: int, height: int, n: int) -> moderngl.Framebuffer:
        """The framebuffer with the first ``n`` attachments, (re)allocated when the size changes."""
        ctx = self.res.ctx
        if self.size != (width, height):
            self._drop()
            self.size = (width, height)
            self.depth = self.res.track(ctx.depth_renderbuffer((width, height)))
        while len(self.textures) < n:
            tex = ctx.texture((width, height), 4, dtype="f4")
            tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
            self.textures.append(self.res.track(tex))
        fbo = self._fbos.get(n)
        if fbo is None:
            fbo = self.res.track(ctx.framebuffer(self.textures[:n], self.depth))
            self._fbos[n] = fbo
        return fbo

    def release(self) -> None:
        self._drop()
        self.size = None


class DataTexture:
    """An RGBA32F texture holding vec4 groups per vertex (and per frame), row-major, grown on demand."""

    def __init__(self, res: Resources) -> None:
        self.res = res
        self.tex: moderngl.Texture | None = None
        self.rows = 0

    def upload(self, groups: np.ndarray, unit: int) -> moderngl.Texture:
        """Write ``groups`` (..., 4) float32 (flattened in C order: texel k = k-th vec4) and bind it."""
        flat = np.ascontiguousarray(groups, dtype=np.float32).reshape(-1, 4)
        n = flat.shape[0]
        rows = max(1, -(-n // TEXTURE_WIDTH))
        max_rows = int(self.res.ctx.info["GL_MAX_TEXTURE_SIZE"])
        if rows > max_rows:
            raise ValueError(f"{n} vertex records do not fit one data texture ({TEXTURE_WIDTH}x{max_rows})")
        if self.tex is None or self.rows < rows:
            self.res.release(self.tex)
            self.rows = min(max_rows, max(rows, 2 * self.rows))
            self.tex = self.res.track(self.res.ctx.texture((TEXTURE_WIDTH, self.rows), 4, dtype="f4"))
            self.tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
        padded = flat
        if n != rows * TEXTURE_WIDTH:
            padded = np.zeros((rows * TEXTURE_WIDTH, 4), np.float32)
            padded[:n] = flat
        self.tex.write(padded, viewport=(0, 0, TEXTURE_WIDTH, rows))
        self.tex.use(unit)
        return self.tex

    def release(self) -> None:
        self.res.release(self.tex)
        self.tex = None
        self.rows = 0


class MeshIndex:
    """The faces as an index buffer, and an attribute-less vertex array per program drawing them.

    Vertex data is fetched from textures by ``gl_VertexID`` (the index value), so the vertex arrays
    have no attributes, only the index buffer.
    """

    def __init__(self, res: Resources) -> None:
        self.res = res
        self.faces: np.ndarray | None = None
        self.ibo: moderngl.Buffer | None = None
        self._vaos: dict[int, moderngl.VertexArray] = {}

    def vertex_array(self, prog: moderngl.Program, faces: np.ndarray) -> moderngl.VertexArray:
        if self.faces is None or self.faces.shape != faces.shape or not np.array_equal(self.faces, faces):
            self.release()
            self.faces = faces.copy()
            self.ibo = self.res.track(self.res.ctx.buffer(np.ascontiguousarray(faces, dtype="i4")))
        vao = self._vaos.get(prog.glo)
        if vao is None:
            vao = self.res.track(self.res.ctx.vertex_array(prog, [], index_buffer=self.ibo, index_element_size=4))
            self._vaos[prog.glo] = vao
        return vao

    def release(self) -> None:
        for vao in self._vaos.values():
            self.res.release(vao)
        self._vaos.clear()
        self.res.release(self.ibo)
        self.ibo = None
        self.faces = None


class Readback:
    """A pixel-pack buffer that frames are read into without waiting, then copied out once per chunk.

    ``glReadPixels`` into client memory stalls until the frame is drawn; into a buffer object it
    only queues the copy, so the next frames' draws overlap it (a GPU keeps rendering while earlier
    frames travel) and one map at the end of a chunk brings everything to the CPU.
    """

    MAX_BYTES = 64 << 20  # per chunk of frames

    def __init__(self, res: Resources) -> None:
        self.res = res
        self.buf: moderngl.Buffer | None = None

    def frames_per_chunk(self, bytes_per_frame: int) -> int:
        return max(1, self.MAX_BYTES // max(1, bytes_per_frame))

    def buffer(self, nbytes: int) -> moderngl.Buffer:
        if self.buf is None or self.buf.size < nbytes:
            self.res.release(self.buf)
            self.buf = self.res.track(self.res.ctx.buffer(reserve=nbytes))
        return self.buf

    def release(self) -> None:
        self.res.release(self.buf)
        self.buf = None


def depth_ranges(z: np.ndarray) -> np.ndarray:
    """Per frame (near, far) enclosing every depth of ``z`` (B, V), padded so no vertex is clipped."""
    lo = z.min(axis=1).astype(np.float64)
    hi = z.max(axis=1).astype(np.float64)
    pad = np.maximum((hi - lo) * 1e-3, 1e-3 * np.maximum(1.0, np.abs(hi)))
    return np.stack([lo - pad, hi + pad], axis=1)
