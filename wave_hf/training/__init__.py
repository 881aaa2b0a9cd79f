"""The Accelerate trainer of wave_hf: one loop for every model family and dataset.

    from wave_hf.training import train, evaluate
    result = train("t1_lbc", ["--steps=2000"])          # a shipped run config by name, or a YAML path / mapping
    evaluate(model, "linear_vb", params={"task": "T1", "horizon": 200})
    train("lm_stdlib_lbc", ["--steps=50"])               # a byte-level LM on the Python standard library's source
    from wave_hf.training.corpora import corpus_splits
    evaluate(model, corpus_splits({"corpus": "stdlib", "block_size": 512})["validation"])  # bits per byte

Modules: ``schema`` (run config), ``resources`` (the run configs, model configs and card templates shipped in the
package), ``tasks`` (data adapter), ``corpora`` (text corpora: named corpora, packed rows, their batches),
``modeling`` (model from config + task), ``objectives`` (loss/metric sums),
``curriculum``, ``checkpoints`` (atomic save/resume), ``evaluation``, ``logs`` (accelerate trackers, CSV) /
``plots``, ``cards`` (model cards), ``trainer`` (the loop), ``loading`` (a finished run's model, checkpoints and
result). Pushing to the Hub is ``wave_hf.hub`` (above this
package).
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
