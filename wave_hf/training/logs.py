"""Run logs through accelerate's trackers: ``Accelerator(log_with=[CSVTracker(...), TensorBoardTracker(...)])``.

The trainer logs ``{"train/loss": ..., "train/<metric>": ...}`` or ``{"eval/...": ...}`` with ``accelerator.log``
(main process only). ``CSVTracker`` is ours because accelerate ships no CSV tracker: it writes
``OUTPUT/logs/train.csv`` (one row per logged optimizer step) and ``OUTPUT/logs/eval.csv`` (one row per evaluation),
the files the plots, the model card and the paper-reproduction read back with ``read_csv``. On resume, rows after the
resumed step (written by the killed process after its last checkpoint) are dropped first, so the logs of a resumed
run equal those of an uninterrupted one. TensorBoard is accelerate's own ``TensorBoardTracker``, writing to
``OUTPUT/logs/tensorboard`` (on resume ``purge_step`` discards the same stale events).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from accelerate.tracking import GeneralTracker

__all__ = ["CSVTracker", "make_trackers", "read_csv"]


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


class _CsvFile:
    """One log CSV: rewritten at open (keeping the rows up to ``resume_step`` of a file with the same columns)."""

    def __init__(self, path: Path, columns: list[str], resume_step: int | None):
        self.columns = columns
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


class CSVTracker(GeneralTracker):
    """An accelerate tracker writing one CSV per key prefix: ``{"train/loss": 0.5}`` at step 3 becomes the row
    ``step=3, loss=0.5`` of ``train.csv``.

    Args:
        log_dir: ``OUTPUT/logs``.
        columns: ``{prefix: CSV columns}`` (``step`` first), e.g. ``{"train": [...], "eval": [...]}``.
        resume_step: the step of the checkpoint being resumed (None for a fresh run: the files are rewritten).
    """

    name = "csv"
    requires_logging_directory = True

    def __init__(self, log_dir: str | Path, columns: dict[str, list[str]], resume_step: int | None = None):
        super().__init__()
        self.log_dir = Path(log_dir)
        self.columns = columns
        self.resume_step = resume_step
        self.files: dict[str, _CsvFile] = {}

    @property
    def tracker(self) -> dict[str, _CsvFile]:
        return self.files

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.files = {prefix: _CsvFile(self.log_dir / f"{prefix}.csv", cols, self.resume_step)
                      for prefix, cols in self.columns.items()}

    def log(self, values: dict[str, Any], step: int | None = None, **kwargs) -> None:
        rows: dict[str, dict[str, Any]] = {}
        for key, value in values.items():
            prefix, sep, column = key.partition("/")
            if not sep or prefix not in self.files:
                raise KeyError(f"CSVTracker: {key!r} is not '<prefix>/<column>' with a prefix in {list(self.files)}")
            rows.setdefault(prefix, {"step": step})[column] = value
        for prefix, row in rows.items():
            self.files[prefix].write(row)

    def finish(self) -> None:
        for f in self.files.values():
            f.close()
        self.files = {}


def make_trackers(log_dir: str | Path, columns: dict[str, list[str]], tensorboard: str,
                  resume_step: int | None = None) -> list[GeneralTracker]:
    """The trackers of a run: the CSV tracker always; TensorBoard when ``tensorboard`` is ``on``, or ``auto`` and
    installed (``off``: never)."""
    from accelerate.tracking import TensorBoardTracker
    from accelerate.utils import is_tensorboard_available

    trackers: list[GeneralTracker] = [CSVTracker(log_dir, columns, resume_step)]
    if tensorboard == "off":
        return trackers
    if not is_tensorboard_available():
        if tensorboard == "on":
            raise RuntimeError("logging.tensorboard is 'on' but tensorboard is not installed "
                               "(pip install tensorboard, or set logging.tensorboard: auto)")
        return trackers
    purge = {} if resume_step is None else {"purge_step": resume_step + 1}
    trackers.append(TensorBoardTracker("tensorboard", log_dir, **purge))
    return trackers
