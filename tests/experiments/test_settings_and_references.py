"""The shipped settings and reference values: complete, typed, and consistent with wave_hf's own task definitions."""

from __future__ import annotations

import pytest
import yaml

from wave_hf.data import cycle_structure
from wave_hf.experiments import main, references, settings_for
from wave_hf.experiments import settings as settings_module
from wave_hf.experiments.settings import MODES


@pytest.mark.parametrize("mode", MODES)
def test_settings_load_typed(mode):
    st = settings_for(mode)
    assert all(isinstance(task, str) and isinstance(seed, int) for task, seed in st.elman_runs)
    assert ("T1", 0) in st.elman_runs  # the gradient-curve run (section 5) is always trained
    assert st.to_dict()["elman_runs"][0] == ["T1", 0]
    assert st.elman_eval_every <= max(10, st.elman_steps // 3)
    assert st.main_seeds == {"quick": [0, 1], "full": list(range(10))}[mode]
    assert all(isinstance(seed, int) for seed in st.main_seeds)


@pytest.mark.parametrize("key,value,match", [
    ("main_seeds", [], "main_seeds names no seed"),
    ("elman_variant_steps", {"hidden_99": 300}, r"elman_variant_steps names variants \['hidden_99'\]"),
])
def test_bad_settings_files_are_named(monkeypatch, key, value, match):
    real = yaml.safe_load(settings_module.files(settings_module.__package__).joinpath("data", "settings.yaml")
                          .read_text())
    real["quick"][key] = value

    class _Files:
        def joinpath(self, *parts):
            return self

        def read_text(self):
            return yaml.safe_dump(real)

    monkeypatch.setattr(settings_module, "files", lambda package: _Files())
    with pytest.raises(ValueError, match=match):
        settings_for("quick")


def test_scale_multiplies_training_lengths_with_a_floor():
    base, half, tiny = settings_for("full"), settings_for("full", 0.5), settings_for("quick", 0.01)
    assert half.elman_steps == base.elman_steps // 2 and half.copy_steps == base.copy_steps // 2
    assert half.h3_steps == {k: v // 2 for k, v in base.h3_steps.items()}
    assert half.elman_variant_steps == {k: v // 2 for k, v in base.elman_variant_steps.items()}
    assert (tiny.elman_steps, tiny.cmp_steps, tiny.copy_steps, tiny.adding_steps) == (10, 10, 10, 10)
    assert tiny.elman_eval_every == 10
    assert half.exact_horizon == base.exact_horizon  # not a training length
    assert half.main_seeds == base.main_seeds  # the main job runs its recipe as shipped


@pytest.mark.parametrize("mode,scale,match", [("medium", 1.0, "unknown mode"), ("quick", 0.0, "scale")])
def test_bad_settings_requests_are_named(mode, scale, match):
    with pytest.raises(ValueError, match=match):
        settings_for(mode, scale)


@pytest.mark.parametrize("argv", [["--scale", "0"], ["--workers", "0"], ["--no-such-option"]])
def test_command_line_rejects_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


def test_reference_cycles_agree_with_the_task_definitions():
    """The paper's table of cycles (reference data) against the cycles derived from wave_hf.data's tasks."""
    refs = references()
    for task, cycles in refs.phi_cycles.items():
        derived = sorted((c["lag"], c["sign"]) for c in cycle_structure(task, 8, 8))
        assert sorted(cycles) == derived, task
        assert sum(lag for lag, _ in cycles) == refs.phi_counts[task], task


def test_references_are_typed():
    refs = references()
    assert refs.sbonacci[3] == 1.8393 and list(refs.sbonacci) == list(range(2, 9))
    assert refs.wrnn_adding[100]["wrnn"] == ("300", 4e-6)
    assert refs.wrnn_copy[10] == {"wrnn": 1e-10, "irnn": 3e-3}
    assert refs.h3_table["induction_head"]["Attention"] == 100.0
    assert refs.spectral_error_max == 1.1e-2
