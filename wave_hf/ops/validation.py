"""Argument checks for the wave scan ops: every bad input raises a ValueError/TypeError naming the argument."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .resets import starts_from_bounds

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


@dataclass(frozen=True)
class ScanShape:
    """Sizes of one wave scan call: u is (batch, length, heads, width), a is (heads, substrate, width[, width])."""

    batch: int
    length: int
    heads: int
    substrate: int
    width: int
    dense: bool


def _shape(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(x.shape)


def check_tensor(fn: str, name: str, x: object, expected: str) -> torch.Tensor:
    """``x`` if it is a floating-point tensor, else a TypeError naming ``fn``, ``name`` and the shape expected."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{fn}: `{name}` must be a torch.Tensor of shape {expected}; got {type(x).__name__}")
    if x.dtype not in _FLOAT_DTYPES:
        raise TypeError(
            f"{fn}: `{name}` must be a floating-point tensor (float16, bfloat16, float32 or float64); got {x.dtype}"
        )
    return x


def check_device(fn: str, name: str, x: torch.Tensor, ref_name: str, ref: torch.Tensor) -> None:
    """ValueError unless ``x`` is on the device of ``ref``."""
    if x.device != ref.device:
        raise ValueError(f"{fn}: `{name}` is on {x.device} but `{ref_name}` is on {ref.device}; put them on one device")


def _check_boundary(fn: str, a: object, data_name: str, data: torch.Tensor, heads: int, width: int) -> tuple[int, bool]:
    """Checks ``a`` against H and D taken from ``data``; returns (S, dense)."""
    expected = f"(H, S, D) or (H, S, D, D) with H={heads}, D={width} from `{data_name}`"
    a = check_tensor(fn, "a", a, expected)
    ok = (
        a.dim() in (3, 4)
        and a.shape[0] == heads
        and a.shape[1] >= 1
        and a.shape[2] == width
        and (a.dim() == 3 or a.shape[3] == width)
    )
    if not ok:
        raise ValueError(f"{fn}: `a` must have shape {expected} {_shape(data)}; got {_shape(a)}")
    check_device(fn, "a", a, data_name, data)
    return a.shape[1], a.dim() == 4


def _check_state(fn: str, name: str, state: object, data_name: str, data: torch.Tensor, sizes: ScanShape) -> None:
    B, H, S, D = sizes.batch, sizes.heads, sizes.substrate, sizes.width
    expected = f"(B, H, S, D) = ({B}, {H}, {S}, {D}) from `{data_name}` and `a`"
    state = check_tensor(fn, name, state, expected)
    if _shape(state) != (B, H, S, D):
        raise ValueError(f"{fn}: `{name}` must have shape {expected}; got {_shape(state)}")
    check_device(fn, name, state, data_name, data)


def _check_finite(fn: str, a: torch.Tensor) -> None:
    if not bool(torch.isfinite(a).all()):
        raise ValueError(f"{fn}: `a` contains non-finite values (nan or inf)")


def check_scan_inputs(
    u: object, a: object, initial_state: object, *, check_finite: bool, fn: str = "wave_scan"
) -> ScanShape:
    """Validates ``wave_scan`` arguments: u (B, L, H, D), a (H, S, D) or (H, S, D, D), initial_state (B, H, S, D)."""
    u = check_tensor(fn, "u", u, "(B, L, H, D)")
    if u.dim() != 4:
        raise ValueError(f"{fn}: `u` must have shape (B, L, H, D); got {_shape(u)}")
    B, L, H, D = u.shape
    S, dense = _check_boundary(fn, a, "u", u, H, D)
    sizes = ScanShape(B, L, H, S, D, dense)
    if initial_state is not None:
        _check_state(fn, "initial_state", initial_state, "u", u, sizes)
    if check_finite:
        _check_finite(fn, a)
    return sizes


def check_fir(fir: object, u: torch.Tensor, sizes: ScanShape, *, fn: str) -> None:
    """Validates the FIR readout taps of ``wave_scan_fir``: (H, S, D) from ``u`` and ``a``, on u's device."""
    expected = f"(H, S, D) = ({sizes.heads}, {sizes.substrate}, {sizes.width}) from `u` and `a`"
    fir = check_tensor(fn, "fir", fir, expected)
    if _shape(fir) != (sizes.heads, sizes.substrate, sizes.width):
        raise ValueError(f"{fn}: `fir` must have shape {expected}; got {_shape(fir)}")
    check_device(fn, "fir", fir, "u", u)


def check_step_inputs(u_t: object, a: object, state: object, *, check_finite: bool, fn: str = "wave_step") -> ScanShape:
    """Validates ``wave_step`` arguments: u_t (B, H, D), a (H, S, D) or (H, S, D, D), state (B, H, S, D)."""
    u_t = check_tensor(fn, "u_t", u_t, "(B, H, D)")
    if u_t.dim() != 3:
        raise ValueError(f"{fn}: `u_t` must have shape (B, H, D); got {_shape(u_t)}")
    B, H, D = u_t.shape
    S, dense = _check_boundary(fn, a, "u_t", u_t, H, D)
    sizes = ScanShape(B, 1, H, S, D, dense)
    _check_state(fn, "state", state, "u_t", u_t, sizes)
    if check_finite:
        _check_finite(fn, a)
    return sizes


def compute_dtype(*tensors: torch.Tensor | None, keep_low_precision: bool = False) -> torch.dtype:
    """The one dtype rule of the ops.

    Default: float64 if any input is float64, else float32 (half-precision inputs are computed in float32); the fast
    backends accumulate in it and the step ops compute in it. ``keep_low_precision``: the promoted dtype of the
    inputs (bf16 inputs stay bf16), the plain loop of the reference backends that the fast ones are judged against.
    """
    present = [t for t in tensors if t is not None]
    if keep_low_precision:
        dtype = present[0].dtype
        for t in present[1:]:
            dtype = torch.promote_types(dtype, t.dtype)
        return dtype
    return torch.float64 if any(t.dtype == torch.float64 for t in present) else torch.float32


def check_reset(
    fn: str, reset: object, cu_seqlens: object, batch: int, length: int, ref: torch.Tensor
) -> torch.Tensor | None:
    """Validates the document boundaries of a packed call and returns them as one (B, L) bool ``reset`` (or None).

    ``reset``: (B, L) bool, True at the first position of each document. ``cu_seqlens``: 1-D integer tensor of
    document starts and ends, [0, l_1, l_1 + l_2, ..., L] (only with B == 1). At most one of them may be given.
    """
    if reset is not None and cu_seqlens is not None:
        raise ValueError(f"{fn}: pass either `reset` or `cu_seqlens`, not both")
    if reset is not None:
        if not isinstance(reset, torch.Tensor) or reset.dtype != torch.bool:
            got = reset.dtype if isinstance(reset, torch.Tensor) else type(reset).__name__
            raise TypeError(f"{fn}: `reset` must be a bool tensor of shape (B, L) = ({batch}, {length}); got {got}")
        if tuple(reset.shape) != (batch, length):
            raise ValueError(f"{fn}: `reset` must have shape (B, L) = ({batch}, {length}); got {tuple(reset.shape)}")
        check_device(fn, "reset", reset, "the inputs", ref)
        return reset
    if cu_seqlens is None:
        return None
    if batch != 1:
        raise ValueError(f"{fn}: `cu_seqlens` describes one packed row and needs B == 1; got B = {batch} (pass a "
                         f"(B, L) `reset` instead)")
    return starts_from_bounds(f"{fn}: `cu_seqlens`", cu_seqlens, length, ref.device)
