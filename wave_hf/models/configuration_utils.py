"""What every wave_hf configuration shares: ``WaveBaseConfig`` and the one style of field checks.

Torch-free, as transformers' configuration files are: configurations (and this module) import no torch, and the
choices they check against come from ``wave_hf.layers.options``. A configuration validates every field once, when it
is built (``validate``); the layers trust it.

The checks all read ``check_*(config_name, field, value, ...)`` and raise ``ValueError`` naming the configuration,
the field, what is allowed and the value given.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, ClassVar

from transformers import GenerationConfig, PreTrainedConfig

__all__ = ["WaveBaseConfig", "check_bool", "check_choice", "check_float", "check_int"]

# Keys that transformers itself passes to a config's __post_init__ (legacy names, bookkeeping, generation
# defaults saved in old configs). Anything else that is not a declared field (or an ``attribute_map`` alias) is a
# user error.
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


def check_bool(config_name: str, field: str, value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is True or False (not 0/1, not a string)."""
    if not isinstance(value, bool):
        raise ValueError(f"{config_name}: `{field}` must be True or False; got {value!r}")


def check_int(config_name: str, field: str, value: Any, minimum: int = 1, optional: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is an int >= ``minimum`` (or None when ``optional``)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = f"an integer >= {minimum}" + (" or None" if optional else "")
        raise ValueError(f"{config_name}: `{field}` must be {kind}; got {value!r}")


def check_float(
    config_name: str,
    field: str,
    value: Any,
    low: float = 0.0,
    high: float | None = None,
    low_open: bool = True,
    optional: bool = False,
) -> None:
    """Raise ``ValueError`` unless ``value`` is a real number in the interval from ``low`` (excluded when
    ``low_open``) to ``high`` (always excluded; None: no upper end), or None when ``optional``. The defaults ask for a
    positive number."""
    if value is None and optional:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        ok = (value > low if low_open else value >= low) and (high is None or value < high)
    if not ok:
        if low == 0.0 and low_open and high is None:
            kind = "a positive number"
        else:
            kind = f"a number in {'(' if low_open else '['}{low}, {'inf' if high is None else high})"
        kind += " or None" if optional else ""
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
        unknown = sorted(k for k in kwargs if k not in _TRANSFORMERS_EXTRA_KEYS and k not in self.attribute_map)
        if unknown:
            base_fields = PreTrainedConfig.__dataclass_fields__
            valid = sorted(f for f in self.__dataclass_fields__ if f not in base_fields and not f.startswith("_"))
            raise ValueError(
                f"{type(self).__name__}: unknown config key(s) {unknown}; valid keys are {valid}"
            )
        if "use_return_dict" in kwargs:  # the older name of `return_dict` (now a read-only alias)
            self.return_dict = kwargs.pop("use_return_dict")
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

    def save_pretrained(self, save_directory: str | os.PathLike, push_to_hub: bool = False, **kwargs: Any) -> None:
        """``PreTrainedConfig.save_pretrained``, then the remote-code bundle next to ``config.json``
        (``wave_hf.models.remote_code``: ``auto_map`` and flat ``configuration_*.py`` / ``modeling_*.py`` files), so
        the checkpoint loads with transformers alone. ``PreTrainedModel.save_pretrained`` and ``push_to_hub`` call it.
        With ``push_to_hub=True`` the push comes after the bundle is written (``repo_id`` and the other keywords go
        to ``push_to_hub``), so the Hub never gets a config without its code.
        """
        super().save_pretrained(save_directory)
        try:
            from .remote_code import write_remote_code
        except ImportError:  # running from a checkpoint's bundle without wave_hf: nothing to generate it from
            pass
        else:
            write_remote_code(save_directory, self)
        if push_to_hub:
            repo_id = kwargs.pop("repo_id", os.fspath(save_directory).rstrip(os.path.sep).split(os.path.sep)[-1])
            self.push_to_hub(repo_id, **kwargs)

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
