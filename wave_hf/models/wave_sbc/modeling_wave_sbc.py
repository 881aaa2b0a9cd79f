"""The SBC wave model: an attention-only decoder whose context window is the traveling-wave substrate.

Read top to bottom:

1. ``WaveSBCBlock``: pre-norm SBC attention (``wave_hf.layers.sbc``) + optional MLP, with residuals. In stream mode it
   keeps its own key/value substrate (the S newest keys and values) in the cache.
2. ``WaveSBCModel``: embeds, puts each sequence's real tokens first (padding last), then
   - ``substrate_mode="window"`` (exact TWM-SBC): cuts the input columns into the substrates ``x[t-S+1 .. t]`` of
     every step t (one tensor of windows (B*L, S, hidden), built by ``unfold``: parallel over time, O(L*S) memory) and
     runs the whole stack on each window; the output at t is the last column of window t. Decoding keeps the substrate
     of the S newest input columns and recomputes the window per token (O(S^2) per token, independent of the context).
   - ``substrate_mode="stream"`` (sliding-window transformer): runs the stack on the sequence; every layer attends to
     its own S newest keys (blocked banded attention, O(L*S) memory). Decoding keeps S keys/values per layer.
   and finally restores the original token order.
3. ``WaveSBCForCausalLM`` / ``WaveSBCForPrediction``: the shared heads of ``wave_hf.models.base``.

Padding (``attention_mask``, 1 = token, 0 = pad) is removed, not merely masked: the outputs at the real positions of a
padded sequence equal those of the sequence without its padding, for left, right or interior padding, and the cached
substrate after a padded prefill equals that of the unpadded prompt. Outputs at padded positions are unspecified.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPast

from wave_hf.layers.common import MLP, RMSNorm
from wave_hf.layers.sbc import SBCAttention, shift_substrate
from wave_hf.models.base import (
    WaveBackboneModel,
    WaveCache,
    WaveForCausalLMBase,
    WaveForPredictionBase,
)
from wave_hf.models.wave_sbc.configuration_wave_sbc import WaveSBCConfig

__all__ = ["WaveSBCBlock", "WaveSBCForCausalLM", "WaveSBCForPrediction", "WaveSBCModel"]


def _norm(config: WaveSBCConfig) -> nn.Module:
    return RMSNorm(config.hidden_size, eps=config.rms_norm_eps) if config.use_norm else nn.Identity()


class WaveSBCBlock(GradientCheckpointingLayer):
    """``h = h + Attn(norm(h)); h = h + MLP(norm(h))`` (each part switchable by the config).

    Sequences arrive with their real columns first: ``attention_mask`` (N, T) bool is True for real columns.
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
            config.num_attention_heads,
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
        attention_mask: torch.Tensor | None = None,
        cache: WaveCache | None = None,
    ) -> torch.Tensor:
        """hidden_states (N, T, hidden) -> (N, T, hidden), or (N, 1, hidden) for the last window-mode block.

        ``cache`` (stream mode only): this layer's key/value substrate is read as the prefix of the new columns and
        then replaced by the S newest real columns.
        """
        prefix = None
        if cache is not None:
            prefix = self._read_substrate(cache, hidden_states)
        attn_out, (keys, values, key_valid) = self.attn(
            self.attn_norm(hidden_states), attention_mask, prefix, self.last_query_only
        )
        if cache is not None:
            num_new = attention_mask.sum(1) if attention_mask is not None else None
            idx = self.layer_idx
            cache.set_state(idx, "key", shift_substrate(keys, num_new, self.window, dim=2))
            cache.set_state(idx, "value", shift_substrate(values, num_new, self.window, dim=2))
            cache.set_state(idx, "key_valid", shift_substrate(key_valid, num_new, self.window, dim=1))
        h = hidden_states[:, -attn_out.shape[1] :]
        h = h + attn_out if self.residual else attn_out
        if self.mlp is not None:
            mlp_out = self.mlp(self.mlp_norm(h))
            h = h + mlp_out if self.residual else mlp_out
        return h

    def _read_substrate(self, cache: WaveCache, hidden: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(keys, values (N, H, S, Dh), valid (N, S)) from the cache; an empty substrate before the first write."""
        keys = cache.get_state(self.layer_idx, "key")
        if keys is not None:
            return keys, cache.get_state(self.layer_idx, "value"), cache.get_state(self.layer_idx, "key_valid")
        N, H, Dh = hidden.shape[0], self.attn.num_heads, self.attn.head_dim
        empty = hidden.new_zeros(N, H, self.window, Dh)
        return empty, empty, torch.zeros(N, self.window, dtype=torch.bool, device=hidden.device)


def _real_first(attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, L) 0/1 mask (validated by ``prepare_inputs``) -> (order (B, L): the real positions first, in order, then
    the padded ones; valid (B, L) bool)."""
    real = attention_mask.bool()
    order = torch.argsort((~real).to(torch.int8), dim=1, stable=True)
    return order, real.gather(1, order)


def _gather_time(x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    return x.gather(1, order[..., None].expand(-1, -1, x.shape[-1]))


def _scatter_time(x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x).scatter(1, order[..., None].expand(-1, -1, x.shape[-1]), x)


class WaveSBCModel(WaveBackboneModel):
    """Embedding, ``num_hidden_layers`` SBC blocks and a final norm. Output (B, L, hidden_size)."""

    config_class = WaveSBCConfig
    _no_split_modules = ["WaveSBCBlock"]

    def __init__(self, config: WaveSBCConfig):
        super().__init__(config, [WaveSBCBlock(config, i) for i in range(config.num_hidden_layers)], _norm(config))

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: WaveCache | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> BaseModelOutputWithPast:
        """input_ids (B, L) or inputs_embeds (B, L, hidden), attention_mask (B, L) -> last_hidden_state (B, L, hidden).

        With ``cache`` the input continues the cached sequences (chunked prefill, decoding).
        """
        hidden, attention_mask, cache = self.prepare_inputs(input_ids, inputs_embeds, attention_mask, cache, use_cache)
        output_hidden_states = bool(output_hidden_states)
        order = valid = None
        if attention_mask is not None:
            order, valid = _real_first(attention_mask)
            hidden = _gather_time(hidden, order)
        if self.config.substrate_mode == "window":
            hidden, all_hidden = self._window_forward(hidden, valid, cache, output_hidden_states)
        else:
            hidden, all_hidden = self.run_blocks(self.layers, hidden, valid, cache, output_hidden_states)
        hidden = self.norm(hidden)
        if order is not None:
            hidden = _scatter_time(hidden, order)
            all_hidden = tuple(_scatter_time(h, order) for h in all_hidden) if all_hidden is not None else None
        return BaseModelOutputWithPast(last_hidden_state=hidden, cache=cache, hidden_states=all_hidden)

    def _window_forward(
        self,
        hidden: torch.Tensor,
        valid: torch.Tensor | None,
        cache: WaveCache | None,
        output_hidden_states: bool,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
        """Window mode: (B, T, hidden) real-first columns -> output (B, T, hidden) (+ per-layer hidden states)."""
        B, T, D = hidden.shape
        S = self.config.history_length
        substrate = cache.get_state(0, "window") if cache is not None else None
        if substrate is None:
            substrate = hidden.new_zeros(B, S, D)
            substrate_valid = torch.zeros(B, S, dtype=torch.bool, device=hidden.device)
        else:
            substrate, substrate_valid = substrate.to(hidden.dtype), cache.get_state(0, "window_valid")
        if valid is None:
            valid = torch.ones(B, T, dtype=torch.bool, device=hidden.device)
        ext = torch.cat([substrate, hidden], dim=1)  # (B, S + T, D)
        ext_valid = torch.cat([substrate_valid, valid], dim=1)
        # window t = columns t+1 .. t+S of ext: the S-1 columns before step t and step t itself
        windows = ext[:, 1:].unfold(1, S, 1).transpose(2, 3).reshape(B * T, S, D)
        windows_valid = ext_valid[:, 1:].unfold(1, S, 1).reshape(B * T, S)

        chunk = self.config.window_chunk_size or B * T
        outs, states = [], []
        for w, wv in zip(windows.split(chunk), windows_valid.split(chunk)):
            out, all_h = self.run_blocks(self.layers, w, wv, None, output_hidden_states)
            outs.append(out[:, -1])
            states.append([h[:, -1] for h in all_h] if all_h is not None else None)
        out = torch.cat(outs).view(B, T, D)
        all_hidden = None
        if output_hidden_states:
            all_hidden = tuple(torch.cat(per_layer).view(B, T, D) for per_layer in zip(*states))

        if cache is not None:
            num_new = valid.sum(1)
            cache.set_state(0, "window", shift_substrate(ext, num_new, S, dim=1))
            cache.set_state(0, "window_valid", shift_substrate(ext_valid, num_new, S, dim=1))
            cache.seen_tokens += T
        return out, all_hidden


class WaveSBCForCausalLM(WaveForCausalLMBase):
    """SBC model with a language-model head; ``generate`` (greedy, sampling, beam search) uses the WaveCache."""

    config_class = WaveSBCConfig
    base_model_class = WaveSBCModel


class WaveSBCForPrediction(WaveForPredictionBase):
    """SBC model on real-valued sequences: per-step predictions, masked MSE, ``rollout``."""

    config_class = WaveSBCConfig
    base_model_class = WaveSBCModel
