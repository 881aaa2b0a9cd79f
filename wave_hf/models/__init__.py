"""The model zoo. Importing this package registers every family with the transformers Auto classes
(``wave_lbc``, ``wave_sbc`` and the recurrent baselines ``elman_rnn``, ``irnn``, ``wrnn``, ``lstm_rnn``)."""

from . import baselines, wave_lbc, wave_sbc
from .baselines import ElmanRNNConfig, ElmanRNNForPrediction, ElmanRNNModel
from .wave_lbc import WaveLBCConfig, WaveLBCForCausalLM, WaveLBCForPrediction, WaveLBCModel
from .wave_sbc import WaveSBCConfig, WaveSBCForCausalLM, WaveSBCForPrediction, WaveSBCModel

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
    "baselines",
    "wave_lbc",
    "wave_sbc",
]
