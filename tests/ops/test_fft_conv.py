"""The causal FFT convolution (benchmark baseline) against a direct convolution, values and gradients."""

from __future__ import annotations

import pytest
import torch

from tests.ops.helpers import rel_err
from wave_hf.ops import fft_causal_conv


def direct_conv(u: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """y_t = sum_{n <= min(t, K-1)} k_n u_{t-n}."""
    y = torch.zeros_like(u)
    for n in range(min(k.shape[0], u.shape[1])):
        y[:, n:] = y[:, n:] + k[n] * u[:, : u.shape[1] - n]
    return y


@pytest.mark.parametrize("L,K", [(1, 1), (7, 7), (64, 5), (65, 100)])
def test_fft_conv_matches_direct(L, K):
    u = torch.randn(2, L, 3, 2, dtype=torch.float64, requires_grad=True)
    k = torch.randn(K, 3, 2, dtype=torch.float64, requires_grad=True)
    g = torch.randn(2, L, 3, 2, dtype=torch.float64)
    got = fft_causal_conv(u, k)
    want = direct_conv(u, k)
    assert rel_err(got, want) < 1e-12
    for x, y in zip(torch.autograd.grad((got * g).sum(), (u, k)), torch.autograd.grad((want * g).sum(), (u, k))):
        assert rel_err(x, y) < 1e-12


def test_fft_conv_half_precision_and_shapes():
    u = torch.randn(1, 16, 2, 3, dtype=torch.bfloat16)
    k = torch.randn(16, 2, 3)
    assert fft_causal_conv(u, k).dtype == torch.bfloat16
    with pytest.raises(ValueError, match=r"`k` \(K, H, D\)"):
        fft_causal_conv(u, k[:, :1])
