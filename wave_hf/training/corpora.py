"""Text corpora as training data: named corpora, a run config's corpus as packed rows, and its batches.

``dataset: {corpus: PATH_OR_NAME, tokenizer: bytes, block_size: 512}`` in a run config trains a causal LM on the
rows of ``wave_hf.data.load_corpus`` (``input_ids``, ``position_ids``, ``labels``, ``num_bytes``,
``num_scored_bytes``). Named corpora (``NAMED_CORPORA``):

- ``stdlib``: the Python standard library's own source, found on every machine without a download: the ``*.py``
  files below ``sysconfig.get_paths()["stdlib"]``, without the folders ``test``, ``tests``, ``idle_test`` and
  ``site-packages``. A run config's ``include`` replaces ``*.py``; its ``exclude`` adds to those folders.

A file or folder of the same name in the working directory wins over a named corpus.

Batches (``CorpusSource``): training batch ``step`` is rows of a permutation of the ``train`` rows drawn per epoch
from the run seed (``tasks.epoch_rows``), a pure function of (seed, step) as for the synthetic families, so 1 and N
processes and a resumed run see the same rows. Evaluation reads the ``validation`` rows in order.
"""

from __future__ import annotations

import math
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .schema import DatasetConfig, RunConfigError, parse_section
from .tasks import TaskSpec, epoch_rows, rows_as_batch

if TYPE_CHECKING:
    import datasets

__all__ = ["NAMED_CORPORA", "CorpusSource", "LoadedCorpus", "NamedCorpus", "corpus_splits", "corpus_task",
           "load_run_corpus"]


@dataclass(frozen=True)
class NamedCorpus:
    """A corpus found on every machine: the folder ``sysconfig.get_paths()[sysconfig_key]``, with default include /
    exclude patterns."""

    description: str
    sysconfig_key: str
    include: tuple[str, ...]
    exclude: tuple[str, ...]

    def root(self) -> str:
        return sysconfig.get_paths()[self.sysconfig_key]


NAMED_CORPORA: dict[str, NamedCorpus] = {
    "stdlib": NamedCorpus(
        description="the Python standard library's own source code",
        sysconfig_key="stdlib",
        include=("*.py",),
        exclude=("test", "tests", "idle_test", "site-packages"),
    ),
}


@dataclass
class LoadedCorpus:
    """A run config's corpus: its splits, the resolved tokenizer and what the source was."""

    config: DatasetConfig
    splits: datasets.DatasetDict  # train / validation
    tokenizer: Any
    source: str
    include: list[str] | None
    exclude: list[str] | None

    @property
    def vocab_size(self) -> int:
        """Ids the model must embed: every id of the tokenizer, added tokens and the byte tokenizer's pad/EOS
        included."""
        tok = self.tokenizer
        return len(tok) if hasattr(tok, "__len__") else int(tok.vocab_size)


def _named(config: DatasetConfig) -> NamedCorpus | None:
    """The named corpus ``config.corpus`` means, unless a path of that name exists."""
    return None if Path(config.corpus).expanduser().exists() else NAMED_CORPORA.get(config.corpus)


def _source_of(config: DatasetConfig) -> tuple[str, list[str] | None, list[str] | None]:
    named = _named(config)
    if named is None:
        return config.corpus, config.include, config.exclude
    include = config.include if config.include is not None else list(named.include)
    exclude = list(named.exclude) + [p for p in (config.exclude or []) if p not in named.exclude]
    return named.root(), include, exclude


def _dataset_config(spec: DatasetConfig | dict[str, Any]) -> DatasetConfig:
    cfg = spec if isinstance(spec, DatasetConfig) else parse_section(DatasetConfig, spec, "dataset")
    if not cfg.is_corpus:
        raise RunConfigError(f"`dataset` names the synthetic family {cfg.name!r}, not a corpus (`dataset.corpus`)")
    return cfg


