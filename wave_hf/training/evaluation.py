"""Evaluation with the task's metric (bit accuracy, token accuracy or MSE) on held-out batches.

``evaluate(model, "linear_vb", params={"task": "T1", "d": 8, "s": 8, "horizon": 200})`` is the public helper (single
process, e.g. for the paper-reproduction scripts); the trainer calls ``evaluate_batches`` with its process slice and a
cross-process reduction, so every process computes the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .objectives import compute_stats, metric_value
from .schema import DatasetConfig
from .tasks import BatchSource, TaskSpec, get_task, model_inputs, slice_batch

__all__ = ["evaluate", "evaluate_batches"]


@torch.no_grad()
def evaluate_batches(
    model: torch.nn.Module,
    task: TaskSpec,
    source: BatchSource,
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
    """Loss and metric over ``batches`` global batches; process ``rank`` scores its slice of each."""
    if batch_size % world_size:
        raise ValueError(f"evaluation batch_size {batch_size} is not divisible by the {world_size} processes")
    per_rank = batch_size // world_size
    if device is None:
        device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    totals = torch.zeros(3, dtype=torch.float64, device=device)
    try:
        for i in range(batches):
            batch = slice_batch(source.eval_batch(i, batch_size, seed, params), rank, per_rank)
            out = model(**model_inputs(batch, task.kind, device), use_cache=False)
            totals += compute_stats(out, {k: v.to(device) for k, v in batch.items()}, task.kind).detached()
    finally:
        model.train(was_training)
    if reduce is not None:
        totals = reduce(totals)
    loss, metric = metric_value(task.metric, totals.cpu())
    return {"loss": loss, task.metric: metric, "num_sequences": batches * batch_size}


def evaluate(
    model: torch.nn.Module,
    dataset: str | dict[str, Any] | DatasetConfig,
    *,
    params: dict[str, Any] | None = None,
    batches: int = 10,
    batch_size: int = 64,
    seed: int = 0,
    source: str = "sample",
) -> dict[str, float]:
    """Test metric of ``model`` on a dataset spec (single process).

    Args:
        model: a wave_hf / transformers model (causal LM for token tasks, time-series prediction otherwise).
        dataset: a builder name, a mapping ``{name, params, source}`` or a ``DatasetConfig``.
        params: dataset parameters (merged over the spec's), e.g. ``{"horizon": 200}``.
        batches, batch_size: evaluation set size (the paper: 10 x 64 at horizon 200).
        seed: data seed of the dataset whose ``test`` split is scored (the training seed gives that run's test set).
        source: ``sample`` (on-the-fly) or ``build`` (the built dataset's ``test`` split), when ``dataset`` is a name.

    Returns:
        ``{"loss": ..., <metric>: ..., "num_sequences": ...}`` with the task's metric name as key.
    """
    if isinstance(dataset, str):
        cfg = DatasetConfig(name=dataset, params=dict(params or {}), source=source)  # type: ignore[arg-type]
    elif isinstance(dataset, DatasetConfig):
        cfg = DatasetConfig(name=dataset.name, params={**dataset.params, **(params or {})}, source=dataset.source)
    else:
        cfg = DatasetConfig(name=dataset["name"], params={**dataset.get("params", {}), **(params or {})},
                            source=dataset.get("source", source))
    task = get_task(cfg.name, cfg.params)
    return evaluate_batches(model, task, BatchSource(cfg, seed=0), params=None, batches=batches,
                            batch_size=batch_size, seed=seed)
