"""Recurrent baselines (Elman RNN, iRNN, Keller's Wave-RNN, LSTM) as Hugging Face zoo models; importing this package
registers them with the Auto classes (model types ``elman_rnn``, ``irnn``, ``wrnn``, ``lstm_rnn``)."""

from wave_hf.models.heads import register_family

from .configuration_baselines import (
    ElmanRNNConfig,
    IRNNConfig,
    KellerWaveRNNConfig,
    LSTMConfig,
    RecurrentBaselineConfig,
)
from .modeling_baselines import (
    ElmanRNNForCausalLM,
    ElmanRNNForPrediction,
    ElmanRNNModel,
    IRNNForCausalLM,
    IRNNForPrediction,
    IRNNModel,
    KellerWaveRNNForCausalLM,
    KellerWaveRNNForPrediction,
    KellerWaveRNNModel,
    LSTMForCausalLM,
    LSTMForPrediction,
    LSTMModel,
)

register_family(ElmanRNNConfig, ElmanRNNModel, ElmanRNNForCausalLM, ElmanRNNForPrediction)
register_family(IRNNConfig, IRNNModel, IRNNForCausalLM, IRNNForPrediction)
register_family(KellerWaveRNNConfig, KellerWaveRNNModel, KellerWaveRNNForCausalLM, KellerWaveRNNForPrediction)
register_family(LSTMConfig, LSTMModel, LSTMForCausalLM, LSTMForPrediction)

__all__ = [
    "ElmanRNNConfig",
    "ElmanRNNForCausalLM",
    "ElmanRNNForPrediction",
    "ElmanRNNModel",
    "IRNNConfig",
    "IRNNForCausalLM",
    "IRNNForPrediction",
    "IRNNModel",
    "KellerWaveRNNConfig",
    "KellerWaveRNNForCausalLM",
    "KellerWaveRNNForPrediction",
    "KellerWaveRNNModel",
    "LSTMConfig",
    "LSTMForCausalLM",
    "LSTMForPrediction",
    "LSTMModel",
    "RecurrentBaselineConfig",
]
