"""Recurrent baselines as wave_hf zoo models: Elman RNN, iRNN, Wave-RNN (wRNN) and LSTM.

Each family has ``XModel`` (embedding when ``vocab_size`` is set, then the recurrent layers; the contract of
``wave_hf.models.base``), ``XForPrediction`` (real-valued sequences: ``value_in`` = W_uh and ``value_out`` = W_hy,
both bias-free, masked MSE, ``rollout``) and ``XForCausalLM`` (tokens, ``generate``). The cache holds each layer's
hidden state (``h``; LSTM: ``h`` and ``c``), so chunked prefill, generation and rollouts cost O(1) per step.

Paper model (brief 3.2 / 6.2): ``ElmanRNNForPrediction`` with tanh and no bias is
``h_t = tanh(W_hh h_{t-1} + W_uh x_t)``, ``y_t = W_hy h_t``, h_0 = 0; ``recurrent_weights()`` returns the three
matrices for the analysis tools.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn as nn
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer

from wave_hf.models.base import (
    WaveBackboneModel,
    WaveCache,
    WaveForCausalLMBase,
    WaveForPredictionBase,
    WavePreTrainedModel,
)

from .configuration_baselines import (
    ElmanRNNConfig,
    IRNNConfig,
    LSTMConfig,
    RecurrentBaselineConfig,
    WaveRNNConfig,
)
from .recurrence import circulant_shift_matrix, lstm_scan, simple_rnn_scan

__all__ = [
    "ElmanRNNForCausalLM",
    "ElmanRNNForPrediction",
    "ElmanRNNModel",
    "IRNNForCausalLM",
    "IRNNForPrediction",
    "IRNNModel",
    "LSTMForCausalLM",
    "LSTMForPrediction",
    "LSTMModel",
    "WaveRNNForCausalLM",
    "WaveRNNForPrediction",
    "WaveRNNModel",
]


def _uniform_fan(tensor: torch.Tensor, fan: int) -> None:
    """torch's RNN/Linear default: U(-1/sqrt(fan), 1/sqrt(fan))."""
    bound = 1.0 / math.sqrt(fan)
    init.uniform_(tensor, -bound, bound)


# --------------------------------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------------------------------


