"""Add-on preferences: where the NED server is and its token (shared by every scene)."""

from __future__ import annotations

import bpy
from bpy.props import FloatProperty, StringProperty

ADDON = __package__


class NED_AddonPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON

    server: StringProperty(  # type: ignore[valid-type]
        name="Server", default="",
        description="HOST:PORT of the NED server; empty: $NED_SERVER or 127.0.0.1:50551")
    token: StringProperty(  # type: ignore[valid-type]
        name="Token", default="", subtype="PASSWORD",
        description="The server's token (needed when it listens beyond this machine); empty: $NED_TOKEN")
    timeout: FloatProperty(  # type: ignore[valid-type]
        name="Timeout", default=5.0, min=0.5, max=120.0, unit="TIME_ABSOLUTE",
        description="Seconds to wait for short requests such as Connect")

    def draw(self, context: bpy.types.Context) -> None:
        col = self.layout.column()
        col.prop(self, "server")
        col.prop(self, "token")
        col.prop(self, "timeout")


def get(context: bpy.types.Context | None = None) -> NED_AddonPreferences:
    context = context or bpy.context
    return context.preferences.addons[ADDON].preferences


def connection(context: bpy.types.Context | None = None, short: bool = False):
    """ConnectionSettings from the preferences (environment defaults where they are empty)."""
    from ned_plugin.client import ConnectionSettings

    prefs = get(context)
    settings = ConnectionSettings()
    if prefs.server.strip():
        settings.address = prefs.server.strip()
    if prefs.token.strip():
        settings.token = prefs.token.strip()
    if short:
        settings.deadline_s, settings.attempts = float(prefs.timeout), 2
    return settings


def register() -> None:
    bpy.utils.register_class(NED_AddonPreferences)


def unregister() -> None:
    bpy.utils.unregister_class(NED_AddonPreferences)
