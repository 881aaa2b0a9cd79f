"""Model machinery shared by every wave_hf family (LBC, SBC, baselines), written once.

- ``WaveBaseConfig``: common config fields, validation helpers and rejection of unknown keys.
- ``WaveCache`` / ``WaveStateLayer``: the recurrent cache (named per-layer state tensors on the transformers 5.x
  ``Cache`` machinery; beam search, batch expansion and reset come from it). Its size never depends on the
  context length.
- ``WavePreTrainedModel``: init hook, gradient checkpointing, input validation, the block loop.
- ``WaveForCausalLMBase`` (tokens, ``generate``) and ``WaveForPredictionBase`` (real-valued sequences, masked MSE,
  ``rollout``): the two heads. A family only writes its config, its blocks and its ``XModel``; its heads are
  three-line subclasses that name ``base_model_class``.

Contract for a family's base model ``XModel(WavePreTrainedModel)``:
``forward(input_ids=None, inputs_embeds=None, attention_mask=None, cache=None, use_cache=None,
output_hidden_states=None, return_dict=None, **kwargs) -> BaseModelOutputWithPast`` with ``last_hidden_state``
(B, L, hidden_size) and the cache in ``cache``; it calls ``self.prepare_inputs(...)`` first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn as nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForTimeSeriesPrediction,
    GenerationConfig,
    GenerationMixin,
    PreTrainedConfig,
    PreTrainedModel,
)
from transformers.cache_utils import Cache, LinearAttentionLayer
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.utils import ModelOutput

# --------------------------------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------------------------------

# Keys that transformers itself passes to a config's __post_init__ (legacy names, bookkeeping, generation
# defaults saved in old configs). Anything else that is not a declared field is a user error.
_TRANSFORMERS_EXTRA_KEYS = frozenset(
    {
        "torch_dtype",
        "name_or_path",
        "_name_or_path",
        "_commit_hash",
        "output_attentions",
        "attn_implementation",
        "experts_implementation",
        "per_layer_config",
        "transformers_version",
        "num_labels",
        "model_type",
        "use_return_dict",
        "_attn_implementation_internal",
        "_experts_implementation_internal",
        "auto_map",
    }
    | set(GenerationConfig._get_default_generation_params())
)


def check_choice(config_name: str, field: str, value: Any, allowed: Iterable[Any]) -> None:
    """Raise ``ValueError`` naming ``field`` and the allowed values unless ``value`` is one of them."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{config_name}: `{field}` must be one of {list(allowed)}; got {value!r}")


