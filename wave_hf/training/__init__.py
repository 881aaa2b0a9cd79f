"""The Accelerate trainer of wave_hf: one loop for every model family and dataset.

    from wave_hf.training import train, evaluate
    result = train("configs/train/t1_lbc.yaml", ["--steps=2000"])
    evaluate(model, "linear_vb", params={"task": "T1", "horizon": 200})

Modules: ``schema`` (run config), ``tasks`` (data adapter), ``modeling`` (model from config + task), ``objectives``
(loss/metric sums), ``curriculum``, ``checkpoints`` (atomic save/resume), ``evaluation``, ``logs``/``plots``,
``cards`` (model cards), ``trainer`` (the loop).
"""

from .checkpoints import CheckpointError
from .evaluation import evaluate
from .schema import RunConfig, RunConfigError, load_run_config
from .trainer import PreparedRun, TrainingDiverged, TrainResult, prepare_run, train

__all__ = [
    "CheckpointError",
    "PreparedRun",
    "RunConfig",
    "RunConfigError",
    "TrainResult",
    "TrainingDiverged",
    "evaluate",
    "load_run_config",
    "prepare_run",
    "train",
]
