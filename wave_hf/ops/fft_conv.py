"""Causal FFT convolution (the torch path of H3's FlashConv): the cost of a pure shift SSM, used as a benchmark floor,
and, as ``fft_fir_readout``, the FIR readout of ``wave_scan_fir`` on the Triton backend.

y_t = sum_{n=0..min(t, K-1)} k_n u_{t-n} per channel, computed as irfft(rfft(u) * rfft(k)) with zero padding to a
power of two >= L + K - 1, so the circular wrap-around never reaches the kept outputs. The FFTs run along the last
dimension of a (B, H, D, L) copy (H3's layout; faster than strided FFTs along L), and the output is a contiguous
(B, L, H, D) tensor like the wave scan's. Gradients come from autograd.

With document starts (``reset``) the readout is a direct depthwise convolution instead, whose first S outputs after
each start are then read again from their own document: an FFT mixes every position into every output through its
rounding, and one document's outputs must not depend on another's inputs at all.
"""

from __future__ import annotations

import torch

from .resets import start_list
from .validation import compute_dtype


def fft_causal_conv(u: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Causal convolution along time of u (B, L, H, D) with a per-channel kernel k (K, H, D); returns (B, L, H, D).

    Runs in float32 for half-precision inputs (float64 stays float64); the output takes u's dtype.
    """
    if u.dim() != 4 or k.dim() != 3 or tuple(k.shape[1:]) != tuple(u.shape[2:]):
        raise ValueError(
            f"fft_causal_conv: `u` must be (B, L, H, D) and `k` (K, H, D) with the same H, D; "
            f"got u {tuple(u.shape)}, k {tuple(k.shape)}"
        )
    L, K = u.shape[1], k.shape[0]
    dtype = compute_dtype(u, k)
    n = 1 << max(L + K - 2, 1).bit_length()
    spec = torch.fft.rfft(u.to(dtype).permute(0, 2, 3, 1), n=n) * torch.fft.rfft(k.to(dtype).permute(1, 2, 0), n=n)
    return torch.fft.irfft(spec, n=n)[..., :L].permute(0, 3, 1, 2).contiguous().to(u.dtype)


def fft_fir_readout(
    z: torch.Tensor, fir: torch.Tensor, initial_state: torch.Tensor | None = None, reset: torch.Tensor | None = None
) -> torch.Tensor:
    """The FIR readout y_t = sum_{j<S} fir[:, j] * z_{t-j} of ``wave_hf.ops.wave_scan_fir`` as one FFT convolution
    over [z_{-(S-1)}, ..., z_{L-1}] (the history from ``initial_state`` (B, H, S, D), None: zeros); fir: (H, S, D).
    With ``reset`` (B, L) bool, z_{t-j} = 0 when t - j lies before the document of t (module docstring)."""
    B, L, H, D = z.shape
    S = fir.shape[1]
    if initial_state is None:
        past = z.new_zeros(B, S - 1, H, D)
    else:
        past = initial_state[:, :, : S - 1].flip(2).transpose(1, 2).to(z.dtype)
    timeline = torch.cat([past, z], dim=1)
    if reset is None:
        return fft_causal_conv(timeline, fir.transpose(0, 1))[:, S - 1 :]
    dtype = compute_dtype(z, fir)
    channels = timeline.to(dtype).reshape(B, L + S - 1, H * D).transpose(1, 2)
    taps = fir.to(dtype).permute(0, 2, 1).reshape(H * D, 1, S).flip(2)
    y = torch.nn.functional.conv1d(channels, taps, groups=H * D).transpose(1, 2).reshape(B, L, H, D)
    b, p, length = start_list(reset)
    steps = torch.arange(S, device=z.device)
    valid = steps < length[:, None]  # (R, S): output p + i of the document, which reads z_p .. z_{p+i}
    at = (p[:, None] + steps).clamp(max=L - 1)
    window = z.to(dtype)[b[:, None], at] * valid[:, :, None, None]  # (R, S, H, D)
    lags = steps[:, None] - steps[None, :]  # (i, m): z_{p+m} is read by output p+i with tap i-m
    weights = fir.to(dtype).permute(1, 0, 2)[lags.clamp(min=0)] * (lags >= 0)[:, :, None, None]  # (S, S, H, D)
    head = (weights[None] * window[:, None]).sum(2)  # (R, S, H, D)
    y = y.index_put((b[:, None].expand_as(at)[valid], at[valid]), head[valid])
    return y.to(z.dtype)
