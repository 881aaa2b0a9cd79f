"""Datasets of dynamical-system sequences: builders, on-the-fly streams and a vectorised batch sampler.

Families (``list_datasets()`` gives their parameters and defaults): ``linear_vb`` (T1..T4 and any EMT task id),
``fibonacci``, ``var``, ``nonlinear_hds``, ``copy``, ``adding``, ``induction_head``, ``associative_recall``,
``mqar``, ``lorenz``, ``pendulum``, ``wave_ring``.

Row schema (one trainer handles all):
    real-valued: ``inputs`` Array2D (L, d_in) float32, ``targets`` Array2D (L, d_out) float32 (what the model must
    output at the same step), ``loss_mask`` (L,) float32 (1 = scored);
    tokens: ``input_ids`` (L,) int64, ``labels`` (L,) int64 (Hugging Face causal-LM convention: same positions as
    the inputs, the model shifts, -100 = not scored), ``loss_mask`` (L,) float32.

The three paths give the same rows: ``build_dataset`` (``datasets.DatasetDict``, cached, any ``num_proc``),
``stream_dataset`` (``datasets.IterableDataset``) and ``sample_batch`` (torch tensors, deterministic in
(seed, step)). ``task_info`` tells a trainer the metric and sizes without generating anything;
``generation_info`` reads the stored generation record (params, seed, ground truth) back.

Users' own text: ``load_corpus(source, tokenizer="bytes", block_size=...)`` packs files, folders, globs, JSON Lines /
Parquet files or ``datasets`` objects into causal-LM blocks (``input_ids``, ``position_ids``, ``labels``,
``num_bytes``, ``num_scored_bytes``; see ``wave_hf.data.corpus``); ``ByteTokenizer`` is its built-in tokenizer
(UTF-8 bytes = ids 0-255, pad 256, EOS 257), and ``byte_tokenizer()`` the same tokenizer as a ``transformers``
``PreTrainedTokenizerFast``, which saves next to a checkpoint and loads with transformers alone.
"""

from typing import Any

# importing the family modules registers them (numpy only; torch and datasets are imported when first needed)
from . import fibonacci, hds, linear_vb, physics, recall, wrnn_tasks  # noqa: F401
from ._base import IGNORE_INDEX, Param
from .api import (
    compute_metric,
    generation_info,
    ground_truth,
    list_datasets,
    sample_batch,
    sample_rows,
    stream_dataset,
    task_info,
)
from .byte_tokenizer import ByteTokenizer, byte_tokenizer, is_byte_tokenizer
from .linear_vb import cycle_structure, task_boundary, task_operator, task_phi

_LAZY = {"BUILDERS": "builders", "build_dataset": "builders", "get_builder_class": "builders",
         "load_corpus": "corpus", "export_parquet": "hub", "push_dataset": "hub", "render_dataset_card": "hub"}


def __getattr__(name: str) -> Any:
    """The builder, corpus and Hub functions live in modules that import ``datasets``; load them on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BUILDERS",
    "ByteTokenizer",
    "IGNORE_INDEX",
    "Param",
    "build_dataset",
    "byte_tokenizer",
    "compute_metric",
    "cycle_structure",
    "export_parquet",
    "generation_info",
    "get_builder_class",
    "ground_truth",
    "is_byte_tokenizer",
    "list_datasets",
    "load_corpus",
    "push_dataset",
    "render_dataset_card",
    "sample_batch",
    "sample_rows",
    "stream_dataset",
    "task_boundary",
    "task_info",
    "task_operator",
    "task_phi",
]
