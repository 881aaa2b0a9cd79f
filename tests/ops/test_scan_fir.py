"""``wave_scan_fir`` (the wave scan with its FIR readout) against the float64 reference, every backend: the readout y,
the waves z, and the gradients of u, a, the taps and the initial state, through y and through z."""

from __future__ import annotations

import pytest
import torch

from tests.ops.helpers import case_tensors, rel_err
from wave_hf.ops import fft_fir_readout, fir_readout_reference, wave_scan_fir, wave_scan_reference
from wave_hf.ops.triton_backend import triton_available

NAMES = ("y", "z", "grad_u", "grad_a", "grad_fir", "grad_initial_state")


def outputs_and_grads(backend, u, a, fir, s0, gy, gz, dtype=torch.float64):
    """[y, z, grad u, grad a, grad fir (, grad s0)] of the loss sum(y*gy) + sum(z*gz), in float64."""
    leaves = [t.to(dtype).clone().requires_grad_() for t in (u, a, fir) + ((s0,) if s0 is not None else ())]
    y, z = wave_scan_fir(*leaves[:3], leaves[3] if s0 is not None else None, output_waves=True, backend=backend)
    assert y.dtype == dtype and z.dtype == dtype
    grads = torch.autograd.grad((y * gy.to(dtype)).sum() + (z * gz.to(dtype)).sum(), leaves)
    return [y.detach(), z.detach(), *grads]


def case(B, L, H, S, D, dense, with_state):
    u, a, s0, gz, _ = case_tensors(B, L, H, S, D, dense, with_state)
    return u, a, torch.randn(H, S, D, dtype=torch.float64), s0, torch.randn_like(u), gz


def test_reference_is_the_definition():
    """The reference readout against the sum written out term by term, history included."""
    B, L, H, S, D = 2, 5, 2, 3, 2
    z, fir, s0 = torch.randn(B, L, H, D), torch.randn(H, S, D), torch.randn(B, H, S, D)
    y = fir_readout_reference(z, fir, s0)
    for t in range(L):
        want = sum(fir[:, j] * (z[:, t - j] if t >= j else s0[:, :, j - t - 1]) for j in range(S))
        torch.testing.assert_close(y[:, t], want)
    zz, _ = wave_scan_reference(z, torch.zeros(H, S, D))  # a = 0: the waves are the drive
    torch.testing.assert_close(wave_scan_fir(z, torch.zeros(H, S, D), fir, backend="reference")[0],
                               fir_readout_reference(zz, fir))


@pytest.mark.parametrize("dense", [False, True], ids=["diag", "dense"])
@pytest.mark.parametrize("D", [1, 3])
@pytest.mark.parametrize("S", [1, 3, 33, 64])
@pytest.mark.parametrize("L", [1, 7, 63, 64, 65, 200])
@pytest.mark.parametrize("with_state", [False, True], ids=["zero", "state"])
def test_chunked_matches_reference(L, S, D, dense, with_state, nan_empty):
    args = case(2, L, 2, S, D, dense, with_state)
    want = outputs_and_grads("reference", *args)
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 2e-5)):
        for name, got, ref in zip(NAMES, outputs_and_grads("chunked", *args, dtype=dtype), want):
            assert rel_err(got, ref) < tol, f"{dtype} {name}: {rel_err(got, ref):.2e}"


def test_chunked_long_sequence_many_chunks():
    """L = 1000 at S = 64 (chunks of 64): the history hand-off between many chunks."""
    args = case(1, 1000, 2, 64, 1, False, True)
    for name, got, ref in zip(NAMES, outputs_and_grads("chunked", *args), outputs_and_grads("reference", *args)):
        assert rel_err(got, ref) < 1e-10, name


@pytest.mark.parametrize("dense", [False, True], ids=["diag", "dense"])
def test_chunked_gradcheck(dense):
    u, a, fir, s0, _, _ = case(1, 9, 1, 3, 2, dense, True)
    leaves = [t.requires_grad_() for t in (u, a, fir, s0)]
    assert torch.autograd.gradcheck(lambda *x: wave_scan_fir(*x, output_waves=True, backend="chunked"), leaves)


def test_without_waves_and_in_low_precision():
    """``output_waves=False`` returns None and the same y; bf16 inputs give bf16 outputs close to float64."""
    u, a, fir, s0, gy, _ = case(2, 70, 2, 8, 3, False, True)
    y, z = wave_scan_fir(u, a, fir, s0)
    assert z is None
    ref, _ = wave_scan_fir(u, a, fir, s0, backend="reference")
    assert rel_err(y, ref) < 1e-10
    y16, _ = wave_scan_fir(*(t.bfloat16() for t in (u, a, fir, s0)))
    assert y16.dtype == torch.bfloat16 and rel_err(y16, ref) < 2e-2


def test_empty_sequence():
    u, a, fir, s0, _, _ = case(2, 0, 2, 4, 3, False, True)
    y, z = wave_scan_fir(u, a, fir, s0, output_waves=True)
    assert y.shape == z.shape == u.shape


def test_fft_readout_matches_reference():
    """The FFT readout the Triton backend uses, with and without history."""
    z, fir, s0 = torch.randn(2, 50, 2, 3, dtype=torch.float64), torch.randn(2, 40, 3, dtype=torch.float64), None
    for s0 in (None, torch.randn(2, 2, 40, 3, dtype=torch.float64)):
        assert rel_err(fft_fir_readout(z, fir, s0), fir_readout_reference(z, fir, s0)) < 1e-12


@pytest.mark.skipif(not triton_available(), reason="triton is not installed")
@pytest.mark.parametrize("dense", [False, True], ids=["diag", "dense"])
def test_triton_matches_reference(dense):
    """Under TRITON_INTERPRET=1 on CPU (tiny shapes); on CUDA in the CUDA test."""
    args = case(1, 20, 2, 4, 2, dense, True)
    for name, got, ref in zip(NAMES, outputs_and_grads("triton", *args), outputs_and_grads("reference", *args)):
        assert rel_err(got, ref) < 1e-10, name


@pytest.mark.cuda
@pytest.mark.parametrize("backend", ["chunked", "triton"])
def test_cuda_matches_reference(backend):
    args = case(2, 300, 4, 64, 16, False, True)
    want = outputs_and_grads("reference", *args)
    cuda = [t.cuda() if t is not None else None for t in args]
    for name, got, ref in zip(NAMES, outputs_and_grads(backend, *cuda, dtype=torch.float32), want):
        assert rel_err(got.cpu(), ref) < 2e-5, f"{backend} {name}: {rel_err(got.cpu(), ref):.2e}"


@pytest.mark.parametrize(
    "change,match",
    [
        (lambda u, a, f: (u, a, f[:, :-1]), r"`fir` must have shape \(H, S, D\) = \(2, 4, 3\)"),
        (lambda u, a, f: (u, a, f.transpose(0, 2)), r"`fir` must have shape"),
        (lambda u, a, f: (u, a, f.long()), r"`fir` must be a floating-point tensor"),
        (lambda u, a, f: (u, a, "taps"), r"`fir` must be a torch.Tensor"),
        (lambda u, a, f: (u[0], a, f), r"wave_scan_fir: `u` must have shape \(B, L, H, D\)"),
        (lambda u, a, f: (u, a[:1], f), r"wave_scan_fir: `a` must have shape"),
    ],
)
def test_rejects_bad_inputs(change, match):
    u, a, fir, _, _, _ = case(2, 5, 2, 4, 3, False, False)
    with pytest.raises((ValueError, TypeError), match=match):
        wave_scan_fir(*change(u, a, fir))
