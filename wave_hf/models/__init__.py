"""The model zoo. Importing this package registers every family with the transformers Auto classes
(``wave_lbc``, ``wave_sbc`` and the recurrent baselines ``elman_rnn``, ``irnn``, ``wrnn``, ``lstm_rnn``).

Layout: ``configuration_utils`` (``WaveBaseConfig`` and the field checks; torch-free), ``cache`` (``WaveCache``),
``modeling_utils`` (``WavePreTrainedModel``: init hook, input checks, output flags), ``heads`` (the causal-LM and
prediction heads, ``masked_mse``, ``register_family``), then one folder per family: ``configuration_*.py`` and
``modeling_*.py``. ``PEFT_TARGET_MODULES``: the LoRA target modules of each wave family (for ``wave_lbc`` the union of
the wave mixer's and the attention's projections, so one list serves the LBC/SBC hybrid, ``attention_layers``).
"""

from . import baselines, wave_lbc, wave_sbc
from .baselines import ElmanRNNConfig, ElmanRNNForPrediction, ElmanRNNModel
from .cache import WaveCache, WaveStateLayer
from .configuration_utils import WaveBaseConfig
from .heads import WaveForCausalLMBase, WaveForPredictionBase, WavePredictionOutput, masked_mse, register_family
from .modeling_utils import WavePreTrainedModel
from .wave_lbc import WaveLBCConfig, WaveLBCForCausalLM, WaveLBCForPrediction, WaveLBCModel
from .wave_sbc import WaveSBCConfig, WaveSBCForCausalLM, WaveSBCForPrediction, WaveSBCModel

PEFT_TARGET_MODULES: dict[str, list[str]] = {
    "wave_lbc": wave_lbc.PEFT_TARGET_MODULES,
    "wave_sbc": wave_sbc.PEFT_TARGET_MODULES,
}
"""The ``peft.LoraConfig(target_modules=...)`` of each wave family, by ``model_type`` (names a model lacks match
nothing: the ``wave_lbc`` list also names the projections of the hybrid's attention layers)."""

__all__ = [
    "PEFT_TARGET_MODULES",
    "ElmanRNNConfig",
    "ElmanRNNForPrediction",
    "ElmanRNNModel",
    "WaveBaseConfig",
    "WaveCache",
    "WaveForCausalLMBase",
    "WaveForPredictionBase",
    "WaveLBCConfig",
    "WaveLBCForCausalLM",
    "WaveLBCForPrediction",
    "WaveLBCModel",
    "WavePreTrainedModel",
    "WavePredictionOutput",
    "WaveSBCConfig",
    "WaveSBCForCausalLM",
    "WaveSBCForPrediction",
    "WaveSBCModel",
    "WaveStateLayer",
    "baselines",
    "masked_mse",
    "register_family",
    "wave_lbc",
    "wave_sbc",
]