class _RecurrentCell(nn.Module):
    """The parameters and the scan of one recurrent layer. ``forward(hidden (B, L, n_in), state, keep)`` returns
    (outputs (B, L, n), final state tuple in ``state_names`` order).

    Layer 0 receives the head's input map (W_uh x_t, or the token embedding) as its drive; deeper layers have their
    own input weights ``weight_ih``.
    """

    state_names: ClassVar[tuple[str, ...]] = ("h",)

    def __init__(self, config: RecurrentBaselineConfig, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.hidden_size = config.hidden_size

    def forward(self, hidden: torch.Tensor, state: list[torch.Tensor], keep: torch.Tensor | None):
        raise NotImplementedError


class RecurrentBlock(GradientCheckpointingLayer):
    """One layer: reads the cell's state from the cache (zeros when absent), scans, writes the final state back.
    Padding (``attention_mask`` 0) holds the state, so a padded batch leaves each sequence's state at its last
    real token."""

    def __init__(self, cell: _RecurrentCell):
        super().__init__()
        self.cell = cell

    def forward(
        self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, cache: WaveCache | None = None
    ) -> torch.Tensor:
        cell, ref = self.cell, hidden_states
        state = []
        for name in cell.state_names:
            value = cache.get_state(cell.layer_idx, name) if cache is not None else None
            state.append(ref.new_zeros(ref.shape[0], cell.hidden_size) if value is None else value.to(ref.dtype))
        out, final = cell(hidden_states, state, attention_mask)
        if cache is not None:
            for name, value in zip(cell.state_names, final):
                cache.set_state(cell.layer_idx, name, value)
        return out


class SimpleRNNCell(_RecurrentCell):
    """``h_t = act(W_hh h_{t-1} + [W_ih] e_t [+ b])`` (Elman, iRNN)."""

    def __init__(
        self,
        config: RecurrentBaselineConfig,
        layer_idx: int,
        nonlinearity: str,
        use_bias: bool,
        dense_recurrence: bool = True,
    ):
        super().__init__(config, layer_idx)
        n = config.hidden_size
        self.nonlinearity = nonlinearity
        # a subclass without a dense W_hh parameter builds it in recurrent_matrix() (the Wave-RNN's convolution)
        self.weight_hh = nn.Parameter(torch.empty(n, n)) if dense_recurrence else None
        self.weight_ih = nn.Parameter(torch.empty(n, n)) if layer_idx > 0 else None
        self.bias = nn.Parameter(torch.empty(n)) if use_bias else None

    def recurrent_matrix(self) -> torch.Tensor:
        """W_hh (n, n)."""
        return self.weight_hh

    def forward(self, hidden, state, keep):
        out, h = simple_rnn_scan(
            hidden, state[0], self.recurrent_matrix(), self.weight_ih, self.bias, self.nonlinearity, keep
        )
        return out, (h,)


class ElmanCell(SimpleRNNCell):
    def __init__(self, config: ElmanRNNConfig, layer_idx: int):
        super().__init__(config, layer_idx, config.nonlinearity, config.use_bias)

    def init_wave_weights(self) -> None:
        for p in (self.weight_hh, self.weight_ih, self.bias):
            if p is not None:
                _uniform_fan(p, self.hidden_size)


class IRNNCell(SimpleRNNCell):
    def __init__(self, config: IRNNConfig, layer_idx: int):
        super().__init__(config, layer_idx, "relu", True)
        self.input_init_std = config.input_init_std

    def init_wave_weights(self) -> None:
        init.copy_(self.weight_hh, torch.eye(self.hidden_size))
        init.zeros_(self.bias)
        if self.weight_ih is not None:
            init.normal_(self.weight_ih, std=self.input_init_std)


class WaveRNNCell(SimpleRNNCell):
    """ReLU RNN whose W_hh is a circular convolution over channels (``kernel`` (c, c, f)); it runs as the dense
    (n, n) matrix of that convolution on the fused kernel (``circulant_shift_matrix``), which costs n^2 per step:
    right for the few hundred units used here, wasteful for thousands."""

    def __init__(self, config: WaveRNNConfig, layer_idx: int):
        super().__init__(config, layer_idx, "relu", True, dense_recurrence=False)
        c, f = config.num_channels, config.kernel_size
        self.units_per_channel = config.units_per_channel
        self.kernel = nn.Parameter(torch.empty(c, c, f))
        self.recurrent_init = config.recurrent_init
        self.input_init_std = config.input_init_std

    def recurrent_matrix(self) -> torch.Tensor:
        return circulant_shift_matrix(self.kernel, self.units_per_channel)

    def init_wave_weights(self) -> None:
        c, _, f = self.kernel.shape
        if self.recurrent_init == "random":
            _uniform_fan(self.kernel, c * f)  # Conv1d default bound 1/sqrt(in_channels * kernel_size)
        else:
            dirac = torch.zeros(c, c, f)
            dirac[torch.arange(c), torch.arange(c), f // 2] = 1.0
            if self.recurrent_init == "shift":  # the code's init='fwd': Dirac rolled by one tap, out[i] = h[i + 1]
                dirac = torch.roll(dirac, 1, dims=-1)
            init.copy_(self.kernel, dirac)
        init.zeros_(self.bias)
        if self.weight_ih is not None:
            init.normal_(self.weight_ih, std=self.input_init_std)


class LSTMCell(_RecurrentCell):
    state_names = ("h", "c")

    def __init__(self, config: LSTMConfig, layer_idx: int):
        super().__init__(config, layer_idx)
        n = config.hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * n, n))
        self.weight_hh = nn.Parameter(torch.empty(4 * n, n))
        self.bias_ih = nn.Parameter(torch.empty(4 * n)) if config.use_bias else None
        self.bias_hh = nn.Parameter(torch.empty(4 * n)) if config.use_bias else None

    def init_wave_weights(self) -> None:
        for p in (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh):
            if p is not None:
                _uniform_fan(p, self.hidden_size)

    def forward(self, hidden, state, keep):
        out, (h, c) = lstm_scan(
            hidden, (state[0], state[1]), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, keep
        )
        return out, (h, c)


