"""Recurrent baselines (Elman RNN, iRNN, Wave-RNN, LSTM) as Hugging Face zoo models; importing this package
registers them with the Auto classes (model types ``elman_rnn``, ``irnn``, ``wrnn``, ``lstm_rnn``)."""

from wave_hf.models.base import register_family

from .configuration_baselines import ElmanRNNConfig, IRNNConfig, LSTMConfig, RecurrentBaselineConfig, WaveRNNConfig
from .modeling_baselines import (
    ElmanRNNForCausalLM,
    ElmanRNNForPrediction,
    ElmanRNNModel,
    IRNNForCausalLM,
    IRNNForPrediction,
    IRNNModel,
    LSTMForCausalLM,
    LSTMForPrediction,
    LSTMModel,
    WaveRNNForCausalLM,
    WaveRNNForPrediction,
    WaveRNNModel,
)

register_family(ElmanRNNConfig, ElmanRNNModel, ElmanRNNForCausalLM, ElmanRNNForPrediction)
register_family(IRNNConfig, IRNNModel, IRNNForCausalLM, IRNNForPrediction)
register_family(WaveRNNConfig, WaveRNNModel, WaveRNNForCausalLM, WaveRNNForPrediction)
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
    "LSTMConfig",
    "LSTMForCausalLM",
    "LSTMForPrediction",
    "LSTMModel",
    "RecurrentBaselineConfig",
    "WaveRNNConfig",
    "WaveRNNForCausalLM",
    "WaveRNNForPrediction",
    "WaveRNNModel",
]
