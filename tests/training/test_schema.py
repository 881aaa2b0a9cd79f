"""Run-config parsing: unknown keys and bad values fail before anything is built, naming the key."""

from __future__ import annotations

import pytest

from wave_hf.training import RunConfigError, load_run_config, prepare_run
from wave_hf.training.schema import parse_override

from .conftest import tiny_config, write_config


def _err(cfg, overrides=None) -> str:
    with pytest.raises(RunConfigError) as exc:
        load_run_config(cfg, overrides)
    return str(exc.value)


def test_valid_config_round_trip(tmp_path):
    cfg = load_run_config(tiny_config(tmp_path / "out"))
    assert cfg.optim.batch_size == 8 and cfg.steps == 6 and cfg.curriculum is None
    again = load_run_config(cfg.to_dict())
    assert again.to_dict() == cfg.to_dict()


def test_unknown_top_level_key_names_key_and_valid_keys(tmp_path):
    msg = _err({**tiny_config(tmp_path), "stepz": 3})
    assert "`stepz`" in msg and "valid keys are" in msg and "steps" in msg and "optim" in msg


def test_unknown_nested_key_names_dotted_path(tmp_path):
    cfg = tiny_config(tmp_path)
    cfg["optim"]["lrr"] = 1e-3
    msg = _err(cfg)
    assert "`optim.lrr`" in msg and "lr" in msg and "batch_size" in msg


def test_unknown_key_from_override(tmp_path):
    msg = _err(tiny_config(tmp_path), ["--evaluation.evry=5"])
    assert "`evaluation.evry`" in msg and "every" in msg


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("--steps=0", "`steps` must be >= 1"),
        ("--optim.lr=-1", "`optim.lr` must be > 0"),
        ("--optim.lr=fast", "`optim.lr` must be a number"),
        ("--optim.batch_size=2.5", "`optim.batch_size` must be an integer"),
        ("--mixed_precision=fp8", "`mixed_precision` must be one of"),
        ("--optim.optimizer=lion", "`optim.optimizer` must be one of"),
        ("--curriculum.values=[]", "`curriculum.values` must list at least one value"),
        ("--hub.push_to_hub=true", "`hub.repo_id` is required"),
        ("--logging.progress_bar=maybe", "`logging.progress_bar` must be true or false"),
        ("--dataset.name=", "`dataset.name` is required"),
    ],
)
def test_bad_values(tmp_path, override, needle):
    assert needle in _err(tiny_config(tmp_path), [override])


def test_override_values_are_yaml_and_floats_accept_exponent_strings(tmp_path):
    cfg = load_run_config(tiny_config(tmp_path), ["--optim.lr=1e-2", "--dataset.params.horizon=9",
                                                  "--optim.betas=[0.8, 0.99]", "--mixed_precision=no"])
    assert cfg.optim.lr == 0.01 and isinstance(cfg.optim.lr, float)
    assert cfg.dataset.params["horizon"] == 9 and cfg.optim.betas == [0.8, 0.99] and cfg.mixed_precision == "no"
    assert parse_override("--a.b=[1, 2]") == (["a", "b"], [1, 2])
    with pytest.raises(RunConfigError, match="--key=value"):
        parse_override("--steps")


def test_yaml_file_errors(tmp_path):
    with pytest.raises(RunConfigError, match="not found"):
        load_run_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [1, 2\n")
    with pytest.raises(RunConfigError, match="not valid YAML"):
        load_run_config(bad)
    bad.write_text("- a list\n")
    with pytest.raises(RunConfigError, match="mapping at the top level"):
        load_run_config(bad)


def test_model_file_is_resolved_relative_to_the_config(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.yaml").write_text("model_type: elman_rnn\nhidden_size: 12\n")
    cfg = tiny_config(tmp_path / "out")
    cfg["model"] = "models/m.yaml"
    path = write_config(tmp_path / "run.yaml", cfg)
    run = prepare_run(path, ["--model.hidden_size=10"])  # inline/override beats the file
    assert run.model_config.model_type == "elman_rnn" and run.model_config.hidden_size == 10
    assert run.model_config.input_size == 4 and run.model_config.output_size == 4  # filled from linear_vb d=4
    with pytest.raises(RunConfigError, match="model config file 'nope.yaml' not found"):
        prepare_run(path, ["--model.file=nope.yaml"])


def test_model_errors_name_the_key(tmp_path):
    base = tiny_config(tmp_path)
    with pytest.raises(RunConfigError, match=r"unknown config key\(s\) \['hiden_size'\].*valid keys are:.*hidden_"):
        prepare_run(base, ["--model.hiden_size=8"])
    # transformers' LlamaConfig silently accepts unknown kwargs; the trainer does not
    llama = tiny_config(tmp_path, model="llama", data="associative_recall")
    with pytest.raises(RunConfigError, match=r"unknown config key\(s\) \['num_layers'\]"):
        prepare_run(llama, ["--model.num_layers=2"])
    with pytest.raises(RunConfigError, match="unknown model type 'wave_nope'"):
        prepare_run(base, ["--model.model_type=wave_nope"])
    with pytest.raises(RunConfigError, match=r"`model.input_size`=5 conflicts with dataset `linear_vb` \(input_size=4"):
        prepare_run(base, ["--model.input_size=5"])
    with pytest.raises(RunConfigError, match="ElmanRNNConfig: `nonlinearity` must be one of"):
        prepare_run(base, ["--model.nonlinearity=gelu"])
    with pytest.raises(RunConfigError, match="'llama' has no `input_size` field, so it cannot be trained on the real"):
        prepare_run({**llama, "dataset": base["dataset"]})


def test_dataset_errors_name_the_parameter(tmp_path):
    base = tiny_config(tmp_path)
    with pytest.raises(RunConfigError, match="unknown parameter.*horizn"):
        prepare_run(base, ["--dataset.params.horizn=3"])
    with pytest.raises(RunConfigError, match="unknown dataset 'linear_bv'"):
        prepare_run(base, ["--dataset.name=linear_bv"])
    with pytest.raises(RunConfigError, match="linear_vb: parameter 'horizon' must be an int >= 1; got -1"):
        prepare_run(base, ["--evaluation.params={horizon: -1}"])
    with pytest.raises(RunConfigError, match="linear_vb: parameter 'horizon' must be an int >= 1; got 0"):
        prepare_run(base, ["--curriculum={param: horizon, values: [4, 0]}"])


def test_evaluate_checks_its_arguments_like_a_run_config():
    from wave_hf.training import evaluate

    # checked before the model is touched
    with pytest.raises(RunConfigError, match="`evaluate.batches` must be >= 1; got 0"):
        evaluate(None, "linear_vb", batches=0)
    with pytest.raises(RunConfigError, match=r"unknown key `dataset.sorce` in `dataset`; valid keys are: name"):
        evaluate(None, {"name": "linear_vb", "sorce": "build"})
    with pytest.raises(RunConfigError, match="`dataset.source` must be one of"):
        evaluate(None, "linear_vb", source="stream")
