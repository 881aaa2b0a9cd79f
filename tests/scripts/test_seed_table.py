"""scripts/seed_table.py: one trained run per seed through the package's trainer, the table and the count."""

from __future__ import annotations

import json

from scripts import seed_table


def test_seed_table_of_the_main_job(tmp_path, capsys):
    assert seed_table.main(["--config", "t1_lbc", "--seeds", "0,2", "--out", str(tmp_path / "out"),
                            "--runs", str(tmp_path / "runs"), "--steps=100"]) == 0
    data = json.loads((tmp_path / "out" / "seed_table.json").read_text())
    assert [r["seed"] for r in data["rows"]] == [0, 2] and data["overrides"] == ["--steps=100"]
    assert all(r["metric"] == "bit_accuracy" and 0.0 <= r["test_metric"] <= 1.0 for r in data["rows"])
    table = (tmp_path / "out" / "seed_table.md").read_text()
    count = sum(r["test_metric"] >= 0.999 for r in data["rows"])
    assert f"{count} of 2 seeds reach bit_accuracy >= 0.999" in table and table in capsys.readouterr().out
    assert (tmp_path / "runs" / "seed_2" / "result.json").is_file()


def test_targets_of_losses_are_maxima():
    assert seed_table.reached(0.01, "mse", 0.02) and not seed_table.reached(0.03, "mse", 0.02)
    assert seed_table.reached(1.2, "bits_per_byte", 1.5) and not seed_table.reached(0.99, "bit_accuracy", 0.999)
    assert seed_table.parse_seeds("0-2,5") == [0, 1, 2, 5]
