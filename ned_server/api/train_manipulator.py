"""``ned train-manipulator``: train, fine-tune or resume the emotion manipulator from the shell.

Examples::

    ned train-manipulator --synthetic --preset cpu --out runs/synthetic
    ned train-manipulator --synthetic --synthetic-tracked --preset cpu --out runs/synthetic_tracked
    ned train-manipulator --data affwild2_tracks --labels affwild2_labels/ --out runs/affwild
    ned train-manipulator --data mead_tracks --val-actors M023 --init-from runs/affwild --out runs/mead

Re-running the same command after a kill or Ctrl-C resumes from the last checkpoint in ``--out``
(``--restart`` ignores it). Exit codes: 0 done, 1 failed, 2 bad input, 130 cancelled.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ned_server.config import resolve_device
from ned_server.errors import NedError
from ned_server.manipulator.config import PRESETS, preset
from ned_server.manipulator.dataset import LABEL_FORMATS, ExpressionDataset, load_expression_dataset
from ned_server.manipulator.train import ManipulatorTrainer, TrainProgress
from ned_server.synthetic.datasets import synthetic_expression_dataset

log = logging.getLogger("ned.train_manipulator")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ned train-manipulator", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_argument_group("data")
    src.add_argument("--data", type=Path, help="folder of tracked clips (.npz with expression51, frames)")
    src.add_argument("--labels", type=Path, help="label file or folder: CSV/JSON (clip,emotion) or Aff-Wild2 "
                     ".txt files; omit to read MEAD-style emotions from the file names")
    src.add_argument("--label-format", choices=LABEL_FORMATS, default="auto")
    src.add_argument("--frame-offset", type=int, default=0,
                     help="frame number of the first line of Aff-Wild2 label files (default 0)")
    src.add_argument("--val-actors", default="", help="comma-separated actors held out for validation "
                     "(e.g. M023)")
    src.add_argument("--synthetic", action="store_true", help="train on the synthetic emotional dataset")
    src.add_argument("--synthetic-clips", type=int, default=30, help="synthetic clips per emotion (default 30)")
    src.add_argument("--synthetic-frames", type=int, default=100)
    src.add_argument("--synthetic-actors", type=int, default=4)
    src.add_argument("--synthetic-tracked", action="store_true",
                     help="the synthetic clips as the tracker recovers them from landmarks (the domain Manipulate "
                     "feeds the manipulator; ~20 ms a frame to make)")
    run = p.add_argument_group("training")
    run.add_argument("--out", type=Path, required=True, help="checkpoint folder (resumed when it has one)")
    run.add_argument("--preset", choices=PRESETS, default="paper", help="paper (default), cpu, tiny")
    run.add_argument("--epochs", type=int, help="epochs at the full learning rate")
    run.add_argument("--decay-epochs", type=int, help="epochs of linear learning-rate decay")
    run.add_argument("--iterations-per-epoch", type=int)
    run.add_argument("--batch-size", type=int)
    run.add_argument("--lr", type=float)
    run.add_argument("--seed", type=int)
    run.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: auto)")
    run.add_argument("--threads", type=int, help="torch CPU threads (small presets train fastest with 1)")
    run.add_argument("--init-from", type=Path, help="checkpoint or folder to fine-tune from (ours or official)")
    run.add_argument("--restart", action="store_true", help="ignore an existing checkpoint in --out")
    run.add_argument("--snapshot-every", type=int, help="also checkpoint every N iterations")
    run.add_argument("--progress", choices=("auto", "bar", "farm", "none"), default="auto")
    return p


def _progress_printer(mode: str):
    if mode == "auto":
        mode = "bar" if sys.stderr.isatty() else "farm"
    if mode == "none":
        return lambda info: None, lambda: None
    if mode == "farm":
        last = [-1]

        def farm(info: TrainProgress) -> None:
            pct = int(100 * info.fraction)
            if pct != last[0]:
                last[0] = pct
                print(f"NED_PROGRESS {pct}% train-manipulator {info.iteration}/{info.total_iterations} "
                      f"epoch {info.epoch}/{info.epochs}", file=sys.stderr, flush=True)

        return farm, lambda: None
    bar = tqdm(total=None, desc="train-manipulator", unit="it", dynamic_ncols=True)

    def update(info: TrainProgress) -> None:
        bar.total = info.total_iterations
        bar.n = info.iteration
        keys = ("G/latent_adv", "G/latent_cyc", "G/latent_mouth")
        bar.set_postfix_str(f"ep {info.epoch}/{info.epochs} " + " ".join(
            f"{k.split('_')[-1]} {info.losses[k]:.3f}" for k in keys if k in info.losses), refresh=False)
        bar.refresh()

    return update, bar.close


def _dataset(args: argparse.Namespace) -> tuple[ExpressionDataset, ExpressionDataset | None]:
    if args.synthetic == (args.data is not None):
        raise ValueError("give either --data FOLDER or --synthetic")
    if args.synthetic:
        data = synthetic_expression_dataset(args.synthetic_clips, args.synthetic_frames,
                                           seed=args.seed or 0, num_actors=args.synthetic_actors,
                                           tracked=args.synthetic_tracked)
    else:
        data = load_expression_dataset(args.data, args.labels, args.label_format, args.frame_offset)
        for note in data.skipped[:10]:
            log.warning("skipped %s", note)
        if len(data.skipped) > 10:
            log.warning("... and %d more clips skipped", len(data.skipped) - 10)
    held = [a.strip() for a in args.val_actors.split(",") if a.strip()]
    if not held:
        return data, None
    train, val = data.split_actors(held)
    if not train.clips:
        raise ValueError(f"every clip belongs to the validation actors {held}; nothing left to train on")
    if not val.clips:
        log.warning("no clip of validation actors %s (actors found: %s)", held, ", ".join(data.actors()[:20]))
        return train, None
    return train, val


def train_manipulator_main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    overrides: dict[str, Any] = {k: v for k, v in {
        "epochs": args.epochs, "decay_epochs": args.decay_epochs, "iterations_per_epoch": args.iterations_per_epoch,
        "batch_size": args.batch_size, "seed": args.seed, "snapshot_every_iterations": args.snapshot_every,
    }.items() if v is not None}
    if args.lr is not None:
        overrides["lr"] = overrides["mapping_lr"] = args.lr
    try:
        if args.threads:
            torch.set_num_threads(args.threads)

        config = replace(preset(args.preset, **overrides), device=resolve_device(args.device or "auto"))
        train, val = _dataset(args)
        counts = ", ".join(f"{k} {v}" for k, v in train.label_counts().items())
        log.info("training on %d clips (%s frames); %s", len(train), counts,
                 f"validating on {len(val)} clips" if val else "no validation set")
        cancel = threading.Event()
        on_progress, close = _progress_printer(args.progress)
        trainer = ManipulatorTrainer(config, train, args.out, val_dataset=val, init_from=args.init_from,
                                     resume=not args.restart, progress=on_progress, cancel=cancel)
    except (NedError, ValueError, OSError) as exc:
        print(f"ned train-manipulator: {exc}", file=sys.stderr)
        return 2

    def interrupt(signum: int, frame: object) -> None:  # finish the iteration, checkpoint, stop
        cancel.set()

    previous = signal.signal(signal.SIGINT, interrupt) if threading.current_thread() is threading.main_thread() \
        else None
    try:
        result = trainer.train()
    except Exception as exc:
        close()
        print(f"ned train-manipulator: training failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    close()
    if result.cancelled:
        print(f"cancelled at iteration {result.iterations}; checkpoint {result.checkpoint} "
              "(run the same command to resume)", file=sys.stderr)
        return 130
    print(f"done: {result.iterations} iterations, checkpoint {result.checkpoint}, loss plot {result.plot}")
    return 0
