"""The LBC wave-RNN family; importing it registers ``wave_lbc`` with the transformers Auto classes."""

from wave_hf.models.heads import register_family

from .configuration_wave_lbc import WaveLBCConfig
from .modeling_wave_lbc import (
    PEFT_TARGET_MODULES,
    WaveLBCBlock,
    WaveLBCForCausalLM,
    WaveLBCForPrediction,
    WaveLBCModel,
    WaveLBCPreTrainedModel,
)

register_family(WaveLBCConfig, WaveLBCModel, WaveLBCForCausalLM, WaveLBCForPrediction)

__all__ = [
    "PEFT_TARGET_MODULES",
    "WaveLBCBlock",
    "WaveLBCConfig",
    "WaveLBCForCausalLM",
    "WaveLBCForPrediction",
    "WaveLBCModel",
    "WaveLBCPreTrainedModel",
]
