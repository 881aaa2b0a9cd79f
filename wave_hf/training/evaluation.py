"""Evaluation with the task's metric (bit accuracy, token accuracy, MSE; bits per byte on a corpus) on held-out
batches.

``evaluate(model, "linear_vb", params={"task": "T1", "d": 8, "s": 8, "horizon": 200})`` and
``evaluate(model, corpus_split)`` (a ``datasets.Dataset`` of ``wave_hf.data.load_corpus`` rows) are the public
helpers (single process, e.g. for the paper-reproduction scripts); the trainer calls ``evaluate_batches`` with its
process slice and a cross-process reduction, so every process computes the same numbers.

On a corpus: ``loss`` is the mean next-token cross-entropy (nats) over the scored tokens, ``perplexity`` =
exp(loss), ``bits_per_byte`` = (sum of the next-token losses in nats / ln 2) / (UTF-8 bytes of the scored tokens).
A token is scored when it has a label (``labels != -100``: not the first token of a document, not padding) and a
position >= 1 in its row (the causal shift); ``num_scored_bytes`` of each row counts exactly those tokens' bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from .corpora import CorpusSource
from .modeling import takes_position_ids
from .objectives import NUM_TOTALS, compute_stats, metric_value
from .schema import DatasetConfig, EvaluationConfig, parse_section
from .tasks import CORPUS_COLUMNS, TOKEN_COLUMNS, BatchSource, TaskSpec, get_task, model_inputs, slice_batch

__all__ = ["evaluate", "evaluate_batches"]


@torch.no_grad()
def evaluate_batches(
    model: torch.nn.Module,
    task: TaskSpec,
    source: BatchSource | CorpusSource,
    *,
    params: dict[str, Any] | None,
    batches: int,
    batch_size: int,
    seed: int | None,
    rank: int = 0,
    world_size: int = 1,
    reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
    device: torch.device | None = None,
) -> dict[str, float]:
    """Loss and metric over ``batches`` global batches (a corpus: its first ``batches * batch_size`` validation
    rows); process ``rank`` scores its slice of each. Every process runs the same number of forward passes (a
    process whose slice of a short last batch is empty scores nothing on a copy of the batch's first row), as
    sharded (FSDP) models need."""
    if batch_size % world_size:
        raise ValueError(f"evaluation batch_size {batch_size} is not divisible by the {world_size} processes")
    per_rank = batch_size // world_size
    if device is None:
        device = next(model.parameters()).device
    positions = takes_position_ids(model)
    was_training = model.training
    model.eval()
    totals = torch.zeros(NUM_TOTALS, dtype=torch.float64, device=device)
    rows = 0
    try:
        for i in range(source.eval_batch_count(batches, batch_size)):
            full = source.eval_batch(i, batch_size, seed, params)
            rows += len(next(iter(full.values())))
            batch = slice_batch(full, rank, per_rank)
            empty = len(next(iter(batch.values()))) == 0
            if empty:
                batch = slice_batch(full, 0, 1)
            out = model(**model_inputs(batch, task.kind, device, position_ids=positions), use_cache=False)
            stats = compute_stats(out, {k: v.to(device) for k, v in batch.items()}, task.kind).detached()
            totals += 0 * stats if empty else stats
    finally:
        model.train(was_training)
    if reduce is not None:
        totals = reduce(totals)
    loss, metric = metric_value(task.metric, totals.cpu())
    res = {"loss": loss, task.metric: metric, "num_sequences": rows}
    if task.metric == "bits_per_byte":
        _, accuracy = metric_value("token_accuracy", totals.cpu())
        res.update(perplexity=math.exp(min(loss, 700.0)), token_accuracy=accuracy, num_tokens=int(totals[1]),
                   num_bytes=int(totals[3]))
    return res


def _corpus_task(dataset) -> TaskSpec:
    """The task of a corpus split given directly to ``evaluate``."""
    missing = [c for c in (*TOKEN_COLUMNS, *CORPUS_COLUMNS) if c not in dataset.column_names]
    if missing:
        raise ValueError(f"evaluate: the dataset lacks the corpus column(s) {missing} (columns: "
                         f"{dataset.column_names}); pass a split of wave_hf.data.load_corpus")
    return TaskSpec(name="corpus", params={}, info={"metric": "bits_per_byte", "kind": "tokens"})


def evaluate(
    model: torch.nn.Module,
    dataset: Any,
    *,
    params: dict[str, Any] | None = None,
    batches: int = 10,
    batch_size: int = 64,
    seed: int = 0,
    source: str = "sample",
    max_rows: int | None = None,
) -> dict[str, float]:
    """Test metric of ``model`` on a synthetic dataset spec, or bits per byte on a corpus split (single process).

    Args:
        model: a wave_hf / transformers model (causal LM for token tasks, time-series prediction otherwise).
        dataset: a builder name, a mapping ``{name, params, source}`` or a ``DatasetConfig``; or a corpus split:
            a ``datasets.Dataset`` with the columns of ``wave_hf.data.load_corpus`` (``input_ids``,
            ``position_ids``, ``labels``, ``num_scored_bytes``), scored in row order.
        params: dataset parameters (merged over the spec's), e.g. ``{"horizon": 200}`` (synthetic families only).
        batches, batch_size: evaluation set size (the paper: 10 x 64 at horizon 200). On a corpus, ``batch_size``
            is the rows per forward pass and ``batches`` does not apply (see ``max_rows``).
        seed: data seed of the dataset whose ``test`` split is scored (the training seed gives that run's test set).
        source: ``sample`` (on-the-fly) or ``build`` (the built dataset's ``test`` split), when ``dataset`` is a name.
        max_rows: on a corpus, score only its first ``max_rows`` rows (default: all), to cap the cost.

    Returns:
        ``{"loss": ..., <metric>: ..., "num_sequences": ...}`` with the task's metric name as key. On a corpus:
        ``loss`` (mean nats per scored token), ``bits_per_byte``, ``perplexity``, ``token_accuracy``,
        ``num_tokens`` (scored tokens), ``num_bytes`` (their UTF-8 bytes), ``num_sequences`` (rows).

    Raises:
        RunConfigError: a bad dataset spec or evaluation size, checked as the same keys of a run config are.
        ValueError: a ``datasets.Dataset`` without the corpus columns, or synthetic-only arguments with one.
    """
    import datasets

    if isinstance(dataset, datasets.Dataset):
        if params:
            raise ValueError("evaluate: `params` only applies to a synthetic family, not to a corpus split")
        if max_rows is not None and max_rows < 1:
            raise ValueError(f"evaluate: max_rows must be >= 1 or None; got {max_rows}")
        parse_section(EvaluationConfig, {"batch_size": batch_size}, "evaluate")
        task = _corpus_task(dataset)
        if len(dataset) == 0:
            raise ValueError("evaluate: the corpus split has no rows")
        n = len(dataset) if max_rows is None else min(max_rows, len(dataset))
        corpus = CorpusSource({"validation": dataset.select(range(n))}, seed=0)
        return evaluate_batches(model, task, corpus, params=None, batches=math.ceil(n / batch_size),
                                batch_size=batch_size, seed=None)
    if max_rows is not None:
        raise ValueError("evaluate: `max_rows` only applies to a corpus split (a datasets.Dataset)")
    if isinstance(dataset, str):
        spec: dict[str, Any] = {"name": dataset, "source": source}
    elif isinstance(dataset, DatasetConfig):
        spec = {"name": dataset.name, "params": dataset.params, "source": dataset.source}
    else:
        spec = {"source": source, **dataset}
    spec["params"] = {**(spec.get("params") or {}), **(params or {})}
    cfg = parse_section(DatasetConfig, spec, "dataset")
    parse_section(EvaluationConfig, {"batches": batches, "batch_size": batch_size, "seed": seed}, "evaluate")
    task = get_task(cfg.name, cfg.params)
    return evaluate_batches(model, task, BatchSource(cfg, seed=0), params=None, batches=batches,
                            batch_size=batch_size, seed=seed)
