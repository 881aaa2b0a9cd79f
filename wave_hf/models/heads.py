"""The heads every wave_hf family shares, and the registration of a family with the Auto classes.

- ``WaveForCausalLMBase``: tokens; ``base_model_class`` + ``lm_head``, the causal-LM loss, ``generate`` (greedy,
  sampling, beam search on the ``WaveCache``), with assisted decoding refused.
- ``WaveForPredictionBase``: real-valued sequences; ``value_in`` -> ``base_model_class`` -> ``value_out``, the masked
  MSE (``masked_mse``), free-running ``rollout``; its output is ``WavePredictionOutput``.
- ``register_family``: the Auto-class registration.

A family's heads are two-line subclasses that name their ``base_model_class`` (its ``config_class`` is theirs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn as nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForTimeSeriesPrediction,
    GenerationMixin,
)
from transformers.cache_utils import Cache
from transformers.modeling_outputs import CausalLMOutputWithPast
from transformers.utils import ModelOutput
from transformers.utils.generic import can_return_tuple

from wave_hf.layers.padding import PACKING_KWARGS

from .configuration_utils import WaveBaseConfig
from .modeling_utils import WavePreTrainedModel

__all__ = [
    "WaveForCausalLMBase",
    "WaveForPredictionBase",
    "WavePredictionOutput",
    "masked_mse",
    "register_family",
]


def _config_class_from_base_model(head: type[WavePreTrainedModel]) -> None:
    """A head that names its ``base_model_class`` takes that model's ``config_class`` (unless it names its own)."""
    if "base_model_class" in head.__dict__ and "config_class" not in head.__dict__:
        head.config_class = head.base_model_class.config_class


class WaveForCausalLMBase(WavePreTrainedModel, GenerationMixin):
    """Token head: ``base_model_class`` + ``lm_head``. Greedy, sampling and beam search work with the WaveCache."""

    base_model_class: ClassVar[type[WavePreTrainedModel]]
    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        _config_class_from_base_model(cls)  # before transformers fills in an inherited config_class
        super().__init_subclass__(**kwargs)

    def __init__(self, config: WaveBaseConfig):
        super().__init__(config)
        if config.vocab_size is None:
            raise ValueError(f"{type(self).__name__} needs `vocab_size` in the config; got None")
        self.model = self.base_model_class(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

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

    @can_return_tuple
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
        output_attentions: bool | None = None,
        position_ids: torch.LongTensor | None = None,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        """input_ids (B, L) -> logits (B, L, vocab) (or the last ``logits_to_keep`` positions); ``labels`` (B, L) in
        the usual causal-LM convention (shifted inside, -100 ignored).

        Packed documents: ``position_ids`` and the other ``wave_hf.layers.padding.PACKING_KWARGS`` go to the base
        model (``DataCollatorWithFlattening`` marks each document's first label -100, so no loss crosses a
        boundary). ``return_dict=False`` (or ``config.return_dict = False``) returns the tuple of the non-None fields.
        """
        cache = kwargs.pop("past_key_values", None) if cache is None else cache
        out = self.model(
            input_ids=input_ids,
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            cache=cache,
            use_cache=use_cache,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
            position_ids=position_ids,
            return_dict=True,
            **_pop_packing(kwargs),
        )
        hidden = out.last_hidden_state
        logits = self.lm_head(hidden[:, -logits_to_keep:] if logits_to_keep else hidden)
        loss = None
        if labels is not None:
            if labels.shape != hidden.shape[:2]:
                want, got = tuple(hidden.shape[:2]), tuple(labels.shape)
                raise ValueError(f"`labels` must have shape (B, L) = {want}; got {got}")
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)
        return CausalLMOutputWithPast(
            loss=loss, logits=logits, cache=out.cache, hidden_states=out.hidden_states, attentions=out.attentions
        )


