"""A minimal model family on the shared machinery of wave_hf.models (a one-head diagonal wave scan per block), used
to test it and the reusable checks in hf_checks.py independently of the real families."""

from __future__ import annotations

import torch
import torch.nn as nn
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPast

from wave_hf.layers.padding import pack_tokens, substrate_at_last_token, unpack_tokens
from wave_hf.models import (
    WaveBaseConfig,
    WaveForCausalLMBase,
    WaveForPredictionBase,
    WavePreTrainedModel,
    register_family,
)
from wave_hf.ops import wave_scan


class ToyConfig(WaveBaseConfig):
    model_type = "wave_toy_test"
    history_length: int = 3

    def cache_state_names(self):
        return [("substrate",)] * self.num_hidden_layers


class ToyBlock(GradientCheckpointingLayer):
    def __init__(self, config: ToyConfig, layer_idx: int, mask_padding: bool = True):
        super().__init__()
        self.layer_idx, self.mask_padding = layer_idx, mask_padding
        self.inp = nn.Linear(config.hidden_size, config.hidden_size)
        self.a = nn.Parameter(torch.zeros(1, config.history_length, config.hidden_size))
        self.out = nn.Linear(config.hidden_size, config.hidden_size)

    def init_wave_weights(self):
        init.normal_(self.a, std=0.2)

    def forward(self, hidden, layout=None, cache=None):
        """hidden (B, L, hidden) of packed rows; with ``mask_padding=False`` the block lets the padding after each
        row's real tokens drive its state (a leak the padding checks must catch)."""
        u = self.inp(hidden)
        state = cache.get_state(self.layer_idx, "substrate") if cache is not None else None
        z, final = wave_scan(u[:, :, None], self.a, state, output_final_state=True)
        if cache is not None:
            if layout is not None and self.mask_padding:
                final = substrate_at_last_token(z, state, layout.lengths, self.a.shape[1])
            cache.set_state(self.layer_idx, "substrate", final)
        return hidden + self.out(torch.tanh(z[:, :, 0]))


class ToyModel(WavePreTrainedModel):
    config_class = ToyConfig

    def __init__(self, config: ToyConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size) if config.vocab_size else None
        self.layers = nn.ModuleList([ToyBlock(config, i) for i in range(config.num_hidden_layers)])
        self.post_init()

    def forward(self, input_ids=None, inputs_embeds=None, attention_mask=None, cache=None, use_cache=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        hidden, layout, cache = self.prepare_inputs(input_ids, inputs_embeds, attention_mask, cache, use_cache)
        states = [pack_tokens(hidden, layout)]
        for block in self.layers:
            states.append(block(states[-1], layout=layout, cache=cache))
        all_hidden = tuple(unpack_tokens(h, layout) for h in states) if output_hidden_states else None
        return BaseModelOutputWithPast(last_hidden_state=unpack_tokens(states[-1], layout), cache=cache,
                                       hidden_states=all_hidden)


class ToyForCausalLM(WaveForCausalLMBase):
    base_model_class = ToyModel


class ToyForPrediction(WaveForPredictionBase):
    base_model_class = ToyModel


register_family(ToyConfig, ToyModel, ToyForCausalLM, ToyForPrediction)
