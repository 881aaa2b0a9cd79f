"""Training jobs of the reproduction: a job never raises (its error is recorded), and a finished run is reused only
when its saved run config equals the job's."""

from __future__ import annotations

from wave_hf.experiments.runner import finished_run, train_job

from .conftest import tiny_run_config


def test_train_job_records_and_reuse(tmp_path):
    cfg = tiny_run_config(tmp_path / "run")
    assert finished_run(cfg) is None  # nothing there yet
    record = train_job(cfg)
    assert record.ok and not record.reused and record.require().steps == 4 and record.job_s > 0
    again = finished_run(cfg)
    assert again is not None and again.reused and again.name == "tiny"
    assert again.require().to_dict() == record.require().to_dict()
    assert again.job_s == record.require().wall_time_s
    assert finished_run({**cfg, "steps": 5}) is None  # another config: train again
    assert finished_run({**cfg, "optim": {**cfg["optim"], "lr": 2e-2}}) is None


def test_train_job_never_raises(tmp_path):
    cfg = tiny_run_config(tmp_path / "bad")
    cfg["model"] = {"model_type": "no_such_model"}
    record = train_job(cfg)
    assert not record.ok and record.result is None
    assert record.error.startswith("RunConfigError") and "no_such_model" in record.error
    assert "Traceback" in record.trace
    assert record.to_dict() == {"ok": False, "name": "tiny", "error": record.error, "job_s": record.job_s}
