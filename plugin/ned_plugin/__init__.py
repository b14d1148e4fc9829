"""Host-side runtime of NED for VFX: talks to the NED server, encodes frames, converts colour.

Nothing here imports torch: a Nuke or Blender host, or a farm node, needs only this package.
"""

__version__ = "0.1.0"
