"""The SBC wave model: an attention-only decoder whose context window is the traveling-wave substrate.

Read top to bottom:

1. ``WaveSBCBlock``: pre-norm SBC attention (``wave_hf.layers.sbc``) + optional MLP, with residuals. In stream mode it
   keeps its own key/value substrate (the S newest keys and values) in the cache.
2. ``WaveSBCModel``: embeds, packs each row's real tokens first (``wave_hf.layers.padding``), then
   - ``substrate_mode="window"`` (exact TWM-SBC): cuts the input columns into the substrates ``x[t-S+1 .. t]`` of
     every step t (one tensor of windows (B*L, S, hidden), built by ``unfold``: parallel over time, O(L*S) memory) and
     runs the whole stack on each window; the output at t is the last column of window t. Decoding keeps the substrate
     of the S newest input columns and recomputes the window per token (O(S^2) per token, independent of the context).
   - ``substrate_mode="stream"`` (sliding-window transformer): runs the stack on the sequence; every layer attends to
     its own S newest keys (blocked banded attention, O(L*S) memory). Decoding keeps S keys/values per layer.
   and finally puts the tokens back in their places.
3. ``WaveSBCForCausalLM`` / ``WaveSBCForPrediction``: the shared heads of ``wave_hf.models.heads``.

transformers' conventions: ``return_dict=False`` gives tuples, ``hidden_states`` are Llama's (block inputs, then the
output after the final norm), ``output_attentions=True`` returns the weights (computed without the fused SDPA kernel;
as an argument, or ``config.output_attentions``, which transformers allows with ``attn_implementation="eager"``),
``torch.compile(fullgraph=True)`` works, and ``torch.export`` takes a dynamic sequence length: any L in window mode,
L a multiple of ``history_length`` (at least 2 S) in stream mode (its blocked attention cuts L into L / S blocks).
LoRA (PEFT): ``PEFT_TARGET_MODULES``, the attention projections and the MLP.

Padding (``attention_mask``, 1 = token, 0 = pad) is removed, not merely masked: the outputs at the real positions of a
padded sequence equal those of the sequence without its padding, for left, right or interior padding, and the cached
substrate after a padded prefill equals that of the unpadded prompt. Outputs at padded positions are zero.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import GenerationMixin
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPast
from transformers.utils.generic import can_return_tuple

from wave_hf.layers.common import MLP, RMSNorm
from wave_hf.layers.padding import TokenLayout, document_ids, pack_tokens, unpack_tokens
from wave_hf.layers.sbc import SBCAttention, push_stream_substrate, shift_substrate, weights_in_input_order
from wave_hf.models.cache import WaveCache
from wave_hf.models.heads import WaveForCausalLMBase, WaveForPredictionBase
from wave_hf.models.modeling_utils import WavePreTrainedModel, hidden_states_output
from wave_hf.models.wave_sbc.configuration_wave_sbc import WaveSBCConfig

__all__ = ["PEFT_TARGET_MODULES", "WaveSBCBlock", "WaveSBCForCausalLM", "WaveSBCForPrediction", "WaveSBCModel"]

PEFT_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
"""``peft.LoraConfig(target_modules=...)`` for the SBC models: the attention projections and the (gated) MLP."""


def _norm(config: WaveSBCConfig) -> nn.Module:
    return RMSNorm(config.hidden_size, eps=config.rms_norm_eps) if config.use_norm else nn.Identity()


class WaveSBCBlock(GradientCheckpointingLayer):
    """``h = h + Attn(norm(h)); h = h + MLP(norm(h))`` (each part switchable by the config).

    Sequences arrive with their real columns first: ``valid`` (N, T) bool is True for real columns (None: all are).
    In window mode the last block only computes the newest column of each window.
    """

    def __init__(self, config: WaveSBCConfig, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.window = config.history_length
        self.residual = config.residual
        self.last_query_only = config.substrate_mode == "window" and layer_idx == config.num_hidden_layers - 1
        self.attn_norm = _norm(config)
        self.attn = SBCAttention(
            config.hidden_size,
            config.num_heads,
            config.attention_head_dim,
            config.history_length,
            config.position_encoding,
            config.attention_scale,
        )
        self.mlp_norm = _norm(config) if config.use_mlp else None
        self.mlp = MLP(config.hidden_size, config.mlp_size, config.hidden_act) if config.use_mlp else None

    def forward(
        self,
        hidden_states: torch.Tensor,
        valid: torch.Tensor | None = None,
        cache: WaveCache | None = None,
        doc_ids: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """hidden_states (N, T, hidden) -> (N, T, hidden), or (N, 1, hidden) for the last window-mode block, and the
        attention weights (N, H, T or 1, P + T) with ``output_attentions`` (P: the cached columns read), else None.

        ``cache`` (stream mode only): this layer's key/value substrate is read as the prefix of the new columns and
        then replaced by (a copy of) the S newest real columns. ``doc_ids`` (N, T): packed documents
        (``wave_hf.layers.padding.document_ids``); a column attends only to its own document.
        """
        prefix = self._read_substrate(cache) if cache is not None else None
        attn_out, (keys, values, key_valid), weights = self.attn(
            self.attn_norm(hidden_states), valid, prefix, self.last_query_only, doc_ids, output_attentions
        )
        if cache is not None:
            self._write_substrate(cache, keys, values, key_valid, valid, first=prefix is None)
        h = hidden_states[:, -attn_out.shape[1] :]
        h = h + attn_out if self.residual else attn_out
        if self.mlp is not None:
            mlp_out = self.mlp(self.mlp_norm(h))
            h = h + mlp_out if self.residual else mlp_out
        return h, weights

    def _read_substrate(self, cache: WaveCache) -> tuple[torch.Tensor, ...] | None:
        """(keys, values (N, H, S, Dh), valid (N, S)) from the cache, or None before the first write."""
        keys = cache.get_state(self.layer_idx, "key")
        if keys is None:
            return None
        return keys, cache.get_state(self.layer_idx, "value"), cache.get_state(self.layer_idx, "key_valid")

    def _write_substrate(self, cache: WaveCache, keys: torch.Tensor, values: torch.Tensor,
                         key_valid: torch.Tensor | None, valid: torch.Tensor | None, first: bool) -> None:
        """Keep the S newest real columns of (cached prefix +) new keys/values (``push_stream_substrate``)."""
        num_new = valid.sum(1) if valid is not None else None
        for name, value in push_stream_substrate(keys, values, key_valid, num_new, self.window, first).items():
            cache.set_state(self.layer_idx, name, value)


class WaveSBCModel(WavePreTrainedModel):
    """Embedding, ``num_hidden_layers`` SBC blocks and a final norm. Output (B, L, hidden_size)."""

    config_class = WaveSBCConfig
    _no_split_modules = ["WaveSBCBlock"]

    def __init__(self, config: WaveSBCConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size) if config.vocab_size else None
        self.layers = nn.ModuleList([WaveSBCBlock(config, i) for i in range(config.num_hidden_layers)])
        self.norm = _norm(config)
        self.window_mode = config.substrate_mode == "window"  # the exact TWM-SBC; else the sliding-window stream
        self.post_init()

    @can_return_tuple
    def forward(self, input_ids: torch.LongTensor | None = None, inputs_embeds: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, cache: WaveCache | None = None,
                use_cache: bool | None = None, output_hidden_states: bool | None = None,
                output_attentions: bool | None = None, position_ids: torch.LongTensor | None = None,
                **kwargs: Any) -> BaseModelOutputWithPast:
        """input_ids (B, L) or inputs_embeds (B, L, hidden), attention_mask (B, L) -> last_hidden_state (B, L, hidden).

        With ``cache`` the input continues the cached sequences (chunked prefill, decoding). Packed documents
        (``position_ids`` restarting at 0, or another input of ``wave_hf.layers.padding.PACKING_KWARGS``) never
        attend across a document start: each runs as if alone.

        ``output_attentions``: per layer the weights (B, H, L, P + L) of each position (query) over the P cached
        columns it reads (none on a first call; stream: S, window: S - 1) and the L new positions, in the input's
        order; zero outside the substrate, at padding and across documents. Window mode: the weights of the newest
        column of each position's window (the one its output is read from).
        """
        output_hidden_states, output_attentions = self.output_flags(output_hidden_states, output_attentions, True)
        hidden, layout, cache = self.prepare_inputs(
            input_ids, inputs_embeds, attention_mask, cache, use_cache, position_ids=position_ids, **kwargs
        )
        hidden = pack_tokens(hidden, layout)
        doc_ids = None if layout is None or layout.reset is None else document_ids(layout.reset)
        if self.window_mode:
            hidden, per_layer, weights, num_prefix = self._window_forward(
                hidden, layout, cache, doc_ids, output_attentions
            )
        else:
            valid = None if layout is None else layout.valid
            num_prefix = self.config.history_length if cache is not None and cache.get_state(0, "key") is not None \
                else 0
            per_layer, weights = [hidden], []
            for block in self.layers:
                h, w = block(per_layer[-1], valid=valid, cache=cache, doc_ids=doc_ids,
                             output_attentions=output_attentions)
                per_layer.append(h)
                weights.append(w)
            hidden = per_layer[-1]
        hidden = unpack_tokens(self.norm(hidden), layout)
        all_hidden = hidden_states_output(per_layer, hidden, layout) if output_hidden_states else None
        attentions = tuple(weights_in_input_order(w, layout, num_prefix) for w in weights) if output_attentions \
            else None
        return BaseModelOutputWithPast(last_hidden_state=hidden, cache=cache, hidden_states=all_hidden,
                                       attentions=attentions)

    def _window_forward(
        self,
        hidden: torch.Tensor,
        layout: TokenLayout | None,
        cache: WaveCache | None,
        doc_ids: torch.Tensor | None,
        output_attentions: bool,
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor], int]:
        """Window mode: (B, T, hidden) packed columns -> output (B, T, hidden), the hidden states of every layer
        (input first) at the newest column of each window, the attention weights of each layer ((B, H, T, P + T),
        when asked) and P, the number of cached columns they cover."""
        B, T, D = hidden.shape
        S = self.config.history_length
        substrate = cache.get_state(0, "window") if cache is not None else None
        num_prefix = 0 if substrate is None else S - 1
        if substrate is None:
            substrate = hidden.new_zeros(B, S, D)
            substrate_valid = torch.zeros(B, S, dtype=torch.bool, device=hidden.device)
        else:
            substrate, substrate_valid = substrate.to(hidden.dtype), cache.get_state(0, "window_valid")
        valid = torch.ones(B, T, dtype=torch.bool, device=hidden.device) if layout is None or layout.valid is None \
            else layout.valid
        ext = torch.cat([substrate, hidden], dim=1)  # (B, S + T, D)
        ext_valid = torch.cat([substrate_valid, valid], dim=1)
        # window t = columns t+1 .. t+S of ext: the S-1 columns before step t and step t itself
        windows = ext[:, 1:].unfold(1, S, 1).transpose(2, 3).reshape(B * T, S, D)
        windows_valid = ext_valid[:, 1:].unfold(1, S, 1)  # (B, T, S)
        if doc_ids is not None:  # packed documents: a window keeps only the columns of its newest column's document
            window_docs = torch.cat([doc_ids.new_zeros(B, S), doc_ids], dim=1)[:, 1:].unfold(1, S, 1)
            windows_valid = windows_valid & (window_docs == window_docs[..., -1:])
        windows_valid = windows_valid.reshape(B * T, S)

        chunk = self.config.window_chunk_size
        pieces = zip(windows.split(chunk), windows_valid.split(chunk)) if chunk else [(windows, windows_valid)]
        newest, newest_weights = [], []  # per chunk of windows: per layer the newest column (input first), weights
        for w, wv in pieces:
            states, weights = [w], []
            for block in self.layers:
                h, a = block(states[-1], valid=wv, output_attentions=output_attentions)
                states.append(h)
                weights.append(a[:, :, -1] if output_attentions else None)
            newest.append([h[:, -1] for h in states])
            newest_weights.append(weights)
        per_layer = [torch.cat(chunks).view(B, T, D) for chunks in zip(*newest)]
        layer_weights = []
        if output_attentions:  # (B*T, H, S) per layer -> (B, H, T, S - 1 + T): window t covers columns t .. t+S-1
            for chunks in zip(*newest_weights):
                a = torch.cat(chunks).view(B, T, -1, S).transpose(1, 2)
                cols = (torch.arange(T, device=a.device)[:, None] + torch.arange(S, device=a.device)).expand_as(a)
                full = a.new_zeros(*a.shape[:3], S - 1 + T).scatter(3, cols, a)
                layer_weights.append(full[..., S - 1 - num_prefix :])

        if cache is not None:
            cache.set_state(0, "window", shift_substrate(ext, valid.sum(1), S, dim=1))
            cache.set_state(0, "window_valid", shift_substrate(ext_valid, valid.sum(1), S, dim=1))
        return per_layer[-1], per_layer, layer_weights, num_prefix


class WaveSBCForCausalLM(WaveForCausalLMBase, GenerationMixin):
    """SBC model with a language-model head; ``generate`` (greedy, sampling, beam search) uses the WaveCache."""

    base_model_class = WaveSBCModel


class WaveSBCForPrediction(WaveForPredictionBase):
    """SBC model on real-valued sequences: per-step predictions, masked MSE, ``rollout``."""

    base_model_class = WaveSBCModel
