"""Argument checks shared by the analysis modules: convert to float64/complex128 numpy and name bad arguments."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def to_numpy(x: Any, name: str, dtype: type = np.float64) -> np.ndarray:
    """``x`` (torch tensor, numpy array or nested list) -> a numpy array of ``dtype`` (a copy for tensors)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        x = x.resolve_conj().numpy() if x.is_complex() else x.double().numpy()
    try:
        arr = np.asarray(x)
    except Exception as exc:  # pragma: no cover - numpy's own message is kept
        raise TypeError(f"`{name}` must be an array or tensor; got {type(x).__name__}") from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"`{name}` must be numeric; got dtype {arr.dtype}")
    if np.iscomplexobj(arr) and not np.issubdtype(np.dtype(dtype), np.complexfloating):
        raise TypeError(f"`{name}` must be real; got a complex array")
    return arr.astype(dtype)


def square_matrix(x: Any, name: str) -> np.ndarray:
    """A real square matrix (n, n) as float64; raises ValueError naming ``name`` otherwise."""
    arr = to_numpy(x, name)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"`{name}` must be a square matrix (n, n); got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` contains NaN or inf")
    return arr


def matrix(x: Any, name: str, rows: int | None = None, cols: int | None = None) -> np.ndarray:
    """A finite real matrix as float64 with optional fixed row/column counts."""
    arr = to_numpy(x, name)
    if arr.ndim != 2:
        raise ValueError(f"`{name}` must be a matrix (2-D); got shape {arr.shape}")
    if rows is not None and arr.shape[0] != rows:
        raise ValueError(f"`{name}` must have {rows} rows; got shape {arr.shape}")
    if cols is not None and arr.shape[1] != cols:
        raise ValueError(f"`{name}` must have {cols} columns; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` contains NaN or inf")
    return arr


def positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer; got {value!r}")
    return int(value)
