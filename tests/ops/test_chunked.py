"""The chunked backend against the reference loop: outputs, final state and all gradients over the issue's grid,
gradcheck, and the low-precision criterion of H3 (error vs fp32 at most 2x that of the plain low-precision loop)."""

from __future__ import annotations

import pytest
import torch

from tests.ops.helpers import case_tensors, max_err, rel_err, run
from wave_hf.ops import wave_scan, wave_scan_reference

NAMES = ("z", "final_state", "grad_u", "grad_a", "grad_initial_state")


def reference(u, a, s0):
    return wave_scan_reference(u, a, s0, output_final_state=True)


def chunked(u, a, s0):
    return wave_scan(u, a, s0, output_final_state=True, backend="chunked")


@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "initial_state"])
@pytest.mark.parametrize("dense", [False, True], ids=["diag", "dense"])
@pytest.mark.parametrize("D", [1, 3, 16])
@pytest.mark.parametrize("S", [1, 2, 8, 33])
@pytest.mark.parametrize("L", [1, 2, 7, 63, 64, 65, 1000])
def test_chunked_matches_reference(L, S, D, dense, with_state, nan_empty):
    u, a, s0, gz, gf = case_tensors(2, L, 2, S, D, dense, with_state)
    ref = run(reference, u, a, s0, gz, gf)
    for name, got, want in zip(NAMES, run(chunked, u, a, s0, gz, gf), ref):
        assert rel_err(got, want) < 1e-12, f"float64 {name}"
    inputs32 = [None if t is None else t.float() for t in (u, a, s0, gz, gf)]
    for name, got, want in zip(NAMES, run(chunked, *inputs32), ref):
        assert got.dtype == torch.float32
        assert rel_err(got, want) < 2e-5, f"float32 {name}"


@pytest.mark.parametrize("dense", [False, True], ids=["diag", "dense"])
def test_chunked_gradcheck(dense):
    u, a, s0, _, _ = case_tensors(1, 9, 1, 3, 2, dense, True)
    leaves = [t.requires_grad_() for t in (u, a, s0)]
    assert torch.autograd.gradcheck(lambda *x: chunked(*x), leaves)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("dense", [False, True], ids=["diag", "dense"])
def test_chunked_low_precision_beats_plain_loop(dense, dtype):
    """max |chunked(low) - exact| <= 2 max |reference loop(low) - exact| for outputs and every gradient."""
    u, a, s0, gz, gf = (t.to(dtype) for t in case_tensors(2, 200, 2, 8, 3, dense, True, radius=0.9))
    exact = run(reference, *(t.double() for t in (u, a, s0, gz, gf)))
    plain = run(reference, u, a, s0, gz, gf)
    got = run(chunked, u, a, s0, gz, gf)
    for name, x, p, e in zip(NAMES, got, plain, exact):
        assert x.dtype == dtype
        assert max_err(x, e) <= 2 * max_err(p, e), name
