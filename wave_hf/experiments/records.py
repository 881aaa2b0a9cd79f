"""Typed records of the reproduction: a report row, a table under its own heading, the outcome of one training run, a
section's rows, tables and findings."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from wave_hf.training import TrainResult

__all__ = ["CONSTRUCTION", "REPRODUCTION", "Row", "RunRecord", "SectionResult", "Table", "construction_rows"]

REPRODUCTION = "reproduction"
"""Row kind: evidence for or against a claim of the paper (trained models, the paper's numbers)."""
CONSTRUCTION = "construction"
"""Row kind: a check of the code on a construction with a known answer (no training): a unit test of the tools, not
reproduction evidence; report.md lists these rows in their own table."""


@dataclass
class Row:
    """One line of the report. ``passed`` is None for informational rows (no criterion); ``trained`` marks rows
    measured on training runs; ``values`` holds the raw numbers behind ``ours`` (written to report.json); ``kind`` is
    ``REPRODUCTION`` or ``CONSTRUCTION``."""

    section: str
    quantity: str
    reference: str
    ours: str
    passed: bool | None
    criterion: str = ""
    trained: bool = False
    values: dict[str, Any] = field(default_factory=dict)
    kind: str = REPRODUCTION


@dataclass
class Table:
    """A table of the report under its own heading: ``title`` (the heading), ``text`` (the paragraph above it),
    ``columns`` (the header) and ``rows`` (one list of cells per line, as many as ``columns``; numbers stay numbers,
    report.md prints them with ``digits`` significant digits and report.json as they are)."""

    title: str
    text: str
    columns: list[str]
    rows: list[list[Any]]
    digits: int = 6

    def __post_init__(self) -> None:
        bad = [i for i, r in enumerate(self.rows) if len(r) != len(self.columns)]
        if bad:
            raise ValueError(f"table {self.title!r}: rows {bad} do not have {len(self.columns)} cells ({self.columns})")


@dataclass
class RunRecord:
    """One training run of the report: its ``TrainResult`` when it finished, else the error that stopped it.

    ``job_s`` is the wall time of the job (for a reused run, the training time it recorded); ``reused`` marks a run
    found finished in the output folder with the same run config.
    """

    name: str
    result: TrainResult | None
    job_s: float
    error: str = ""
    trace: str = ""
    reused: bool = False

    @property
    def ok(self) -> bool:
        return self.result is not None

    def require(self) -> TrainResult:
        """The result of a finished run (ValueError for a failed one: check ``ok`` first)."""
        if self.result is None:
            raise ValueError(f"run {self.name} failed: {self.error}")
        return self.result

    def to_dict(self) -> dict[str, Any]:
        """The run as report.json lists it (no traceback)."""
        if self.result is None:
            return {"ok": False, "name": self.name, "error": self.error, "job_s": self.job_s}
        out = {"ok": True, "name": self.name, **self.result.to_dict(), "job_s": self.job_s}
        if self.reused:
            out["reused"] = True
        return out


@dataclass
class SectionResult:
    """What a check section produced: report rows, tables under their own headings, and findings (free text
    explaining a failure or a caveat)."""

    rows: list[Row] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)

    def __iadd__(self, other: SectionResult) -> SectionResult:
        self.rows += other.rows
        self.findings += other.findings
        self.tables += other.tables
        return self


def construction_rows(rows: list[Row]) -> list[Row]:
    """The same rows marked as construction checks."""
    return [replace(r, kind=CONSTRUCTION) for r in rows]
