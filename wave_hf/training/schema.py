"""Run-config schema: YAML file + ``--key=value`` overrides -> a validated, typed ``RunConfig``.

Every section is a dataclass. Parsing walks the YAML mapping against the dataclass fields, so an unknown key fails
before anything is built, with the dotted path of the key and the list of valid keys. Values are checked against the
field's type (``1e-3`` written in YAML, which PyYAML reads as a string, is accepted for a float field) and each
section's ``validate`` checks ranges and choices.

Free-form sections (``model`` fields, ``dataset.params``) are checked when the model and data are built, which also
happens before the first training step (``wave_hf.training.prepare_run``).
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .resources import resolve_run_config

__all__ = [
    "CheckpointConfig",
    "CurriculumConfig",
    "DatasetConfig",
    "EvaluationConfig",
    "HubConfig",
    "LoggingConfig",
    "OptimConfig",
    "RunConfig",
    "RunConfigError",
    "apply_overrides",
    "load_run_config",
    "parse_override",
    "parse_section",
]


class RunConfigError(ValueError):
    """A run config (file, key or value) is invalid. The message names the offending key."""


# --------------------------------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------------------------------


def _require(cond: bool, path: str, msg: str) -> None:
    if not cond:
        raise RunConfigError(f"`{path}` {msg}")


# keys of `dataset` that only a corpus takes (None in the dataclass: "not given"), by load_corpus's argument: the
# defaults and the checks are load_corpus's own
_CORPUS_ARGS = {"tokenizer": "tokenizer", "block_size": "block_size", "validation_fraction": "validation_fraction",
                "split_seed": "seed", "text_column": "text_column", "num_proc": "num_proc"}
_CORPUS_ONLY = (*_CORPUS_ARGS, "include", "exclude", "cache_dir")


def corpus_defaults() -> dict[str, Any]:
    """The defaults of the corpus keys of ``dataset``: ``load_corpus``'s own (``split_seed`` is its ``seed``)."""
    from wave_hf.data import load_corpus  # loads `datasets`: only for corpus configs

    params = inspect.signature(load_corpus).parameters
    return {key: params[arg].default for key, arg in _CORPUS_ARGS.items()}


