"""The LBC wave-RNN as transformers models: ``WaveLBCModel``, ``WaveLBCForCausalLM``, ``WaveLBCForPrediction``.

Read top to bottom: ``WaveLBCBlock`` (H3-style pre-norm residual block around ``wave_hf.layers.lbc.WaveLBCMixer``,
or, at the layers of ``config.attention_layers``, around the SBC stream attention ``wave_hf.layers.sbc.SBCStreamMixer``;
optional MLP), ``WaveLBCPreTrainedModel`` (the theory accessors: the companion matrix Phi, the whole model as a
linear TWM), ``WaveLBCModel`` (embedding -> blocks -> final norm, its ``forward`` written out here) and the two heads
(``wave_hf.models.heads``). The cache holds each wave layer's substrate (and the gating memory) and each attention
layer's S newest keys/values, so memory and per-token cost do not depend on the context length.

The hybrid (``attention_layers``) puts the paper's two boundary conditions in one stack: the linear boundary (LBC)
in most layers, the self-attention boundary (SBC, stream form: each attention layer attends to its own S newest
positions) in a few, as H3's best model kept two attention layers among its shift-SSM layers.

transformers' conventions: ``return_dict=False`` gives tuples, ``hidden_states`` are Llama's (block inputs, then the
output after the final norm), ``output_attentions`` returns the weights of the attention layers (one entry per
attention layer, in layer order, as transformers' hybrid models such as Jamba do) and warns when there are none (the
wave mixer has no attention weights), ``torch.compile(fullgraph=True)`` works. ``torch.export`` with a dynamic
sequence length does not: the chunked scan and memory ops fix their number of chunks from L when traced, so export one
program per length. LoRA (PEFT): ``PEFT_TARGET_MODULES``, the mixers' projections (wave and attention) and the MLP
(with ``mixer_projections=False`` the wave mixer has none: leave out ``in_proj``/``out_proj``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from transformers import GenerationMixin
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPast
from transformers.utils.generic import can_return_tuple

from wave_hf.layers.common import MLP, RMSNorm
from wave_hf.layers.lbc import WaveLBCMixer
from wave_hf.layers.padding import TokenLayout, pack_tokens, unpack_tokens
from wave_hf.layers.sbc import SBCAttention, SBCStreamMixer
from wave_hf.models.cache import WaveCache
from wave_hf.models.heads import WaveForCausalLMBase, WaveForPredictionBase
from wave_hf.models.modeling_utils import WavePreTrainedModel, hidden_states_output

from .configuration_wave_lbc import WaveLBCConfig

__all__ = [
    "PEFT_TARGET_MODULES",
    "WaveLBCBlock",
    "WaveLBCForCausalLM",
    "WaveLBCForPrediction",
    "WaveLBCModel",
    "WaveLBCPreTrainedModel",
]

PEFT_TARGET_MODULES = ["in_proj", "out_proj", "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                       "down_proj"]
"""``peft.LoraConfig(target_modules=...)`` for the LBC models: the wave mixer's input/output projections, the
attention layers' projections (``attention_layers``; names a model lacks match nothing) and the MLP."""


def _norm(config: WaveLBCConfig) -> nn.Module:
    return RMSNorm(config.hidden_size, eps=config.rms_norm_eps) if config.use_norm else nn.Identity()


