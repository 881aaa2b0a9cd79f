"""The ``wave-hf`` console script's commands that need no training: the list of shipped run configs, the top-level
help, and ``wave-hf reproduce`` forwarding its arguments to ``wave_hf.experiments.main``."""

from __future__ import annotations

import pytest

from wave_hf import cli
from wave_hf.training.resources import shipped_run_configs


def test_train_list_names_the_shipped_configs(capsys):
    assert cli.main(["train", "--list"]) == 0
    listed = capsys.readouterr().out.split()
    assert listed == shipped_run_configs() and "t1_lbc" in listed


def test_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("wave-hf train", "wave-hf check", "wave-hf push", "wave-hf reproduce"):
        assert command in out
    assert cli.main([]) == 2


def test_train_without_config_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["train"])
    assert exc.value.code == 2 and "--config" in capsys.readouterr().err


def test_reproduce_forwards_to_the_experiments_command_line(capsys, monkeypatch):
    with pytest.raises(SystemExit) as exc:
        cli.main(["reproduce", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--quick" in out and "--out" in out and "--reuse-runs" in out
    # the arguments arrive unchanged
    import wave_hf.experiments

    seen = []
    monkeypatch.setattr(wave_hf.experiments, "main", lambda argv=None: seen.append(argv) or 0)
    assert cli.main(["reproduce", "--quick", "--out", "x"]) == 0
    assert seen == [["--quick", "--out", "x"]]
