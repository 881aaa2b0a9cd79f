"""wave_hf: traveling-wave working-memory models for the Hugging Face ecosystem.

``import wave_hf`` registers the model families with the transformers Auto classes (``AutoConfig``, ``AutoModel``,
``AutoModelForCausalLM``, ``AutoModelForTimeSeriesPrediction``), so checkpoints load with the Auto classes.
"""

from . import models  # registration side effect
from ._version import __version__
from .models import (
    PEFT_TARGET_MODULES,
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
from .ops import wave_scan, wave_step

__all__ = [
    "PEFT_TARGET_MODULES",
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
