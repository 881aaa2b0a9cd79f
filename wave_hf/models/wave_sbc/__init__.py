"""SBC wave models: the self-attention boundary condition as an attention-only decoder (``model_type="wave_sbc"``)."""

from wave_hf.models.heads import register_family
from wave_hf.models.wave_sbc.configuration_wave_sbc import WaveSBCConfig
from wave_hf.models.wave_sbc.modeling_wave_sbc import (
    PEFT_TARGET_MODULES,
    WaveSBCBlock,
    WaveSBCForCausalLM,
    WaveSBCForPrediction,
    WaveSBCModel,
)

register_family(WaveSBCConfig, WaveSBCModel, WaveSBCForCausalLM, WaveSBCForPrediction)

__all__ = [
    "PEFT_TARGET_MODULES",
    "WaveSBCBlock",
    "WaveSBCConfig",
    "WaveSBCForCausalLM",
    "WaveSBCForPrediction",
    "WaveSBCModel",
]