class WaveLBCBlock(GradientCheckpointingLayer):
    """``h = h + mixer(norm(h))`` then, with ``use_mlp``, ``h = h + mlp(norm(h))`` (no ``+ h`` when not residual).

    The mixer is the LBC wave (``WaveLBCMixer``), or SBC stream attention (``SBCStreamMixer``) when the config lists
    ``layer_idx`` in ``attention_layers`` (``is_attention``).
    """

    def __init__(self, config: WaveLBCConfig, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.residual = config.residual
        self.is_attention = config.is_attention_layer(layer_idx)
        self.mixer_norm = _norm(config)
        if self.is_attention:
            self.mixer = SBCStreamMixer(SBCAttention(**config.attention_kwargs))
        else:
            self.mixer = WaveLBCMixer(
                hidden_size=config.hidden_size,
                num_heads=config.num_heads,
                head_dim=config.head_dim,
                history_length=config.history_length,
                boundary=config.boundary,
                readout=config.readout,
                gating=config.gating,
                boundary_init_scale=config.boundary_init_scale,
                boundary_max_norm=config.boundary_max_norm,
                memory_halflife_min=config.memory_halflife_min,
                memory_halflife_max=config.memory_halflife_max,
                projections=config.mixer_projections,
            )
        if config.use_mlp:
            self.mlp_norm = _norm(config)
            self.mlp = MLP(config.hidden_size, config.mlp_size, config.hidden_act, gated=config.mlp_gated)
        else:
            self.mlp_norm = self.mlp = None

    def forward(
        self,
        hidden_states: torch.Tensor,
        layout: TokenLayout | None = None,
        cache: WaveCache | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """hidden_states (B, L, hidden_size) of packed rows (``wave_hf.layers.padding``) -> (B, L, hidden_size), and
        for an attention block with ``output_attentions`` its weights (B, H, L, P + L) (``SBCStreamMixer``), else
        None."""
        state = None
        if cache is not None:
            state = {name: cache.get_state(self.layer_idx, name) for name in self.mixer.state_names}
        x = self.mixer_norm(hidden_states)
        if self.is_attention:
            out, new_state, weights = self.mixer(x, layout=layout, state=state, output_state=cache is not None,
                                                 output_attentions=output_attentions)
        else:
            (out, new_state), weights = self.mixer(x, layout=layout, state=state, output_state=cache is not None), None
        if cache is not None:
            for name, value in new_state.items():
                cache.set_state(self.layer_idx, name, value)
        hidden_states = hidden_states + out if self.residual else out
        if self.mlp is not None:
            out = self.mlp(self.mlp_norm(hidden_states))
            hidden_states = hidden_states + out if self.residual else out
        return hidden_states, weights


class WaveLBCPreTrainedModel(WavePreTrainedModel):
    """Shared by the three LBC classes: config class, no-split module, and the theory accessors."""

    config_class = WaveLBCConfig
    _no_split_modules = ["WaveLBCBlock"]

    def _lbc_layers(self) -> nn.ModuleList:
        return self.base_model.layers

    def companion_matrix(self, layer_idx: int = 0, head: int = 0) -> torch.Tensor:
        """The paper's Phi (S*D, S*D) of one head of one layer (float32, detached): identity blocks on the block
        superdiagonal (the shift) and the boundary row ``[A_1 ... A_s]`` built from the layer's ``boundary``
        parameter (column 1 oldest, column s newest; ``wave_hf.ops.companion``)."""
        layers = self._lbc_layers()
        if not 0 <= layer_idx < len(layers):
            raise ValueError(f"`layer_idx` must lie in [0, {len(layers)}); got {layer_idx}")
        if layers[layer_idx].is_attention:
            raise ValueError(f"layer {layer_idx} is an SBC attention layer (`attention_layers`): it has no companion "
                             "matrix")
        return layers[layer_idx].mixer.companion_matrix(head)

    def wave_operators(self) -> dict[str, torch.Tensor]:
        """The whole model as the paper's linear TWM (state update by Phi, write and read maps), for one-layer
        linear configs.

        Returns float32 matrices ``phi`` (n, n), ``write`` (n, d_in) and ``read`` (d_out, n), n = H*S*D, such that
        ``vec h(t+1) = phi vec h(t) + write x_t`` and ``y_t = read vec h(t+1)`` (heads stacked; per head the layout
        of ``companion_matrix``). ``x``/``y`` are ``input_values``/``predictions`` for ``WaveLBCForPrediction`` and the
        hidden input/output (embeddings / pre-``lm_head`` states) otherwise. Requires ``num_hidden_layers=1``,
        ``use_norm=False``, ``residual=False``, ``use_mlp=False``, ``gating="none"`` and no ``attention_layers`` (the
        paper-faithful config).
        """
        c = self.config
        bad = {k: v for k, v in dict(num_hidden_layers=c.num_hidden_layers != 1, use_norm=c.use_norm,
                                     residual=c.residual, use_mlp=c.use_mlp, gating=c.gating != "none",
                                     attention_layers=bool(c.attention_layers)).items() if v}
        if bad:
            raise ValueError(
                "wave_operators() needs a one-layer linear model (num_hidden_layers=1, use_norm=False, "
                f"residual=False, use_mlp=False, gating='none', attention_layers=None); this config differs in "
                f"{sorted(bad)}"
            )
        mixer = self._lbc_layers()[0].mixer
        H, S, D = mixer.num_heads, mixer.history_length, mixer.head_dim
        with torch.no_grad():
            phi = torch.block_diag(*[mixer.companion_matrix(h) for h in range(H)])
            # (H*D, hidden) and (hidden, H*D); identities under mixer_projections=False
            w_in, w_out = (p.weight.float() if isinstance(p, nn.Linear) else torch.eye(H * D)
                           for p in (mixer.in_proj, mixer.out_proj))
            write = phi.new_zeros(H * S * D, w_in.shape[1])
            read = phi.new_zeros(w_out.shape[0], H * S * D)
            for h in range(H):
                base = h * S * D
                write[base + (S - 1) * D : base + S * D] = w_in[h * D : (h + 1) * D]
                w_h = w_out[:, h * D : (h + 1) * D]
                for j in range(S):  # column s - j holds z_{t-j}
                    col = base + (S - 1 - j) * D
                    if mixer.readout == "fir":
                        read[:, col : col + D] = w_h * mixer.fir[h, j].float()[None]
                    elif j == 0:
                        read[:, col : col + D] = w_h
            if isinstance(self, WaveForPredictionBase):
                write = write @ self.value_in.weight.float()
                read = self.value_out.weight.float() @ read
        return {"phi": phi, "write": write, "read": read}


class WaveLBCModel(WaveLBCPreTrainedModel):
    """Embedding (when ``vocab_size`` is set), the LBC blocks (some of them attention, ``attention_layers``) and a
    final norm."""

    def __init__(self, config: WaveLBCConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size) if config.vocab_size else None
        self.layers = nn.ModuleList([WaveLBCBlock(config, i) for i in range(config.num_hidden_layers)])
        self.norm = _norm(config)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: WaveCache | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        position_ids: torch.LongTensor | None = None,
        **kwargs: Any,
    ) -> BaseModelOutputWithPast:
        """input_ids (B, L) or inputs_embeds (B, L, hidden_size), attention_mask (B, L) (1 = token, 0 = padding)
        -> last_hidden_state (B, L, hidden_size) (zero at padded positions) and the cache.

        With ``cache`` the input continues the cached sequences (chunked prefill, decoding). Packed documents
        (``position_ids`` restarting at 0, or any other input of ``wave_hf.layers.padding.PACKING_KWARGS`` in
        ``kwargs``) each run as if alone (the attention layers never attend across a document start).

        ``output_attentions``: one entry per attention layer (``config.attention_layers``, in layer order), the
        weights (B, H, L, P + L) of each position over the P cached columns it reads (S of that layer, none on a
        first call) and the L new positions, in the input's order, as ``WaveSBCModel`` in stream mode returns them.
        Without attention layers it warns: the wave mixer has no attention weights.
        """
        has_attention = bool(self.config.attention_layers)
        output_hidden_states, output_attentions = self.output_flags(
            output_hidden_states, output_attentions, has_attention
        )
        hidden, layout, cache = self.prepare_inputs(
            input_ids, inputs_embeds, attention_mask, cache, use_cache, position_ids=position_ids, **kwargs
        )
        hidden = pack_tokens(hidden, layout)  # each row's real tokens first; the blocks never see padding
        per_layer, attentions = [hidden], []
        for block in self.layers:
            hidden, weights = block(hidden, layout=layout, cache=cache, output_attentions=output_attentions)
            per_layer.append(hidden)
            if block.is_attention and output_attentions:
                attentions.append(weights)
        hidden = unpack_tokens(self.norm(hidden), layout)
        all_hidden = hidden_states_output(per_layer, hidden, layout) if output_hidden_states else None
        return BaseModelOutputWithPast(last_hidden_state=hidden, cache=cache, hidden_states=all_hidden,
                                       attentions=tuple(attentions) if output_attentions else None)


class WaveLBCForCausalLM(WaveForCausalLMBase, WaveLBCPreTrainedModel, GenerationMixin):
    """Token model with ``generate`` (greedy, sampling, beam search on the recurrent cache)."""

    base_model_class = WaveLBCModel


class WaveLBCForPrediction(WaveForPredictionBase, WaveLBCPreTrainedModel):
    """Real-valued sequences: per-step prediction with a masked MSE loss and free-running ``rollout``."""

    base_model_class = WaveLBCModel

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if self.config.value_init == "identity" and module in (self.value_in, self.value_out):
            init.copy_(module.weight, torch.eye(self.config.hidden_size))  # B = C = I (Theorem 3.1's write and read)
