"""The whole reproduction: start the training runs in worker processes, run the checks that need no training
meanwhile, then the checks on the trained runs, and write the report."""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

from .checks import (
    section_compare_tasks,
    section_elman,
    section_exactness,
    section_h3,
    section_identities,
    section_load_mode,
    section_main_job,
    section_mqar,
    section_phi_spectra,
    section_robustness,
    section_wave_rnn,
    theory_phis,
)
from .jobs import PARTS, build_jobs, job_part
from .records import SectionResult
from .references import references
from .report import ReportInputs, write_report
from .runner import JobPool, finished_run, one_thread
from .settings import Settings

__all__ = ["MissingRunsError", "reproduce"]


class MissingRunsError(ValueError):
    """A later part of a split run started without the finished runs of the earlier parts."""


def _cpu_seconds() -> dict[str, float]:
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"main_s": me.ru_utime + me.ru_stime, "workers_s": children.ru_utime + children.ru_stime}


def _part_jobs(jobs: dict[str, dict[str, Any]], part: int) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """(the jobs part ``part`` trains, the finished runs of the earlier parts it reports with them); part 1 reports
    only its own runs. Raises ``MissingRunsError`` naming the runs of an earlier part that are not finished."""
    if part not in PARTS:
        raise ValueError(f"`part` must be one of {PARTS}; got {part!r}")
    earlier = {n: finished_run(c) for n, c in jobs.items() if job_part(n) < part}
    missing = [n for n, record in earlier.items() if record is None]
    if missing:
        raise MissingRunsError(f"part {part} reports with the finished runs of the earlier parts, run with the same "
                         f"settings into the same folder; missing or changed: {', '.join(missing)}")
    return {n: c for n, c in jobs.items() if job_part(n) == part}, earlier


def reproduce(mode: str, st: Settings, out: Path, workers: int = 2, reuse_runs: bool = False,
              part: int | None = None) -> ReportInputs:
    """Run the reproduction with settings ``st`` into ``out`` (training runs in ``out/runs``) and write the report.

    Args:
        mode: "quick" or "full" (printed in the report).
        workers: training processes at a time (one torch thread each).
        reuse_runs: reuse finished runs in ``out/runs`` whose run config matches (re-analyse without retraining).
        part: train only the jobs of this part of the split run (``jobs.PARTS``; None: every job) and report them
            with the finished runs of the earlier parts: part 1 without section 11's Elman variants and section 12,
            part 2 adds the wave-initialised Elman runs and H3's full recipe, part 3 the MQAR sweep, part 4 the
            robustness grid and so the whole report.

    Returns:
        What the report holds.
    """
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    one_thread()
    refs = references()
    jobs = build_jobs(st, out / "runs")  # every job: the sections look their runs' configs up here
    trained_here, earlier = jobs, {}
    if part is not None:
        trained_here, earlier = _part_jobs(jobs, part)
        mode = f"{mode}, part {part} of {len(PARTS)}" + (" (with the runs of the earlier parts)" if earlier else "")
    print(f"[reproduce] {mode}: {len(trained_here)} training runs on {workers} worker(s) -> {out}", flush=True)
    with JobPool(workers) as pool:
        pool.add_finished(earlier)
        pool.submit(trained_here, reuse=reuse_runs)
        result = section_exactness(st, refs)
        phis = theory_phis()
        result += section_phi_spectra(phis, refs)
        constructions = section_identities(phis)
        print(f"[reproduce] sections 1-2 and 9 done ({time.time() - t0:.0f} s); waiting for training", flush=True)
        runs = pool.records()
    trained = SectionResult()
    trained += section_elman(st, refs, runs, jobs, phis, out)
    trained += section_compare_tasks(st, refs, runs, phis, out)
    trained += section_load_mode(st, refs, runs, phis, out)
    trained += section_wave_rnn(st, refs, runs, out)
    trained += section_h3(st, refs, runs, jobs, out)
    trained += section_main_job(st, runs, jobs)
    trained += section_robustness(st, refs, runs, phis, out)
    trained += section_mqar(st, runs, out)
    result += trained
    result += constructions
    inputs = ReportInputs(mode, st, result.rows, result.findings, runs, time.time() - t0, _cpu_seconds(),
                          result.tables)
    write_report(inputs, out)
    print(f"[reproduce] wrote {out / 'report.md'} ({inputs.wall_s:.0f} s)", flush=True)
    return inputs
