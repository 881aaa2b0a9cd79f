"""Build a model from the run config's ``model`` section and the dataset's task info.

``model`` = an optional ``file`` (a YAML of config fields with ``model_type``: a path, or the name of a shipped one
such as ``wave_lbc_paper``) plus inline fields that override it. Keys are checked against the config class's declared
fields, the same way for wave_hf families and transformers' own models (``LlamaConfig`` would silently accept a
typo). The data-dependent fields are filled from the task: ``vocab_size`` for token tasks, ``input_size``/
``output_size`` for real-valued ones; a value given explicitly that disagrees with the dataset is an error.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from pathlib import Path
from typing import Any

import yaml

from .resources import resolve_model_file
from .schema import RunConfigError
from .tasks import TaskSpec

__all__ = ["auto_class_for", "build_model", "register_families", "resolve_model_fields", "takes_position_ids"]

# config dataclass fields that are bookkeeping, never set from a run config
_NOT_SETTABLE = {"transformers_version", "architectures", "model_type"}


def register_families() -> None:
    """Make sure the wave_hf model types are registered with the Auto classes (``import wave_hf`` does it; importing
    this module already imported the package, so this is only an explicit, harmless spelling of that)."""
    importlib.import_module("wave_hf")


def _resolve_path(path: str, config_dir: str) -> Path:
    try:
        return resolve_model_file(path, config_dir)
    except FileNotFoundError as e:
        raise RunConfigError(f"`model.file`: {e}") from None


def resolve_model_fields(spec: dict[str, Any], config_dir: str = "") -> dict[str, Any]:
    """Merge ``model.file`` (if any) and the inline fields; returns a mapping that includes ``model_type``."""
    spec = dict(spec)
    fields: dict[str, Any] = {}
    file = spec.pop("file", None)
    if file is not None:
        path = _resolve_path(str(file), config_dir)
        try:
            loaded = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise RunConfigError(f"`model.file` {path} is not valid YAML: {e}") from None
        if not isinstance(loaded, dict):
            raise RunConfigError(f"`model.file` {path} must contain a mapping of config fields")
        fields.update(loaded)
    fields.update(spec)
    if not fields.get("model_type"):
        raise RunConfigError("`model.model_type` is required (in the model config file or inline)")
    return fields


def _config_class(model_type: str):
    from transformers import CONFIG_MAPPING

    register_families()
    try:
        return CONFIG_MAPPING[model_type]
    except KeyError:
        wave = sorted(k for k in CONFIG_MAPPING if k.startswith(("wave_", "elman", "lstm", "irnn", "wrnn")))
        raise RunConfigError(
            f"`model.model_type`: unknown model type {model_type!r}; wave_hf types registered: {wave} "
            "(or any transformers model type, e.g. llama)"
        ) from None


def _settable_fields(config_class) -> list[str]:
    if dataclasses.is_dataclass(config_class):
        names = [f.name for f in dataclasses.fields(config_class)]
    else:  # pragma: no cover - every transformers 5 config is a dataclass
        import inspect

        names = list(inspect.signature(config_class.__init__).parameters)[1:]
    aliases = getattr(config_class, "attribute_map", {})  # old names still accepted (e.g. num_attention_heads)
    return sorted({n for n in [*names, *aliases] if not n.startswith("_") and n not in _NOT_SETTABLE})


def auto_class_for(task: TaskSpec):
    """The Auto model class for the task kind: causal LM for tokens, time-series prediction for real values."""
    from transformers import AutoModelForCausalLM, AutoModelForTimeSeriesPrediction

    return AutoModelForCausalLM if task.kind == "tokens" else AutoModelForTimeSeriesPrediction


def _fill_from_task(fields: dict[str, Any], valid: list[str], task: TaskSpec, model_type: str) -> None:
    """Set the data-dependent fields: ``vocab_size`` for token tasks; ``input_size``/``output_size`` (and
    ``vocab_size`` = None: no token embedding) for real-valued ones. An explicit value that disagrees is an error."""
    if task.kind == "tokens":
        wanted = {"vocab_size": task.info.get("vocab_size")}
    else:
        wanted = {"input_size": task.info.get("input_size"), "output_size": task.info.get("output_size")}
    for key, value in wanted.items():
        if value is None:
            raise RunConfigError(f"dataset `{task.name}`: task_info has no `{key}`, needed by a {task.kind} model")
        if key not in valid:
            kind = "token (causal LM)" if task.kind == "tokens" else "real-valued (prediction)"
            raise RunConfigError(
                f"model_type {model_type!r} has no `{key}` field, so it cannot be trained on the {kind} dataset "
                f"`{task.name}`"
            )
    if task.kind == "values" and "vocab_size" in valid:
        wanted["vocab_size"] = None
    for key, value in wanted.items():
        if fields.get(key) is not None and fields[key] != value:
            what = "a real-valued dataset (no token vocabulary)" if value is None else f"dataset `{task.name}`"
            if "corpus" in task.info:
                what = f"the tokenizer `{task.info['corpus']['tokenizer']}` of corpus `{task.name}`"
            raise RunConfigError(
                f"`model.{key}`={fields[key]} conflicts with {what} ({key}={value}); remove it from the model "
                f"config or set it to null (the trainer fills it from the dataset)"
            )
        fields[key] = value


def build_model(spec: dict[str, Any], task: TaskSpec, config_dir: str = ""):
    """(config, model) for ``spec`` on ``task``. Raises ``RunConfigError`` for unknown keys or bad values."""
    fields = resolve_model_fields(spec, config_dir)
    model_type = fields.pop("model_type")
    config_class = _config_class(model_type)
    valid = _settable_fields(config_class)
    unknown = sorted(k for k in fields if k not in valid)
    if unknown:
        raise RunConfigError(
            f"`model`: unknown config key(s) {unknown} for model_type {model_type!r}; valid keys are: "
            + ", ".join(valid)
        )
    _fill_from_task(fields, valid, task, model_type)
    try:
        config = config_class(**fields)
    except (ValueError, TypeError) as e:
        raise RunConfigError(f"`model` ({model_type}): {e}") from None
    auto = auto_class_for(task)
    try:
        model = auto.from_config(config)
    except ValueError as e:
        if "Unrecognized configuration class" in str(e):
            raise RunConfigError(
                f"model_type {model_type!r} has no {auto.__name__} head, so it cannot be trained on dataset "
                f"`{task.name}` ({task.kind})"
            ) from None
        raise RunConfigError(f"`model` ({model_type}): {e}") from None
    return config, model


def takes_position_ids(model: Any) -> bool:
    """Whether ``model``'s ``forward`` (under any accelerate / DDP / compile wrapper) names a ``position_ids``
    parameter. The trainer passes a packed corpus row's ``position_ids`` (0 at each document start) only to such
    models (Llama and the other transformers models; the wave_hf families once their forward takes them): a model
    whose forward only has ``**kwargs`` may drop them silently, so it is treated as not taking them."""
    from accelerate.utils import extract_model_from_parallel

    forward = extract_model_from_parallel(model).forward
    return "position_ids" in inspect.signature(forward).parameters
