"""Public functions that do not need a builder: listing, task info, ground truth, the batch sampler, the stream."""

from __future__ import annotations

import copy
import itertools
import json
import os
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np

from ._base import (
    BLOCK_ROWS,
    GENERATOR,
    IGNORE_INDEX,
    Family,
    check_seed,
    columns_to_table,
    family_names,
    freeze,
    generation_record,
    get_family,
    record_to_description,
    split_index,
)

if TYPE_CHECKING:
    import datasets


def list_datasets() -> dict[str, dict[str, Any]]:
    """Every dataset name with its kind, metric, summary and parameters (default, allowed values, doc)."""
    return {name: get_family(name).describe() for name in family_names()}


def task_info(name: str, **params: Any) -> dict[str, Any]:
    """What a trainer needs to build a matching model, without generating data.

    Keys: ``name``, ``kind`` ("real" or "tokens"), ``metric`` ("bit_accuracy", "token_accuracy" or "mse"),
    ``loss``, ``seq_len``, ``input_size``, ``output_size``, ``vocab_size`` (None for real-valued data),
    ``ignore_index`` (token tasks), family-specific entries and the resolved ``params``.
    """
    fam = get_family(name)
    return fam.task_info(fam.resolve(params))


def ground_truth(name: str, *, seed: int = 0, **params: Any) -> dict[str, Any]:
    """The generating constants of (name, params, seed): the operator ``F``/``a`` (linear systems), MLP weights
    (``nonlinear_hds``), normalisation ``norm_mean``/``norm_std`` (physical systems); numpy arrays."""
    fam = get_family(name)
    consts = fam.constants(fam.resolve(params), check_seed(seed))
    return {k: v.copy() if isinstance(v, np.ndarray) else copy.deepcopy(v) for k, v in consts.items()}


def sample_rows(name: str, start: int, stop: int, *, seed: int = 0, split: str = "train",
                **params: Any) -> dict[str, np.ndarray]:
    """Rows ``start:stop`` of a split as numpy arrays (the rows every other path produces)."""
    fam = get_family(name)
    if not (isinstance(start, int) and isinstance(stop, int) and 0 <= start < stop):
        raise ValueError(f"need integers 0 <= start < stop; got start={start!r}, stop={stop!r}")
    split_index(split)
    return fam.rows(fam.resolve(params), check_seed(seed), split, start, stop)