def load_run_corpus(spec: DatasetConfig | dict[str, Any]) -> LoadedCorpus:
    """Pack the corpus of a run config's ``dataset`` section (``load_corpus``, cached); any problem with the
    source or tokenizer is a ``RunConfigError`` naming ``dataset.corpus`` / ``dataset.tokenizer``."""
    from wave_hf.data import load_corpus
    from wave_hf.data.corpus_tokens import resolve_tokenizer

    cfg = _dataset_config(spec)
    try:
        tok = resolve_tokenizer(cfg.tokenizer)
    except (ValueError, TypeError) as e:
        raise RunConfigError(f"`dataset.tokenizer`: {e}") from None
    source, include, exclude = _source_of(cfg)
    try:
        splits = load_corpus(source, tokenizer=tok, block_size=cfg.block_size,
                             validation_fraction=cfg.validation_fraction, seed=cfg.split_seed,
                             text_column=cfg.text_column, num_proc=cfg.num_proc, include=include, exclude=exclude,
                             cache_dir=cfg.cache_dir)
    except (ValueError, TypeError, FileNotFoundError) as e:
        named = _named(cfg)
        where = f" ({named.description}: {source})" if named else ""
        raise RunConfigError(f"`dataset.corpus` {cfg.corpus!r}{where}: {e}") from None
    if len(splits["train"]) == 0:
        raise RunConfigError(f"`dataset.corpus` {cfg.corpus!r}: the train split has no rows")
    return LoadedCorpus(cfg, splits, tok, source, include, exclude)


def corpus_splits(spec: DatasetConfig | dict[str, Any]) -> datasets.DatasetDict:
    """The ``datasets.DatasetDict`` (``train``, ``validation``) of a corpus spec, e.g.
    ``corpus_splits({"corpus": "stdlib", "block_size": 512})["validation"]`` for ``evaluate``."""
    return load_run_corpus(spec).splits


def corpus_task(corpus: LoadedCorpus) -> TaskSpec:
    """The trainer's ``TaskSpec`` of a corpus: a token task scored in bits per byte."""
    cfg = corpus.config
    name = cfg.corpus if _named(cfg) else (Path(cfg.corpus).name or cfg.corpus)
    info = {
        "metric": "bits_per_byte",
        "kind": "tokens",
        "vocab_size": corpus.vocab_size,
        "corpus": {"source": corpus.source, "include": corpus.include, "exclude": corpus.exclude,
                   "tokenizer": cfg.tokenizer, "block_size": cfg.block_size,
                   "rows": {split: len(ds) for split, ds in corpus.splits.items()},
                   "num_bytes": {split: int(sum(ds["num_bytes"])) for split, ds in corpus.splits.items()}},
    }
    return TaskSpec(name=name, params=cfg.to_dict(), info=info)


class CorpusSource:
    """Global batches of packed rows: ``train_batch(step, B)`` (seeded permutation per epoch of the ``train``
    rows) and ``eval_batch(i, B)`` (``validation`` rows ``i*B`` .. ``(i+1)*B - 1``, the last batch may be short).

    Same interface as ``tasks.BatchSource`` (the ``overrides`` / evaluation ``seed`` arguments of the synthetic
    families do not apply to a corpus and are ignored). ``splits`` maps split names to ``datasets.Dataset``s; a
    source for evaluation only may lack ``train``."""

    def __init__(self, splits: Any, seed: int):
        self.seed = seed
        self.train = splits["train"].with_format("torch") if "train" in splits else None
        self.validation = splits["validation"].with_format("torch")

    def train_batch(self, step: int, batch_size: int, overrides: dict[str, Any] | None = None):
        if self.train is None:
            raise RuntimeError("this CorpusSource holds no train split")
        n = len(self.train)
        if batch_size > n:
            raise RunConfigError(f"the corpus has {n} training rows, fewer than `optim.batch_size`={batch_size}; "
                                 "use a smaller batch or block_size, or more text")
        return rows_as_batch(self.train, epoch_rows(n, step, batch_size, self.seed))

    def eval_batch_count(self, batches: int, batch_size: int) -> int:
        """Batches of ``batch_size`` validation rows in the first ``batches * batch_size`` rows."""
        return math.ceil(min(len(self.validation), batches * batch_size) / batch_size)

    def eval_batch(self, index: int, batch_size: int, seed: int | None = None,
                   overrides: dict[str, Any] | None = None) -> dict[str, torch.Tensor]:
        start = index * batch_size
        return rows_as_batch(self.validation, list(range(start, min(start + batch_size, len(self.validation)))))
