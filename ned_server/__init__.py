"""NED for VFX server: face tracking, emotion manipulation and neural rendering behind gRPC."""

__version__ = "0.1.0"
