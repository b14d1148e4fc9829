"""``ned import-actor``: register an official NED renderer as an actor of a server's store.

Run on the server machine (it writes into the store, not through the server)::

    ned import-actor tarantino --from downloads/checkpoints_tarantino            # highest epoch
    ned import-actor tarantino --from downloads/checkpoints_tarantino --epoch 20
    ned import-actor tarantino --from downloads/checkpoints_tarantino/20_net_G.pth --store /srv/ned/store

The folder is one of the per-actor renderers of the public NED release (``<epoch>_net_G.pth``,
``_net_D.pth``, ``_net_Dm.pth``). The files are checked (layout, tensors only) and placed as they
are in the actor's ``training/`` folder (hard-linked where possible); a running server sees the actor at once
(ListActors, Manipulate with that actor id). To adapt it to new footage, TrainActor into another
actor id with ``init_from`` this one. The released meta-renderer needs no import: put its files in
``models/renderer/meta_renderer/`` and give ``init_from: meta-renderer``.
Exit codes: 0 done, 2 bad input (the message says what).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ned_server.config import _default_store
from ned_server.errors import InvalidInput, NotFound
from ned_server.orchestration.actor_training import import_official_actor
from ned_server.runtime.store import Store

log = logging.getLogger("ned.import_actor")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ned import-actor", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("actor_id", help="id of the new actor")
    p.add_argument("--from", dest="source", type=Path, required=True,
                   help="official checkpoints folder (or its <epoch>_net_G.pth)")
    p.add_argument("--epoch", help="epoch to import (default: the highest in the folder)")
    p.add_argument("--store", type=Path, help="the server's store (default $NED_STORE or ~/.local/share/ned/store)")
    p.add_argument("--replace", action="store_true", help="overwrite an actor of that id")
    p.add_argument("--log-level", default="INFO")
    return p


def import_actor_main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        store = Store(args.store or _default_store(), sweep=False)  # a server may be running
        meta = import_official_actor(store, args.actor_id, args.source, args.epoch, overwrite=args.replace)
    except (InvalidInput, NotFound, OSError) as exc:
        log.error("%s", exc)
        return 2
    log.info("actor %s is ready: %s", args.actor_id, meta["message"])
    return 0


if __name__ == "__main__":
    sys.exit(import_actor_main())