def check_int(config_name: str, field: str, value: Any, minimum: int = 1, optional: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is an int >= ``minimum`` (or None when ``optional``)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = f"an integer >= {minimum}" + (" or None" if optional else "")
        raise ValueError(f"{config_name}: `{field}` must be {kind}; got {value!r}")


class WaveBaseConfig(PreTrainedConfig):
    """Fields every wave_hf model has. Subclasses add their own fields and extend ``validate``.

    Args:
        vocab_size: token vocabulary (``...ForCausalLM``); may be None for value-only models.
        input_size: feature size d of real-valued inputs (``...ForPrediction``).
        output_size: feature size of predictions; None means ``input_size`` (needed for ``rollout``).
        hidden_size: width of the residual stream.
        num_hidden_layers: number of blocks.
        max_sequence_length: an explicit maximum on tokens seen by one cache (prompt + generated); None means
            unlimited (the state size never depends on it).
        tie_word_embeddings: tie ``lm_head`` to the input embedding (declared here: transformers 5 ties nothing
            unless the config says so).
    """

    model_type: ClassVar[str] = ""

    vocab_size: int | None = 32
    input_size: int = 8
    output_size: int | None = None
    hidden_size: int = 64
    num_hidden_layers: int = 2
    max_sequence_length: int | None = None
    initializer_range: float = 0.02
    tie_word_embeddings: bool = False
    use_cache: bool = True
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None

    def __post_init__(self, **kwargs):
        unknown = sorted(k for k in kwargs if k not in _TRANSFORMERS_EXTRA_KEYS)
        if unknown:
            base_fields = PreTrainedConfig.__dataclass_fields__
            valid = sorted(f for f in self.__dataclass_fields__ if f not in base_fields and not f.startswith("_"))
            raise ValueError(
                f"{type(self).__name__}: unknown config key(s) {unknown}; valid keys are {valid}"
            )
        super().__post_init__(**kwargs)
        self.validate()

    def validate(self) -> None:
        """Check every field; raises ``ValueError`` naming the field and the allowed values."""
        name = type(self).__name__
        check_int(name, "vocab_size", self.vocab_size, optional=True)
        check_int(name, "input_size", self.input_size)
        check_int(name, "output_size", self.output_size, optional=True)
        check_int(name, "hidden_size", self.hidden_size)
        check_int(name, "num_hidden_layers", self.num_hidden_layers)
        check_int(name, "max_sequence_length", self.max_sequence_length, optional=True)

    @property
    def prediction_size(self) -> int:
        return self.output_size if self.output_size is not None else self.input_size

    @property
    def layer_types(self) -> list[str]:
        # read by transformers' DynamicCache(config=...); every wave_hf layer keeps a fixed-size recurrent state
        return ["linear_attention"] * self.num_hidden_layers

    def cache_state_names(self) -> list[tuple[str, ...]]:
        """Names of the state tensors each layer keeps in a ``WaveCache`` (one tuple per cache layer)."""
        raise NotImplementedError(f"{type(self).__name__} must define cache_state_names()")


# --------------------------------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------------------------------


class WaveStateLayer(LinearAttentionLayer):
    """One layer's fixed-size state: named tensors whose first dimension is the batch.

    Subclasses ``LinearAttentionLayer`` so transformers treats it as a recurrent (non-KV) layer. States are assigned,
    not copied in place, so a tensor handed out earlier is never changed behind the caller's back.
    """

    def __init__(self, state_names: Sequence[str]):
        super().__init__(number_of_states=len(state_names))
        self.state_names = tuple(state_names)

    def _index(self, name: str) -> int:
        try:
            return self.state_names.index(name)
        except ValueError:
            raise KeyError(f"cache layer has no state {name!r}; it holds {list(self.state_names)}") from None

    def get(self, name: str) -> torch.Tensor | None:
        idx = self._index(name)
        return self.recurrent_states[idx] if self.has_previous_state[idx] else None

    def set(self, name: str, value: torch.Tensor) -> torch.Tensor:
        idx = self._index(name)
        self.recurrent_states[idx] = value
        self.is_recurrent_states_initialized[idx] = True
        # upstream only sets this in update_conv_state, which a recurrence-only model never calls (ecosystem 2.4)
        self.has_previous_state[idx] = True
        self.device, self.dtype = value.device, value.dtype
        return value

    def update_recurrent_state(self, recurrent_states: torch.Tensor, state_idx: int = 0, **kwargs) -> torch.Tensor:
        return self.set(self.state_names[state_idx], recurrent_states)

    @property
    def batch_size(self) -> int:
        sizes = {t.shape[0] for i, t in self.recurrent_states.items() if self.has_previous_state[i]}
        return sizes.pop() if len(sizes) == 1 else -1

    def _map_states(self, fn) -> None:
        for i, t in self.recurrent_states.items():
            if self.is_recurrent_states_initialized[i]:
                self.recurrent_states[i] = fn(t)

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._map_states(lambda t: t.repeat_interleave(repeats, dim=0))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._map_states(lambda t: t[indices.to(t.device)])

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        self._map_states(lambda t: t.index_select(0, beam_idx.to(t.device)))

    def crop(self, tokens_to_remove: int) -> None:
        raise NotImplementedError(
            "wave_hf caches hold a fixed-size recurrent state and cannot be rolled back; assisted/speculative "
            "decoding and cache cropping are not supported"
        )


class WaveCache(Cache):
    """Recurrent cache of a wave_hf model: per layer a few named state tensors, plus the count of tokens seen.

    Build it with ``WaveCache.from_config(config)`` (models do this on the first forward with ``use_cache=True``).
    """

    def __init__(self, state_names: Sequence[Sequence[str]]):
        super().__init__(layers=[WaveStateLayer(names) for names in state_names])
        self.seen_tokens = 0

    @classmethod
    def from_config(cls, config: WaveBaseConfig) -> WaveCache:
        return cls(config.cache_state_names())

    def get_state(self, layer_idx: int, name: str) -> torch.Tensor | None:
        """The state ``name`` of layer ``layer_idx``, or None before the first write."""
        return self.layers[layer_idx].get(name)

    def set_state(self, layer_idx: int, name: str, value: torch.Tensor) -> torch.Tensor:
        return self.layers[layer_idx].set(name, value)

    def reset(self) -> None:
        super().reset()
        self.seen_tokens = 0

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.seen_tokens


# --------------------------------------------------------------------------------------------------------------------
# Pretrained base
# --------------------------------------------------------------------------------------------------------------------


def padding_to_keep_mask(attention_mask: torch.Tensor | None, hidden: torch.Tensor) -> torch.Tensor | None:
    """(B, L) attention mask (1 = token, 0 = padding) -> (B, L, 1) float multiplier in ``hidden``'s dtype."""
    if attention_mask is None:
        return None
    return attention_mask.to(hidden.dtype).unsqueeze(-1)


def substrate_at_last_token(
    z: torch.Tensor, initial_state: torch.Tensor | None, attention_mask: torch.Tensor | None, history: int
) -> torch.Tensor:
    """The substrate (B, H, S, D) right after each sequence's last real token (right padding must not leak).

    z: (B, L, H, D) scan outputs; initial_state: (B, H, S, D) or None (zeros); attention_mask: (B, L) or None.
    ``result[:, :, j] = z_{last-j}``, reaching back into ``initial_state`` when fewer than S tokens were real.
    """
    B, L, H, D = z.shape
    init = z.new_zeros(B, H, history, D) if initial_state is None else initial_state.to(z.dtype)
    # timeline (B, S + L, H, D): oldest initial column first, then the outputs
    timeline = torch.cat([init.flip(2).transpose(1, 2), z], dim=1)
    if attention_mask is None:
        last = torch.full((B,), L - 1, device=z.device)
    else:
        positions = torch.arange(L, device=z.device).expand(B, L)
        last = torch.where(attention_mask.bool(), positions, -1).amax(dim=1)
    idx = (last + history)[:, None] - torch.arange(history, device=z.device)[None]  # (B, S): newest first
    gathered = timeline.gather(1, idx[:, :, None, None].expand(B, history, H, D))
    return gathered.transpose(1, 2)


class WavePreTrainedModel(PreTrainedModel):
    """Base class: init hook, checkpointing flags, input validation and the block loop for all families.

    Modules that own custom parameters or non-persistent buffers define ``init_wave_weights(self)`` and initialise
    them there with ``transformers.initialization`` helpers; ``_init_weights`` calls it (this is also what restores
    non-persistent buffers after ``from_pretrained``, ecosystem 2.7).
    """

    config_class = WaveBaseConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _is_stateful = True  # a recurrent state: transformers' own checks treat the model as stateful
    _supports_sdpa = True

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        init_fn = getattr(module, "init_wave_weights", None)
        if callable(init_fn):
            init_fn()

    # -- helpers for a family's base-model forward ------------------------------------------------------------------

    def prepare_inputs(
        self,
        input_ids: torch.LongTensor | None,
        inputs_embeds: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        cache: Cache | None,
        use_cache: bool | None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, WaveCache | None]:
        """Validate inputs, embed tokens and create the cache. Returns (hidden (B, L, hidden_size), mask, cache)."""
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
        return hidden, attention_mask, cache

    @staticmethod
    def run_blocks(
        blocks: Iterable[nn.Module],
        hidden: torch.Tensor,
        attention_mask: torch.Tensor | None,
        cache: WaveCache | None,
        output_hidden_states: bool = False,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
        """Apply ``block(hidden, attention_mask=..., cache=...)`` in order; collect hidden states if asked."""
        all_hidden = (hidden,) if output_hidden_states else None
        for block in blocks:
            hidden = block(hidden, attention_mask=attention_mask, cache=cache)
            if output_hidden_states:
                all_hidden = all_hidden + (hidden,)
        if cache is not None:
            cache.seen_tokens += hidden.shape[1]
        return hidden, all_hidden


class WaveBackboneModel(WavePreTrainedModel):
    """The base model of every family: token embedding (when ``vocab_size`` is set) -> blocks -> final norm.

    A family's ``XModel`` passes its blocks (``GradientCheckpointingLayer``s called as
    ``block(hidden, attention_mask=..., cache=...)``) and its norm; it overrides ``forward`` only when its blocks do
    not run one after another on the sequence (the SBC window mode).
    """

    def __init__(self, config: WaveBaseConfig, blocks: Iterable[nn.Module], norm: nn.Module | None = None):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size) if config.vocab_size else None
        self.layers = nn.ModuleList(blocks)
        self.norm = norm if norm is not None else nn.Identity()
        self.post_init()

    def get_input_embeddings(self) -> nn.Module | None:
        return self.embed_tokens

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.embed_tokens = value

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
        """input_ids (B, L) or inputs_embeds (B, L, hidden_size) -> last_hidden_state (B, L, hidden_size), cache."""
        cache = kwargs.pop("past_key_values", None) if cache is None else cache
        hidden, mask, cache = self.prepare_inputs(input_ids, inputs_embeds, attention_mask, cache, use_cache)
        hidden, all_hidden = self.run_blocks(self.layers, hidden, mask, cache, bool(output_hidden_states))
        return BaseModelOutputWithPast(last_hidden_state=self.norm(hidden), cache=cache, hidden_states=all_hidden)


# --------------------------------------------------------------------------------------------------------------------
# Heads
# --------------------------------------------------------------------------------------------------------------------


class WaveForCausalLMBase(WavePreTrainedModel, GenerationMixin):
    """Token head: ``base_model_class`` + ``lm_head``. Greedy, sampling and beam search work with the WaveCache."""

    base_model_class: ClassVar[type[WavePreTrainedModel]]
    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}

    def __init__(self, config: WaveBaseConfig):
        super().__init__(config)
        if config.vocab_size is None:
            raise ValueError(f"{type(self).__name__} needs `vocab_size` in the config; got None")
        self.model = self.base_model_class(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Module) -> None:
        self.lm_head = value

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        # generate() must not build a DynamicCache: the model creates its WaveCache on the first forward
        return False

    def generate(self, inputs=None, generation_config=None, *args: Any, assistant_model=None, **kwargs: Any):
        """``GenerationMixin.generate``; assisted decoding (a draft model, prompt lookup, early exit) is refused here.

        Assisted decoding verifies draft tokens and then rolls the cache back to the last accepted one. A wave cache
        is a fixed-size recurrent state (the substrate after the last token), not a list of per-token entries, so
        it cannot be rolled back. The check is ours (not transformers'), so it holds for every transformers 5.x.
        """
        config = generation_config if generation_config is not None else self.generation_config
        drafts = {
            "assistant_model": assistant_model,
            "prompt_lookup_num_tokens": kwargs.get("prompt_lookup_num_tokens", config.prompt_lookup_num_tokens),
            "assistant_early_exit": kwargs.get("assistant_early_exit", getattr(config, "assistant_early_exit", None)),
        }
        used = sorted(name for name, value in drafts.items() if value is not None)
        if used:
            raise ValueError(
                f"{type(self).__name__}: assisted generation is not supported (asked for by {used}). Assisted "
                "(speculative) decoding rolls the cache back after rejected draft tokens, and a wave_hf cache is a "
                "fixed-size recurrent state that cannot be rolled back."
            )
        return super().generate(inputs, generation_config, *args, **kwargs)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        cache: Cache | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int = 0,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        """input_ids (B, L) -> logits (B, L, vocab) (or the last ``logits_to_keep`` positions); ``labels`` (B, L) in
        the usual causal-LM convention (shifted inside, -100 ignored)."""
        cache = kwargs.pop("past_key_values", None) if cache is None else cache
        out = self.model(
            input_ids=input_ids,
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            cache=cache,
            use_cache=use_cache,
            output_hidden_states=output_hidden_states,
        )
        hidden = out.last_hidden_state
        logits = self.lm_head(hidden[:, -logits_to_keep:] if logits_to_keep else hidden)
        loss = None
        if labels is not None:
            if labels.shape != hidden.shape[:2]:
                want, got = tuple(hidden.shape[:2]), tuple(labels.shape)
                raise ValueError(f"`labels` must have shape (B, L) = {want}; got {got}")
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)
        return CausalLMOutputWithPast(loss=loss, logits=logits, cache=out.cache, hidden_states=out.hidden_states)


