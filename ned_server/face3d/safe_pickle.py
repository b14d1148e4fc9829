"""Reading the FLAME/DECA pickles without executing them and without chumpy.

The official FLAME model (``generic_model.pkl``) was pickled under Python 2 with chumpy ``Ch``
objects for some arrays and a scipy sparse ``J_regressor``; DECA's ``landmark_embedding.npy`` and
``FLAME_masks.pkl`` are pickled dicts of numpy arrays. A pickle can call any importable function,
so a user-supplied model file must never go through ``pickle.load``. ``RestrictedUnpickler`` maps:

* numpy's own array/dtype/scalar reconstruction functions -> themselves (they only build arrays);
* any ``chumpy.*`` class -> ``ChumpyShim``, which keeps the pickled state (its ``x`` is the array);
* scipy sparse matrix classes -> ``SparseShim``, rebuilt from data/indices/indptr afterwards
  without running scipy's pickle code on untrusted state;
* a few inert builtins and the Python 2 helpers ``copy_reg._reconstructor`` / ``_codecs.encode``
  (in checked forms);

and refuses everything else with ``UnsafePickleError`` naming the offending global. Python 2
strings are decoded as latin-1, which is what numpy expects for Python 2 array payloads.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from ned_server.errors import Precondition


class FlameAssetError(Precondition, RuntimeError):
    """A FLAME/DECA asset file is missing or not in the expected layout (the message says which)."""


class UnsafePickleError(FlameAssetError, pickle.UnpicklingError):
    """The file asks to run something other than array reconstruction: refused."""


class ChumpyShim:
    """Stands in for any chumpy class: remembers the pickled state; ``to_numpy`` gives the array."""

    chumpy_name = "chumpy.ch.Ch"

    def __new__(cls, *args: Any, **kwargs: Any) -> ChumpyShim:
        obj = object.__new__(cls)
        obj.state = {}
        if args:
            obj.state["x"] = args[0]
        return obj

    def __setstate__(self, state: Any) -> None:
        self.state = state if isinstance(state, dict) else {"x": state}

    def to_numpy(self) -> np.ndarray:
        if "x" not in self.state:
            raise FlameAssetError(
                f"a chumpy object of class {self.chumpy_name} holds no plain array ('x'); only chumpy.Ch "
                "arrays are supported (re-save the model with plain numpy arrays)"
            )
        return np.asarray(to_plain(self.state["x"]), dtype=np.float64)


class SparseShim:
    """Stands in for a scipy sparse matrix class; ``to_scipy`` rebuilds it from the pickled fields."""

    sparse_format = "csc"

    def __new__(cls, *args: Any, **kwargs: Any) -> SparseShim:
        obj = object.__new__(cls)
        obj.state = {}
        return obj

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise FlameAssetError("a pickled scipy sparse matrix has no field dictionary")
        self.state = state

    def to_scipy(self) -> sparse.spmatrix:
        st = self.state
        shape = st.get("_shape", st.get("shape"))
        if shape is None:
            raise FlameAssetError("a pickled scipy sparse matrix has no shape")
        shape = tuple(int(n) for n in shape)
        fmt = self.sparse_format
        try:
            if fmt in ("csc", "csr"):
                data, indices, indptr = (np.asarray(to_plain(st[k])) for k in ("data", "indices", "indptr"))
                cls = sparse.csc_matrix if fmt == "csc" else sparse.csr_matrix
                return cls((data, indices, indptr), shape=shape)
            if fmt == "coo":
                rows = st.get("row", st.get("coords", (None, None))[0] if "coords" in st else None)
                cols = st.get("col", st.get("coords", (None, None))[1] if "coords" in st else None)
                return sparse.coo_matrix(
                    (np.asarray(to_plain(st["data"])), (np.asarray(rows), np.asarray(cols))), shape=shape
                )
        except (KeyError, ValueError, TypeError) as exc:
            raise FlameAssetError(f"a pickled scipy {fmt} matrix is malformed: {exc}") from None
        raise FlameAssetError(f"unsupported scipy sparse format {fmt!r}")


def _numpy_functions() -> dict[str, Any]:
    arr = np.zeros(2)
    return {
        "_reconstruct": arr.__reduce__()[0],
        "scalar": np.float64(1.0).__reduce__()[0],
        "_frombuffer": arr.__reduce_ex__(5)[0],
    }


_NUMPY = _numpy_functions()
_BUILTINS = {
    name: getattr(__import__("builtins"), name)
    for name in (
        "object",
        "set",
        "frozenset",
        "slice",
        "complex",
        "bytearray",
        "list",
        "dict",
        "tuple",
        "int",
        "float",
        "bool",
        "str",
        "bytes",
        "range",
    )
}
_SPARSE_NAMES = {
    "csc_matrix": "csc",
    "csr_matrix": "csr",
    "coo_matrix": "coo",
    "csc_array": "csc",
    "csr_array": "csr",
    "coo_array": "coo",
}
_INERT_BASES = (object, dict, list, set, tuple)


def _safe_reconstructor(cls: type, base: Any, state: Any) -> Any:
    # ``base`` is Any: one of _INERT_BASES, whose constructors take the state (object's does not)
    """copy_reg._reconstructor for the classes this unpickler lets through, nothing else."""
    if not (isinstance(cls, type) and issubclass(cls, ChumpyShim | SparseShim)) and cls not in _BUILTINS.values():
        raise UnsafePickleError(f"copy_reg._reconstructor called for a class that is not allowed: {cls!r}")
    if base not in _INERT_BASES:
        raise UnsafePickleError(f"copy_reg._reconstructor called with base {base!r}, which is not allowed")
    if base is object:
        return object.__new__(cls)
    obj = base.__new__(cls, state)
    base.__init__(obj, state)
    return obj


def _safe_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """_codecs.encode as Python 3 writes bytes in protocol 2 pickles: text codecs only."""
    if encoding.replace("-", "").replace("_", "").lower() not in ("latin1", "iso88591", "utf8", "ascii"):
        raise UnsafePickleError(f"_codecs.encode with codec {encoding!r} is not allowed")
    return text.encode(encoding, errors)


_shim_classes: dict[tuple[str, str], type] = {}


def _shim(base: type, module: str, name: str, **attrs: Any) -> type:
    key = (module, name)
    if key not in _shim_classes:
        _shim_classes[key] = type(f"{base.__name__}_{name}", (base,), dict(attrs))
    return _shim_classes[key]


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler whose ``find_class`` only returns the reconstruction helpers listed above."""

    def __init__(self, file: io.BufferedIOBase, source: str = "<pickle>") -> None:
        super().__init__(file, encoding="latin1", fix_imports=True)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name in ("_reconstruct", "scalar"):
            return _NUMPY[name]
        if module in ("numpy.core.numeric", "numpy._core.numeric") and name == "_frombuffer":
            return _NUMPY[name]
        if module == "numpy" and name == "ndarray":
            return np.ndarray
        if module == "numpy" and name == "dtype":
            return np.dtype
        if module in ("builtins", "__builtin__") and name in _BUILTINS:
            return _BUILTINS[name]
        if module in ("copy_reg", "copyreg") and name == "_reconstructor":
            return _safe_reconstructor
        if module == "_codecs" and name == "encode":
            return _safe_encode
        if module == "chumpy" or module.startswith("chumpy."):
            return _shim(ChumpyShim, module, name, chumpy_name=f"{module}.{name}")
        if module.startswith("scipy.sparse") and name in _SPARSE_NAMES:
            return _shim(SparseShim, module, name, sparse_format=_SPARSE_NAMES[name])
        raise UnsafePickleError(
            f"{self.source}: refusing to load '{module}.{name}': a model file may only contain numpy arrays, "
            "scipy sparse matrices and chumpy arrays (this file is not a FLAME/DECA asset, or was tampered with)"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self.source}: persistent ids are not allowed in a model file")


