"""Read back what a finished training run wrote: its model (by the Auto class the trainer recorded), the models of
its kept checkpoints, and its result.

A run folder ``OUTPUT`` (see ``wave_hf.training.trainer``) holds ``model/`` (``save_pretrained`` plus
``training_info.json``, whose ``auto_class`` names the transformers Auto class the model was trained with),
``checkpoints/`` (accelerate states, listed by ``CheckpointManager``) and ``result.json`` (a ``TrainResult``).
Log CSVs are read with ``wave_hf.training.logs.read_csv``.
"""

from __future__ import annotations

import json
from pathlib import Path

import transformers

from .cards import TRAINING_INFO
from .checkpoints import CheckpointError, CheckpointManager
from .modeling import register_families
from .trainer import TrainResult

__all__ = ["load_checkpoint_models", "load_train_result", "load_trained_model"]


def _model_dir(run_dir: str | Path) -> Path:
    """``run_dir/model``, or ``run_dir`` itself when it is already a saved model folder."""
    run_dir = Path(run_dir)
    for candidate in (run_dir / "model", run_dir):
        if (candidate / TRAINING_INFO).is_file():
            return candidate
    raise FileNotFoundError(f"{run_dir} holds no trained model: neither {run_dir / 'model' / TRAINING_INFO} nor "
                            f"{run_dir / TRAINING_INFO} exists (is the run finished?)")


def load_trained_model(run_dir: str | Path) -> transformers.PreTrainedModel:
    """The trained model of a finished run, in eval mode, loaded with the Auto class recorded by the trainer.

    Args:
        run_dir: the run's ``output_dir`` (or its ``model/`` folder).

    Raises:
        FileNotFoundError: no saved model in ``run_dir``.
        ValueError: the recorded Auto class is missing or is not a transformers Auto class.
    """
    model_dir = _model_dir(run_dir)
    info = json.loads((model_dir / TRAINING_INFO).read_text())
    name = info.get("auto_class")
    auto = getattr(transformers, name, None) if isinstance(name, str) and name.startswith("Auto") else None
    if auto is None or not hasattr(auto, "from_pretrained"):
        raise ValueError(f"{model_dir / TRAINING_INFO}: `auto_class` must name a transformers Auto class; got {name!r}")
    register_families()
    return auto.from_pretrained(str(model_dir)).eval()


def load_checkpoint_models(run_dir: str | Path) -> list[tuple[int, transformers.PreTrainedModel]]:
    """(step, model in eval mode) for every complete checkpoint kept in ``run_dir/checkpoints``, oldest first.

    Each model is the run's trained model (``load_trained_model``) with the checkpoint's weights loaded through
    accelerate's ``load_checkpoint_in_model`` (strict: every weight must be there). [] when no checkpoint was kept.
    """
    from accelerate.utils import load_checkpoint_in_model

    out = []
    for step, folder in CheckpointManager(Path(run_dir) / "checkpoints").complete():
        model = load_trained_model(run_dir)
        try:
            load_checkpoint_in_model(model, str(folder), strict=True)
        except (ValueError, RuntimeError, OSError) as e:
            raise CheckpointError(f"cannot load the model weights of checkpoint {folder}: {e}") from e
        out.append((step, model.eval()))
    return out


def load_train_result(run_dir: str | Path) -> TrainResult:
    """The ``TrainResult`` of a finished run, read from ``run_dir/result.json`` (paths as ``Path``)."""
    path = Path(run_dir) / "result.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (the run has not finished)")
    data = json.loads(path.read_text())
    for key in ("output_dir", "model_dir", "checkpoint"):
        if data.get(key) is not None:
            data[key] = Path(data[key])
    return TrainResult(**data)
