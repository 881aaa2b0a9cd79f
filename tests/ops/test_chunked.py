"""The chunked backend against the reference loop: outputs, final state and all gradients over the issue's grid,
gradcheck, and the low-precision criterion of H3 (error vs fp32 at most 2x that of the plain low-precision loop)."""

from __future__ import annotations

import pytest
import torch

from tests.ops.helpers import case_tensors, check_against_reference, check_low_precision
from wave_hf.ops import wave_scan


def chunked(u, a, s0):
    return wave_scan(u, a, s0, output_final_state=True, backend="chunked")


@pytest.mark.parametrize("dense", [False, True], ids=["diag", "dense"])
@pytest.mark.parametrize("D", [1, 3, 16])
@pytest.mark.parametrize("S", [1, 2, 8, 33])
@pytest.mark.parametrize("L", [1, 2, 7, 63, 64, 65, 1000])
def test_chunked_matches_reference(L, S, D, dense, nan_empty):
    check_against_reference(chunked, L, S, D, dense, {torch.float64: 1e-12, torch.float32: 1e-5})


@pytest.mark.parametrize("dense", [False, True], ids=["diag", "dense"])
def test_chunked_gradcheck(dense):
    u, a, s0, _, _ = case_tensors(1, 9, 1, 3, 2, dense, True)
    leaves = [t.requires_grad_() for t in (u, a, s0)]
    assert torch.autograd.gradcheck(lambda *x: chunked(*x), leaves)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("dense", [False, True], ids=["diag", "dense"])
def test_chunked_low_precision_beats_plain_loop(dense, dtype):
    check_low_precision(chunked, dtype, dense, B=2, L=200, S=8)
