"""Run logs: CSV always (zero-dependency), TensorBoard when installed, on the main process only.

``OUTPUT/logs/train.csv`` (one row per logged optimizer step) and ``OUTPUT/logs/eval.csv`` (one row per evaluation).
On resume, rows after the resumed step (written by the killed process after its last checkpoint) are dropped first, so
the logs of a resumed run equal those of an uninterrupted one. TensorBoard events go to ``OUTPUT/logs/tensorboard``
(``purge_step`` discards the same stale events).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

__all__ = ["RunLogger", "read_csv"]


def _float(v: str | None) -> float:
    return float(v) if v not in ("", None) else math.nan


def _parse_row(row: dict[str, str | None]) -> dict[str, float] | None:
    """A CSV row as floats, or None for a damaged one (e.g. the last line of a process killed mid-write)."""
    try:
        return {k: _float(v) for k, v in row.items() if k is not None}
    except (TypeError, ValueError):
        return None


def read_csv(path: str | Path) -> list[dict[str, float]]:
    """Rows of a log CSV as floats (empty cells -> NaN; damaged rows skipped); [] if the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [r for r in map(_parse_row, csv.DictReader(f)) if r is not None]


class _CsvLog:
    def __init__(self, path: Path, columns: list[str], resume_step: int | None):
        self.path, self.columns = path, columns
        kept: list[dict[str, str]] = []
        if resume_step is not None and path.is_file():
            with open(path, newline="") as f:
                reader = csv.DictReader(f)
                if reader.fieldnames == columns:
                    kept = [r for r in reader if (p := _parse_row(r)) is not None and p["step"] <= resume_step]
        self._f = open(path, "w", newline="")
        self._w = csv.DictWriter(self._f, fieldnames=columns, extrasaction="ignore")
        self._w.writeheader()
        self._w.writerows(kept)
        self._f.flush()

    def write(self, row: dict[str, Any]) -> None:
        self._w.writerow({k: ("" if row.get(k) is None else row[k]) for k in self.columns})
        self._f.flush()

    def close(self) -> None:
        self._f.close()


class RunLogger:
    """Writes train/eval rows to CSV and (optionally) TensorBoard. A no-op on non-main processes.

    Args:
        log_dir: ``OUTPUT/logs``.
        train_columns / eval_columns: CSV columns (``step`` first).
        enabled: False on non-main processes.
        tensorboard: ``auto`` (use it when importable), ``on`` (fail if missing), ``off``.
        resume_step: the step of the checkpoint being resumed (None for a fresh run: files are rewritten).
    """

    def __init__(self, log_dir: str | Path, train_columns: list[str], eval_columns: list[str], enabled: bool = True,
                 tensorboard: str = "auto", resume_step: int | None = None):
        self.enabled = enabled
        self.tb = None
        if not enabled:
            return
        self.dir = Path(log_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.train = _CsvLog(self.dir / "train.csv", train_columns, resume_step)
        self.eval = _CsvLog(self.dir / "eval.csv", eval_columns, resume_step)
        if tensorboard != "off":
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                if tensorboard == "on":
                    raise RuntimeError("logging.tensorboard is 'on' but tensorboard is not installed "
                                       "(pip install tensorboard, or set logging.tensorboard: auto)") from None
            else:
                purge = None if resume_step is None else resume_step + 1
                self.tb = SummaryWriter(str(self.dir / "tensorboard"), purge_step=purge)

    def _tb(self, prefix: str, row: dict[str, Any]) -> None:
        if self.tb is None:
            return
        step = int(row["step"])
        for k, v in row.items():
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool) and v is not None:
                self.tb.add_scalar(f"{prefix}/{k}", v, step)

    def log_train(self, row: dict[str, Any]) -> None:
        if self.enabled:
            self.train.write(row)
            self._tb("train", row)

    def log_eval(self, row: dict[str, Any]) -> None:
        if self.enabled:
            self.eval.write(row)
            self._tb("eval", row)

    def close(self) -> None:
        if not self.enabled:
            return
        self.train.close()
        self.eval.close()
        if self.tb is not None:
            self.tb.close()
