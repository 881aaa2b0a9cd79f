"""Fixtures of the trainer tests: tiny run configs, a clean accelerate state, subprocess helpers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TRAIN_SCRIPT = REPO / "scripts" / "train.py"
BIN = Path(sys.executable).parent

# tiny members of every family (a few thousand parameters: steps take milliseconds)
TINY_MODELS = {
    # the shipped test-size model file, tied embeddings included; its vocab_size is replaced by the dataset's
    "wave_lbc": {"file": "wave_lbc_tiny", "vocab_size": None,
                 "num_hidden_layers": 1},
    "wave_sbc": {"model_type": "wave_sbc", "hidden_size": 16, "num_attention_heads": 2, "history_length": 4,
                 "num_hidden_layers": 1},
    "elman_rnn": {"model_type": "elman_rnn", "hidden_size": 16},
    "lstm_rnn": {"model_type": "lstm_rnn", "hidden_size": 8},
    "llama": {"model_type": "llama", "hidden_size": 16, "num_attention_heads": 2, "num_key_value_heads": 2,
              "intermediate_size": 32, "num_hidden_layers": 1, "max_position_embeddings": 64},
}
TINY_DATA = {
    "linear_vb": {"name": "linear_vb", "params": {"task": "T1", "d": 4, "s": 4, "horizon": 6}},
    "associative_recall": {"name": "associative_recall", "params": {"vocab_size": 12, "input_seq_len": 14}},
    "var": {"name": "var", "params": {"d": 3, "s": 2, "seq_len": 12}},
}


def tiny_config(out: Path, model: str = "elman_rnn", data: str = "linear_vb", steps: int = 6, **sections) -> dict:
    """A complete run config (plain dict) for a few-step run in ``out``."""
    cfg = {
        "name": f"tiny_{model}_{data}",
        "seed": 0,
        "output_dir": str(out),
        "steps": steps,
        "num_threads": 1,
        "model": dict(TINY_MODELS[model]),
        "dataset": dict(TINY_DATA[data]),
        "optim": {"lr": 3e-3, "batch_size": 8, "max_grad_norm": 1.0},
        "evaluation": {"every": 0, "batches": 2, "batch_size": 8},
        "checkpointing": {"every": 0, "keep_last": 2},
        "logging": {"every": 1, "progress_bar": False, "tensorboard": "off"},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    return cfg


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def subprocess_env(**extra: str) -> dict[str, str]:
    """The test environment (offline Hub, temp caches) with one thread per process."""
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def run_py(args: list[str], env: dict[str, str] | None = None, timeout: float = 120, check: bool = True):
    """Run ``python ARGS`` in the repo root; returns the CompletedProcess (stdout/stderr as text)."""
    proc = subprocess.run([sys.executable, *args], cwd=REPO, env=env or subprocess_env(), capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n"
                             f"{proc.stderr[-4000:]}")
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reset_accelerate() -> None:
    """In-process runs create an Accelerator; reset accelerate's singletons so runs stay independent."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def run_train_script(args: list[str]) -> tuple[int, str]:
    """Run the module ``scripts.train`` with ARGS in this interpreter (saves the ~5 s start-up of a new one); returns
    the exit code and what it printed on stdout."""
    import contextlib
    import io
    import runpy

    buf = io.StringIO()
    old_argv = sys.argv
    sys.argv = [str(TRAIN_SCRIPT), *args]
    code = 0
    try:
        with contextlib.redirect_stdout(buf):
            runpy.run_module("scripts.train", run_name="__main__", alter_sys=True)
    except SystemExit as e:
        code = int(e.code or 0)
    finally:
        sys.argv = old_argv
        reset_accelerate()
    return code, buf.getvalue()


@pytest.fixture(autouse=True)
def _fresh_accelerate_state():
    yield
    reset_accelerate()


def write_tiny_corpus(folder: Path, docs: int = 10) -> Path:
    """A folder of ``docs`` small UTF-8 text files of varied lengths (a few bytes to several 32-byte blocks), with
    2-, 3- and 4-byte characters, plus a ``skip.md`` that ``include: "*.txt"`` leaves out."""
    folder.mkdir(parents=True, exist_ok=True)
    words = ["def", "wave", "é", "x = 1\n", "€", "𝄞", "return", " "]
    for i in range(docs):
        text = "".join(words[(i * 3 + k) % len(words)] for k in range(1 + (7 * i) % 23))
        (folder / f"doc{i:02d}.txt").write_text(text, encoding="utf-8")
    (folder / "skip.md").write_text("not included\n", encoding="utf-8")
    return folder


def corpus_config(out: Path, corpus: Path | str, model: str = "llama", steps: int = 3, block_size: int = 16,
                  **sections) -> dict:
    """``tiny_config`` on a corpus (``dataset.corpus``) instead of a synthetic family, cached below ``out``."""
    cfg = tiny_config(out, model=model, steps=steps, **sections)
    cfg["name"] = f"tiny_{model}_corpus"
    cfg["dataset"] = {"corpus": str(corpus), "block_size": block_size, "validation_fraction": 0.3,
                      "include": "*.txt", "cache_dir": str(out.parent / "corpus_cache")}
    return cfg
