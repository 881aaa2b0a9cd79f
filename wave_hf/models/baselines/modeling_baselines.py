"""Recurrent baselines as wave_hf zoo models: Elman RNN, iRNN, Keller's Wave-RNN (wRNN) and LSTM.

Read top to bottom: the cells (one recurrent layer's parameters, reference initialisation and scan, on the kernels of
``recurrence.py``), ``RecurrentBlock`` (a cell with its state in the cache), ``RecurrentPreTrainedModel`` (the
reference initialisation of the input and output maps, ``recurrent_weights()`` for the analysis tools),
``RecurrentModel`` (embedding -> recurrent layers, its ``forward`` written out here: no norm, no residual; the output
is the last layer's h_t) and the heads (``wave_hf.models.heads``), then each family in one line (``_family``).

Each family has ``XModel``, ``XForPrediction`` (real-valued sequences: ``value_in`` = W_uh and ``value_out`` = W_hy,
both bias-free, masked MSE, ``rollout``) and ``XForCausalLM`` (tokens, ``generate``). The cache holds each layer's
hidden state (``h``; LSTM: ``h`` and ``c``), so chunked prefill, generation and rollouts cost O(1) per step.

Paper model: ``ElmanRNNForPrediction`` with tanh and no bias is ``h_t = tanh(W_hh h_{t-1} + W_uh x_t)``,
``y_t = W_hy h_t``, h_0 = 0 (the paper's RNN baseline); ``recurrent_weights()`` returns the three matrices.

transformers' conventions: ``return_dict=False`` gives tuples, ``hidden_states`` hold the input and every layer's
h_t, ``output_attentions`` warns (no attention weights), ``torch.compile(fullgraph=True)`` works. ``torch.export``
with a dynamic sequence length does not: torch's fused RNN kernels fix L when traced.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn as nn
from transformers import GenerationMixin
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPast
from transformers.utils.generic import can_return_tuple

from wave_hf.layers.padding import pack_tokens, unpack_tokens
from wave_hf.models.cache import WaveCache
from wave_hf.models.heads import WaveForCausalLMBase, WaveForPredictionBase
from wave_hf.models.modeling_utils import WavePreTrainedModel, hidden_states_output

from .configuration_baselines import (
    ElmanRNNConfig,
    IRNNConfig,
    KellerWaveRNNConfig,
    LSTMConfig,
    RecurrentBaselineConfig,
)
from .recurrence import circulant_shift_matrix, lstm_scan, simple_rnn_scan

__all__ = [
    "ElmanRNNForCausalLM",
    "ElmanRNNForPrediction",
    "ElmanRNNModel",
    "IRNNForCausalLM",
    "IRNNForPrediction",
    "IRNNModel",
    "KellerWaveRNNForCausalLM",
    "KellerWaveRNNForPrediction",
    "KellerWaveRNNModel",
    "LSTMForCausalLM",
    "LSTMForPrediction",
    "LSTMModel",
]


def _uniform_fan(tensor: torch.Tensor, fan: int) -> None:
    """torch's RNN/Linear default: U(-1/sqrt(fan), 1/sqrt(fan))."""
    bound = 1.0 / math.sqrt(fan)
    init.uniform_(tensor, -bound, bound)


# --------------------------------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------------------------------