def sample_batch(name: str, batch_size: int, *, seed: int = 0, step: int = 0, split: str = "train",
                 as_numpy: bool = False, **params: Any) -> dict[str, Any]:
    """A fresh batch, deterministic in (name, params, seed, step): rows ``step*batch_size`` up to
    ``(step+1)*batch_size`` of ``split``, identical to the same rows of ``build_dataset`` and ``stream_dataset``.

    Returns torch tensors (``as_numpy=False``): real-valued tasks ``inputs`` (B, L, d_in) and ``targets``
    (B, L, d_out) float32, token tasks ``input_ids`` and ``labels`` (B, L) int64; always ``loss_mask`` (B, L)
    float32. Changing ``horizon`` (linear_vb) or ``seq_len`` between calls is the curriculum hook.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be a non-negative int; got {step!r}")
    fam = get_family(name)
    p = fam.resolve(params)
    seed = check_seed(seed)
    split_index(split)
    start, stop = step * batch_size, (step + 1) * batch_size
    if fam.prefetch_rows > batch_size:
        cols = _prefetched(fam, p, seed, split, start, stop)
    else:
        cols = fam.rows(p, seed, split, start, stop)
    if as_numpy:
        return cols
    import torch

    return {k: torch.from_numpy(v) for k, v in cols.items()}


_PREFETCH: OrderedDict[tuple, tuple[int, int, dict[str, np.ndarray]]] = OrderedDict()


def _prefetched(fam: Family, p: dict[str, Any], seed: int, split: str, start: int, stop: int) -> dict[str, np.ndarray]:
    """Rows start:stop, generated ``fam.prefetch_rows`` at a time (for families whose cost is dominated by the
    per-step overhead of the vectorised integrator); the rows are the same, only the work is batched."""
    key = (fam.name, freeze(p), seed, split)
    hit = _PREFETCH.get(key)
    if hit is None or not (hit[0] <= start and stop <= hit[1]):
        end = max(stop, start + fam.prefetch_rows)
        hit = (start, end, fam.rows(p, seed, split, start, end))
        _PREFETCH[key] = hit
        while len(_PREFETCH) > 4:
            _PREFETCH.popitem(last=False)
    _PREFETCH.move_to_end(key)
    a, b = start - hit[0], stop - hit[0]
    return {k: v[a:b].copy() for k, v in hit[2].items()}


def _stream_tables(name: str, params_json: str, seed: int, split: str, starts: list[int] | None, chunk: int,
                   stop: int | None):
    fam = get_family(name)
    p = fam.resolve(json.loads(params_json))
    consts = fam.constants(p, seed)
    features = fam.features(p)
    for start in (starts if starts is not None else itertools.count(0, chunk)):
        end = start + chunk if stop is None else min(start + chunk, stop)
        yield start, columns_to_table(fam.rows(p, seed, split, start, end, consts), features)


def stream_dataset(name: str, *, seed: int = 0, split: str = "train", num_rows: int | None = None,
                   chunk_rows: int = 4 * BLOCK_ROWS, **params: Any) -> datasets.IterableDataset:
    """A ``datasets.IterableDataset`` generating rows on the fly (infinite unless ``num_rows`` is given); row i is
    row i of ``split`` in ``build_dataset``/``sample_batch``. Rows are generated ``chunk_rows`` at a time as Arrow
    tables, so ``.with_format("torch"/"numpy").iter(batch_size=...)`` stays on the fast Arrow path. Finite streams
    are sharded by fixed row ranges (``n_shards`` = number of chunks): DataLoader workers split them without
    changing the rows (an infinite stream is one shard)."""
    import datasets
    from datasets.iterable_dataset import ArrowExamplesIterable

    fam = get_family(name)
    p = fam.resolve(params)
    seed = check_seed(seed)
    split_index(split)
    if num_rows is not None and (isinstance(num_rows, bool) or not isinstance(num_rows, int) or num_rows < 1):
        raise ValueError(f"num_rows must be a positive int or None (infinite); got {num_rows!r}")
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise ValueError(f"chunk_rows must be a positive int; got {chunk_rows!r}")
    starts = None if num_rows is None else list(range(0, num_rows, chunk_rows))
    kwargs = {"name": name, "params_json": json.dumps(p), "seed": seed, "split": split, "chunk": chunk_rows,
              "stop": num_rows, "starts": starts}
    splits = None if num_rows is None else {split: num_rows}
    rec = generation_record(fam, p, seed, fam.constants(p, seed), splits)
    info = datasets.DatasetInfo(description=record_to_description(rec), features=fam.features(p))
    return datasets.IterableDataset(ArrowExamplesIterable(_stream_tables, kwargs), info=info,
                                    split=datasets.NamedSplit(split))


def compute_metric(metric: str, outputs: Any, batch: dict[str, Any]) -> float:
    """The task metric of a batch, exactly as the data defines it (torch tensors or numpy arrays).

    * ``"bit_accuracy"`` (linear_vb): ``outputs`` (B, L, d); prediction ``+1`` where ``outputs >= 0`` else ``-1``,
      compared with the +-1 ``targets`` on the steps with ``loss_mask = 1`` (every component counts).
    * ``"mse"``: mean of ``(outputs - targets)**2`` over the scored steps and all output components.
    * ``"token_accuracy"``: ``outputs`` are logits (B, L, V); ``argmax(logits[:, t])`` is compared with
      ``labels[:, t+1]`` (the Hugging Face shift) wherever that label is not -100.
    """
    import torch

    out = torch.as_tensor(outputs)
    if metric == "token_accuracy":
        labels = torch.as_tensor(batch["labels"])[:, 1:]
        scored = labels != IGNORE_INDEX
        hits = (out[:, :-1].argmax(-1) == labels) & scored
        return float(hits.sum() / scored.sum().clamp_min(1))
    if metric not in ("bit_accuracy", "mse"):
        raise ValueError(f"unknown metric {metric!r}; allowed: bit_accuracy, token_accuracy, mse")
    targets = torch.as_tensor(batch["targets"]).to(out.dtype)
    mask = torch.as_tensor(batch["loss_mask"]).to(out.dtype)[..., None].expand_as(targets)
    if metric == "mse":
        err = (out - targets) ** 2
    else:
        err = (torch.where(out >= 0, 1.0, -1.0).to(out.dtype) == targets).to(out.dtype)
    return float((err * mask).sum() / mask.sum().clamp_min(1))


def generation_info(obj: Any) -> dict[str, Any]:
    """The generation record (generator, name, params, seed, task_info, ground_truth, ...) of a built or streamed
    dataset, a ``DatasetInfo``, a description string, a Parquet file written by ``export_parquet``/``push_dataset``
    or a folder holding ``generation_info.json``."""
    import datasets

    if isinstance(obj, datasets.DatasetDict):
        obj = next(iter(obj.values()))
    if isinstance(obj, (datasets.Dataset, datasets.IterableDataset)):
        obj = obj.info
    if isinstance(obj, datasets.DatasetInfo):
        obj = obj.description
    if isinstance(obj, (str, os.PathLike)) and os.path.isdir(obj):
        with open(os.path.join(obj, "generation_info.json")) as f:
            return json.load(f)
    if isinstance(obj, (str, os.PathLike)) and str(obj).endswith(".parquet") and os.path.isfile(obj):
        import pyarrow.parquet as pq

        meta = pq.read_schema(obj).metadata or {}
        if b"wave_hf" not in meta:
            raise ValueError(f"{obj} carries no wave_hf generation record (not written by wave_hf.data)")
        return json.loads(meta[b"wave_hf"])
    if isinstance(obj, str):
        try:
            rec = json.loads(obj)
        except json.JSONDecodeError as e:
            raise ValueError("description is not a wave_hf generation record (not JSON)") from e
        if isinstance(rec, dict) and rec.get("generator") == GENERATOR:
            return rec
        raise ValueError("description is not a wave_hf generation record")
    raise ValueError(f"cannot read a generation record from {type(obj).__name__}")
