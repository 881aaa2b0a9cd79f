"""Shared machinery of the dataset families: parameter specs, the registry, row generation and metadata.

Determinism. Rows are grouped in fixed blocks of ``BLOCK_ROWS``; all randomness of block b of a split comes from
``numpy.random.default_rng([seed, family_salt, split_id, b])`` (PCG64, platform-independent), drawn by the family's
``draw``. The family's ``simulate`` then computes the rows from those draws with row-independent, vectorised
IEEE-basic arithmetic (``_detmath``). Row i of a split is therefore a function of (family, params, seed, split, i)
only: the batch sampler, the stream and the builders (any ``num_proc``, any chunking) give the same rows.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

BLOCK_ROWS = 64
SPLITS: dict[str, int] = {"train": 0, "validation": 1, "test": 2}
CONST_STREAM = 1000  # per-dataset ground truth (operators, MLP weights)
STATS_STREAM = 1001  # reference rows for normalisation statistics (seed-independent)
STATS_ROWS = 128
STATS_LEN = 128
IGNORE_INDEX = -100
METRICS = ("bit_accuracy", "token_accuracy", "mse")
GENERATOR = "wave_hf.data"


def _allowed_str(choices: tuple) -> str:
    return ", ".join(repr(c) for c in choices)


@dataclass(frozen=True)
class Param:
    """One generator parameter: default, type and allowed range. ``validate`` returns the normalised value."""

    default: Any
    doc: str
    kind: str  # "int", "float", "bool", "str", "int_tuple"
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    optional: bool = False
    length: int | None = None  # for "int_tuple"

    def allowed(self) -> str:
        """Human-readable description of the allowed values."""
        if self.choices is not None:
            text = f"one of {_allowed_str(self.choices)}"
        elif self.kind == "int_tuple":
            text = f"a tuple of {self.length} non-negative ints"
        else:
            text = {"int": "an int", "float": "a number", "bool": "a bool", "str": "a string"}[self.kind]
            if self.minimum is not None:
                text += f" {'>' if self.exclusive_minimum else '>='} {self.minimum}"
            if self.maximum is not None:
                text += f" <= {self.maximum}"
        return text + (" or None" if self.optional else "")

    def validate(self, family: str, name: str, value: Any) -> Any:
        """Check ``value`` and return it normalised (ints as int, floats as float, tuples as tuple)."""
        if value is None and self.optional:
            return None

        def bad() -> ValueError:
            return ValueError(f"{family}: parameter {name!r} must be {self.allowed()}; got {value!r}")

        if self.kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise bad()
            return bool(value)
        if self.kind == "str":
            if not isinstance(value, str) or (self.choices is not None and value not in self.choices):
                raise bad()
            return value
        if self.kind == "int_tuple":
            if not isinstance(value, (tuple, list)) or len(value) != self.length:
                raise bad()
            if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0 for v in value):
                raise bad()
            return tuple(int(v) for v in value)
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise bad()
            value = int(value)
        elif self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise bad()
            value = float(value)
            if not math.isfinite(value):
                raise bad()
        if self.choices is not None and value not in self.choices:
            raise bad()
        if self.minimum is not None and (value <= self.minimum if self.exclusive_minimum else value < self.minimum):
            raise bad()
        if self.maximum is not None and value > self.maximum:
            raise bad()
        return value


Params = dict[str, Any]
Columns = dict[str, np.ndarray]


class Family:
    """Base class of a dataset family. Subclasses set the class attributes and implement ``draw``/``simulate``.

    ``draw(p, rng, n)`` takes all randomness of n consecutive rows from one generator; ``simulate(p, consts,
    draws)`` turns them into the row columns and must treat every row independently.
    """

    name: ClassVar[str]
    kind: ClassVar[str]  # "real" or "tokens"
    metric: ClassVar[str]
    summary: ClassVar[str]
    version: ClassVar[str] = "1.0.0"
    params: ClassVar[dict[str, Param]]
    presets: ClassVar[dict[str, Params]] = {}
    prefetch_rows: ClassVar[int] = 0  # sample_batch generates this many rows at once (costly integrators)

    # ---- to implement -------------------------------------------------------------------------------------------
    def check(self, p: Params) -> None:
        """Cross-parameter checks; raise ``ValueError`` naming the parameters and what is allowed. May fill in
        derived entries of ``p`` (linear_vb: ``task_id`` from ``task``); ``resolve`` must stay idempotent."""

    def seq_len(self, p: Params) -> int:
        raise NotImplementedError

    def sizes(self, p: Params) -> dict[str, int | None]:
        """``input_size``, ``output_size`` and ``vocab_size`` (None for real-valued families)."""
        raise NotImplementedError

    def extra_info(self, p: Params) -> dict[str, Any]:
        """Family-specific entries of ``task_info`` (JSON-serialisable)."""
        return {}

    def make_constants(self, p: Params, rng: np.random.Generator) -> dict[str, Any]:
        """Per-dataset ground truth drawn once from the constant stream (operator, weights, ...)."""
        return {}

    def draw(self, p: Params, rng: np.random.Generator, n: int) -> Columns:
        raise NotImplementedError

    def simulate(self, p: Params, consts: Mapping[str, Any], draws: Columns) -> Columns:
        raise NotImplementedError

    # ---- shared -------------------------------------------------------------------------------------------------
    @property
    def salt(self) -> int:
        return zlib.crc32(self.name.encode())

    def defaults(self) -> Params:
        return {k: v.default for k, v in self.params.items()}

    def resolve(self, params: Mapping[str, Any] | None = None) -> Params:
        """Defaults filled in, every value validated, cross-checks run. Raises ``ValueError``."""
        params = dict(params or {})
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            raise ValueError(
                f"{self.name}: unknown parameter(s) {unknown}; allowed: "
                + "; ".join(f"{k} ({v.allowed()}, default {v.default!r})" for k, v in self.params.items())
            )
        p = self.defaults()
        for k, v in params.items():
            p[k] = self.params[k].validate(self.name, k, v)
        self.check(p)
        return p

    def rng(self, seed: int, stream: int, block: int) -> np.random.Generator:
        return np.random.default_rng([seed, self.salt, stream, block])

    def constants(self, p: Params, seed: int) -> dict[str, Any]:
        """Cached ``make_constants`` for (params, seed)."""
        key = (freeze(p), seed)
        cache = _CONST_CACHE.setdefault(self.name, {})
        if key not in cache:
            if len(cache) > 64:
                cache.clear()
            cache[key] = self.make_constants(p, self.rng(seed, CONST_STREAM, 0))
        return cache[key]

    def rows(self, p: Params, seed: int, split: str, start: int, stop: int, consts=None) -> Columns:
        """Rows ``start:stop`` of ``split`` as numpy columns (see the module docstring)."""
        split_id = split_index(split)
        if consts is None:
            consts = self.constants(p, seed)
        if stop <= start:
            raise ValueError(f"empty row range {start}:{stop}")
        b0, b1 = start // BLOCK_ROWS, -(-stop // BLOCK_ROWS)
        parts = [self.draw(p, self.rng(seed, split_id, b), BLOCK_ROWS) for b in range(b0, b1)]
        off = start - b0 * BLOCK_ROWS
        draws = {k: np.concatenate([d[k] for d in parts])[off : off + stop - start] for k in parts[0]}
        return self.simulate(p, consts, draws)

    def task_info(self, p: Params) -> dict[str, Any]:
        info: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "metric": self.metric,
            "loss": "cross_entropy" if self.kind == "tokens" else "mse",
            "seq_len": self.seq_len(p),
            **self.sizes(p),
        }
        if self.kind == "tokens":
            info["ignore_index"] = IGNORE_INDEX
        info.update(self.extra_info(p))
        info["params"] = jsonable(p)
        return info

    def features(self, p: Params):
        import datasets

        L = self.seq_len(p)
        mask = datasets.List(datasets.Value("float32"), length=L)
        if self.kind == "tokens":
            ids = datasets.List(datasets.Value("int64"), length=L)
            return datasets.Features({"input_ids": ids, "labels": ids, "loss_mask": mask})
        s = self.sizes(p)
        return datasets.Features(
            {
                "inputs": datasets.Array2D(shape=(L, s["input_size"]), dtype="float32"),
                "targets": datasets.Array2D(shape=(L, s["output_size"]), dtype="float32"),
                "loss_mask": mask,
            }
        )

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "metric": self.metric,
            "summary": self.summary,
            "version": self.version,
            "params": {k: {"default": jsonable(v.default), "allowed": v.allowed(), "doc": v.doc}
                       for k, v in self.params.items()},
            "presets": {k: jsonable(v) for k, v in self.presets.items()},
        }


_REGISTRY: dict[str, Family] = {}
_CONST_CACHE: dict[str, dict] = {}


def register(cls: type[Family]) -> type[Family]:
    """Class decorator: add a family (one instance) to the registry."""
    if cls.metric not in METRICS:
        raise ValueError(f"{cls.name}: metric must be one of {METRICS}")
    _REGISTRY[cls.name] = cls()
    return cls


def get_family(name: str) -> Family:
    """The registered family ``name``; ``ValueError`` listing the known names otherwise."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def family_names() -> list[str]:
    return sorted(_REGISTRY)