class _RecurrentCell(nn.Module):
    """The parameters and the scan of one recurrent layer. ``forward(hidden (B, L, n_in), state, keep, reset)``
    returns (outputs (B, L, n), final state tuple in ``state_names`` order); ``keep`` (B, L) marks real tokens,
    ``reset`` (B, L) the starts of packed documents (``recurrence.simple_rnn_scan``).

    Layer 0 receives the head's input map (W_uh x_t, or the token embedding) as its drive; deeper layers have their
    own input weights ``weight_ih``. ``input_map_init(config, d)`` is the reference initialisation of that input map
    (n, d) (default: nn.RNN's weight_ih, U(-1/sqrt(n), 1/sqrt(n))).
    """

    state_names: ClassVar[tuple[str, ...]] = ("h",)

    def __init__(self, config: RecurrentBaselineConfig, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.hidden_size = config.hidden_size

    @staticmethod
    def input_map_init(config: RecurrentBaselineConfig, d: int) -> torch.Tensor:
        n = config.hidden_size
        bound = 1.0 / math.sqrt(n)
        return torch.empty(n, d).uniform_(-bound, bound)

    def forward(self, hidden: torch.Tensor, state: list[torch.Tensor], keep: torch.Tensor | None,
                reset: torch.Tensor | None = None):
        raise NotImplementedError


class RecurrentBlock(GradientCheckpointingLayer):
    """One layer: reads the cell's state from the cache (zeros when absent), scans, writes the final state back.
    Rows arrive packed (``wave_hf.layers.padding``); ``keep`` (B, L) bool is False at the padding after each row's
    real tokens, where the state is held, so the final state is the one at the last real token."""

    def __init__(self, cell: _RecurrentCell):
        super().__init__()
        self.cell = cell

    def forward(self, hidden_states: torch.Tensor, keep: torch.Tensor | None = None, cache: WaveCache | None = None,
                reset: torch.Tensor | None = None) -> torch.Tensor:
        """hidden_states (B, L, n_in) -> the layer's h_t (B, L, n); ``keep`` / ``reset`` (B, L) as in the cell."""
        cell, ref = self.cell, hidden_states
        state = []
        for name in cell.state_names:
            value = cache.get_state(cell.layer_idx, name) if cache is not None else None
            state.append(ref.new_zeros(ref.shape[0], cell.hidden_size) if value is None else value.to(ref.dtype))
        out, final = cell(hidden_states, state, keep, reset)
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

    def forward(self, hidden, state, keep, reset=None):
        out, h = simple_rnn_scan(
            hidden, state[0], self.recurrent_matrix(), self.weight_ih, self.bias, self.nonlinearity, keep, reset
        )
        return out, (h,)


class ElmanCell(SimpleRNNCell):
    def __init__(self, config: ElmanRNNConfig, layer_idx: int):
        super().__init__(config, layer_idx, config.nonlinearity, config.use_bias)
        self.recurrent_init, self.wave_columns = config.recurrent_init, config.wave_columns

    def init_wave_weights(self) -> None:
        for p in (self.weight_hh, self.weight_ih, self.bias):
            if p is not None:
                _uniform_fan(p, self.hidden_size)
        if self.recurrent_init == "wave":
            init.copy_(self.weight_hh, hidden_open_shift(self.hidden_size, self.wave_columns))


def hidden_open_shift(n: int, columns: int) -> torch.Tensor:
    """``Q Phi_0 Q^T`` (n, n): the open-boundary shift of a substrate of ``columns`` columns of ``n / columns`` units
    (``h_i(t+1) = h_{i+1}(t)``, nothing written into the start column: the paper's Phi with f = 0, nilpotent) in the
    coordinates of a random orthogonal ``Q`` (drawn from the global torch generator), so the waves are hidden."""
    m = n // columns
    phi0 = torch.diag(torch.ones(n - m), diagonal=m)  # identity blocks on the block superdiagonal
    q, _ = torch.linalg.qr(torch.randn(n, n))
    return q @ phi0 @ q.T


class IRNNCell(SimpleRNNCell):
    def __init__(self, config: IRNNConfig, layer_idx: int):
        super().__init__(config, layer_idx, "relu", True)
        self.input_init_std = config.input_init_std

    @staticmethod
    def input_map_init(config: IRNNConfig, d: int) -> torch.Tensor:
        return torch.randn(config.hidden_size, d) * config.input_init_std

    def init_wave_weights(self) -> None:
        init.copy_(self.weight_hh, torch.eye(self.hidden_size))
        init.zeros_(self.bias)
        if self.weight_ih is not None:
            init.normal_(self.weight_ih, std=self.input_init_std)


class KellerWaveRNNCell(SimpleRNNCell):
    """ReLU RNN whose W_hh is a circular convolution over channels (``kernel`` (c, c, f)); it runs as the dense
    (n, n) matrix of that convolution on the fused kernel (``circulant_shift_matrix``), which costs n^2 per step:
    right for the few hundred units used here, wasteful for thousands."""

    def __init__(self, config: KellerWaveRNNConfig, layer_idx: int):
        super().__init__(config, layer_idx, "relu", True, dense_recurrence=False)
        c, f = config.num_channels, config.kernel_size
        self.units_per_channel = config.units_per_channel
        self.kernel = nn.Parameter(torch.empty(c, c, f))
        self.recurrent_init = config.recurrent_init
        self.input_init_std = config.input_init_std

    def recurrent_matrix(self) -> torch.Tensor:
        return circulant_shift_matrix(self.kernel, self.units_per_channel)

    @staticmethod
    def input_map_init(config: KellerWaveRNNConfig, d: int) -> torch.Tensor:
        if config.input_init == "normal":
            return torch.randn(config.hidden_size, d) * config.input_init_std
        solo = torch.zeros(config.num_channels, config.units_per_channel, d)
        solo[:, 0] = 1.0  # every input feeds unit 0 of each channel with weight 1 (the code's solo_init)
        return solo.reshape(config.hidden_size, d)

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

    @staticmethod
    def input_map_init(config: LSTMConfig, d: int) -> torch.Tensor:
        bound = 1.0 / math.sqrt(d)  # nn.Linear(d, n) default
        return torch.empty(config.hidden_size, d).uniform_(-bound, bound)

    def forward(self, hidden, state, keep, reset=None):
        out, (h, c) = lstm_scan(
            hidden, (state[0], state[1]), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, keep, reset
        )
        return out, (h, c)


# --------------------------------------------------------------------------------------------------------------------
# Model classes shared by the four families
# --------------------------------------------------------------------------------------------------------------------


class RecurrentPreTrainedModel(WavePreTrainedModel):
    """Shared by every baseline class: the analysis accessor and the reference initialisation (torch's RNN /
    Linear defaults, or the family's rule: the cell's ``input_map_init``) of the input map (``value_in`` or the token
    embedding) and the readout (``value_out`` or an untied ``lm_head``), instead of transformers' N(0,
    initializer_range)."""

    _no_split_modules: ClassVar[list[str]] = []

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        # transformers' smart_apply initialises a head's own children with the head as ``self`` (the base model's
        # children with the base model); the head itself, having no parameters of its own, is never visited
        weight = getattr(module, "weight", None)
        if weight is None or getattr(weight, "_is_hf_initialized", False):
            return
        input_map_init = self.base_model.cell_class.input_map_init
        if module is getattr(self, "value_in", None):
            init.copy_(weight, input_map_init(self.config, weight.shape[1]))
        elif module is getattr(self, "embed_tokens", None):
            init.copy_(weight, input_map_init(self.config, weight.shape[0]).T)
        elif module is getattr(self, "value_out", None) or (
            module is getattr(self, "lm_head", None) and not self.config.tie_word_embeddings
        ):
            _uniform_fan(weight, self.config.hidden_size)  # nn.Linear(n, d) default

    @torch.no_grad()
    def recurrent_weights(self, layer_idx: int = 0) -> dict[str, torch.Tensor | None]:
        """Detached weights of one layer for the analysis tools.

        Returns ``W_hh`` (n, n); ``W_uh`` (n, d_in): the prediction head's input map for layer 0 (None for token
        models and base models), the layer's own input weights for deeper layers; ``W_hy`` (d_out, n): the prediction
        head's readout for the last layer (None otherwise); ``bias`` (n,) or None. (LSTM: the raw gate matrices
        ``W_hh`` (4n, n) and ``W_uh`` (4n, n).)
        """
        layers = self.base_model.layers
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


class RecurrentModel(RecurrentPreTrainedModel):
    """Base model of a family: optional token embedding, then the recurrent layers (cells of ``cell_class``); no
    norm, no residual."""

    cell_class: ClassVar[type[_RecurrentCell]]

    def __init__(self, config: RecurrentBaselineConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size) if config.vocab_size else None
        self.layers = nn.ModuleList(
            [RecurrentBlock(self.cell_class(config, i)) for i in range(config.num_hidden_layers)]
        )
        self.post_init()

    @can_return_tuple
    def forward(self, input_ids: torch.LongTensor | None = None, inputs_embeds: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, cache: WaveCache | None = None,
                use_cache: bool | None = None, output_hidden_states: bool | None = None,
                position_ids: torch.LongTensor | None = None, **kwargs: Any) -> BaseModelOutputWithPast:
        """input_ids (B, L) or inputs_embeds (B, L, hidden_size), attention_mask (B, L) -> last_hidden_state: the last
        layer's h_t (B, L, hidden_size), zero at padded positions; the cache holds every layer's state. Packed
        documents (``wave_hf.layers.padding.PACKING_KWARGS``) start from h = 0 each. No attention weights."""
        output_hidden_states, _ = self.output_flags(output_hidden_states, kwargs.get("output_attentions"), False)
        hidden, layout, cache = self.prepare_inputs(
            input_ids, inputs_embeds, attention_mask, cache, use_cache, position_ids=position_ids, **kwargs
        )
        keep = None if layout is None else layout.valid  # the padding after each row's real tokens holds the state
        reset = None if layout is None else layout.reset
        h_per_layer = [pack_tokens(hidden, layout)]
        for block in self.layers:
            h_per_layer.append(block(h_per_layer[-1], keep=keep, cache=cache, reset=reset))
        hidden = unpack_tokens(h_per_layer[-1], layout)
        all_hidden = hidden_states_output(h_per_layer, hidden, layout) if output_hidden_states else None
        return BaseModelOutputWithPast(last_hidden_state=hidden, cache=cache, hidden_states=all_hidden)


class RecurrentForPrediction(WaveForPredictionBase, RecurrentPreTrainedModel):
    """Real-valued sequences: ``value_in`` (W_uh) -> the recurrent layers -> ``value_out`` (W_hy)."""


class RecurrentForCausalLM(WaveForCausalLMBase, RecurrentPreTrainedModel, GenerationMixin):
    """Tokens: embedding -> the recurrent layers -> ``lm_head``, with ``generate``."""


# --------------------------------------------------------------------------------------------------------------------
# Families
# --------------------------------------------------------------------------------------------------------------------


def _family(
    config_class: type[RecurrentBaselineConfig], cell_class: type[_RecurrentCell]
) -> tuple[type[RecurrentModel], type[RecurrentForPrediction], type[RecurrentForCausalLM]]:
    """The three classes of one family, named after its config (``ElmanRNNConfig`` -> ``ElmanRNNModel``,
    ``ElmanRNNForPrediction``, ``ElmanRNNForCausalLM``): a family differs from another only in its config and cell."""
    name = config_class.__name__.removesuffix("Config")

    def make(suffix: str, base: type, **attrs: Any) -> type:
        doc = f"{base.__doc__.splitlines()[0]} ({config_class.model_type!r}: ``{cell_class.__name__}``)"
        bases = (base, GenerationMixin) if issubclass(base, GenerationMixin) else (base,)  # GenerationMixin directly
        return type(f"{name}{suffix}", bases, {"__module__": __name__, "__doc__": doc, **attrs})

    model = make("Model", RecurrentModel, config_class=config_class, cell_class=cell_class)
    return model, make("ForPrediction", RecurrentForPrediction, base_model_class=model), make(
        "ForCausalLM", RecurrentForCausalLM, base_model_class=model
    )


ElmanRNNModel, ElmanRNNForPrediction, ElmanRNNForCausalLM = _family(ElmanRNNConfig, ElmanCell)
IRNNModel, IRNNForPrediction, IRNNForCausalLM = _family(IRNNConfig, IRNNCell)
KellerWaveRNNModel, KellerWaveRNNForPrediction, KellerWaveRNNForCausalLM = _family(
    KellerWaveRNNConfig, KellerWaveRNNCell
)
LSTMModel, LSTMForPrediction, LSTMForCausalLM = _family(LSTMConfig, LSTMCell)
