"""Section 11's robustness grid: what a failed row says it tried."""

from wave_hf.experiments.checks.robustness import _grid_finding
from wave_hf.experiments.settings import settings_for


def _entry(seed: int, half: float, final: float) -> dict:
    return {"seed": seed, "task": "T1", "steps": 40000, "acc_half": half, "acc200": final, "count08": 50}


def test_grid_finding_names_the_budget_and_whether_accuracy_still_rose():
    st = settings_for("full")
    rising = _grid_finding(st, "hidden_64", [_entry(0, 0.95, 0.97), _entry(1, 0.94, 0.96)], {"T1": 64})
    assert rising.startswith("Section 11, robustness, Elman hidden 64: ")
    assert f"after 40000 steps ({40000 / st.elman_steps:g}x the {st.elman_steps} of section 3's runs" in rising
    assert "s0: 0.95 at step 20000 -> 0.97 at 40000, 50 of 64 modes; s1: 0.94 at step 20000" in rising
    assert "still rising in every seed" in rising
    flat = _grid_finding(st, "weight_decay", [_entry(0, 0.95, 0.97), _entry(1, 0.981, 0.982)], {"T1": 64})
    assert "levelled off in at least one seed" in flat and "still rising" not in flat
