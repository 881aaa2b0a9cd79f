"""What the check sections share: the T-task sizes and reading a run's evaluation log."""

from __future__ import annotations

from pathlib import Path

from wave_hf.training.logs import read_csv

from ..records import RunRecord

__all__ = ["D", "S", "TASKS", "best_rate", "eval_log", "finished", "first_step"]

D = S = 8  # components and history length of the variable-binding tasks T1..T4
TASKS = ("T1", "T2", "T3", "T4")


def eval_log(record: RunRecord) -> list[dict[str, float]]:
    """The rows of a finished run's ``logs/eval.csv`` (one per evaluation)."""
    return read_csv(Path(record.require().output_dir) / "logs" / "eval.csv")


def first_step(rows: list[dict[str, float]], key: str, threshold: float, higher: bool = True) -> int | None:
    """The first logged step whose ``key`` reaches ``threshold`` (>= with ``higher``, else <=); None if none does."""
    for r in rows:
        if key in r and (r[key] >= threshold if higher else r[key] <= threshold):
            return int(r["step"])
    return None


def finished(runs: dict[str, RunRecord], name: str, findings: list[str]):
    """The run ``name``'s ``TrainResult`` and its evaluation log, or None after noting in ``findings`` that it failed
    (a failed run becomes a finding of the report, never an exception)."""
    record = runs[name]
    if not record.ok:
        findings.append(f"{name} failed: {record.error}")
        return None
    return record.require(), eval_log(record)


def best_rate(runs: dict[str, RunRecord], names: dict[float, str], findings: list[str]):
    """Of the runs ``names`` (``{learning rate: run name}``), the one with the best last held-out token accuracy:
    ``(lr, TrainResult, eval log, sweep)`` with ``sweep = {lr: accuracy %}``; None when every run failed (each failure
    noted in ``findings``; a run not among ``runs`` is skipped). A run without an evaluation is never the best."""
    best, sweep = None, {}
    for lr, name in names.items():
        done = finished(runs, name, findings) if name in runs else None
        if done is None:
            continue
        res, ev = done
        sweep[lr] = 100 * float(ev[-1]["token_accuracy"]) if ev else float("-inf")
        if best is None or sweep[lr] > sweep[best[0]]:
            best = (lr, res, ev)
    return None if best is None else (*best, sweep)