# --------------------------------------------------------------------------------------------------------------------
# Pretrained bases (shared accessors and head initialisation)
# --------------------------------------------------------------------------------------------------------------------


class _BaselinePreTrainedModel(WavePreTrainedModel):
    """Shared by a family's three classes: the analysis accessor and the reference initialisation (torch's RNN /
    Linear defaults, or the family's rule) of the input map (``value_in`` or the token embedding) and the readout
    (``value_out`` or an untied ``lm_head``), instead of transformers' N(0, initializer_range)."""

    _no_split_modules: ClassVar[list[str]] = []

    def _recurrent_layers(self) -> nn.ModuleList:
        return self.base_model.layers

    def _value_in_init(self, n: int, d: int) -> torch.Tensor:
        """Initial input map (n, d) of layer 0 (``value_in`` of a prediction head; transposed, the token embedding).
        Elman: nn.RNN's weight_ih, U(-1/sqrt(n), 1/sqrt(n))."""
        bound = 1.0 / math.sqrt(n)
        return torch.empty(n, d).uniform_(-bound, bound)

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        # transformers' smart_apply initialises a head's own children with the head as ``self`` (the base model's
        # children with the base model); the head itself, having no parameters of its own, is never visited
        weight = getattr(module, "weight", None)
        if weight is None or getattr(weight, "_is_hf_initialized", False):
            return
        n = self.config.hidden_size
        if module is getattr(self, "value_in", None):
            init.copy_(weight, self._value_in_init(n, weight.shape[1]))
        elif module is getattr(self, "embed_tokens", None):
            init.copy_(weight, self._value_in_init(n, weight.shape[0]).T)
        elif module is getattr(self, "value_out", None) or (
            module is getattr(self, "lm_head", None) and not self.config.tie_word_embeddings
        ):
            _uniform_fan(weight, n)  # nn.Linear(n, d) default

    @torch.no_grad()
    def recurrent_weights(self, layer_idx: int = 0) -> dict[str, torch.Tensor | None]:
        """Detached weights of one layer for the analysis tools.

        Returns ``W_hh`` (n, n); ``W_uh`` (n, d_in): the prediction head's input map for layer 0 (None for token
        models and base models), the layer's own input weights for deeper layers; ``W_hy`` (d_out, n): the prediction
        head's readout for the last layer (None otherwise); ``bias`` (n,) or None. (LSTM: the raw gate matrices
        ``W_hh`` (4n, n) and ``W_uh`` (4n, n).)
        """
        layers = self._recurrent_layers()
        if not 0 <= layer_idx < len(layers):
            raise ValueError(f"`layer_idx` must lie in [0, {len(layers)}); got {layer_idx}")
        layer = layers[layer_idx].cell
        is_pred = isinstance(self, WaveForPredictionBase)
        if isinstance(layer, LSTMCell):
            w_hh, bias = layer.weight_hh, layer.bias_ih
            w_uh = layer.weight_ih if layer_idx > 0 or not is_pred else layer.weight_ih @ self.value_in.weight
        else:
            w_hh, bias = layer.recurrent_matrix(), layer.bias
            if layer_idx > 0:
                w_uh = layer.weight_ih
            else:
                w_uh = self.value_in.weight if is_pred else None
        w_hy = self.value_out.weight if is_pred and layer_idx == len(layers) - 1 else None

        def det(t):
            return None if t is None else t.detach().clone()

        return {"W_hh": det(w_hh), "W_uh": det(w_uh), "W_hy": det(w_hy), "bias": det(bias)}


