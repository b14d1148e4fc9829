"""Generate the Python stubs of proto/ned/v1/*.proto into plugin/ned_plugin/wire/.

protoc writes absolute imports (``from ned.v1 import frames_pb2``) that would need a top-level
``ned`` package; we rewrite them to relative imports so the stubs live inside ``ned_plugin`` while
the descriptors keep their canonical ``ned/v1/*.proto`` names (which server reflection shows).

Usage: ``python tools/gen_proto.py`` (writes), ``python tools/gen_proto.py --check`` (exit 1 when
the committed stubs differ from what the .proto files generate).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO_ROOT = ROOT / "proto"
OUT = ROOT / "plugin" / "ned_plugin" / "wire"
_IMPORT = re.compile(r"^from ned\.v1 import (\w+) as (\w+)$", re.MULTILINE)


def generate(out_dir: Path) -> list[Path]:
    """Run protoc (from grpcio-tools) and return the files it wrote, with imports made relative."""
    import grpc_tools
    from grpc_tools import protoc  # only needed by developers, not at run time

    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    include = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        args = ["protoc", f"-I{PROTO_ROOT}", f"-I{include}", f"--python_out={tmp}",
                f"--pyi_out={tmp}", f"--grpc_python_out={tmp}", *protos]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        written = []
        for src in sorted(Path(tmp, "ned", "v1").iterdir()):
            text = _IMPORT.sub(r"from . import \1 as \2", src.read_text())
            dst = out_dir / src.name
            dst.write_text(text)
            written.append(dst)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    if not args.check:
        for path in generate(OUT):
            print(f"wrote {path.relative_to(ROOT)}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = {p.name: p.read_text() for p in generate(Path(tmp))}
    committed = {p.name: p.read_text() for p in OUT.glob("*_pb2*.py*")}
    stale = sorted(n for n in fresh.keys() | committed.keys() if fresh.get(n) != committed.get(n))
    if stale:
        print("stale stubs (run python tools/gen_proto.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    print("stubs are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
