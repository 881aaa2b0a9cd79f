"""Every bad input of wave_scan / wave_step raises a ValueError or TypeError that names the argument."""

from __future__ import annotations

import pytest
import torch

from wave_hf.ops import wave_scan, wave_step
from wave_hf.ops.scan import resolve_backend
from wave_hf.ops.validation import check_scan_inputs

B, L, H, S, D = 2, 5, 4, 3, 8


def good():
    return torch.randn(B, L, H, D), torch.randn(H, S, D) * 0.1, torch.randn(B, H, S, D)


SCAN_CASES = {
    "u not a tensor": (lambda u, a, s: (u.tolist(), a, s), TypeError, r"`u` must be a torch.Tensor"),
    "u rank 3": (lambda u, a, s: (u[0], a, s), ValueError, r"`u` must have shape \(B, L, H, D\); got \(5, 4, 8\)"),
    "u integer": (lambda u, a, s: (u.long(), a, s), TypeError, r"`u` must be a floating-point tensor .* torch.int64"),
    "u complex": (lambda u, a, s: (u.to(torch.complex64), a, s), TypeError, r"`u` must be a floating-point"),
    "a rank 2": (
        lambda u, a, s: (u, a[0], s),
        ValueError,
        r"`a` must have shape \(H, S, D\) or \(H, S, D, D\) with H=4",
    ),
    "a broadcast H": (lambda u, a, s: (u, a[:1], s), ValueError, r"`a` must have shape .* got \(1, 3, 8\)"),
    "a wrong D": (lambda u, a, s: (u, a[..., :7], s), ValueError, r"with H=4, D=8 from `u` \(2, 5, 4, 8\); got"),
    "a not square": (lambda u, a, s: (u, torch.zeros(H, S, D, 7), s), ValueError, r"`a` must have shape"),
    "a empty S": (lambda u, a, s: (u, a[:, :0], None), ValueError, r"`a` must have shape .* got \(4, 0, 8\)"),
    "a integer": (lambda u, a, s: (u, a.long(), s), TypeError, r"`a` must be a floating-point"),
    "a other device": (lambda u, a, s: (u, a.to("meta"), s), ValueError, r"`a` is on meta but `u` is on cpu"),
    "state broadcast B": (
        lambda u, a, s: (u, a, s[:1]),
        ValueError,
        r"`initial_state` must have shape \(B, H, S, D\) = \(2, 4, 3, 8\)",
    ),
    "state wrong S": (lambda u, a, s: (u, a, s[:, :, :2]), ValueError, r"`initial_state` must have shape"),
    "state integer": (lambda u, a, s: (u, a, s.int()), TypeError, r"`initial_state` must be a floating-point"),
    "state not a tensor": (lambda u, a, s: (u, a, 0.0), TypeError, r"`initial_state` must be a torch.Tensor"),
    "state other device": (lambda u, a, s: (u, a, s.to("meta")), ValueError, r"`initial_state` is on meta"),
}


@pytest.mark.parametrize("case", SCAN_CASES, ids=list(SCAN_CASES))
def test_wave_scan_rejects(case):
    make, error, message = SCAN_CASES[case]
    u, a, s = make(*good())
    for backend in ("reference", "chunked"):
        with pytest.raises(error, match=message):
            wave_scan(u, a, s, backend=backend)


def test_dense_boundary_accepted_and_checked():
    u, _, s = good()
    wave_scan(u, torch.zeros(H, S, D, D), s)
    with pytest.raises(ValueError, match=r"got \(4, 3, 8, 8, 1\)"):
        wave_scan(u, torch.zeros(H, S, D, D, 1), s)


def test_non_finite_boundary_only_when_asked():
    u, a, s = good()
    a[1, 2, 3] = float("nan")
    wave_scan(u, a, s)  # not checked by default (no device sync)
    with pytest.raises(ValueError, match=r"`a` contains non-finite values"):
        wave_scan(u, a, s, check_finite=True)
    a[1, 2, 3] = float("inf")
    with pytest.raises(ValueError, match=r"`a` contains non-finite values"):
        wave_step(u[:, 0], a, s, check_finite=True)


def test_unknown_backend():
    u, a, s = good()
    with pytest.raises(ValueError, match=r"`backend` must be one of .* got 'cuda'"):
        wave_scan(u, a, s, backend="cuda")


def test_triton_on_cpu_needs_the_interpreter(monkeypatch):
    u, a, s = good()
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(ValueError, match=r"backend='triton' cannot run: .*need CUDA tensors"):
        wave_scan(u, a, s, backend="triton")


def test_triton_not_installed(monkeypatch):
    u, a, s = good()
    monkeypatch.setattr("wave_hf.ops.triton_backend._TRITON_FOUND", False)
    with pytest.raises(ValueError, match=r"triton is not installed"):
        wave_scan(u, a, s, backend="triton")


def test_auto_is_chunked_on_cpu():
    u, a, s = good()
    assert resolve_backend("auto", u, check_scan_inputs(u, a, s, check_finite=False)) == "chunked"


STEP_CASES = {
    "u_t rank 4": (lambda u, a, s: (u, a, s), ValueError, r"`u_t` must have shape \(B, H, D\); got \(2, 5, 4, 8\)"),
    "u_t integer": (lambda u, a, s: (u[:, 0].long(), a, s), TypeError, r"`u_t` must be a floating-point"),
    "a wrong H": (lambda u, a, s: (u[:, 0], a[:2], s), ValueError, r"with H=4, D=8 from `u_t` \(2, 4, 8\)"),
    "state missing": (lambda u, a, s: (u[:, 0], a, None), TypeError, r"`state` must be a torch.Tensor of shape"),
    "state wrong shape": (
        lambda u, a, s: (u[:, 0], a, s[:, :2]),
        ValueError,
        r"`state` must have shape \(B, H, S, D\) = \(2, 4, 3, 8\)",
    ),
    "state other device": (lambda u, a, s: (u[:, 0], a, s.to("meta")), ValueError, r"`state` is on meta"),
}


@pytest.mark.parametrize("case", STEP_CASES, ids=list(STEP_CASES))
def test_wave_step_rejects(case):
    make, error, message = STEP_CASES[case]
    with pytest.raises(error, match=message):
        wave_step(*make(*good()))