class _RecurrentModel(_BaselinePreTrainedModel, WaveBackboneModel):
    """Base model of a family: optional token embedding, then the recurrent layers (no norm, no residual); the
    output is the last layer's h_t."""

    cell_class: ClassVar[type[_RecurrentCell]]

    def __init__(self, config: RecurrentBaselineConfig):
        super().__init__(config, [RecurrentBlock(self.cell_class(config, i)) for i in range(config.num_hidden_layers)])


# --------------------------------------------------------------------------------------------------------------------
# Families
# --------------------------------------------------------------------------------------------------------------------


class ElmanRNNPreTrainedModel(_BaselinePreTrainedModel):
    config_class = ElmanRNNConfig


class ElmanRNNModel(_RecurrentModel, ElmanRNNPreTrainedModel):
    config_class = ElmanRNNConfig
    cell_class = ElmanCell


class ElmanRNNForPrediction(WaveForPredictionBase, ElmanRNNPreTrainedModel):
    config_class = ElmanRNNConfig
    base_model_class = ElmanRNNModel


class ElmanRNNForCausalLM(WaveForCausalLMBase, ElmanRNNPreTrainedModel):
    config_class = ElmanRNNConfig
    base_model_class = ElmanRNNModel


class IRNNPreTrainedModel(_BaselinePreTrainedModel):
    config_class = IRNNConfig

    def _value_in_init(self, n: int, d: int) -> torch.Tensor:
        return torch.randn(n, d) * self.config.input_init_std


class IRNNModel(_RecurrentModel, IRNNPreTrainedModel):
    config_class = IRNNConfig
    cell_class = IRNNCell


class IRNNForPrediction(WaveForPredictionBase, IRNNPreTrainedModel):
    config_class = IRNNConfig
    base_model_class = IRNNModel


class IRNNForCausalLM(WaveForCausalLMBase, IRNNPreTrainedModel):
    config_class = IRNNConfig
    base_model_class = IRNNModel


class WaveRNNPreTrainedModel(_BaselinePreTrainedModel):
    config_class = WaveRNNConfig

    def _value_in_init(self, n: int, d: int) -> torch.Tensor:
        c = self.config
        if c.input_init == "normal":
            return torch.randn(n, d) * c.input_init_std
        solo = torch.zeros(c.num_channels, c.units_per_channel, d)
        solo[:, 0] = 1.0  # every input feeds unit 0 of each channel with weight 1 (the code's solo_init)
        return solo.reshape(n, d)


class WaveRNNModel(_RecurrentModel, WaveRNNPreTrainedModel):
    config_class = WaveRNNConfig
    cell_class = WaveRNNCell


class WaveRNNForPrediction(WaveForPredictionBase, WaveRNNPreTrainedModel):
    config_class = WaveRNNConfig
    base_model_class = WaveRNNModel


class WaveRNNForCausalLM(WaveForCausalLMBase, WaveRNNPreTrainedModel):
    config_class = WaveRNNConfig
    base_model_class = WaveRNNModel


class LSTMPreTrainedModel(_BaselinePreTrainedModel):
    config_class = LSTMConfig

    def _value_in_init(self, n: int, d: int) -> torch.Tensor:
        bound = 1.0 / math.sqrt(d)  # nn.Linear(d, n) default
        return torch.empty(n, d).uniform_(-bound, bound)


class LSTMModel(_RecurrentModel, LSTMPreTrainedModel):
    config_class = LSTMConfig
    cell_class = LSTMCell


class LSTMForPrediction(WaveForPredictionBase, LSTMPreTrainedModel):
    config_class = LSTMConfig
    base_model_class = LSTMModel


class LSTMForCausalLM(WaveForCausalLMBase, LSTMPreTrainedModel):
    config_class = LSTMConfig
    base_model_class = LSTMModel
