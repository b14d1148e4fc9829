"""Farm entry for `nuke -t`: render (or track) NED_Director nodes of a script.

    nuke -t ned_render.py shot.nk                              # every NED_Director, its own range
    nuke -t ned_render.py shot.nk NED_Director1 --frames 1001-1050
    nuke -t ned_render.py shot.nk NED_Director1 --track

Exit 0 when done, 1 when a node failed (the message says why), 2 on bad arguments. Progress is
printed as `NED_PROGRESS <percent>%` lines that Deadline, OpenCue or Tractor can parse.
"""

import argparse
import sys


def main(argv):
    import ned_nuke
    import nuke

    p = argparse.ArgumentParser(prog="nuke -t ned_render.py")
    p.add_argument("script")
    p.add_argument("nodes", nargs="*", help="NED_Director names (default: all of them)")
    p.add_argument("--frames", help="e.g. 1001-1050, 1001-1100x2 or 1001,1050 (default: each node's own frames)")
    p.add_argument("--track", action="store_true", help="track instead of render")
    args = p.parse_args(argv)
    nuke.scriptOpen(args.script)
    names = args.nodes or ned_nuke.directors()
    if not names:
        print("ned_render: no NED_Director node in " + args.script, file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        try:
            if args.track:
                result = ned_nuke.track(name, frames=args.frames)
                print(f"{name}: shot {result.summary.shot_id} tracked")
            else:
                print(f"{name}: {ned_nuke.render(name, frames=args.frames).summary()}")
        except ned_nuke.NedNukeError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
