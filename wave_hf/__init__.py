"""wave_hf: traveling-wave working-memory models for the Hugging Face ecosystem.

``import wave_hf`` registers the model families with the transformers Auto classes (``AutoConfig``, ``AutoModel``,
``AutoModelForCausalLM``, ``AutoModelForTimeSeriesPrediction``), so checkpoints load with the Auto classes.
"""

__version__ = "0.1.0"

from . import models  # noqa: E402  (registration side effect)
from .models import (  # noqa: E402
    ElmanRNNConfig,
    ElmanRNNForPrediction,
    ElmanRNNModel,
    WaveLBCConfig,
    WaveLBCForCausalLM,
    WaveLBCForPrediction,
    WaveLBCModel,
    WaveSBCConfig,
    WaveSBCForCausalLM,
    WaveSBCForPrediction,
    WaveSBCModel,
)
from .ops import wave_scan, wave_step  # noqa: E402

__all__ = [
    "ElmanRNNConfig",
    "ElmanRNNForPrediction",
    "ElmanRNNModel",
    "WaveLBCConfig",
    "WaveLBCForCausalLM",
    "WaveLBCForPrediction",
    "WaveLBCModel",
    "WaveSBCConfig",
    "WaveSBCForCausalLM",
    "WaveSBCForPrediction",
    "WaveSBCModel",
    "__version__",
    "models",
    "wave_scan",
    "wave_step",
]
