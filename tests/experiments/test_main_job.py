"""Section 10, the main job over several seeds: the count against the criterion, failed runs counted as misses, the
seed table and the deviations sentence filled in from the recipe (on made-up run records, no training)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from wave_hf.experiments import RunRecord, settings_for
from wave_hf.experiments.checks.main_job import deviations, required_seeds, section_main_job
from wave_hf.experiments.jobs import build_jobs
from wave_hf.training import TrainResult


def _record(tmp_path: Path, name: str, acc: float | None, steps: int = 100) -> RunRecord:
    if acc is None:
        return RunRecord(name, None, 0.5, error="RuntimeError: diverged")
    res = TrainResult(output_dir=tmp_path / name, model_dir=tmp_path / name / "model", checkpoint=None,
                      metric="bit_accuracy", test_metrics={"bit_accuracy": acc, "num_sequences": 640}, steps=steps,
                      stop_reason=f"stop {name}")
    return RunRecord(name, res, 2.345)


def _section(tmp_path: Path, accs: list[float | None]):
    st = dataclasses.replace(settings_for("quick"), main_seeds=list(range(len(accs))))
    jobs = build_jobs(st, tmp_path / "runs")
    runs = {f"main_s{s}": _record(tmp_path, f"main_s{s}", a) for s, a in enumerate(accs)}
    return section_main_job(st, runs, jobs), jobs


@pytest.mark.parametrize("n,fraction,need", [(10, 0.9, 9), (2, 0.9, 2), (9, 0.9, 9), (20, 0.9, 18), (1, 1.0, 1),
                                             (10, 0.5, 5)])
def test_required_seeds_rounds_up(n, fraction, need):
    assert required_seeds(n, fraction) == need


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_required_seeds_rejects_a_bad_fraction(fraction):
    with pytest.raises(ValueError, match="seed_fraction"):
        required_seeds(10, fraction)


@pytest.mark.parametrize("accs,passed", [([0.9995] * 9 + [0.99], True), ([0.9995] * 8 + [0.99, None], False),
                                         ([0.999, 1.0], True), ([0.999, 0.9989], False)])
def test_the_row_counts_seeds_at_the_bar(tmp_path, accs, passed):
    result, _ = _section(tmp_path, accs)
    (row,) = result.rows
    assert row.section == "10" and row.trained and row.passed is passed
    assert row.quantity == ("main job (t1_lbc, one 8 x 8 substrate): seeds reaching test bit accuracy >= 0.999 at "
                            "horizon 200")
    n_pass = sum(a is not None and a >= 0.999 for a in accs)
    assert row.ours.startswith(f"{n_pass} of {len(accs)}")
    assert row.values["bit_accuracy"] == accs and row.values["seeds"] == list(range(len(accs)))
    assert row.values["passing"] == n_pass and row.values["required"] == required_seeds(len(accs), 0.9)
    assert row.criterion.startswith(f">= {required_seeds(len(accs), 0.9)} of {len(accs)} seeds")


def test_failed_runs_are_misses_findings_and_table_lines(tmp_path):
    result, jobs = _section(tmp_path, [1.0, 0.5, None])
    (row,) = result.rows
    assert row.passed is False and row.ours == "1 of 3 (lowest 0.5); missed: seeds 1, 2"
    assert row.values["steps"] == [100, 100, None]
    assert result.findings == ["main_s2 failed: RuntimeError: diverged"]
    (table,) = result.tables
    assert table.title == "Main job: seed table (t1_lbc)"
    assert table.columns == ["seed", "steps", "test bit accuracy (horizon 200)", "stop reason", "wall (s)"]
    assert table.rows == [[0, 100, 1.0, "stop main_s0", 2.3], [1, 100, 0.5, "stop main_s1", 2.3],
                          [2, None, None, "failed: RuntimeError: diverged", 0.5]]
    assert deviations(jobs["main_s0"]) in table.text and "1 of 3 seeds reach" in table.text


def test_deviations_are_filled_from_the_recipe(tmp_path):
    jobs = build_jobs(settings_for("quick"), tmp_path)
    cfg = jobs["main_s0"]
    text = deviations(cfg)
    assert text.startswith("Deviations from the paper's protocol: B = C = I at the start") and text.endswith(".")
    assert "`value_init: identity`" in text and "Theorem 3.1" in text
    assert f"`optimizer: sgd` with momentum {cfg['optim']['momentum']} (lr {cfg['optim']['lr']}" in text
    assert f"reaches {cfg['evaluation']['stop_at']}" in text and "{" not in text
    changed = {**cfg, "optim": {**cfg["optim"], "lr": 0.02}}
    assert "(lr 0.02," in deviations(changed)
