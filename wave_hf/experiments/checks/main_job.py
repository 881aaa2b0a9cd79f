"""Section 10: the main job (README command 1), the shipped recipe of ``jobs/main_job.yaml`` (the paper's single LBC
substrate on T1) trained once per seed of the settings: how many seeds reach the criterion's test accuracy at the
recipe's test horizon, and the seed table with the recipe's deviations from the paper's protocol."""

from __future__ import annotations

import math
from typing import Any

from wave_hf.training.modeling import resolve_model_fields

from ..formatting import fmt
from ..jobs import job_file, main_job_name
from ..records import Row, RunRecord, SectionResult, Table
from ..settings import Settings
from .common import finished

__all__ = ["deviations", "required_seeds", "section_main_job"]


def required_seeds(n_seeds: int, fraction: float) -> int:
    """How many of ``n_seeds`` must pass: ``fraction`` of them rounded up (9 of 10 at 0.9, all of fewer than 10)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"`seed_fraction` must be in (0, 1]; got {fraction}")
    return math.ceil(round(fraction * n_seeds, 9))


def deviations(cfg: dict[str, Any]) -> str:
    """The sentence naming the recipe's deviations from the paper's protocol (``jobs/main_job.yaml``), its numbers
    filled in from the run config ``cfg``."""
    clauses = [text.format(**cfg).strip() for text in job_file("main_job")["deviations"]]
    return "Deviations from the paper's protocol: " + "; ".join(clauses) + "."


def _substrates(cfg: dict[str, Any]) -> str:
    """"one 8 x 8 substrate" (heads x layers substrates of head_dim x history_length) for the job's model."""
    fields = resolve_model_fields(cfg["model"])
    n = int(fields["num_heads"]) * int(fields["num_hidden_layers"])
    return f"{'one' if n == 1 else n} {fields['head_dim']} x {fields['history_length']} substrate{'s' if n > 1 else ''}"


def section_main_job(st: Settings, runs: dict[str, RunRecord], jobs: dict[str, dict[str, Any]]) -> SectionResult:
    """The row of section 10 (seeds reaching the criterion) and the seed table; a failed run counts as a seed that
    did not reach it (and is a finding)."""
    spec = job_file("main_job")
    crit, recipe = spec["criterion"], spec["recipe"]
    metric, bar = crit["metric"], float(crit["at_least"])
    result = SectionResult()
    first = jobs[main_job_name(st.main_seeds[0])]
    horizon = first["evaluation"]["params"]["horizon"]
    label = metric.replace("_", " ")
    table_rows, per_seed, steps, walls = [], {}, {}, []
    for seed in st.main_seeds:
        name = main_job_name(seed)
        done = finished(runs, name, result.findings)
        if done is None:
            per_seed[seed] = None
            table_rows.append([seed, None, None, f"failed: {runs[name].error}", round(runs[name].job_s, 1)])
            continue
        res = done[0]
        per_seed[seed] = float(res.test_metrics[metric])
        steps[seed] = res.steps
        walls.append(runs[name].job_s)
        table_rows.append([seed, res.steps, per_seed[seed], res.stop_reason, round(runs[name].job_s, 1)])
    n, need = len(st.main_seeds), required_seeds(len(st.main_seeds), float(crit["seed_fraction"]))
    passing = [s for s, v in per_seed.items() if v is not None and v >= bar]
    missed = [s for s in st.main_seeds if s not in passing]
    ours = f"{len(passing)} of {n}"
    reached = [v for v in per_seed.values() if v is not None]
    if reached:
        ours += f" (lowest {fmt(min(reached), 6)})"
    if missed:
        ours += f"; missed: seeds {', '.join(map(str, missed))}"
    goal = f"test {label} >= {fmt(bar)} at horizon {horizon}"
    result.rows.append(Row(
        "10", f"main job ({recipe}, {_substrates(first)}): seeds reaching {goal}",
        "the paper's single substrate solves T1", ours, len(passing) >= need,
        f">= {need} of {n} seeds ({crit['seed_fraction']:.0%} of the seeds rounded up: all of fewer than 10)",
        trained=True,
        values={"seeds": list(st.main_seeds), metric: [per_seed[s] for s in st.main_seeds],
                "steps": [steps.get(s) for s in st.main_seeds], "passing": len(passing), "required": need,
                "at_least": bar, "horizon": horizon},
    ))
    slowest = f"; the slowest run took {max(walls):.0f} s on one thread" if walls else ""
    result.tables.append(Table(
        f"Main job: seed table ({recipe})",
        f"The shipped recipe `{recipe}` ({_substrates(first)}, README command 1) trained once per seed, unchanged "
        f"but for its seed, output folder and logging. {deviations(first)} {len(passing)} of {n} seeds reach {goal} "
        f"(criterion: {need} of {n}){slowest}.",
        ["seed", "steps", f"test {label} (horizon {horizon})", "stop reason", "wall (s)"], table_rows, digits=6,
    ))
    return result
