"""The small base every wave_hf model class shares: ``WavePreTrainedModel`` (init hook, checkpointing flags, the
input checks of a base model's forward).

Each family writes its own ``XModel.forward`` (embedding -> blocks -> final norm) in its modelling file; it starts
with ``self.prepare_inputs(...)``, which checks the inputs, embeds tokens, opens the cache and returns the padding
layout that the forward then uses with ``wave_hf.layers.padding.pack_tokens`` / ``unpack_tokens``.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn as nn
from transformers import PreTrainedModel
from transformers.cache_utils import Cache

from wave_hf.layers.padding import PACKING_KWARGS, TokenLayout, unpack_tokens

from .cache import WaveCache
from .configuration_utils import WaveBaseConfig

__all__ = ["WavePreTrainedModel", "hidden_states_output"]


class WavePreTrainedModel(PreTrainedModel):
    """Base class of every wave_hf model class (base models and heads).

    Modules that own custom parameters or non-persistent buffers define ``init_wave_weights(self)`` and initialise
    them there with ``transformers.initialization`` helpers; ``_init_weights`` calls it (this is also what restores
    non-persistent buffers after ``from_pretrained``). Base models keep their token embedding (None for value-only
    models) in ``embed_tokens``.
    """

    config_class = WaveBaseConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _is_stateful = True  # a recurrent state: transformers' own checks treat the model as stateful
    _supports_sdpa = True
    _can_compile_fullgraph = True  # torch.compile(fullgraph=True) of every family's forward (tests/models)

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        init_fn = getattr(module, "init_wave_weights", None)
        if callable(init_fn):
            init_fn()

    def get_input_embeddings(self) -> nn.Module | None:
        return self.base_model.embed_tokens

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.base_model.embed_tokens = value

    def prepare_inputs(
        self,
        input_ids: torch.LongTensor | None,
        inputs_embeds: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        cache: Cache | None,
        use_cache: bool | None,
        past_key_values: Cache | None = None,
        **packing: Any,
    ) -> tuple[torch.Tensor, TokenLayout | None, WaveCache | None]:
        """Check the inputs, embed the tokens, find the padding or the packed documents and open the cache.

        Args: those of a base model's ``forward`` (``past_key_values`` is transformers' name for ``cache``); the
        packing inputs (``wave_hf.layers.padding.PACKING_KWARGS``: ``position_ids``, ``cu_seq_lens_q`` ...) among
        ``packing`` (other keys are ignored).

        Returns:
            hidden (B, L, hidden_size) in the input's order; the ``TokenLayout`` of the padding or of the packed
            documents (None when neither), for ``pack_tokens`` / ``unpack_tokens`` and the layers; the cache (None
            without ``use_cache``; never for packed documents), which already counts these L tokens.
        """
        cache = past_key_values if cache is None else cache
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of `input_ids` (B, L) or `inputs_embeds` (B, L, hidden_size)")
        if input_ids is not None:
            if not isinstance(input_ids, torch.Tensor) or input_ids.dtype not in (torch.int64, torch.int32):
                got = input_ids.dtype if isinstance(input_ids, torch.Tensor) else type(input_ids).__name__
                raise TypeError(f"`input_ids` must be an integer tensor (torch.long) of shape (B, L); got {got}")
            if input_ids.dim() != 2:
                raise ValueError(f"`input_ids` must have shape (B, L); got {tuple(input_ids.shape)}")
            embed = self.get_input_embeddings()
            if embed is None:
                raise ValueError(f"{type(self).__name__} has no token embedding (vocab_size=None); pass inputs_embeds")
            # the range check needs host values; skip it while compiling (it would split the graph)
            check_range = input_ids.numel() and not torch.compiler.is_compiling()
            if check_range and (int(input_ids.min()) < 0 or int(input_ids.max()) >= embed.num_embeddings):
                raise ValueError(
                    f"`input_ids` must lie in [0, vocab_size={embed.num_embeddings}); "
                    f"got values in [{int(input_ids.min())}, {int(input_ids.max())}]"
                )
            hidden = embed(input_ids)
        else:
            if inputs_embeds.dim() != 3 or inputs_embeds.shape[-1] != self.config.hidden_size:
                raise ValueError(
                    f"`inputs_embeds` must have shape (B, L, hidden_size={self.config.hidden_size}); "
                    f"got {tuple(inputs_embeds.shape)}"
                )
            hidden = inputs_embeds
        B, L = hidden.shape[:2]
        if L == 0:
            raise ValueError("`input_ids` / `inputs_embeds` must hold at least one position (L >= 1); got L = 0")
        if attention_mask is not None and tuple(attention_mask.shape) != (B, L):
            # generate() passes the mask of the whole sequence so far; a cache-consuming step only needs the new part
            if cache is not None and attention_mask.dim() == 2 and attention_mask.shape[0] == B:
                attention_mask = attention_mask[:, -L:]
            else:
                got = tuple(attention_mask.shape)
                raise ValueError(f"`attention_mask` must have shape (B, L) = ({B}, {L}); got {got}")
        if attention_mask is not None and not torch.compiler.is_compiling():
            if not bool(((attention_mask == 0) | (attention_mask == 1)).all()):
                raise ValueError("`attention_mask` must contain only 0 (padding) and 1 (token)")
            if bool(attention_mask.all()):
                attention_mask = None  # nothing padded: skip masking work

        packing = {name: packing[name] for name in PACKING_KWARGS if packing.get(name) is not None}
        layout = TokenLayout.from_inputs(attention_mask, B, L, **packing)
        if layout is not None and layout.reset is not None:
            if cache is not None or use_cache:
                raise ValueError(
                    "packed documents (several documents in one row) cannot be used with a cache: a packed forward "
                    "leaves no single state to continue. Pass use_cache=False and no cache (generation after a "
                    "packed prefill is not supported)"
                )
            use_cache = False
        if use_cache is None:
            use_cache = self.config.use_cache and not self.training
        if cache is not None and not isinstance(cache, WaveCache):
            raise TypeError(
                f"{type(self).__name__} needs a WaveCache (or cache=None to build one); got {type(cache).__name__}. "
                "transformers' DynamicCache cannot hold a wave substrate."
            )
        if use_cache and cache is None:
            cache = WaveCache.from_config(self.config)
        if not use_cache:
            cache = None
        if cache is not None:
            cached_batch = next((lay.batch_size for lay in cache.layers if lay.batch_size != -1), -1)
            if cached_batch not in (-1, B):
                raise ValueError(f"the cache holds a batch of {cached_batch} sequences but the input has {B}")
        limit = self.config.max_sequence_length
        seen = cache.seen_tokens if cache is not None else 0
        if limit is not None and seen + L > limit:
            raise ValueError(
                f"sequence of {seen + L} tokens ({seen} cached + {L} new) exceeds max_sequence_length={limit}"
            )
        if cache is not None:
            cache.seen_tokens += L
        return hidden, layout, cache

    def output_flags(
        self, output_hidden_states: bool | None, output_attentions: bool | None, has_attentions: bool
    ) -> tuple[bool, bool]:
        """(output_hidden_states, output_attentions), each the argument or, when None, the config's value.

        A model without attention weights (``has_attentions=False``) warns when asked for them and returns False.
        """
        hidden = self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        attentions = self.config.output_attentions if output_attentions is None else output_attentions
        if attentions and not has_attentions:
            warnings.warn(
                f"{type(self).__name__} has no attention weights (a recurrent token mixer): `output_attentions` is "
                "ignored and `attentions` is None",
                UserWarning,
                stacklevel=3,
            )
            attentions = False
        return bool(hidden), bool(attentions)


def hidden_states_output(
    per_layer: list[torch.Tensor], last_hidden_state: torch.Tensor, layout: TokenLayout | None
) -> tuple[torch.Tensor, ...]:
    """``hidden_states`` as transformers' Llama returns them: the input of every block (packed rows, put back in the
    input's order) and, last, ``last_hidden_state`` (after the final norm): ``num_hidden_layers + 1`` entries.

    per_layer: the block inputs followed by the last block's output (the last entry is replaced).
    """
    return (*(unpack_tokens(h, layout) for h in per_layer[:-1]), last_hidden_state)

