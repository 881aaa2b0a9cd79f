"""The Triton backend against the reference loop.

On CPU the kernels run under TRITON_INTERPRET=1 (set in tests/conftest.py), which is slow, so shapes are tiny and
cover: one and several segments, a segment shorter than S, both boundary forms, float64/float32/float16. bf16 is wrong
under the interpreter, so bf16 and larger shapes are CUDA-only tests.
"""

from __future__ import annotations

import pytest
import torch

from tests.ops.helpers import case_tensors, check_against_reference, check_low_precision
from wave_hf.ops import wave_scan
from wave_hf.ops.triton_backend import triton_available, triton_backward, triton_forward

pytestmark = pytest.mark.skipif(not triton_available(), reason="triton is not installed")

CPU_TOL = {torch.float64: 1e-12, torch.float32: 2e-5}


def triton(u, a, s0):
    return wave_scan(u, a, s0, output_final_state=True, backend="triton")


def segmented(T: int, reset: torch.Tensor | None = None):
    """The Triton forward/backward with segment length T (the op itself picks T from L), with document starts."""

    class Scan(torch.autograd.Function):
        @staticmethod
        def forward(ctx, u, a, s0):
            z, final = triton_forward(u, a, s0, reset, segment=T)
            ctx.save_for_backward(a, s0, z)
            return z, final

        @staticmethod
        def backward(ctx, grad_z, grad_final):
            a, s0, z = ctx.saved_tensors
            return triton_backward(grad_z, grad_final, a, s0, z, reset, segment=T)

    return lambda u, a, s0: Scan.apply(u, a, s0)


@pytest.mark.parametrize(
    "L,S,D,dense",
    [(1, 1, 1, False), (7, 3, 3, False), (40, 8, 3, False), (1, 2, 1, True), (7, 3, 3, True), (40, 8, 2, True)],
)
def test_triton_matches_reference(L, S, D, dense, nan_empty):
    """Through the public op (L = 40 runs as two segments)."""
    check_against_reference(triton, L, S, D, dense, CPU_TOL, B=1)


@pytest.mark.parametrize("T,S", [(8, 3), (3, 5)], ids=["T>S", "T<S"])
@pytest.mark.parametrize("dense", [False, True], ids=["diag", "dense"])
def test_triton_segments(T, S, dense, nan_empty):
    """Many segments, including segments shorter than the substrate (their tails hold part of the history)."""
    check_against_reference(segmented(T), 19, S, 2, dense, CPU_TOL, B=1, H=1)


@pytest.mark.parametrize("dense", [False, True], ids=["diag", "dense"])
def test_triton_float16(dense):
    check_low_precision(triton, torch.float16, dense)


cuda = pytest.mark.cuda


@cuda
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("dense", [False, True], ids=["diag", "dense"])
def test_triton_low_precision_cuda(dtype, dense):
    check_low_precision(triton, dtype, dense, device="cuda", B=4, L=3000, H=4, S=16, D=8)


@cuda
@pytest.mark.parametrize("L,S,D,dense", [(1, 1, 1, False), (65, 33, 16, False), (1000, 16, 4, False),
                                         (1000, 8, 16, True), (65, 33, 3, True)])  # fmt: skip
def test_triton_matches_reference_cuda(L, S, D, dense, nan_empty):
    check_against_reference(triton, L, S, D, dense, {torch.float64: 1e-12, torch.float32: 2e-5}, device="cuda")


@cuda
def test_auto_is_triton_on_cuda():
    u, a, s0, _, _ = case_tensors(2, 100, 2, 4, 3, False, True, dtype=torch.float32)
    u, a, s0 = u.cuda(), a.cuda(), s0.cuda()
    z_auto, _ = wave_scan(u, a, s0)
    z_triton, _ = wave_scan(u, a, s0, backend="triton")
    assert torch.equal(z_auto, z_triton)