def split_index(split: str) -> int:
    if isinstance(split, str) and split in SPLITS:
        return SPLITS[split]
    raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")
    return int(seed)


def freeze(p: Mapping[str, Any]) -> tuple:
    return tuple(sorted(p.items()))


def jsonable(x: Any) -> Any:
    """numpy arrays/scalars and tuples -> plain JSON types (floats keep their exact repr)."""
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    return x


def generation_record(fam: Family, p: Params, seed: int, consts: Mapping[str, Any],
                      splits: Mapping[str, int] | None = None) -> dict[str, Any]:
    """Everything needed to regenerate and to compare against the ground truth; stored as JSON in the info."""
    from wave_hf._version import __version__

    rec: dict[str, Any] = {
        "generator": GENERATOR,
        "wave_hf_version": __version__,
        "name": fam.name,
        "family_version": fam.version,
        "seed": seed,
        "params": jsonable(p),
        "metric": fam.metric,
        "summary": fam.summary,
        "task_info": fam.task_info(p),
        "ground_truth": jsonable(dict(consts)),
        "rng": f"numpy default_rng([seed, crc32(name)={fam.salt}, split_id, block]), {BLOCK_ROWS} rows per block; "
               f"split ids {SPLITS}",
    }
    if splits is not None:
        rec["splits"] = dict(splits)
    return rec