@dataclass
class WavePredictionOutput(ModelOutput):
    """Output of ``...ForPrediction``: ``predictions`` (B, L, output_size), masked-MSE ``loss``, the cache."""

    loss: torch.Tensor | None = None
    predictions: torch.Tensor | None = None
    cache: Cache | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None


def masked_mse(predictions: torch.Tensor, targets: torch.Tensor, loss_mask: torch.Tensor | None) -> torch.Tensor:
    """Mean squared error over the scored steps: predictions/targets (B, L, d), loss_mask (B, L) (1 = scored)."""
    err = (predictions.float() - targets.float()).pow(2)
    if loss_mask is None:
        return err.mean()
    mask = loss_mask.to(err.dtype).unsqueeze(-1)
    return (err * mask).sum() / (mask.sum() * err.shape[-1]).clamp_min(1.0)


class WaveForPredictionBase(WavePreTrainedModel):
    """Real-valued sequences x_t in R^input_size: per-step prediction with a masked MSE loss, and ``rollout``.

    ``value_in`` (input_size -> hidden) and ``value_out`` (hidden -> output_size) have no bias, so a one-layer linear
    model is exactly ``y = C z``, ``u = B x`` of the paper (brief 9.1).
    """

    base_model_class: ClassVar[type[WavePreTrainedModel]]
    main_input_name = "input_values"

    def __init__(self, config: WaveBaseConfig):
        super().__init__(config)
        self.value_in = nn.Linear(config.input_size, config.hidden_size, bias=False)
        self.model = self.base_model_class(config)
        self.value_out = nn.Linear(config.hidden_size, config.prediction_size, bias=False)
        self.post_init()

    def forward(
        self,
        input_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        loss_mask: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> WavePredictionOutput:
        """input_values (B, L, input_size) -> predictions (B, L, output_size); labels shaped like the predictions;
        loss_mask (B, L) (1 = scored)."""
        if not isinstance(input_values, torch.Tensor) or not input_values.is_floating_point():
            got = input_values.dtype if isinstance(input_values, torch.Tensor) else type(input_values).__name__
            raise TypeError(f"`input_values` must be a floating-point tensor (B, L, input_size); got {got}")
        if input_values.dim() != 3 or input_values.shape[-1] != self.config.input_size:
            raise ValueError(
                f"`input_values` must have shape (B, L, input_size={self.config.input_size}); "
                f"got {tuple(input_values.shape)}"
            )
        embeds = self.value_in(input_values.to(self.value_in.weight.dtype))
        out = self.model(
            inputs_embeds=embeds,
            attention_mask=attention_mask,
            cache=cache,
            use_cache=use_cache,
            output_hidden_states=output_hidden_states,
        )
        predictions = self.value_out(out.last_hidden_state)
        loss = None
        if labels is not None:
            if labels.shape != predictions.shape:
                raise ValueError(f"`labels` must have shape {tuple(predictions.shape)}; got {tuple(labels.shape)}")
            if loss_mask is not None and tuple(loss_mask.shape) != tuple(predictions.shape[:2]):
                raise ValueError(
                    f"`loss_mask` must have shape (B, L) = {tuple(predictions.shape[:2])}; got {tuple(loss_mask.shape)}"
                )
            if attention_mask is not None:
                loss_mask = attention_mask if loss_mask is None else loss_mask * attention_mask
            loss = masked_mse(predictions, labels, loss_mask)
        return WavePredictionOutput(
            loss=loss, predictions=predictions, cache=out.cache, hidden_states=out.hidden_states
        )

    @torch.no_grad()
    def rollout(self, prompt_values: torch.Tensor, steps: int) -> torch.Tensor:
        """Free-running rollout: run the prompt (B, P, input_size), then feed each prediction back as the next input.

        Returns the ``steps`` predictions after the prompt, (B, steps, input_size). Cost per step is constant (the
        cache holds a fixed-size state).
        """
        if self.config.prediction_size != self.config.input_size:
            raise ValueError(
                f"rollout feeds predictions back as inputs, so output_size ({self.config.prediction_size}) must equal "
                f"input_size ({self.config.input_size})"
            )
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"`steps` must be a non-negative integer; got {steps!r}")
        if prompt_values.dim() != 3 or prompt_values.shape[1] < 1:
            raise ValueError(f"`prompt_values` must have shape (B, P>=1, input_size); got {tuple(prompt_values.shape)}")
        out = self(input_values=prompt_values, use_cache=True)
        preds, cache = [], out.cache
        nxt = out.predictions[:, -1:]
        for _ in range(steps):
            preds.append(nxt)
            out = self(input_values=nxt, cache=cache, use_cache=True)
            nxt = out.predictions[:, -1:]
        if not preds:
            return prompt_values.new_zeros(prompt_values.shape[0], 0, prompt_values.shape[-1])
        return torch.cat(preds, dim=1)


# --------------------------------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------------------------------


def register_family(
    config_class: type[WaveBaseConfig],
    model_class: type[WavePreTrainedModel],
    causal_lm_class: type[WaveForCausalLMBase] | None = None,
    prediction_class: type[WaveForPredictionBase] | None = None,
) -> None:
    """Register a family with the Auto classes (never a built-in model_type, never ``exist_ok=True``)."""
    AutoConfig.register(config_class.model_type, config_class)
    AutoModel.register(config_class, model_class)
    if causal_lm_class is not None:
        AutoModelForCausalLM.register(config_class, causal_lm_class)
    if prediction_class is not None:
        AutoModelForTimeSeriesPrediction.register(config_class, prediction_class)


__all__ = [
    "BaseModelOutputWithPast",
    "WaveBackboneModel",
    "WaveBaseConfig",
    "WaveCache",
    "WaveForCausalLMBase",
    "WaveForPredictionBase",
    "WavePredictionOutput",
    "WavePreTrainedModel",
    "WaveStateLayer",
    "check_choice",
    "check_int",
    "masked_mse",
    "padding_to_keep_mask",
    "register_family",
    "substrate_at_last_token",
]
