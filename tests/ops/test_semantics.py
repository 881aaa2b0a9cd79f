"""Properties of the op itself, for every backend: state continuation, step == scan, and the exactness cases."""

from __future__ import annotations

import pytest
import torch

from tests.ops.helpers import case_tensors, rel_err, stable_boundary
from wave_hf.ops import wave_scan, wave_scan_reference, wave_step

# the Triton kernels run under TRITON_INTERPRET=1 here (tests/conftest.py): small shapes only
BACKENDS = ("reference", "chunked", "triton")


def copy_boundary(H: int, S: int, D: int, dense: bool, dtype=torch.float32) -> torch.Tensor:
    """a_S = I, all other lags 0: z_t = u_t + z_{t-S}, poles on the unit circle."""
    a = torch.zeros(H, S, D, D, dtype=dtype) if dense else torch.zeros(H, S, D, dtype=dtype)
    a[:, S - 1] = torch.eye(D, dtype=dtype) if dense else 1.0
    return a


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dense", [False, True], ids=["diag", "dense"])
@pytest.mark.parametrize("split", [2, 13])
def test_split_scan_equals_whole(backend, dense, split):
    """Scanning [0, split) and then [split, L) with the final state passed on equals one scan (split < S too)."""
    u, a, s0, _, _ = case_tensors(1, 37, 1, 5, 2, dense, True)
    z, final = wave_scan(u, a, s0, output_final_state=True, backend=backend)
    z1, mid = wave_scan(u[:, :split], a, s0, output_final_state=True, backend=backend)
    z2, final2 = wave_scan(u[:, split:], a, mid, output_final_state=True, backend=backend)
    assert rel_err(torch.cat([z1, z2], 1), z) < 1e-12
    assert rel_err(final2, final) < 1e-12


@pytest.mark.parametrize("dense", [False, True], ids=["diag", "dense"])
def test_steps_equal_scan(dense):
    u, a, s0, _, _ = case_tensors(2, 50, 3, 4, 3, dense, True)
    z, final = wave_scan(u, a, s0, output_final_state=True, backend="chunked")
    state, zs = s0, []
    for t in range(u.shape[1]):
        z_t, state = wave_step(u[:, t], a, state)
        zs.append(z_t)
    assert rel_err(torch.stack(zs, 1), z) < 1e-12
    assert rel_err(state, final) < 1e-12


def test_step_dtypes_and_state_convention():
    """state[:, :, 0] is the newest value; half inputs compute in float32 and keep their dtypes."""
    u_t = torch.randn(2, 3, 4, dtype=torch.bfloat16)
    a = stable_boundary(3, 5, 4, dense=False, dtype=torch.float32)
    state = torch.randn(2, 3, 5, 4, dtype=torch.bfloat16)
    z_t, new = wave_step(u_t, a, state)
    assert z_t.dtype == torch.bfloat16 and new.dtype == torch.bfloat16
    want = u_t.float() + (a[None] * state.float()).sum(2)
    assert torch.equal(z_t, want.to(torch.bfloat16))
    assert torch.equal(new[:, :, 0], z_t) and torch.equal(new[:, :, 1:], state[:, :, :-1])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dense", [False, True], ids=["diag", "dense"])
def test_zero_boundary_is_the_shift_ssm(backend, dense):
    """a = 0: z = u exactly, and the final state is the last S inputs (with the initial state when L < S)."""
    S = 6
    for L in (4, 11):
        u, a, s0, _, _ = case_tensors(2, L, 2, S, 3, dense, True, dtype=torch.float32)
        z, final = wave_scan(u, torch.zeros_like(a), s0, output_final_state=True, backend=backend)
        assert torch.equal(z, u)
        history = torch.cat([s0.flip(2).transpose(1, 2), u], 1)  # oldest first
        assert torch.equal(final, history[:, -S:].flip(1).transpose(1, 2))


def _copy_expected(u: torch.Tensor, S: int) -> torch.Tensor:
    """z_t = sum of u_{t'} over t' <= t, t' = t mod S: cumulative sums per residue class, in int64."""
    B, L, H, D = u.shape
    n = -(-L // S)
    padded = torch.zeros(B, n * S, H, D, dtype=torch.int64)
    padded[:, :L] = u.long()
    return padded.view(B, n, S, H, D).cumsum(1).view(B, n * S, H, D)[:, :L]


@pytest.mark.parametrize("backend,L", [("chunked", 10_000), ("triton", 70)])
@pytest.mark.parametrize("dense", [False, True], ids=["diag", "dense"])
def test_copy_boundary_is_exact(backend, L, dense):
    """The copy task z_t = u_t + z_{t-S} on a +-1 drive stays exact (integers) in float32: no FFT, no drift."""
    S = 7
    u = torch.randint(0, 2, (2, L, 2, 3)).float() * 2 - 1
    z, final = wave_scan(u, copy_boundary(2, S, 3, dense), output_final_state=True, backend=backend)
    want = _copy_expected(u, S)
    assert torch.equal(z.long(), want) and torch.equal(z, want.float())
    assert torch.equal(final, want[:, -S:].flip(1).transpose(1, 2).float())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dense", [False, True], ids=["diag", "dense"])
def test_generalised_fibonacci(backend, dense):
    """All a_k = 1, S = 3, seed 1, 1, 1: 1, 1, 1, 3, 5, 9, 17, 31, ... (integers, exact in float64)."""
    S, L = 3, 40
    a = copy_boundary(1, S, 1, dense, torch.float64)
    a[:] = 1.0
    seq = [1, 1, 1]
    while len(seq) < S + L:
        seq.append(sum(seq[-S:]))
    assert seq[:8] == [1, 1, 1, 3, 5, 9, 17, 31]
    z, _ = wave_scan(torch.zeros(1, L, 1, 1, dtype=torch.float64), a, torch.ones(1, 1, S, 1, dtype=torch.float64),
                     backend=backend)  # fmt: skip
    assert z.flatten().tolist() == [float(x) for x in seq[S:]]


@pytest.mark.parametrize("dense", [False, True], ids=["diag", "dense"])
def test_long_stable_sequence(dense):
    """L = 65,536 with spectral radius < 1 (sum_k ||a_k|| = 0.999): finite and equal to the loop in float64."""
    u, a, s0, _, _ = case_tensors(1, 65_536, 1, 4, 2, dense, True, radius=0.999)
    z, final = wave_scan(u, a, s0, output_final_state=True, backend="chunked")
    z_ref, final_ref = wave_scan_reference(u, a, s0, output_final_state=True)
    assert torch.isfinite(z).all()
    assert rel_err(z, z_ref) < 1e-10 and rel_err(final, final_ref) < 1e-10


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("B,L", [(2, 0), (0, 5)], ids=["L=0", "B=0"])
def test_empty_inputs(backend, B, L):
    u, a, s0, _, _ = case_tensors(B, L, 2, 3, 2, False, True)
    z, final = wave_scan(u, a, s0, output_final_state=True, backend=backend)
    assert z.shape == (B, L, 2, 2) and torch.equal(final, s0)