def _pop_packing(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The packing inputs (``PACKING_KWARGS`` but ``position_ids``, a named argument) taken out of ``kwargs``."""
    return {name: kwargs.pop(name) for name in PACKING_KWARGS if name in kwargs}


@dataclass
class WavePredictionOutput(ModelOutput):
    """Output of ``...ForPrediction``: ``predictions`` (B, L, output_size), masked-MSE ``loss``, the cache, and (when
    asked) ``hidden_states`` and ``attentions`` as the base model returns them."""

    loss: torch.Tensor | None = None
    predictions: torch.Tensor | None = None
    cache: Cache | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


def masked_mse(predictions: torch.Tensor, targets: torch.Tensor, loss_mask: torch.Tensor | None) -> torch.Tensor:
    """Mean squared error over the scored steps: predictions/targets (B, L, d), loss_mask (B, L) (1 = scored)."""
    err = (predictions.float() - targets.float()).pow(2)
    if loss_mask is None:
        return err.mean()
    mask = loss_mask.to(err.dtype).unsqueeze(-1)
    return (err * mask).sum() / (mask.sum() * err.shape[-1]).clamp_min(1.0)


class WaveForPredictionBase(WavePreTrainedModel):
    """Real-valued sequences x_t in R^input_size: per-step prediction with a masked MSE loss, and ``rollout``.

    ``value_in`` (input_size -> hidden) and ``value_out`` (hidden -> output_size) have no bias, so in a one-layer
    linear model they are exactly the paper's write ``u = B x`` and read ``y = C z`` maps.
    """

    base_model_class: ClassVar[type[WavePreTrainedModel]]
    main_input_name = "input_values"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        _config_class_from_base_model(cls)  # before transformers fills in an inherited config_class
        super().__init_subclass__(**kwargs)

    def __init__(self, config: WaveBaseConfig):
        super().__init__(config)
        self.value_in = nn.Linear(config.input_size, config.hidden_size, bias=False)
        self.model = self.base_model_class(config)
        self.value_out = nn.Linear(config.hidden_size, config.prediction_size, bias=False)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        loss_mask: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        position_ids: torch.LongTensor | None = None,
        **kwargs: Any,
    ) -> WavePredictionOutput:
        """input_values (B, L, input_size) -> predictions (B, L, output_size); labels shaped like the predictions;
        loss_mask (B, L) (1 = scored). Packed documents as in ``WaveForCausalLMBase.forward``."""
        if not isinstance(input_values, torch.Tensor) or not input_values.is_floating_point():
            got = input_values.dtype if isinstance(input_values, torch.Tensor) else type(input_values).__name__
            raise TypeError(f"`input_values` must be a floating-point tensor (B, L, input_size); got {got}")
        if input_values.dim() != 3 or input_values.shape[-1] != self.config.input_size:
            raise ValueError(
                f"`input_values` must have shape (B, L, input_size={self.config.input_size}); "
                f"got {tuple(input_values.shape)}"
            )
        embeds = self.value_in(input_values.to(self.value_in.weight.dtype))
        out = self.model(inputs_embeds=embeds, attention_mask=attention_mask, cache=cache, use_cache=use_cache,
                         output_hidden_states=output_hidden_states, output_attentions=output_attentions,
                         position_ids=position_ids, return_dict=True, **_pop_packing(kwargs))
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
            loss=loss, predictions=predictions, cache=out.cache, hidden_states=out.hidden_states,
            attentions=out.attentions,
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
        out = self(input_values=prompt_values, use_cache=True, return_dict=True)
        preds, cache = [], out.cache
        nxt = out.predictions[:, -1:]
        for _ in range(steps):
            preds.append(nxt)
            out = self(input_values=nxt, cache=cache, use_cache=True, return_dict=True)
            nxt = out.predictions[:, -1:]
        if not preds:
            return prompt_values.new_zeros(prompt_values.shape[0], 0, prompt_values.shape[-1])
        return torch.cat(preds, dim=1)


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
