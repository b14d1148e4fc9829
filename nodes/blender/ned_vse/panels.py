"""Sequencer sidebar (N panel) > NED: connection, shot, emotion, render, progress."""

from __future__ import annotations

import bpy

from . import properties, runner, strips


class NED_PT_director(bpy.types.Panel):
    bl_label = "NED Emotion Director"
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "NED"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        scene = context.scene
        settings = scene.ned_vse
        row = layout.row()
        row.operator("ned.connect", icon="URL")
        row.label(text=properties.STATE.summary or "not connected")
        editor = scene.sequence_editor
        strip = editor.active_strip if editor else None
        if strip is None or strip.type not in strips.MEDIA:
            layout.label(text="Select an image or movie strip", icon="INFO")
        else:
            layout.label(text=f"{strip.name}: frames {strip.frame_final_start}-{strip.frame_final_end - 1}",
                         icon="SEQUENCE")
        col = layout.column(align=True)
        col.prop(settings, "shot_id")
        col.prop(settings, "face_id")
        col.prop(settings, "input_space")
        col.prop(settings, "landmarks_file")
        layout.operator("ned.track", icon="TRACKER")

        box = layout.box()
        box.label(text="Emotion")
        specs = properties.STATE.specs
        if not specs:
            box.label(text="Press Connect to get the server's emotions")
        for group, title in (("emotion", ""), ("mix", "Mix (weights above 0 mix emotions)"),
                             ("sliders", "Face sliders (keyframe to animate)"), ("matte", "Matte"),
                             ("output", "Output")):
            members = [s for s in specs if s.group == group]
            if not members:
                continue
            col = box.column(align=True)
            if title:
                col.label(text=title)
            for spec in members:
                col.prop(settings.params, spec.name)
        box.prop(settings, "actor")

        col = layout.column()
        col.prop(settings, "output_dir")
        col.prop(settings, "frames")
        col.prop(settings, "add_matte")
        layout.operator("ned.render", icon="RENDER_ANIMATION")

        if runner.busy(scene):
            row = layout.row()
            row.progress(factor=settings.progress, type="BAR", text=settings.status or "working")
            row.operator("ned.cancel", text="", icon="CANCEL")
        elif settings.status:
            layout.label(text=settings.status, icon="ERROR" if settings.last_error else "CHECKMARK")
        if settings.qc_summary and not runner.busy(scene):
            qc = layout.box()
            qc.label(text=settings.qc_summary.split(";")[0], icon="ERROR" if settings.qc_warnings else "CHECKMARK")
            for line in settings.qc_warnings.splitlines():
                qc.label(text=line, icon="DOT")


def register() -> None:
    bpy.utils.register_class(NED_PT_director)


def unregister() -> None:
    bpy.utils.unregister_class(NED_PT_director)
