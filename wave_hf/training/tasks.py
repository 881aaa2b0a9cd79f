"""The trainer's view of a dataset: task info, deterministic batches, and model inputs.

Thin adapter over ``wave_hf.data`` (``task_info``, ``sample_batch``, ``build_dataset``). Every batch is a pure function
of (seed, step, params): the *global* batch of an optimizer step is drawn once and each process / accumulation
micro-step takes its own contiguous slice, so 1 process and N processes see the same data and a resumed run draws
exactly the batches the uninterrupted run would have drawn.

Ours rather than a ``DataLoader`` prepared by accelerate: a resume then needs the sampler's state and
``skip_first_batches``, the per-process shards depend on the number of processes, and the curriculum could not change
the data parameters between two steps. Here the step number is the whole data state.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .schema import DatasetConfig, RunConfigError

__all__ = ["BatchSource", "TaskSpec", "epoch_rows", "get_task", "model_inputs", "slice_batch"]

METRICS = ("bit_accuracy", "token_accuracy", "mse", "bits_per_byte")
LOWER_IS_BETTER = ("mse", "bits_per_byte")
TOKEN_COLUMNS = ("input_ids", "labels")
VALUE_COLUMNS = ("inputs", "targets", "loss_mask")
CORPUS_COLUMNS = ("position_ids", "num_scored_bytes")  # packed corpus rows (wave_hf.data.load_corpus)


def _data_api(name: str):
    mod = importlib.import_module("wave_hf.data")
    fn = getattr(mod, name, None)
    if fn is None:
        raise RuntimeError(f"wave_hf.data has no `{name}`; the trainer needs task_info, sample_batch and build_dataset")
    return fn


@dataclass
class TaskSpec:
    """A dataset family with fixed base parameters, plus what its ``task_info`` reports.

    ``kind`` is ``tokens`` (causal LM, ``input_ids``/``labels``) or ``values`` (real-valued ``inputs``/``targets``
    with a ``loss_mask``); ``metric`` is the task's evaluation metric.
    """

    name: str
    params: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def metric(self) -> str:
        return self.info["metric"]

    @property
    def kind(self) -> str:
        if "kind" in self.info:
            return "tokens" if self.info["kind"] == "tokens" else "values"
        return "tokens" if self.metric == "token_accuracy" else "values"

    @property
    def higher_is_better(self) -> bool:
        return self.metric not in LOWER_IS_BETTER


def get_task(name: str, params: dict[str, Any]) -> TaskSpec:
    """Look up ``task_info(name, **params)``; bad names/params become a ``RunConfigError`` naming the dataset."""
    try:
        info = dict(_data_api("task_info")(name, **params))
    except (ValueError, TypeError, KeyError) as e:
        raise RunConfigError(f"dataset `{name}` with params {params}: {e}") from None
    if info.get("metric") not in METRICS:
        raise RunConfigError(f"dataset `{name}`: task_info reports metric {info.get('metric')!r}; expected one of "
                             f"{METRICS}")
    return TaskSpec(name=name, params=dict(params), info=info)


class BatchSource:
    """Global batches for optimizer steps (training) and evaluation.

    Training batches come from the ``train`` split, evaluation batches from the ``test`` split of the same seeded
    dataset (``wave_hf.data`` draws the splits from disjoint random streams). ``source: sample`` calls
    ``sample_batch(name, batch_size, seed=seed, step=step, split=..., **params)``; ``source: build`` builds the dataset
    once per distinct params (``build_dataset(name, seed=seed, **build, **params)``) and reads training batches from a
    seeded permutation of ``train`` (a new permutation each epoch) and evaluation batches in order from ``test``.
    """

    def __init__(self, config: DatasetConfig, seed: int):
        self.config = config
        self.seed = seed
        self._built: dict[tuple, Any] = {}

    def _params(self, overrides: dict[str, Any] | None) -> dict[str, Any]:
        return {**self.config.params, **(overrides or {})}

    def train_batch(self, step: int, batch_size: int, overrides: dict[str, Any] | None = None):
        return self._draw(self.seed, step, batch_size, self._params(overrides), split="train")

    def eval_batch_count(self, batches: int, batch_size: int) -> int:
        """Evaluation batches of a run asking for ``batches``: all of them (the splits are drawn, never short)."""
        return batches

    def eval_batch(self, index: int, batch_size: int, seed: int | None, overrides: dict[str, Any] | None = None):
        seed = self.seed if seed is None else seed
        return self._draw(seed, index, batch_size, self._params(overrides), split="test", shuffle=False)

    def _draw(self, seed: int, step: int, batch_size: int, params: dict[str, Any], split: str, shuffle: bool = True):
        if self.config.source == "sample":
            try:
                batch = _data_api("sample_batch")(self.config.name, batch_size, seed=seed, step=step, split=split,
                                                  **params)
            except (ValueError, TypeError, KeyError) as e:
                raise RunConfigError(f"dataset `{self.config.name}` with params {params}: {e}") from None
            return {k: torch.as_tensor(v) for k, v in batch.items()}
        return self._from_built(seed, step, batch_size, params, split, shuffle)

    def _from_built(self, seed, step, batch_size, params, split, shuffle):
        key = (seed, tuple(sorted((k, repr(v)) for k, v in params.items())))
        if key not in self._built:
            try:
                dd = _data_api("build_dataset")(self.config.name, seed=seed, **self.config.build, **params)
            except (ValueError, TypeError, KeyError) as e:
                raise RunConfigError(f"dataset `{self.config.name}` with params {params}: {e}") from None
            self._built[key] = dd
        dd = self._built[key]
        if split not in dd:
            raise RunConfigError(f"dataset `{self.config.name}` has no {split!r} split (splits: {list(dd)})")
        ds = dd[split].with_format("torch")
        if batch_size > len(ds):
            raise RunConfigError(f"dataset `{self.config.name}` split {split!r} has {len(ds)} rows < batch size "
                                 f"{batch_size}")
        return rows_as_batch(ds, epoch_rows(len(ds), step, batch_size, seed, shuffle))


def epoch_rows(n: int, step: int, batch_size: int, seed: int, shuffle: bool = True) -> list[int]:
    """Row indices of batch ``step`` over a split of ``n`` rows: consecutive batches of ``batch_size`` rows of a
    permutation drawn per epoch by ``numpy.random.default_rng([seed, epoch])`` (in order when not ``shuffle``); the
    ``n % batch_size`` rows left over at the end of an epoch's permutation are skipped that epoch."""
    epoch, pos = divmod(step, n // batch_size)
    order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
    return order[pos * batch_size:(pos + 1) * batch_size].tolist()


def rows_as_batch(ds, idx: list[int]) -> dict[str, torch.Tensor]:
    """Rows ``idx`` of a ``datasets.Dataset`` (torch format) as a batch of the columns the trainer reads."""
    rows = ds[idx]
    return {k: v if isinstance(v, torch.Tensor) else torch.as_tensor(np.asarray(v)) for k, v in rows.items()
            if k in TOKEN_COLUMNS + VALUE_COLUMNS + CORPUS_COLUMNS}


def slice_batch(batch: dict[str, torch.Tensor], index: int, size: int) -> dict[str, torch.Tensor]:
    """Rows ``[index * size, (index + 1) * size)`` of every column."""
    return {k: v[index * size:(index + 1) * size] for k, v in batch.items()}


def row_local_positions(position_ids: torch.Tensor) -> torch.Tensor:
    """(B, L) corpus ``position_ids`` (0 at each document start, counting on across rows) -> (B, L) positions that
    also restart at each row's start: ``min(position_ids, arange(L))``. The zeros inside a row (the document starts)
    and the differences within each document piece (what rotary attention sees) are unchanged, and every position is
    below L, which a learned position table (GPT-2's ``n_positions``) needs."""
    return torch.minimum(position_ids, torch.arange(position_ids.shape[-1], device=position_ids.device))


def model_inputs(batch: dict[str, torch.Tensor], kind: str, device: torch.device | None = None,
                 position_ids: bool = False):
    """Dataset columns -> forward kwargs (no labels: the trainer computes the loss, see ``objectives``).

    ``position_ids``: pass the batch's ``position_ids`` column (packed corpus rows: 0 at each document start), made
    row-local (``row_local_positions``), to the model; the trainer sets it for models whose ``forward`` takes them
    (``modeling.takes_position_ids``)."""
    def mv(t):
        return t.to(device) if device is not None else t
    if kind == "tokens":
        missing = [c for c in TOKEN_COLUMNS if c not in batch]
        if missing:
            raise RuntimeError(f"token batch lacks column(s) {missing}; got {sorted(batch)}")
        out = {"input_ids": mv(batch["input_ids"].long())}
        if "attention_mask" in batch:
            out["attention_mask"] = mv(batch["attention_mask"])
        if position_ids and "position_ids" in batch:
            out["position_ids"] = mv(row_local_positions(batch["position_ids"].long()))
        return out
    missing = [c for c in VALUE_COLUMNS if c not in batch]
    if missing:
        raise RuntimeError(f"real-valued batch lacks column(s) {missing}; got {sorted(batch)}")
    return {"input_values": mv(batch["inputs"].float())}
