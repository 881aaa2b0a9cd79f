"""Run the report's training jobs: each in its own worker process (one torch thread), ``workers`` at a time, through
``wave_hf.training.train``; a finished run in the output folder with the same run config can be reused."""

from __future__ import annotations

import os
import time
import traceback
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import yaml

from wave_hf.training import load_run_config, train
from wave_hf.training.loading import load_train_result

from .records import RunRecord

__all__ = ["JobPool", "finished_run", "one_thread", "train_job"]


def one_thread() -> None:
    """Every training process of the reproduction (the driver and each pool worker) computes on one thread."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(1)


def train_job(cfg: dict[str, Any]) -> RunRecord:
    """Train one run config with the project trainer; never raises (the error goes into the record and the report)."""
    t0 = time.time()
    try:
        result = train(cfg, overwrite=True)
        return RunRecord(cfg["name"], result, time.time() - t0)
    except Exception as exc:  # reported as a finding, with the message
        return RunRecord(cfg["name"], None, time.time() - t0, error=f"{type(exc).__name__}: {exc}",
                         trace=traceback.format_exc(limit=3))


def finished_run(cfg: dict[str, Any]) -> RunRecord | None:
    """The record of a finished run in ``cfg["output_dir"]`` trained with the same run config, else None."""
    out = Path(cfg["output_dir"])
    if not (out / "result.json").is_file() or not (out / "run_config.yaml").is_file():
        return None
    if yaml.safe_load((out / "run_config.yaml").read_text()) != load_run_config(cfg).to_dict():
        return None
    result = load_train_result(out)
    return RunRecord(cfg["name"], result, float(result.wall_time_s), reused=True)


class JobPool:
    """Worker processes that train the jobs in the background while the main process runs the checks that need no
    training. Use as a context manager: ``submit(jobs, reuse)``, then ``records()`` (blocks, in job order)."""

    def __init__(self, workers: int):
        self._pool = ProcessPoolExecutor(max_workers=max(1, workers), mp_context=get_context("spawn"),
                                         initializer=one_thread)
        self._pending: dict[str, RunRecord | Future] = {}

    def __enter__(self) -> JobPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=exc[0] is not None)

    def add_finished(self, records: dict[str, RunRecord]) -> None:
        """Report these finished runs (reused) with the jobs of this pool."""
        self._pending.update(records)

    def submit(self, jobs: dict[str, dict[str, Any]], reuse: bool = False) -> None:
        """Start every job (in the order given); with ``reuse``, a run already finished with the same config is
        taken as it is."""
        for name, cfg in jobs.items():
            found = finished_run(cfg) if reuse else None
            self._pending[name] = found if found is not None else self._pool.submit(train_job, cfg)

    def records(self, progress: bool = True) -> dict[str, RunRecord]:
        """Every run's record, by name, in submission order (waits for the running ones); with ``progress``, prints
        one line per run (and the traceback of a failed one)."""
        out = {}
        for name, item in self._pending.items():
            record = item if isinstance(item, RunRecord) else item.result()
            out[name] = record
            if progress:
                status = f"{record.require().steps} steps" if record.ok else f"FAILED {record.error[:80]}"
                print(f"[reproduce]   {name}: {status} ({record.job_s:.0f} s)", flush=True)
                if record.trace:
                    print(record.trace, flush=True)
        return out
