"""``ned train-renderer``: train, fine-tune or resume a neural renderer locally, from exported clips.

(``ned train-actor`` does the same on a server, from its tracked shots, through the TrainActor RPC.)

Examples::

    ned train-renderer --data exports/anna --out actors/anna                       # paper preset
    ned train-renderer --data exports/anna --out actors/anna --init-from meta/     # fine-tune a meta-renderer
    ned train-renderer --data exports/anna --out actors/anna --init-from checkpoints_meta-renderer  # NED's
    ned train-renderer --data exports/a --data exports/b --out meta/               # meta-renderer (many actors)
    ned train-renderer --toy-actor 1 --preset tiny --out /tmp/toy                  # demo, no footage needed

``--data`` is a folder of ActorClip .npz files (``renderer.dataset.save_actor_data``). After a kill,
run the same command with ``--resume`` to continue from the last checkpoint. Ctrl-C stops cleanly
(a checkpoint is written). Exit codes: 0 done, 1 failed, 2 bad input, 130 cancelled.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from ned_server.config import _default_models, resolve_device
from ned_server.renderer.checkpoint import RendererCheckpointError
from ned_server.renderer.config import PRESETS, RendererConfigError, TrainConfig, preset
from ned_server.renderer.dataset import ActorClip, RendererDataError, load_actor_data
from ned_server.renderer.train import RendererTrainer, RendererTrainError, TrainProgress, default_iterations
from ned_server.renderer.vgg import VGGWeightsError
from ned_server.synthetic.toy_actor import toy_clip

log = logging.getLogger("ned.train_actor")
VGG_ASSET = Path("vgg") / "vgg19-dcbb9e9d.pth"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ned train-renderer", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, action="append", default=[],
                   help="folder of the actor's clips (.npz); repeat for several actors (meta-renderer)")
    p.add_argument("--toy-actor", type=int, action="append", default=[],
                   help="train on a toy actor with this seed (demo data; repeatable)")
    p.add_argument("--toy-frames", type=int, default=160, help="frames per toy clip (default 160)")
    p.add_argument("--out", type=Path, required=True, help="folder for checkpoints, curves and samples")
    p.add_argument("--preset", choices=PRESETS, default="paper", help="paper (default) or tiny (CPU, minutes)")
    p.add_argument("--iterations", type=int, help="total iterations (default: 20000 paper, 1500 tiny)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--init-from", type=Path, help="(meta-)renderer checkpoint or folder to fine-tune from: ours, "
                   "or an official NED checkpoints folder / <epoch>_net_G.pth (e.g. the released meta-renderer)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, mps or auto (default)")
    p.add_argument("--resolution", type=int, help="training resolution (default: the preset's)")
    p.add_argument("--seq-len", type=int, help="consecutive frames per sample (paper 12)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--vgg", type=Path, help="torchvision vgg19-dcbb9e9d.pth for the perceptual loss "
                   f"(default: $NED_MODELS/{VGG_ASSET} when present)")
    p.add_argument("--no-amp", action="store_true", help="full precision on CUDA")
    p.add_argument("--checkpoint-every", type=int, help="iterations between checkpoints (default 500; tiny 100)")
    p.add_argument("--sample-every", type=int, default=0, help="save a sample sheet every N iterations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--log-level", default="INFO")
    return p


def _default_vgg() -> Path | None:
    path = _default_models() / VGG_ASSET
    return path if path.is_file() else None


def _clips(args: argparse.Namespace, resolution: int) -> list[ActorClip]:
    clips: list[ActorClip] = []
    for folder in args.data:
        actor_clips = load_actor_data(folder)
        for c in actor_clips:  # a folder is one actor unless its clips say otherwise
            c.actor = c.actor or folder.name
        clips += actor_clips
    if args.toy_actor:
        for seed in args.toy_actor:
            clips += [toy_clip(seed, args.toy_frames, resolution, seed=k) for k in range(2)]
    if not clips:
        raise RendererDataError("no training data: give --data FOLDER (ActorClip .npz files) or --toy-actor SEED")
    return clips


def train_actor_main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        overrides = {k: v for k, v in (("resolution", args.resolution), ("seq_len", args.seq_len),
                                       ("batch_size", args.batch_size)) if v is not None}
        config = preset(args.preset, **overrides)
        iterations = args.iterations if args.iterations is not None else default_iterations(config)
        vgg = args.vgg or (_default_vgg() if config.losses.lambda_vgg > 0 else None)
        train = TrainConfig(
            iterations=iterations,
            checkpoint_every=args.checkpoint_every or (100 if args.preset == "tiny" else 500),
            sample_every=args.sample_every,
            seed=args.seed,
            device=resolve_device(args.device),
            vgg_path=str(vgg) if vgg else None,
            amp=not args.no_amp,
        )
        clips = _clips(args, config.resolution)
    except (RendererDataError, RendererConfigError) as exc:
        log.error("%s", exc)
        return 2

    cancel = threading.Event()
    bar = None
    if not args.quiet:
        bar = tqdm(total=iterations, unit="it", desc="train-actor", dynamic_ncols=True)

    def on_progress(p: TrainProgress) -> None:
        if bar is not None:
            bar.total = p.total
            bar.n = p.iteration
            bar.set_postfix(l1=f"{p.losses.get('G/l1', 0):.4f}", G=f"{p.losses.get('G/total', 0):.3f}",
                            D=f"{p.losses.get('D/total', 0):.3f}", refresh=False)
            bar.refresh()
        if p.sample_png:
            (args.out / "progress").mkdir(parents=True, exist_ok=True)
            (args.out / "progress" / f"sample_{p.iteration:08d}.png").write_bytes(p.sample_png)

    def on_signal(signum: int, frame: object) -> None:
        log.warning("stopping after this iteration (a checkpoint will be written)")
        cancel.set()

    old = signal.signal(signal.SIGINT, on_signal) if threading.current_thread() is threading.main_thread() else None
    try:
        trainer = RendererTrainer(clips, args.out, config, replace(train), resume=args.resume,
                                  init_from=args.init_from, progress=on_progress, cancel=cancel)
        if bar is not None:
            bar.n = trainer.iteration
        result = trainer.train(iterations)
    except (RendererDataError, RendererConfigError, RendererTrainError, RendererCheckpointError,
            VGGWeightsError) as exc:
        log.error("%s", exc)
        return 2
    except Exception:
        log.exception("renderer training failed")
        return 1
    finally:
        if bar is not None:
            bar.close()
        if old is not None:
            signal.signal(signal.SIGINT, old)
    log.info("%s at iteration %d: renderer %s, curves %s, samples %s",
             "cancelled" if result.cancelled else "done", result.iterations, result.renderer, result.plot,
             result.sheet)
    return 130 if result.cancelled else 0


if __name__ == "__main__":
    sys.exit(train_actor_main())
