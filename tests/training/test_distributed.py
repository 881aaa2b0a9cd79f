"""Data parallelism: 2 gloo ranks on CPU (the README's ``ACCELERATE_USE_CPU=1 accelerate launch`` line) follow the
same losses and end at the same parameters as 1 process with the same global batch, on a synthetic family and on a
corpus; so does gradient accumulation."""

from __future__ import annotations

import csv
import json
import subprocess

import pytest
import torch
from safetensors.torch import load_file

from wave_hf.training import train

from .conftest import (
    BIN,
    TRAIN_SCRIPT,
    corpus_config,
    free_port,
    subprocess_env,
    tiny_config,
    write_config,
    write_tiny_corpus,
)

STEPS = 5


def _log(run_dir, name="train.csv"):
    with open(run_dir / "logs" / name) as f:
        return list(csv.DictReader(f))


def _assert_same_run(a, b, rtol=1e-5, metric="bit_accuracy"):
    la, lb = _log(a), _log(b)
    assert [r["step"] for r in la] == [r["step"] for r in lb] == [str(i) for i in range(1, STEPS + 1)]
    for ra, rb in zip(la, lb):
        for col in ("loss", metric, "grad_norm", "lr"):
            assert float(ra[col]) == pytest.approx(float(rb[col]), rel=rtol, abs=1e-7), (col, ra, rb)
    ea, eb = _log(a, "eval.csv"), _log(b, "eval.csv")
    assert len(ea) == len(eb) == 1
    for col in ("loss", metric):
        assert float(ea[0][col]) == pytest.approx(float(eb[0][col]), rel=rtol), (col, ea, eb)
    pa, pb = load_file(a / "model" / "model.safetensors"), load_file(b / "model" / "model.safetensors")
    assert pa.keys() == pb.keys()
    for k in pa:
        torch.testing.assert_close(pa[k], pb[k], rtol=rtol, atol=1e-6)


def _cfg(out):
    return tiny_config(out, model="elman_rnn", data="linear_vb", steps=STEPS,
                       optim={"lr": 1e-2, "batch_size": 8, "scheduler": "linear", "warmup_steps": 2},
                       evaluation={"every": STEPS, "batches": 2, "batch_size": 8})


def _launch_two_ranks(path):
    cmd = [str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
           str(TRAIN_SCRIPT), "--config", str(path)]
    proc = subprocess.run(cmd, env=subprocess_env(ACCELERATE_USE_CPU="1"), capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]


def test_two_gloo_ranks_match_one_process(tmp_path):
    one = tmp_path / "one"
    train(_cfg(one))
    two = tmp_path / "two"
    _launch_two_ranks(write_config(tmp_path / "two.yaml", _cfg(two)))
    # two ranks really ran: accelerate reports a world of 2, each rank trained on half the global batch, and each
    # rank wrote its own RNG state into the checkpoint
    info = json.loads((two / "run_info.json").read_text())
    assert info["num_processes"] == 2 and info["distributed_type"].endswith("MULTI_CPU"), info
    assert info["micro_batch_per_process"] == 4
    ckpt = two / "checkpoints" / f"step_{STEPS:08d}"
    assert sorted(p.name for p in ckpt.glob("random_states_*.pkl")) == ["random_states_0.pkl", "random_states_1.pkl"]
    assert json.loads((one / "run_info.json").read_text())["num_processes"] == 1
    _assert_same_run(one, two)


def test_gradient_accumulation_matches_the_full_batch(tmp_path):
    train(_cfg(tmp_path / "full"))
    train(_cfg(tmp_path / "accum"), ["--optim.gradient_accumulation_steps=4"])
    _assert_same_run(tmp_path / "full", tmp_path / "accum")
    assert json.loads((tmp_path / "accum" / "run_info.json").read_text())["micro_batch_per_process"] == 2


def test_two_gloo_ranks_match_one_process_on_a_corpus(tmp_path):
    """The same corpus run config (Llama, packed rows with position_ids) under 2 ranks: same rows, same losses and
    bits per byte. The validation split has 10 rows, so the last evaluation batch of 4 leaves rank 1 nothing."""
    docs = write_tiny_corpus(tmp_path / "docs")

    def cfg(out):
        return corpus_config(out, docs, steps=STEPS, optim={"lr": 1e-2, "batch_size": 4},
                             evaluation={"every": STEPS, "batches": 3, "batch_size": 4})

    train(cfg(tmp_path / "one"))
    _launch_two_ranks(write_config(tmp_path / "two.yaml", cfg(tmp_path / "two")))
    info = json.loads((tmp_path / "two" / "run_info.json").read_text())
    assert info["num_processes"] == 2 and info["micro_batch_per_process"] == 2, info
    _assert_same_run(tmp_path / "one", tmp_path / "two", metric="bits_per_byte")
    ea = _log(tmp_path / "two", "eval.csv")
    assert float(ea[0]["perplexity"]) > 1
    result = json.loads((tmp_path / "two" / "result.json").read_text())
    assert result["test_metrics"]["num_sequences"] == 10 and result["num_processes"] == 2