@dataclass
class DatasetConfig:
    """Which data to train on: a synthetic family of ``wave_hf.data`` (``name``) or a text corpus (``corpus``).

    Args:
        name: builder name of ``wave_hf.data`` (e.g. ``linear_vb``, ``associative_recall``, ``lorenz``).
        params: builder parameters (e.g. ``{task: T1, d: 8, s: 8, horizon: 10}``), checked by the builder.
        source: ``sample`` draws every batch on the fly as a pure function of (seed, step) (exact resume, no
            epochs); ``build`` materialises the dataset once (``build_dataset``) and draws seeded permutations of its
            ``train`` split (evaluation reads its ``test`` split).
        build: extra ``build_dataset`` arguments for ``source: build`` (``num_train``, ``num_test``, ``num_proc``).
        corpus: instead of ``name``: the text to train on, packed by ``wave_hf.data.load_corpus`` (a file, a
            folder, a glob, JSON Lines / Parquet files, a ``save_to_disk`` folder), or a named corpus: ``stdlib``,
            the Python standard library's own source (``*.py`` below ``sysconfig.get_paths()["stdlib"]``, test
            folders excluded; see ``wave_hf.training.corpora``). Training draws seeded permutations of the
            ``train`` rows (a pure function of (seed, step)); evaluation scores the ``validation`` rows in order.
        tokenizer: ``bytes`` (UTF-8 bytes, vocabulary 258) or a local tokenizer folder / name for
            ``AutoTokenizer`` (no download). The model's ``vocab_size`` is taken from it. Default ``bytes``.
        block_size: tokens per packed row (default 1024). validation_fraction: documents held out (default 0.01).
        split_seed: seed of the document split (default 0; not the run seed, so runs with different seeds score
            the same validation documents). text_column: the text column of table/dataset sources (``text``).
        include, exclude: file-name patterns for folder sources (``"*.py"``; ``load_corpus``'s rules). For
            ``stdlib``, ``include`` replaces the default ``*.py`` and ``exclude`` adds to the test folders.
        num_proc: tokenisation workers (same rows for any value). cache_dir: where the packed corpus is cached
            (default: the ``datasets`` cache).
    """

    name: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    source: Literal["sample", "build"] = "sample"
    build: dict[str, Any] = field(default_factory=dict)
    corpus: str = ""
    tokenizer: str | None = None
    block_size: int | None = None
    validation_fraction: float | None = None
    split_seed: int | None = None
    text_column: str | None = None
    include: list[str] | str | None = None
    exclude: list[str] | str | None = None
    num_proc: int | None = None
    cache_dir: str | None = None

    @property
    def is_corpus(self) -> bool:
        return bool(self.corpus)

    def validate(self, path: str) -> None:
        _require(bool(self.name) or bool(self.corpus), f"{path}.name",
                 "is required (a dataset builder name of wave_hf.data), or instead `dataset.corpus` (a text file, "
                 "folder, glob, or a named corpus such as stdlib)")
        _require(not (self.name and self.corpus), path or "dataset",
                 f"needs exactly one of `name` and `corpus`; got name={self.name!r}, corpus={self.corpus!r}")
        if not self.is_corpus:
            given = [k for k in _CORPUS_ONLY if getattr(self, k) is not None]
            _require(not given, f"{path}.{given[0] if given else ''}",
                     "only applies to a corpus (`dataset.corpus`), not to a synthetic family (`dataset.name`)")
            return
        _require(not self.params, f"{path}.params", "only applies to a synthetic family (`dataset.name`); a corpus "
                 "takes tokenizer, block_size, validation_fraction, split_seed, text_column, include, exclude")
        _require(not self.build and self.source == "sample", f"{path}.{'build' if self.build else 'source'}",
                 "only applies to a synthetic family (`dataset.name`)")
        for key, default in corpus_defaults().items():
            if getattr(self, key) is None:
                setattr(self, key, default)
        for key in ("include", "exclude"):
            value = getattr(self, key)
            if isinstance(value, str):
                setattr(self, key, [value])
            patterns = getattr(self, key)
            _require(patterns is None or (len(patterns) > 0 and all(patterns)), f"{path}.{key}",
                     f"patterns must be non-empty; got {value!r}")
        _require(bool(self.tokenizer), f"{path}.tokenizer", "must be `bytes` or a local tokenizer folder/name")
        from wave_hf.data.corpus import CorpusArgumentError, check_corpus_args

        try:
            check_corpus_args(self.block_size, self.validation_fraction, self.split_seed, self.text_column,
                              self.num_proc)
        except CorpusArgumentError as e:
            key = next(k for k, arg in _CORPUS_ARGS.items() if arg == e.arg)
            raise RunConfigError(f"`{path}.{key}` {e.problem}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain data, without the keys of the other kind (a corpus has no ``params``, a family no ``block_size``)."""
        d = dataclasses.asdict(self)
        drop = ("name", "params", "source", "build") if self.is_corpus else ("corpus", *_CORPUS_ONLY)
        return {k: v for k, v in d.items() if k not in drop}


@dataclass
class CurriculumConfig:
    """Curriculum on one dataset parameter (the paper's horizon schedule).

    The run starts at ``values[0]`` and moves to the next value as soon as a training batch's ``metric`` passes
    ``threshold`` (greater-than for accuracies, less-than for ``mse``). ``completed`` becomes true when the last value
    has passed the threshold once.
    """

    param: str = "horizon"
    values: list[int] = field(default_factory=list)
    threshold: float = 0.96
    enabled: bool = True

    def validate(self, path: str) -> None:
        _require(bool(self.param), f"{path}.param", "must name a dataset parameter")
        _require(len(self.values) >= 1, f"{path}.values", "must list at least one value")


@dataclass
class OptimConfig:
    """Optimiser, schedule and batch. ``batch_size`` is the *global* batch of one optimizer step (summed over
    processes and gradient-accumulation micro-steps); it must be divisible by their product."""

    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    momentum: float = 0.0
    batch_size: int = 64
    gradient_accumulation_steps: int = 1
    max_grad_norm: float | None = 1.0
    scheduler: Literal["constant", "constant_with_warmup", "linear", "cosine"] = "constant"
    warmup_steps: int = 0

    def validate(self, path: str) -> None:
        _require(self.lr > 0, f"{path}.lr", f"must be > 0; got {self.lr}")
        _require(self.weight_decay >= 0, f"{path}.weight_decay", f"must be >= 0; got {self.weight_decay}")
        _require(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), f"{path}.betas",
                 f"must be two numbers in [0, 1); got {self.betas}")
        _require(self.batch_size >= 1, f"{path}.batch_size", f"must be >= 1; got {self.batch_size}")
        _require(self.gradient_accumulation_steps >= 1, f"{path}.gradient_accumulation_steps",
                 f"must be >= 1; got {self.gradient_accumulation_steps}")
        _require(self.max_grad_norm is None or self.max_grad_norm > 0, f"{path}.max_grad_norm",
                 f"must be > 0 or null (no clipping); got {self.max_grad_norm}")
        _require(self.warmup_steps >= 0, f"{path}.warmup_steps", f"must be >= 0; got {self.warmup_steps}")


