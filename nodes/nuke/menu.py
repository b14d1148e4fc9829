# NED for VFX: the "NED" menu in Nuke's menu bar and in the Nodes toolbar (GUI sessions only).
try:
    import ned_nuke.nuke_api as _api
    from ned_nuke.config import CONFIG as _CONFIG
except ImportError as _exc:  # ned_plugin (or grpcio...) missing from Nuke's Python: say so, keep Nuke going
    import nuke

    _why = (f"NED cannot start: {_exc}\n\nInstall the client runtime for Nuke's Python, e.g.\n"
            "<nuke python> -m pip install --target <NUKE_PATH folder>/lib ned-vfx\n"
            "(see nodes/README.md, Nuke > Install)")
    nuke.menu("Nuke").addMenu("NED").addCommand("NED is not installed (why?)", lambda: nuke.message(_why))
else:
    _TIP = ("NED Director: change the actor's facial emotion in the shot while keeping what they say "
            "(Connect, Track, then Preview frame or Render; the node's ? button has the steps)")
    for _menu in ("Nuke", "Nodes"):
        _api.add_menu_command(_menu, "NED", "NED Director", "import ned_nuke\nned_nuke.create_director()",
                              icon=_CONFIG.icon, tooltip=_TIP)
    _api.add_menu_command("Nuke", "NED", "Connect selected",
                          "import ned_nuke, nuke\nned_nuke.connect(nuke.selectedNode())")
