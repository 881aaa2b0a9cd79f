"""Crash safety: a run SIGKILLed mid-training, or while writing a checkpoint, resumes to exactly the parameters of the
uninterrupted run; the last good checkpoint is never damaged; config changes that would silently change the run are
refused."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from wave_hf.training import RunConfigError, train
from wave_hf.training.checkpoints import CheckpointManager

from .conftest import run_py, tiny_config, write_config

STEPS = 20


def _cfg(out):
    # Adam state, a warm-up + cosine schedule and a curriculum all have to come back exactly
    return tiny_config(out, model="elman_rnn", data="linear_vb", steps=STEPS,
                       optim={"lr": 1e-2, "batch_size": 8, "scheduler": "cosine", "warmup_steps": 3},
                       curriculum={"param": "horizon", "values": [4, 6, 8], "threshold": 0.6},
                       evaluation={"every": 10, "batches": 2, "batch_size": 8},
                       checkpointing={"every": 5, "keep_last": 2})


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight") / "run"
    train(_cfg(out))
    from .conftest import reset_accelerate

    reset_accelerate()
    return out


def _rows(run, name="train.csv"):
    with open(run / "logs" / name) as f:
        return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in csv.DictReader(f)]


def _assert_identical(a, b):
    pa, pb = load_file(a / "model" / "model.safetensors"), load_file(b / "model" / "model.safetensors")
    assert pa.keys() == pb.keys()
    for k in pa:
        assert torch.equal(pa[k], pb[k]), k
    assert _rows(a) == _rows(b)
    assert _rows(a, "eval.csv") == _rows(b, "eval.csv")
    sa = CheckpointManager.read_state(CheckpointManager(a / "checkpoints").latest())
    sb = CheckpointManager.read_state(CheckpointManager(b / "checkpoints").latest())
    assert sa["curriculum"] == sb["curriculum"] and sa["step"] == sb["step"] == STEPS
    # accelerate's save counter continues across the resume (load_state() alone would reset it to 0)
    assert sa["accelerate_iteration"] == sb["accelerate_iteration"] == STEPS // 5


def _killed_run(tmp_path, fault):
    out = tmp_path / "run"
    path = write_config(tmp_path / "run.yaml", _cfg(out))
    # the harness runs `wave-hf train` and SIGKILLs the process at the fault point (see crash_harness.py)
    proc = run_py(["-m", "tests.training.crash_harness", fault, "--config", str(path)], check=False)
    assert proc.returncode == -9, (proc.returncode, proc.stderr[-3000:])  # died by SIGKILL
    assert not (out / "model").exists()
    return out, path


def test_sigkill_mid_training_then_resume_reproduces_the_uninterrupted_run(tmp_path, straight):
    out, path = _killed_run(tmp_path, "after_step:13")
    assert [p.name for p in sorted((out / "checkpoints").iterdir())] == ["step_00000005", "step_00000010"]
    assert len(_rows(out)) == 13  # the killed process logged steps 11..13 after its last checkpoint
    result = train(path, resume=True)
    assert result.steps == STEPS
    _assert_identical(straight, out)


def test_sigkill_while_writing_a_checkpoint_keeps_the_last_good_one(tmp_path, straight):
    out, path = _killed_run(tmp_path, "in_checkpoint:10")
    ck = out / "checkpoints"
    # the half-written checkpoint exists only under its temp name; step 5 is complete and untouched
    assert sorted(p.name for p in ck.iterdir()) == [".tmp-step_00000010", "step_00000005"]
    assert any((ck / ".tmp-step_00000010").iterdir())
    assert CheckpointManager(ck).latest().name == "step_00000005"
    assert CheckpointManager.read_state(ck / "step_00000005")["step"] == 5
    train(path, resume=True)
    assert not (ck / ".tmp-step_00000010").exists()
    _assert_identical(straight, out)


def test_existing_run_is_protected_and_resume_refuses_changed_config(tmp_path, straight):
    run = tmp_path / "copy"
    shutil.copytree(straight, run)
    cfg = _cfg(run)
    with pytest.raises(RunConfigError, match="already holds checkpoints.*--resume.*--overwrite"):
        train(cfg)
    with pytest.raises(RunConfigError, match=r"cannot resume: .*\['model'\]"):
        train(cfg, ["--model.hidden_size=12"], resume=True)
    # a longer run may continue the finished one
    result = train(cfg, ["--steps=22"], resume=True)
    assert result.steps == 22
    rows = _rows(run)
    assert [int(r["step"]) for r in rows] == list(range(1, 23))
    assert json.loads((run / "result.json").read_text())["steps"] == 22
