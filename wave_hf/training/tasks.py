"""The trainer's view of a dataset: task info, deterministic batches, and model inputs.

Thin adapter over ``wave_hf.data`` (``task_info``, ``sample_batch``, ``build_dataset``). Every batch is a pure function
of (seed, step, params): the *global* batch of an optimizer step is drawn once and each process / accumulation
micro-step takes its own contiguous slice, so 1 process and N processes see the same data and a resumed run draws
exactly the batches the uninterrupted run would have drawn.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .schema import DatasetConfig, RunConfigError

__all__ = ["BatchSource", "TaskSpec", "get_task", "model_inputs", "slice_batch"]

METRICS = ("bit_accuracy", "token_accuracy", "mse")
TOKEN_COLUMNS = ("input_ids", "labels")
VALUE_COLUMNS = ("inputs", "targets", "loss_mask")


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
        return self.metric != "mse"


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
        n = len(ds)
        if batch_size > n:
            raise RunConfigError(f"dataset `{self.config.name}` split {split!r} has {n} rows < batch size {batch_size}")
        per_epoch = n // batch_size
        epoch, pos = divmod(step, per_epoch)
        if shuffle:
            order = np.random.default_rng([seed, epoch]).permutation(n)
        else:
            order = np.arange(n)
        idx = order[pos * batch_size:(pos + 1) * batch_size].tolist()
        rows = ds[idx]
        return {k: v if isinstance(v, torch.Tensor) else torch.as_tensor(np.asarray(v)) for k, v in rows.items()
                if k in TOKEN_COLUMNS + VALUE_COLUMNS}


def slice_batch(batch: dict[str, torch.Tensor], index: int, size: int) -> dict[str, torch.Tensor]:
    """Rows ``[index * size, (index + 1) * size)`` of every column."""
    return {k: v[index * size:(index + 1) * size] for k, v in batch.items()}


def model_inputs(batch: dict[str, torch.Tensor], kind: str, device: torch.device | None = None):
    """Dataset columns -> forward kwargs (no labels: the trainer computes the loss, see ``objectives``)."""
    def mv(t):
        return t.to(device) if device is not None else t
    if kind == "tokens":
        missing = [c for c in TOKEN_COLUMNS if c not in batch]
        if missing:
            raise RuntimeError(f"token batch lacks column(s) {missing}; got {sorted(batch)}")
        out = {"input_ids": mv(batch["input_ids"].long())}
        if "attention_mask" in batch:
            out["attention_mask"] = mv(batch["attention_mask"])
        return out
    missing = [c for c in VALUE_COLUMNS if c not in batch]
    if missing:
        raise RuntimeError(f"real-valued batch lacks column(s) {missing}; got {sorted(batch)}")
    return {"input_values": mv(batch["inputs"].float())}
