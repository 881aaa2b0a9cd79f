"""Diverging runs, CLI errors and precision checks: every failure names its cause and loses nothing saved."""

from __future__ import annotations

import math

import pytest

from wave_hf import cli
from wave_hf.training import RunConfigError, TrainingDiverged, train
from wave_hf.training.checkpoints import CheckpointManager

from .conftest import reset_accelerate, tiny_config, write_config


def _diverging(out):
    # Adam moves every weight by ~lr on the first step: with lr = 1e30 the second forward overflows to inf
    return tiny_config(out, steps=10, optim={"lr": 1e30, "batch_size": 8, "max_grad_norm": None},
                       checkpointing={"every": 1, "keep_last": 3})


def test_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged) as exc:
        train(_diverging(out))
    msg = str(exc.value)
    mgr = CheckpointManager(out / "checkpoints")
    last = mgr.latest()
    step = mgr.read_state(last)["step"]
    assert f"non-finite loss inf at step {step + 1}" in msg or f"non-finite loss nan at step {step + 1}" in msg, msg
    assert f"the last good checkpoint is kept: {last}" in msg and "nothing was saved after step" in msg
    assert step >= 1 and [s for s, _ in mgr.complete()] == list(range(max(1, step - 2), step + 1))
    assert not (out / "model").exists()
    logged = (out / "logs" / "train.csv").read_text().strip().splitlines()
    assert len(logged) == 1 + step and all(math.isfinite(float(r.split(",")[1])) for r in logged[1:])


def test_cli_exit_codes_and_messages(tmp_path, capsys):
    path = write_config(tmp_path / "run.yaml", tiny_config(tmp_path / "out"))
    assert cli.main(["train", "--config", str(path), "--optim.lrr=1"]) == 2
    assert "`optim.lrr`" in capsys.readouterr().err
    assert cli.main(["train", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "--config", str(path), "positional"])
    assert "overrides look like --key=value" in capsys.readouterr().err
    reset_accelerate()
    diverging = write_config(tmp_path / "bad.yaml", _diverging(tmp_path / "bad"))
    assert cli.main(["train", "--config", str(diverging)]) == 1
    assert "non-finite loss" in capsys.readouterr().err
    reset_accelerate()
    assert cli.main(["check", "--config", str(path)]) == 0
    assert "ok: tiny_elman_rnn_linear_vb: elman_rnn" in capsys.readouterr().out
    assert cli.main(["bogus"]) == 2


def test_fp16_on_cpu_is_refused_and_bf16_trains(tmp_path):
    with pytest.raises(RunConfigError, match="fp16` does nothing on CPU"):
        train(tiny_config(tmp_path / "fp16", mixed_precision="fp16"))
    reset_accelerate()
    result = train(tiny_config(tmp_path / "bf16", steps=3, mixed_precision="bf16"))
    assert result.steps == 3 and math.isfinite(result.train_metrics["loss"])


def test_batch_not_divisible_is_refused_before_training(tmp_path):
    with pytest.raises(RunConfigError, match=r"`optim.batch_size`=8 .*gradient_accumulation_steps \(3\)"):
        train(tiny_config(tmp_path / "x"), ["--optim.gradient_accumulation_steps=3"])
    assert not (tmp_path / "x" / "checkpoints").exists()


def test_a_second_run_cannot_write_into_a_busy_output_dir(tmp_path):
    from wave_hf.training.trainer import _lock_output_dir

    out = tmp_path / "run"
    held = _lock_output_dir(out)  # another live run holds the folder
    try:
        with pytest.raises(RunConfigError, match=f"{out} is being written by another training process \\(pid "):
            train(tiny_config(out))
    finally:
        held.close()
    reset_accelerate()
    assert train(tiny_config(out, steps=2)).steps == 2  # free again once the holder is gone


def test_damaged_log_rows_are_skipped(tmp_path):
    from wave_hf.training.logs import CSVTracker, read_csv

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "train.csv").write_text("step,loss\n1,0.5\n2,0.4\n3,0.3\n4,0.\x00\x00\x00")
    assert [r["step"] for r in read_csv(logs / "train.csv")] == [1, 2, 3]
    tracker = CSVTracker(logs, {"train": ["step", "loss"], "eval": ["step", "loss"]}, resume_step=2)
    tracker.start()
    tracker.finish()
    assert (logs / "train.csv").read_text() == "step,loss\n1,0.5\n2,0.4\n"