def record_to_description(rec: Mapping[str, Any]) -> str:
    return json.dumps(rec, sort_keys=True)


def forecast_columns(states: np.ndarray, first_scored: int) -> Columns:
    """(n, L+1, d) trajectory -> inputs x(0..L-1), targets x(1..L), loss_mask 1 from step ``first_scored`` on."""
    n, L1, _ = states.shape
    mask = np.zeros((n, L1 - 1), dtype=np.float32)
    mask[:, first_scored:] = 1.0
    return {
        "inputs": states[:, :-1].astype(np.float32),
        "targets": states[:, 1:].astype(np.float32),
        "loss_mask": mask,
    }


def token_columns(input_ids: np.ndarray, labels: np.ndarray) -> Columns:
    return {
        "input_ids": input_ids.astype(np.int64),
        "labels": labels.astype(np.int64),
        "loss_mask": (labels != IGNORE_INDEX).astype(np.float32),
    }


def columns_to_table(cols: Columns, features):
    """numpy columns -> a ``pyarrow.Table`` with exactly ``features.arrow_schema`` (Array2D as extension arrays)."""
    import datasets
    import pyarrow as pa
    from datasets.features.features import numpy_to_pyarrow_listarray

    arrays = {}
    for name, feat in features.items():
        arr = np.ascontiguousarray(cols[name])
        if isinstance(feat, datasets.Array2D):
            arrays[name] = pa.ExtensionArray.from_storage(feat(), numpy_to_pyarrow_listarray(arr))
        else:  # fixed-length list of a scalar
            arrays[name] = pa.FixedSizeListArray.from_arrays(pa.array(arr.reshape(-1)), arr.shape[1])
    return pa.table(arrays, schema=features.arrow_schema)
