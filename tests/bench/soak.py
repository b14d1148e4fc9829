"""Soak: hostile input, SIGKILLs and load against one real ned-server process, counted.

Phases, all over loopback against a ``ned-server`` child process (restarted whenever it is killed):

1. hostile input: the generated corpus (tests/hostile.py: broken plates, chunk streams, requests),
   then random mutations of plates for a time budget, fuzzing the server's intake end to end.
   Every answer is checked against what its case expects, and every few inputs a good request must
   still get the reference answer.
2. kills: Track calls killed (SIGKILL) at random instants; after each kill the store is audited
   (tests/store_audit.py: every visible item complete) and every track a client was answered must
   still be there; then a TrainActor job is killed mid-run and must resume from its last checkpoint.
3. load: rounds of 8 clients streaming shots at once; the latency of every call, and the peak of
   the server's resident memory over the whole run and per round.

    python tests/bench/soak.py [--quick] [--seed N]

Ends with one ``name: value`` line per figure. Goals: crashes 0, internal_errors 0,
unexpected_statuses 0, lost_cached_items 0, corrupt_cached_items 0, train_lost_iterations at most
train_checkpoint_every, load_errors 0.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ned_plugin.client import NedClientError
from ned_plugin.wire import pb, rpc
from tests import hostile
from tests.pipeline_assets import synthetic_shot, write_tiny_actor, write_tiny_manipulator
from tests.server_process import PeakMemory, ServerProcess
from tests.shot_clients import concurrent_tracks, expressions, renumbered, track_settings
from tests.store_audit import audit_store

CHECKPOINT_EVERY = 4


@dataclass
class Plan:
    truncations: int
    flips: int
    plate_seeds: int
    fuzz_s: float
    kills: int
    train_iterations: int
    load_rounds: int


QUICK = Plan(truncations=8, flips=6, plate_seeds=1, fuzz_s=6.0, kills=4, train_iterations=16, load_rounds=4)
FULL = Plan(truncations=24, flips=40, plate_seeds=3, fuzz_s=90.0, kills=24, train_iterations=40, load_rounds=20)


@dataclass
class Tally:
    inputs: int = 0
    statuses: Counter = field(default_factory=Counter)  # (kind, code) -> count
    unexpected: list[str] = field(default_factory=list)
    crashes: int = 0
    good_ok: int = 0
    good_total: int = 0
    lost: int = 0
    corrupt: int = 0
    kills: int = 0
    answered_then_killed: int = 0

    def count(self, kind: str, code: str) -> None:
        self.inputs += 1
        self.statuses[(kind, code)] += 1


class Soak:
    def __init__(self, root: Path, seed: int) -> None:
        self.root = root
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        write_tiny_manipulator(root / "models")
        write_tiny_actor(root / "store", "anna")
        self.server = ServerProcess(root / "store", root / "models", "--checkpoint-every", str(CHECKPOINT_EVERY))
        self.tally = Tally()
        self.shot = synthetic_shot(frames=8, size=96, seed=5)
        self.reference: np.ndarray | None = None
        self.marker = root / "unpickled"

    # ------------------------------------------------------------------ plumbing
    def ensure_up(self) -> None:
        """Restart a server that died on its own (a crash: counted)."""
        if not self.server.alive:
            self.tally.crashes += 1
            self.server.start()

    def good_request(self) -> None:
        self.ensure_up()
        self.tally.good_total += 1
        with self.server.client() as c:
            try:
                result = c.track((), track_settings(self.shot, shot_id="ref"))
            except NedClientError as exc:
                self.tally.unexpected.append(f"good request failed: {exc.code} {exc}")
                return
        if np.allclose(expressions(result), self.reference, atol=1e-4):
            self.tally.good_ok += 1
        else:
            self.tally.unexpected.append("good request: wrong track")

    def _judge(self, kind: str, name: str, code: str, message: str, ok: bool) -> None:
        self.tally.count(kind, code)
        if not ok:
            self.tally.unexpected.append(f"{name}: {code}: {message[:160]}")

    # ------------------------------------------------------------------ phase 1: hostile input
    def plates(self, plan: Plan) -> None:
        k = 0
        for seed in range(plan.plate_seeds):
            cases = hostile.broken_plates(seed=self.seed + seed, truncations=plan.truncations, flipped=plan.flips,
                                          marker=str(self.marker))
            for case in cases:
                if case.kind == "limits":  # made for a server with small limits (the tests' own)
                    continue
                k += 1
                self._send_plate(case.frames, f"plate-{k}", case.verdict, case.text or hostile.FRAME_LABEL,
                                 case.name, "plates")
                if k % 5 == 0:
                    self.good_request()

    def _send_plate(self, frames, shot_id: str, verdict: str, text: str, name: str, kind: str) -> None:  # type: ignore[no-untyped-def]
        self.ensure_up()
        with self.server.client() as c:
            try:
                c.track(frames, pb.TrackSettings(shot_id=shot_id))
                code, message = "OK", ""
            except NedClientError as exc:
                code, message = exc.code, str(exc)
        refused = code == "INVALID_ARGUMENT" and re.search(text, message) is not None
        accepted = code == "FAILED_PRECONDITION" and "landmark" in message
        ok = {hostile.REFUSED: refused, hostile.ACCEPTED: accepted, hostile.EITHER: refused or accepted}[verdict]
        self._judge(kind, name, code, message, ok)

    def streams(self) -> None:
        self.ensure_up()
        with grpc.insecure_channel(self.server.address, options=[("grpc.max_send_message_length", -1)]) as channel:
            stub = rpc.NedStub(channel)
            for case in hostile.broken_streams():
                messages = [pb.TrackRequest(settings=pb.TrackSettings(shot_id="stream-case")) if item is None
                            else pb.TrackRequest(chunk=item) for item in case.items]
                try:
                    list(stub.Track(iter(messages), timeout=60))
                    code, message = "OK", ""
                except grpc.RpcError as exc:
                    code, message = exc.code().name, exc.details() or ""
                ok = code == case.code and re.search(case.text, message, re.IGNORECASE) is not None
                self._judge("streams", case.name, code, message, ok)
                self.good_request()

    def requests(self) -> None:
        self.ensure_up()
        with self.server.client() as c:
            for case in hostile.broken_requests("ref", "anna", self.shot.landmarks):
                try:
                    case.call(c)
                    code, message = "OK", ""
                except NedClientError as exc:
                    code, message = exc.code, str(exc)
                self._judge("requests", case.name, code, message, code == case.code and case.text in message)
        self.good_request()

    def fuzz(self, budget_s: float) -> None:
        seeds = [hostile.plate(24, 16, compression=c, seed=3) for c in ("zip", "none", "piz", "rle", "zips")]
        deadline, k = time.monotonic() + budget_s, 0
        while time.monotonic() < deadline:
            k += 1
            base = seeds[int(self.rng.integers(len(seeds)))]
            data = hostile.mutate(base, hostile.random_mutations(self.rng), donor=seeds[2])
            self._send_plate([(1001, data)], f"fuzz-{k}", hostile.EITHER, hostile.FRAME_LABEL, f"fuzz#{k}", "fuzz")
            if k % 25 == 0:
                self.good_request()

    # ------------------------------------------------------------------ phase 2: kills
    def kill_tracks(self, kills: int, track_s: float) -> None:
        for k in range(kills):
            self.ensure_up()
            first, shot_id = 700_000 + 1000 * k, f"killed-{k}"
            answered: list[object] = []

            def call(first: int = first, shot_id: str = shot_id, answered: list[object] = answered) -> None:
                with self.server.client(deadline_s=20) as c:
                    try:
                        answered.append(c.track(renumbered(self.shot, first),
                                                track_settings(self.shot, first, shot_id=shot_id)))
                    except NedClientError as exc:
                        self.tally.count("kills", exc.code)
                        return
                self.tally.count("kills", "OK")

            worker = threading.Thread(target=call)
            worker.start()
            time.sleep(float(self.rng.uniform(0.0, 1.3 * track_s)))
            self.server.kill()
            worker.join(30)
            self.tally.kills += 1
            audit = audit_store(self.server.store)
            self.tally.corrupt += len(audit.problems)
            if answered:
                self.tally.answered_then_killed += 1
                if audit.track_lengths.get(f"{shot_id}/auto") != len(self.shot.frames):
                    self.tally.lost += 1
            self.server.start()
            with self.server.client() as c:  # the shot tracks correctly after the restart, cached or not
                again = c.track(renumbered(self.shot, first), track_settings(self.shot, first, shot_id=shot_id))
            if not np.allclose(expressions(again), self.reference, atol=1e-4):
                self.tally.corrupt += 1

    def kill_training(self, iterations: int) -> dict[str, float]:
        self.ensure_up()
        with self.server.client() as c:
            job = c.train_actor(pb.TrainActorRequest(actor_id="soak", shot_ids=["ref"], preset="tiny",
                                                     iterations=iterations, detach=True))
            call, seen = c.stub.WatchJob(pb.WatchJobRequest(job_id=job.job_id)), 0
            target = int(self.rng.integers(CHECKPOINT_EVERY + 1, max(CHECKPOINT_EVERY + 2, iterations - 2)))
            for update in call:
                seen = max(seen, update.job.done)
                if seen >= target:
                    break
            self.server.kill()
            call.cancel()
        self.tally.kills += 1
        import torch

        latest = self.server.store / "actors" / "soak" / "training" / "latest.pth"
        resumed = int(torch.load(latest, map_location="cpu", weights_only=True)["iteration"]) if latest.is_file() else 0
        self.tally.corrupt += len(audit_store(self.server.store).problems)
        self.server.start()
        with self.server.client() as c:
            final = c.watch_job(job.job_id)
        ok = final.state == pb.JOB_STATE_SUCCEEDED and final.done == iterations
        if not ok:
            self.tally.unexpected.append(f"training after the kill: {final.state} {final.message}")
        return {"train_killed_at_least_at": seen, "train_resumed_from": resumed,
                "train_lost_iterations": seen - resumed, "train_completed": int(ok)}

    # ------------------------------------------------------------------ phase 3: load
    def load(self, rounds: int) -> tuple[list[float], list[int], int]:
        latencies, peaks, errors = [], [], 0
        for r in range(rounds):
            self.ensure_up()
            with PeakMemory(self.server) as memory:
                outcomes = concurrent_tracks(self.server.address, self.shot, r, 8)
            peaks.append(memory.peak)
            for result, seconds in outcomes:
                if isinstance(result, Exception):
                    errors += 1
                    self.tally.count("load", getattr(result, "code", "ERROR"))
                    continue
                self.tally.count("load", "OK")
                latencies.append(seconds)
                if not np.allclose(expressions(result), self.reference, atol=1e-4):
                    self.tally.unexpected.append(f"load round {r}: wrong track")
        return latencies, peaks, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (under a minute)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ned-soak-") as tmp:
        soak = Soak(Path(tmp), args.seed)
        soak.server.start()
        with PeakMemory(soak.server) as whole:
            with soak.server.client() as c:
                soak.reference = expressions(c.track(soak.shot.frames, track_settings(soak.shot, shot_id="ref")))
                t0 = time.perf_counter()  # a warm Track: how long a kill has to land inside one
                c.track(soak.shot.frames, track_settings(soak.shot, shot_id="ref", force=True))
                track_s = time.perf_counter() - t0
            soak.plates(plan)
            soak.streams()
            soak.requests()
            soak.fuzz(plan.fuzz_s)
            soak.kill_tracks(plan.kills, track_s)
            training = soak.kill_training(plan.train_iterations)
            latencies, peaks, load_errors = soak.load(plan.load_rounds)
            soak.ensure_up()
        soak.server.stop()
        final_audit = audit_store(soak.server.store)
        internal = sum(n for (_, code), n in soak.tally.statuses.items() if code in ("INTERNAL", "UNKNOWN"))
        t = soak.tally
        for line in t.unexpected[:20]:
            print(f"unexpected: {line}", file=sys.stderr)
        print(f"soak: seed {args.seed}, {'quick' if args.quick else 'full'} plan, {time.monotonic() - t_start:.0f} s")
        print(f"inputs_tried: {t.inputs}")
        for (kind, code), n in sorted(t.statuses.items()):
            print(f"status.{kind}.{code}: {n}")
        print(f"unexpected_statuses: {len(t.unexpected)}")
        print(f"internal_errors: {internal}")
        print(f"crashes: {t.crashes}")
        print(f"unpickled_payloads: {int(soak.marker.exists())}")
        print(f"good_requests_correct: {t.good_ok}/{t.good_total}")
        print(f"kills: {t.kills}")
        print(f"answered_then_killed: {t.answered_then_killed}")
        print(f"lost_cached_items: {t.lost}")
        print(f"corrupt_cached_items: {t.corrupt + len(final_audit.problems)}")
        print(f"cached_tracks_at_end: {final_audit.tracks}")
        print(f"train_checkpoint_every: {CHECKPOINT_EVERY}")
        for name, value in training.items():
            print(f"{name}: {value}")
        print(f"load_requests: {len(latencies) + load_errors}")
        print(f"load_errors: {load_errors}")
        print(f"latency_p50_s: {np.percentile(latencies, 50):.3f}")
        print(f"latency_p95_s: {np.percentile(latencies, 95):.3f}")
        print(f"peak_server_rss_mib: {whole.peak / 2**20:.0f}")
        print(f"load_round_peak_rss_first_mib: {peaks[0] / 2**20:.0f}")
        print(f"load_round_peak_rss_last_mib: {peaks[-1] / 2**20:.0f}")
        print(f"load_rss_growth_after_first_round_mib: {(peaks[-1] - peaks[min(1, len(peaks) - 1)]) / 2**20:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
