"""Shared by the experiments tests: the run config of a tiny training run (an Elman RNN on T1, d = s = 3, 4 steps,
a checkpoint every 2 steps) that trains in a few seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def tiny_run_config(out: Path) -> dict[str, Any]:
    return {
        "name": "tiny", "seed": 0, "output_dir": str(out), "steps": 4, "num_threads": 1,
        "model": {"model_type": "elman_rnn", "hidden_size": 8, "num_hidden_layers": 1, "use_bias": False},
        "dataset": {"name": "linear_vb", "params": {"task": "T1", "d": 3, "s": 3, "horizon": 2}},
        "optim": {"optimizer": "adam", "lr": 1e-2, "batch_size": 4},
        "evaluation": {"every": 0, "batches": 1, "batch_size": 4, "final": True},
        "logging": {"every": 1, "tensorboard": "off", "progress_bar": False},
        "checkpointing": {"every": 2, "keep_last": 3},
    }