@dataclass
class EvaluationConfig:
    """Periodic and final evaluation with the task's metric on held-out batches.

    Args:
        every: evaluate every N optimizer steps (0 = only at the end).
        batches, batch_size: size of the evaluation set (the paper: 10 batches of 64).
        seed: data seed of the evaluation batches; null = the run seed. Evaluation always reads the ``test`` split,
            which ``wave_hf.data`` draws from a random stream disjoint from ``train``.
        params: dataset parameters that override the training ones for evaluation (e.g. ``{horizon: 200}``);
            without it the current curriculum value is used.
        stop_at: stop training once an evaluation reaches this metric value (>= for accuracies, <= for mse), and
            the curriculum, if any, has completed.
        final: run the evaluation once more after the last step and report it as the final test metric.
    """

    every: int = 0
    batches: int = 10
    batch_size: int = 64
    seed: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    stop_at: float | None = None
    final: bool = True

    def validate(self, path: str) -> None:
        _require(self.every >= 0, f"{path}.every", f"must be >= 0; got {self.every}")
        _require(self.batches >= 1, f"{path}.batches", f"must be >= 1; got {self.batches}")
        _require(self.batch_size >= 1, f"{path}.batch_size", f"must be >= 1; got {self.batch_size}")


@dataclass
class CheckpointConfig:
    """``accelerator.save_state`` every N steps (0 = only at the end) into ``OUTPUT/checkpoints/step_XXXXXXX``,
    written atomically; only the newest ``keep_last`` are kept."""

    every: int = 0
    keep_last: int = 2

    def validate(self, path: str) -> None:
        _require(self.every >= 0, f"{path}.every", f"must be >= 0; got {self.every}")
        _require(self.keep_last >= 1, f"{path}.keep_last", f"must be >= 1; got {self.keep_last}")


@dataclass
class LoggingConfig:
    """CSV logs always (``OUTPUT/logs/train.csv``, ``eval.csv``); TensorBoard when installed (``auto``)."""

    every: int = 10
    tensorboard: Literal["auto", "on", "off"] = "auto"
    progress_bar: bool = True

    def validate(self, path: str) -> None:
        _require(self.every >= 1, f"{path}.every", f"must be >= 1; got {self.every}")


@dataclass
class HubConfig:
    """Optional upload of the final model folder at the end of training (``wave-hf push`` does the same later)."""

    push_to_hub: bool = False
    repo_id: str | None = None
    private: bool = False
    revision: str | None = None

    def validate(self, path: str) -> None:
        _require(not self.push_to_hub or bool(self.repo_id), f"{path}.repo_id",
                 "is required when hub.push_to_hub is true")


