"""wave_hf.training.loading on a tiny finished run: the model by its recorded Auto class, the checkpoint models with
the weights accelerate saved, and the TrainResult read back."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from wave_hf.training import train
from wave_hf.training.checkpoints import CheckpointManager
from wave_hf.training.loading import load_checkpoint_models, load_train_result, load_trained_model

from .conftest import tiny_run_config


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny_run")
    cfg = tiny_run_config(out)
    return out, train(cfg, overwrite=True)


def test_trained_model_by_recorded_auto_class(tiny_run):
    out, result = tiny_run
    info = json.loads((out / "model" / "training_info.json").read_text())
    model = load_trained_model(out)
    assert type(model).__name__ == "ElmanRNNForPrediction" and info["auto_class"] == "AutoModelForTimeSeriesPrediction"
    assert not model.training
    same = load_trained_model(out / "model")  # the model folder itself also works
    for (k, v), (k2, v2) in zip(model.state_dict().items(), same.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)


def test_checkpoint_models_hold_the_saved_weights(tiny_run):
    out, _ = tiny_run
    models = load_checkpoint_models(out)
    complete = CheckpointManager(out / "checkpoints").complete()
    assert [step for step, _ in models] == [step for step, _ in complete] == [2, 4]
    for (step, model), (_, folder) in zip(models, complete):
        saved = load_file(str(folder / "model.safetensors"))
        state = model.state_dict()
        assert set(saved) <= set(state)
        for k, v in saved.items():
            assert torch.equal(state[k], v), (step, k)
    final = load_trained_model(out).state_dict()
    assert all(torch.equal(final[k], v) for k, v in models[-1][1].state_dict().items())  # last checkpoint = end
    # the step-2 checkpoint is not the end of training: the loader does not just return the final weights
    assert any(not torch.equal(final[k], v) for k, v in models[0][1].state_dict().items())


def test_train_result_read_back(tiny_run):
    out, result = tiny_run
    back = load_train_result(out)
    assert back.to_dict() == json.loads((out / "result.json").read_text())
    assert back.output_dir == result.output_dir and back.steps == result.steps == 4
    assert back.test_metrics == pytest.approx(result.test_metrics)


def test_missing_or_bad_runs_are_named(tmp_path, tiny_run):
    with pytest.raises(FileNotFoundError, match="holds no trained model"):
        load_trained_model(tmp_path)
    with pytest.raises(FileNotFoundError, match="result.json"):
        load_train_result(tmp_path)
    assert load_checkpoint_models(tmp_path) == []
    bad = tmp_path / "model"
    bad.mkdir()
    (bad / "training_info.json").write_text(json.dumps({"auto_class": "os.system"}))
    with pytest.raises(ValueError, match="must name a transformers Auto class"):
        load_trained_model(tmp_path)
