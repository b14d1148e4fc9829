# NED for VFX: this folder goes on NUKE_PATH. Runs in GUI and `nuke -t` sessions alike.
#
# ned_plugin (the client runtime) and its packages (grpcio, protobuf, numpy, OpenImageIO,
# OpenColorIO) must be importable by Nuke's own Python. Install them for that Python with
#     <nuke python> -m pip install --target <this folder>/lib ned-vfx
# and this file puts lib/ on sys.path; or install them anywhere on PYTHONPATH.
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
_lib = os.path.join(_here, "lib")
if os.path.isdir(_lib) and _lib not in sys.path:
    sys.path.insert(0, _lib)

# The toolbar icon (icons/ned_director.png) is found on Nuke's plugin path.
import nuke  # noqa: E402

nuke.pluginAddPath(os.path.join(_here, "icons"))
