"""The report renderer and the run records: every verdict printed is the computed one; report.json holds the rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wave_hf.experiments import Row, RunRecord, SectionResult, settings_for
from wave_hf.experiments.formatting import fmt
from wave_hf.experiments.records import Table
from wave_hf.experiments.report import TABLE_HEADER, ReportInputs, write_report
from wave_hf.training import TrainResult


def _result(tmp_path: Path) -> TrainResult:
    return TrainResult(output_dir=tmp_path / "run", model_dir=tmp_path / "run" / "model", checkpoint=None,
                       metric="bit_accuracy", test_metrics={"bit_accuracy": 0.75, "num_sequences": 64}, steps=12,
                       stop_reason="target reached")


def test_run_records(tmp_path):
    ok = RunRecord("a", _result(tmp_path), 3.5)
    failed = RunRecord("b", None, 1.0, error="ValueError: boom", trace="Traceback ...")
    reused = RunRecord("c", _result(tmp_path), 2.0, reused=True)
    assert ok.ok and not failed.ok and ok.require().steps == 12
    d = ok.to_dict()
    assert list(d)[:2] == ["ok", "name"] and d["output_dir"] == str(tmp_path / "run") and d["job_s"] == 3.5
    assert "reused" not in d and reused.to_dict()["reused"] is True
    assert failed.to_dict() == {"ok": False, "name": "b", "error": "ValueError: boom", "job_s": 1.0}
    try:
        failed.require()
    except ValueError as e:
        assert "run b failed: ValueError: boom" in str(e)
    else:
        raise AssertionError("require() of a failed run must raise")


def test_section_results_add_in_order():
    a = SectionResult([Row("1", "q1", "r", "o", True)], ["f1"])
    a += SectionResult([Row("2", "q2", "r", "o", None)], ["f2"])
    assert [r.quantity for r in a.rows] == ["q1", "q2"] and a.findings == ["f1", "f2"]


def test_report_prints_the_computed_verdicts(tmp_path):
    rows = [Row("1", "|lambda| count", "64", "64", True, "equal"),
            Row("3", "accuracy", "0.99", "0.5", False, ">= 0.98", trained=True, values={"per_seed": [0.5]}),
            Row("8", "info", "-", "7", None)]
    runs = {"a": RunRecord("a", _result(tmp_path), 3.0), "b": RunRecord("b", None, 1.0, error="RuntimeError: x")}
    (tmp_path / "fig.png").write_bytes(b"png")
    inputs = ReportInputs("quick", settings_for("quick"), rows, ["a finding"], runs, 12.0,
                          {"main_s": 1.0, "workers_s": 2.0})
    write_report(inputs, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert TABLE_HEADER in md
    assert "| 1 | \\|lambda\\| count | 64 | 64 | yes |" in md
    assert "| 3 | accuracy (t) | 0.99 | 0.5 | **no** |" in md and "| 8 | info | - | 7 | n/a |" in md
    assert "1 pass, 1 do not, 1 informational." in md
    assert "| b | **no** | - | 1 | RuntimeError: x | |" in md and "bit_accuracy 0.75" in md
    assert "- `fig.png`" in md and "- a finding" in md
    assert "- Section 3, accuracy: expected 0.99, got 0.5 (criterion: >= 0.98)." in md
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["mode"] == "quick" and data["settings"]["elman_runs"] == [["T1", 0]]
    assert [r["passed"] for r in data["rows"]] == [True, False, None] and data["rows"][1]["values"]["per_seed"] == [0.5]
    assert data["runs"]["b"] == {"ok": False, "name": "b", "error": "RuntimeError: x", "job_s": 1.0}


def test_fmt():
    assert fmt(None) == "-" and fmt(True) == "yes" and fmt(3) == "3"
    assert fmt(1.23456) == "1.235" and fmt(1e-5) == "1.00e-05" and fmt(123456.0) == "1.23e+05"
    assert fmt(float("nan")) == "nan" and fmt("text") == "text"


def test_construction_rows_have_their_own_table(tmp_path):
    from wave_hf.experiments.records import CONSTRUCTION, construction_rows

    rows = [Row("3", "trained claim", "1", "0.5", False, "> 0.9", trained=True),
            *construction_rows([Row("1", "exact identity", "exact", "0", True, "== 0")])]
    assert [r.kind for r in rows] == ["reproduction", CONSTRUCTION]
    inputs = ReportInputs("quick", settings_for("quick"), rows, [], {}, 1.0, {"main_s": 0.0, "workers_s": 0.0})
    write_report(inputs, tmp_path)
    md = (tmp_path / "report.md").read_text()
    summary = md[md.index("## Summary") : md.index("## Construction checks")]
    constructions = md[md.index("## Construction checks") : md.index("## Criteria")]
    assert "| 3 | trained claim (t) | 1 | 0.5 | **no** |" in summary and "exact identity" not in summary
    assert "| 1 | exact identity | exact | 0 | yes |" in constructions and "trained claim" not in constructions
    assert "0 pass, 1 do not, 0 informational." in summary and "1 pass, 0 do not, 0 informational." in constructions
    data = json.loads((tmp_path / "report.json").read_text())
    assert [r["kind"] for r in data["rows"]] == ["reproduction", "construction"]


def test_section_tables_have_their_own_heading_and_go_to_json(tmp_path):
    table = Table("Main job: seed table", "Two seeds.", ["seed", "test |x|", "stop reason"],
                  [[0, 0.99987654, "stop at 0.999"], [1, None, "failed"]])
    part = SectionResult([Row("10", "seeds", "-", "1 of 2", False, ">= 2 of 2", trained=True)], [], [table])
    result = SectionResult()
    result += part
    assert result.tables == [table]
    inputs = ReportInputs("quick", settings_for("quick"), result.rows, [], {}, 1.0, {"main_s": 0.0, "workers_s": 0.0},
                          result.tables)
    write_report(inputs, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert md.index("## Criteria") < md.index("## Main job: seed table") < md.index("## Settings")
    own = md[md.index("## Main job: seed table") : md.index("## Settings")]
    assert "Two seeds.\n\n| seed | test \\|x\\| | stop reason |\n|---|---|---|\n" in own
    assert "| 0 | 0.999877 | stop at 0.999 |" in own and "| 1 | - | failed |" in own
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["tables"] == [{"title": "Main job: seed table", "text": "Two seeds.",
                               "columns": ["seed", "test |x|", "stop reason"],
                               "rows": [[0, 0.99987654, "stop at 0.999"], [1, None, "failed"]], "digits": 6}]


def test_a_table_row_of_the_wrong_width_is_named():
    with pytest.raises(ValueError, match=r"table 'T': rows \[1\] do not have 2 cells"):
        Table("T", "", ["a", "b"], [[1, 2], [3]])
