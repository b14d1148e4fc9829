"""Training: a tiny run that must learn, resume after interruption, cancel, fine-tune, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ned_server.api.train_manipulator import train_manipulator_main
from ned_server.domains import EMOTIONS
from ned_server.manipulator.checkpoint import safe_load
from ned_server.manipulator.config import PAPER_SIZES, TINY_SIZES, preset
from ned_server.manipulator.controls import EmotionSettings
from ned_server.manipulator.evaluation import score_translations, train_emotion_classifier
from ned_server.manipulator.inference import EmotionManipulator
from ned_server.manipulator.networks import ManipulatorNetworks, he_init
from ned_server.manipulator.train import ManipulatorTrainer, TrainProgress
from ned_server.runtime.files import atomic_torch_save
from ned_server.synthetic.datasets import synthetic_expression_dataset
from ned_server.synthetic.expressions import make_synthetic_dataset


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny LSTMs run fastest on one thread; on a shared machine two threads can be 10x slower.
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _state(nets: ManipulatorNetworks) -> dict[str, torch.Tensor]:
    return {f"{n}.{k}": v.detach().clone() for n, m in nets.named_nets().items() for k, v in m.state_dict().items()}


def test_tiny_training_learns_emotions_and_keeps_speech(tmp_path: Path):
    train = synthetic_expression_dataset(12, 100, seed=1, num_actors=4)
    seen: list[TrainProgress] = []
    result = ManipulatorTrainer(preset("tiny"), train, tmp_path / "run", progress=seen.append).train()
    assert not result.cancelled and result.iterations == 320 and result.epochs_done == 4
    assert [p.iteration for p in seen] == list(range(1, 321)) and seen[-1].fraction == 1.0
    for name in ("01_nets.pth", "04_nets.pth", "04_optims.pth", "losses.jsonl", "train_config.json"):
        assert (tmp_path / "run" / name).is_file(), name
    assert (tmp_path / "run" / "losses.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "run" / "latest.json").read_text())["nets"] == "04_nets.pth"

    judge = train_emotion_classifier(synthetic_expression_dataset(30, 60, seed=3, num_actors=30))
    held_data = make_synthetic_dataset(1, 100, seed=2, num_actors=3)  # actors never seen
    held = list(held_data.sequences)
    scores = score_translations(EmotionManipulator(tmp_path / "run"), judge, held, labels=list(held_data.labels))
    # Measured on the harder dataset (tests/bench/manipulator.py --quick, same settings): jaw 0.97,
    # accuracy 0.55 against chance 0.14 and 0 for the untranslated input (the judge reads real clips right).
    assert scores.jaw_correlation > 0.9
    assert scores.mean_accuracy > 3 * scores.chance_accuracy and scores.mean_accuracy > scores.copy_accuracy + 0.3
    assert scores.cycle_error < scores.change

    # The same judge on an untrained manipulator: these bounds are not met by chance.
    untrained = ManipulatorNetworks(TINY_SIZES, with_discriminator=False)
    untrained.apply(he_init)
    control = score_translations(EmotionManipulator(networks=untrained), judge, held[:3])
    assert control.mean_accuracy < 0.5 or control.jaw_correlation < 0.95


def test_resume_after_interruption_continues_exactly(tmp_path: Path):
    data = synthetic_expression_dataset(2, 40, seed=5, num_actors=2)
    cfg = preset("tiny", iterations_per_epoch=4, epochs=2, decay_epochs=1, batch_size=8)
    straight = ManipulatorTrainer(cfg, data, tmp_path / "a")
    straight.train()

    done: list[int] = []
    first = ManipulatorTrainer(cfg, data, tmp_path / "b", progress=lambda p: done.append(p.iteration),
                               cancel=lambda: len(done) >= 6)
    stopped = first.train()
    assert stopped.cancelled and stopped.iterations == 6
    latest = json.loads((tmp_path / "b" / "latest.json").read_text())
    assert (latest["epoch"], latest["batch"], latest["nets"]) == (1, 2, "partial_00000006_nets.pth")

    resumed = ManipulatorTrainer(cfg, data, tmp_path / "b")
    assert (resumed.epoch, resumed.batch, resumed.iteration) == (1, 2, 6)
    result = resumed.train()
    assert not result.cancelled and result.iterations == 12
    a, b = _state(straight.nets), _state(resumed.nets)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key
    assert not list((tmp_path / "b").glob("partial_*"))  # superseded by the epoch checkpoint
    history = [json.loads(line)["iteration"] for line in (tmp_path / "b" / "losses.jsonl").read_text().splitlines()]
    assert history == sorted(set(history))


def test_cancel_event_stops_at_the_next_iteration(tmp_path: Path):
    import threading

    data = synthetic_expression_dataset(2, 30, seed=5, num_actors=1)
    cancel = threading.Event()

    def progress(p: TrainProgress) -> None:
        if p.iteration == 2:
            cancel.set()

    cfg = preset("tiny", iterations_per_epoch=5, epochs=1, decay_epochs=0, batch_size=4)
    result = ManipulatorTrainer(cfg, data, tmp_path, progress=progress, cancel=cancel).train()
    assert result.cancelled and result.iterations == 2 and result.checkpoint.is_file()


def test_fine_tuning_starts_from_a_pretrained_checkpoint(tmp_path: Path):
    cfg = preset("tiny", iterations_per_epoch=2, epochs=1, decay_epochs=0, batch_size=8)
    pre = ManipulatorTrainer(cfg, synthetic_expression_dataset(2, 30, seed=6), tmp_path / "pre")
    pre.train()
    fine_data = synthetic_expression_dataset(2, 30, seed=7)
    fine = ManipulatorTrainer(cfg, fine_data, tmp_path / "fine", init_from=tmp_path / "pre")
    assert fine.iteration == 0
    before = _state(fine.nets)
    for key, value in _state(pre.nets).items():
        assert torch.equal(before[key], value), key
    fine.train()
    after = _state(fine.nets)
    assert any(not torch.equal(before[k], after[k]) for k in before)

    # An inference-only checkpoint (as released: no discriminator) starts a fresh discriminator, and
    # the checkpoint's widths win over the preset's.
    ckpt = safe_load(tmp_path / "pre" / "01_nets.pth")
    del ckpt["discriminator"], ckpt["ned_vfx"]
    paper_cfg = preset("paper", iterations_per_epoch=1, epochs=1, decay_epochs=0, batch_size=4)
    from_release = ManipulatorTrainer(paper_cfg, fine_data, tmp_path / "fine2", init_from=ckpt)
    assert from_release.config.sizes == TINY_SIZES != PAPER_SIZES
    assert torch.equal(from_release.nets.generator.seq1[0].weight, pre.nets.generator.seq1[0].weight)


def test_atomic_save_never_leaves_a_half_written_file(tmp_path: Path):
    target = tmp_path / "01_nets.pth"
    atomic_torch_save({"a": torch.ones(3)}, target)

    class Unsaveable:
        def __reduce__(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_torch_save({"a": Unsaveable()}, target)
    assert torch.equal(torch.load(target, weights_only=True)["a"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01_nets.pth"]


def _mead_folder(root: Path) -> None:
    data = make_synthetic_dataset(2, 30, seed=8, num_actors=2)
    for i, (seq, lab, actor) in enumerate(zip(data.sequences, data.labels, data.actors)):
        name = f"{['M003', 'M009'][actor]}_{EMOTIONS[lab]}_level3_{i:03d}.npz"
        np.savez(root / name, expression51=seq, frames=np.arange(seq.shape[0]))


def test_cli_trains_on_tracked_clips_and_resumes(tmp_path: Path, capsys):
    clips = tmp_path / "clips"
    clips.mkdir()
    _mead_folder(clips)
    args = ["--data", str(clips), "--out", str(tmp_path / "run"), "--preset", "tiny", "--epochs", "1",
            "--decay-epochs", "0", "--iterations-per-epoch", "3", "--batch-size", "8", "--progress", "none",
            "--val-actors", "M009", "--device", "cpu"]
    assert train_manipulator_main(args) == 0
    latest = json.loads((tmp_path / "run" / "latest.json").read_text())
    assert latest["iteration"] == 3
    records = [json.loads(line) for line in (tmp_path / "run" / "losses.jsonl").read_text().splitlines()]
    assert any("val/G/latent_cyc" in r for r in records)
    assert train_manipulator_main(args) == 0  # a finished run resumes to nothing more
    assert json.loads((tmp_path / "run" / "latest.json").read_text())["iteration"] == 3

    assert train_manipulator_main(["--synthetic", "--data", str(clips), "--out", str(tmp_path / "x")]) == 2
    assert train_manipulator_main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_training_on_a_subset_of_emotions(tmp_path: Path):
    subset = ("neutral", "happy", "sad")
    cfg = preset("tiny", emotions=subset, iterations_per_epoch=1, epochs=1, decay_epochs=0, batch_size=4)
    result = ManipulatorTrainer(cfg, synthetic_expression_dataset(1, 30, seed=9), tmp_path).train()
    manip = EmotionManipulator(result.checkpoint)
    assert manip.emotions == subset and len(manip.nets.mapping_network.unshared) == 3
    assert manip.translate(np.zeros((12, 51), np.float32), EmotionSettings(emotion="sad")).shape == (12, 51)