@dataclass
class RunConfig:
    """One training run.

    ``model`` is a path to a model config YAML (or the name of a shipped one, e.g. ``wave_lbc_paper``) or a mapping
    with an optional ``file`` plus config fields (``model_type`` required without a file); fields given inline
    override the file. Data-dependent fields (``input_size``, ``output_size``, ``vocab_size``) are filled from the
    dataset. ``num_threads`` sets torch's intra-op threads per process (small recurrent models often run fastest on
    1; under ``accelerate launch`` each process already gets 1)."""

    name: str = ""
    seed: int = 0
    output_dir: str = ""
    steps: int = 1000
    model: dict[str, Any] = field(default_factory=dict)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    curriculum: CurriculumConfig | None = None
    optim: OptimConfig = field(default_factory=OptimConfig)
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    deterministic: bool = True
    num_threads: int | None = None
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    checkpointing: CheckpointConfig = field(default_factory=CheckpointConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    hub: HubConfig = field(default_factory=HubConfig)
    description: str = ""
    # where the YAML came from: relative paths inside it (model.file) resolve against this folder first
    config_dir: str = ""

    def validate(self, path: str) -> None:
        _require(bool(self.name), "name", "is required (used for the output folder and the model card)")
        _require(self.steps >= 1, "steps", f"must be >= 1; got {self.steps}")
        _require(self.num_threads is None or self.num_threads >= 1, "num_threads",
                 f"must be >= 1 or null (torch's default); got {self.num_threads}")
        _require(bool(self.model), "model", "is required: a model config file path or a mapping of config fields")
        if self.dataset.is_corpus:
            _require(self.curriculum is None or not self.curriculum.enabled, "curriculum",
                     "changes a parameter of a synthetic family; a corpus (`dataset.corpus`) has none")
            _require(not self.evaluation.params, "evaluation.params",
                     "only applies to a synthetic family; a corpus is evaluated on its validation split")
        if self.curriculum is not None and not self.curriculum.enabled:
            self.curriculum = None
        if not self.output_dir:
            self.output_dir = str(Path("runs") / self.name)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (what ``run_config.yaml`` in the output folder holds)."""
        d = dataclasses.asdict(self)
        d.pop("config_dir")
        d["dataset"] = self.dataset.to_dict()
        return d


# --------------------------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(tp: Any, value: Any, path: str) -> Any:
    """Check/convert ``value`` to the annotated type ``tp``; raise ``RunConfigError`` naming ``path``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        others = [a for a in args if a is not type(None)]
        errors = []
        for a in others:
            try:
                return _convert(a, value, path)
            except RunConfigError as e:
                errors.append(str(e))
        raise RunConfigError(errors[0] if len(errors) == 1 else f"`{path}`: invalid value {value!r}")
    if origin is Literal:
        if value in args:
            return value
        # YAML reads `no` / `off` as False and `on` as True: accept them for a choice that lists that word
        words = [w for w in ({False: ("no", "off"), True: ("on",)}.get(value, ()) if isinstance(value, bool) else ())
                 if w in args]
        if words:
            return words[0]
        raise RunConfigError(f"`{path}` must be one of {list(args)}; got {value!r}")
    if dataclasses.is_dataclass(tp):
        return parse_section(tp, value, path)
    if tp is Any:
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise RunConfigError(f"`{path}` must be a list; got {value!r}")
        (item_tp,) = args or (Any,)
        return [_convert(item_tp, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise RunConfigError(f"`{path}` must be a mapping; got {value!r}")
        return copy.deepcopy(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise RunConfigError(f"`{path}` must be true or false; got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise RunConfigError(f"`{path}` must be an integer; got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # PyYAML reads 1e-3 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise RunConfigError(f"`{path}` must be a number; got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise RunConfigError(f"`{path}` must be a string; got {value!r}")
    raise TypeError(f"schema bug: unsupported annotation {_type_name(tp)} at {path}")


def parse_section(cls: type, data: Any, path: str) -> Any:
    """A run-config section (``DatasetConfig``, ``EvaluationConfig``, ...) from a mapping, checked as in a run config:
    unknown keys, types and ranges raise ``RunConfigError`` naming the dotted ``path`` of the key."""
    where = f"`{path}`" if path else "the run config"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RunConfigError(f"{where} must be a mapping; got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls) if f.name != "config_dir"]
    unknown = [k for k in data if k not in fields]
    if unknown:
        dotted = ", ".join(f"`{path + '.' if path else ''}{k}`" for k in unknown)
        raise RunConfigError(f"unknown key {dotted} in {where}; valid keys are: {', '.join(fields)}")
    kwargs = {k: _convert(hints[k], v, f"{path + '.' if path else ''}{k}") for k, v in data.items()}
    obj = cls(**kwargs)
    obj.validate(path)
    return obj


def parse_override(text: str) -> tuple[list[str], Any]:
    """``--optim.lr=3e-4`` (or ``optim.lr=3e-4``) -> (["optim", "lr"], 3e-4). The value is parsed as YAML."""
    body = text[2:] if text.startswith("--") else text
    if "=" not in body:
        raise RunConfigError(f"override {text!r} must look like --key=value (e.g. --optim.lr=3e-4)")
    key, raw = body.split("=", 1)
    parts = [p for p in key.replace("-", "_").split(".")]
    if not key or any(not p for p in parts):
        raise RunConfigError(f"override {text!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError as e:
        raise RunConfigError(f"override {text!r}: value is not valid YAML ({e})") from None
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Set each dotted key in a copy of the raw mapping. Unknown keys are caught by the schema afterwards, except
    inside free-form mappings (``model``, ``dataset.params``), which their builders check."""
    data = copy.deepcopy(data)
    for text in overrides or []:
        parts, value = parse_override(text)
        node = data
        for i, p in enumerate(parts[:-1]):
            nxt = node.get(p)
            if nxt is None:
                nxt = node[p] = {}
            if not isinstance(nxt, dict):
                if p == "model" and i == 0 and isinstance(nxt, str):  # `model: path` + --model.x=1
                    nxt = node[p] = {"file": nxt}
                else:
                    raise RunConfigError(f"override {text!r}: `{'.'.join(parts[: i + 1])}` is not a mapping")
            node = nxt
        node[parts[-1]] = value
    return data


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise RunConfigError(f"run config {path} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise RunConfigError(f"run config {path} must contain a mapping at the top level; got {type(data).__name__}")
    return data


def load_run_config(
    source: RunConfig | dict[str, Any] | str | Path, overrides: list[str] | None = None
) -> RunConfig:
    """Parse and validate a run config from a YAML path or the name of a shipped config (``t1_lbc``, see
    ``resources.resolve_run_config``), a mapping, or an existing ``RunConfig`` (copied)."""
    config_dir = ""
    if isinstance(source, RunConfig):
        config_dir = source.config_dir
        data = source.to_dict()
    elif isinstance(source, (str, Path)):
        try:
            path = resolve_run_config(source)
        except FileNotFoundError as e:
            raise RunConfigError(str(e)) from None
        data = _read_yaml(path)
        config_dir = str(path.resolve().parent)
    elif isinstance(source, dict):
        data = copy.deepcopy(source)
    else:
        raise RunConfigError(f"run config must be a path, a mapping or a RunConfig; got {type(source).__name__}")
    data = apply_overrides(data, overrides)
    model = data.get("model")
    if isinstance(model, str):
        data["model"] = {"file": model}
    if data.get("curriculum") is not None and not isinstance(data["curriculum"], dict):
        raise RunConfigError(f"`curriculum` must be a mapping or null; got {data['curriculum']!r}")
    cfg = parse_section(RunConfig, data, "")
    cfg.config_dir = config_dir
    return cfg