def to_plain(obj: Any) -> Any:
    """Replace the shims inside a loaded structure by numpy arrays / scipy matrices (recursively).

    A chumpy object that holds no plain array (a lazy expression) is left as its shim: only the
    caller knows whether that entry is needed (``ChumpyShim.to_numpy`` then says what it was).
    """
    if isinstance(obj, ChumpyShim):
        return obj.to_numpy() if "x" in obj.state else obj
    if isinstance(obj, SparseShim):
        return obj.to_scipy()
    if isinstance(obj, dict):
        return {to_plain(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(to_plain(v) for v in obj)
    if isinstance(obj, np.ndarray) and obj.dtype == object:
        out = np.empty(obj.shape, dtype=object)
        for idx, v in np.ndenumerate(obj):
            out[idx] = to_plain(v)
        return out
    return obj


def safe_loads(data: bytes, source: str = "<bytes>") -> Any:
    """Unpickle ``data`` with the restricted rules and return plain numpy/scipy objects."""
    try:
        return to_plain(RestrictedUnpickler(io.BytesIO(data), source).load())
    except UnsafePickleError:
        raise
    except FlameAssetError:
        raise
    except Exception as exc:  # truncated/corrupt files raise many kinds of errors
        raise FlameAssetError(f"{source}: not a readable pickle ({type(exc).__name__}: {exc})") from None


def safe_load_pickle(path: str | Path) -> Any:
    """Load a pickle file with the restricted rules (see the module docstring)."""
    p = Path(path)
    if not p.is_file():
        raise FlameAssetError(f"file not found: {p}")
    return safe_loads(p.read_bytes(), str(p))


def safe_load_npy(path: str | Path) -> np.ndarray:
    """``np.load`` for .npy files, object arrays included, without ``allow_pickle``'s arbitrary code.

    Plain arrays go through numpy with pickles disabled; an object array's payload (a pickle) goes
    through the restricted unpickler.
    """
    p = Path(path)
    if not p.is_file():
        raise FlameAssetError(f"file not found: {p}")
    with p.open("rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f)
        except ValueError as exc:
            raise FlameAssetError(f"{p}: not a .npy file ({exc})") from None
        if not dtype.hasobject:
            return np.load(p, allow_pickle=False)
        payload = f.read()
    arr = safe_loads(payload, str(p))
    if not isinstance(arr, np.ndarray):
        raise FlameAssetError(f"{p}: the object payload is not an array")
    if tuple(arr.shape) != tuple(shape):
        raise FlameAssetError(f"{p}: header says shape {shape} but the payload holds {arr.shape}")
    return arr
