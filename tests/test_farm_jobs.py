"""Farm jobs in the open formats: an OpenJD template run end to end by the `openjd` CLI, and an OpenCue job.

The OpenJD run is real: `ned farm-job` writes the template, `openjd run` (openjd-cli, the reference
runtime) runs its Track step and then every Manipulate chunk as `ned` subprocesses against a real
server on a loopback port, and the chunks' plates must equal one full `ned manipulate` of the shot,
byte for byte. The OpenCue job is built with pyoutline and serialised to the spec cuebot takes (no
cuebot here).
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from ned_plugin.farm_jobs import JobPlan, TrainPlan, frame_chunks, opencue_outline, opencue_xml, openjd_template
from tests.pipeline_assets import synthetic_shot, write_tiny_actor, write_tiny_manipulator
from tests.test_full_loop import ned, write_shot

BIN = Path(sys.executable).parent
NED = str(BIN / "ned")
OPENJD = str(BIN / "openjd")


@pytest.fixture(scope="module")
def shot():
    return synthetic_shot(frames=10, size=96, seed=9, first=1001, face_scale=(3.2, 3.6))


def plan(**override: object) -> JobPlan:
    values: dict = {"name": "NED sh010 happy", "plates": "/show/sh010/plate.####.exr", "first": 1001, "last": 1100,
                    "shot_id": "sh010", "actor": "anna", "output": "/show/sh010/ned/sh010_happy.####.exr",
                    "chunk_size": 10, "preroll": 25}
    return JobPlan(**{**values, **override})


def test_chunks_cover_the_shot_once_each_with_the_preroll_it_can_have() -> None:
    chunks = frame_chunks(1001, 1047, 10, 25)
    assert [c.frames for c in chunks] == ["1001-1010", "1011-1020", "1021-1030", "1031-1040", "1041-1047"]
    assert [c.preroll for c in chunks] == [0, 10, 20, 25, 25]
    with pytest.raises(ValueError):
        frame_chunks(1010, 1001, 10, 0)


def test_the_openjd_template_validates_and_its_tasks_are_the_chunks() -> None:
    from openjd.model import StepParameterSpaceIterator, create_job, decode_job_template

    template = openjd_template(plan(train=TrainPlan("tiny", 4)))
    job = create_job(job_template=decode_job_template(template=template), job_parameter_values={})
    steps = {s.name: s for s in job.steps}
    assert list(steps) == ["Track", "TrainActor", "Manipulate"]
    assert steps["Track"].parameterSpace is None  # once
    assert [d.dependsOn for d in steps["TrainActor"].dependencies] == ["Track"]
    assert [d.dependsOn for d in steps["Manipulate"].dependencies] == ["Track", "TrainActor"]
    tasks = [{k: v.value for k, v in t.items()} for t in StepParameterSpaceIterator(space=steps["Manipulate"]
                                                                                    .parameterSpace)]
    assert tasks[:4] == [{"Frames": "1001-1010", "Preroll": "0"}, {"Frames": "1011-1020", "Preroll": "10"},
                         {"Frames": "1021-1030", "Preroll": "20"}, {"Frames": "1031-1040", "Preroll": "25"}]
    assert len(tasks) == 10
    args = template["steps"][2]["script"]["actions"]["onRun"]["args"]
    assert args[args.index("--frames") + 1] == "{{Task.Param.Frames}}" and "openjd" in args
    assert "TrainActor" not in str(openjd_template(plan()))


def test_the_opencue_job_has_a_track_layer_and_a_chunked_manipulate_layer_after_it() -> None:
    spec = ET.fromstring(opencue_xml(opencue_outline(plan(), show="testing", user="td")).split("?>", 1)[1]
                         .split(">", 1)[1])  # past the XML and DOCTYPE declarations
    layers = {layer.get("name"): layer for layer in spec.iter("layer")}
    assert list(layers) == ["track", "manipulate"]
    assert layers["track"].findtext("range") == "1"
    manipulate = layers["manipulate"]
    assert manipulate.findtext("range") == "1001-1100" and manipulate.findtext("chunk") == "10"
    cmd = manipulate.findtext("cmd")
    assert "--frames '#FRAME_START#-#FRAME_END#'" in cmd and "--preroll 25" in cmd and cmd.startswith("ned manipulate")
    depends = [(d.findtext("deplayer"), d.findtext("onlayer")) for d in spec.iter("depend")]
    assert depends == [("manipulate", "track")]
    assert spec.find("job").get("name") == "NED_sh010_happy"


def _openjd(template: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OPENJD, "run", str(template), *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NED_TOKEN": ""})


def test_openjd_runs_the_template_and_the_chunks_equal_one_full_run(server, shot, tmp_path, capsys) -> None:
    write_tiny_manipulator(server.config.models_dir)
    write_tiny_actor(server.config.store_dir, "anna")
    address = f"127.0.0.1:{server.port}"
    pattern, landmarks = write_shot(shot, tmp_path / "plates")
    chunks = tmp_path / "chunks" / "sh040.####.exr"
    template = tmp_path / "sh040.template.yaml"
    assert ned("farm-job", pattern, "--frames", "1001-1010", "--shot-id", "sh040", "--actor", "anna",
               "--emotion", "happy", "--landmarks", str(landmarks), "--output", str(chunks), "--chunk", "4",
               "--preroll", "25", "--server", address, "--ned-command", NED, "--out", str(template)) == 0
    assert "3 manipulate chunks" in capsys.readouterr().out
    doc = yaml.safe_load(template.read_text())
    assert doc["specificationVersion"] == "jobtemplate-2023-09"
    run = _openjd(template, "--step", "Manipulate", "--run-dependencies")
    log = run.stdout + run.stderr
    (tmp_path / "openjd.log").write_text(log)
    assert run.returncode == 0, log[-4000:]
    assert "openjd_progress: 100.0" in log and "openjd_status: fit" in log and "openjd_status: render" in log
    full = tmp_path / "full" / "sh040.####.exr"
    assert ned("manipulate", "--shot-id", "sh040", "--actor", "anna", "--emotion", "happy", "--output", str(full),
               "--server", address, "--progress", "none") == 0
    for n in range(1001, 1011):
        a = Path(str(full).replace("####", f"{n:04d}")).read_bytes()
        b = Path(str(chunks).replace("####", f"{n:04d}")).read_bytes()
        assert a == b, n

    # Bad input through the runner: the CLI's messages reach the task log, and the task fails.
    missing = _openjd(template, "--step", "Manipulate", "--no-run-dependencies", "-p", "Server=" + address,
                      "--task-param", "Frames=1001-1004", "--task-param", "Preroll=0")
    assert missing.returncode == 0  # a tracked shot: this one chunk alone runs fine
    other = tmp_path / "other.template.yaml"
    assert ned("farm-job", pattern, "--frames", "1001-1010", "--shot-id", "never-tracked", "--actor", "anna",
               "--emotion", "happy", "--output", str(chunks), "--server", address, "--ned-command", NED,
               "--out", str(other)) == 0
    untracked = _openjd(other, "--step", "Manipulate", "--no-run-dependencies", "--maximum-tasks", "1")
    assert untracked.returncode != 0 and "never-tracked" in untracked.stdout + untracked.stderr
    assert "openjd_fail:" in untracked.stdout + untracked.stderr
    unreachable = _openjd(template, "--step", "Track", "-p", "Server=127.0.0.1:1")
    text = unreachable.stdout + unreachable.stderr
    assert unreachable.returncode != 0 and "cannot reach the NED server" in text, text[-3000:]


def test_farm_job_refuses_bad_input_with_the_clis_exit_codes(tmp_path, capsys) -> None:
    out = tmp_path / "job.yaml"
    base = ["farm-job", "p.####.exr", "--shot-id", "s", "--actor", "a", "--emotion", "happy", "--output", "o.####.exr",
            "--out", str(out)]
    assert ned(*base, "--frames", "1001-1010", "--chunk", "0") == 2
    assert "chunk size" in capsys.readouterr().out and not out.exists()
    assert ned(*base, "--frames", "1001-1010", "--format", "opencue", "--out", str(tmp_path / "job.xml")) == 0
    assert (tmp_path / "job.xml").read_text().startswith("<?xml")
