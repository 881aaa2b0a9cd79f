"""Recurrence kernels of the baseline RNNs, written once for every family.

- ``simple_rnn_scan``: ``h_t = act(W_hh h_{t-1} + W_ih e_t + b)`` (Elman with tanh, iRNN and Wave-RNN with ReLU).
  Without padding it runs torch's fused RNN kernel (``torch._VF.rnn_tanh`` / ``rnn_relu``, what ``nn.RNN`` calls);
  with padding, a step loop that holds the state at padded positions; with packed documents (``reset``), the same
  loop, which empties the state at each document start.
- ``lstm_scan``: the same two paths for an LSTM (torch gate order i, f, g, o).
- ``circulant_shift_matrix``: the dense (n, n) matrix of a circular convolution over c channels of m units, so a
  Wave-RNN runs on the same fused kernel.
"""

from __future__ import annotations

import torch

__all__ = ["circulant_shift_matrix", "lstm_scan", "simple_rnn_scan"]

_ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu}


def simple_rnn_scan(
    inputs: torch.Tensor,
    h0: torch.Tensor,
    weight_hh: torch.Tensor,
    weight_ih: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    nonlinearity: str = "tanh",
    keep: torch.Tensor | None = None,
    reset: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``h_t = act(weight_hh h_{t-1} + weight_ih e_t + bias)`` over time.

    inputs: (B, L, n_in) (``weight_ih`` None means the identity, n_in = n); h0: (B, n); weight_hh: (n, n);
    keep: (B, L) with 1 = real token, 0 = padding (the state is held, the output repeats it); reset: (B, L) bool,
    True at the first token of a packed document (h_{t-1} = 0 there). Returns (outputs (B, L, n), final state (B, n)).
    """
    if nonlinearity not in _ACTIVATIONS:
        raise ValueError(f"`nonlinearity` must be one of {sorted(_ACTIVATIONS)}; got {nonlinearity!r}")
    B, L, _ = inputs.shape
    n = weight_hh.shape[0]
    if L == 0:
        return inputs.new_zeros(B, 0, n), h0
    if keep is None and reset is None:
        w_ih = torch.eye(n, dtype=inputs.dtype, device=inputs.device) if weight_ih is None else weight_ih
        params = [w_ih, weight_hh]
        if bias is not None:
            params += [bias, torch.zeros_like(bias)]
        fn = torch._VF.rnn_tanh if nonlinearity == "tanh" else torch._VF.rnn_relu
        out, h_n = fn(inputs, h0.unsqueeze(0), params, bias is not None, 1, 0.0, torch.is_grad_enabled(), False, True)
        return out, h_n[0]
    act = _ACTIVATIONS[nonlinearity]
    drive = inputs if weight_ih is None else inputs @ weight_ih.T
    if bias is not None:
        drive = drive + bias
    keep, carry = _loop_masks(inputs, keep, reset)
    h, outs = h0, []
    for t in range(L):
        h = h * carry[:, t]
        new = act(drive[:, t] + h @ weight_hh.T)
        h = keep[:, t] * new + (1 - keep[:, t]) * h
        outs.append(h)
    return torch.stack(outs, dim=1), h


def _loop_masks(
    inputs: torch.Tensor, keep: torch.Tensor | None, reset: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, L, 1) masks of the step loops in the inputs' dtype: ``keep`` (1 = real token) and ``carry`` (0 at a
    document start, where the previous state is dropped)."""
    B, L = inputs.shape[:2]
    ones = inputs.new_ones(B, L, 1)
    keep = ones if keep is None else keep.to(inputs.dtype).unsqueeze(-1)
    carry = ones if reset is None else (~reset).to(inputs.dtype).unsqueeze(-1)
    return keep, carry


def lstm_scan(
    inputs: torch.Tensor,
    state: tuple[torch.Tensor, torch.Tensor],
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias_ih: torch.Tensor | None,
    bias_hh: torch.Tensor | None,
    keep: torch.Tensor | None = None,
    reset: torch.Tensor | None = None,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """LSTM over time. inputs (B, L, n_in); state (h0, c0), each (B, n); weight_ih (4n, n_in); weight_hh (4n, n).
    Returns (outputs (B, L, n), (h_L, c_L)); ``keep`` and ``reset`` as in ``simple_rnn_scan`` (both h and c are
    emptied at a document start)."""
    B, L, _ = inputs.shape
    h0, c0 = state
    if L == 0:
        return inputs.new_zeros(B, 0, h0.shape[-1]), (h0, c0)
    has_bias = bias_ih is not None
    if keep is None and reset is None:
        params = [weight_ih, weight_hh] + ([bias_ih, bias_hh] if has_bias else [])
        out, h_n, c_n = torch._VF.lstm(
            inputs, (h0.unsqueeze(0), c0.unsqueeze(0)), params, has_bias, 1, 0.0, torch.is_grad_enabled(), False, True
        )
        return out, (h_n[0], c_n[0])
    drive = inputs @ weight_ih.T
    if has_bias:
        drive = drive + bias_ih + bias_hh
    keep, carry = _loop_masks(inputs, keep, reset)
    h, c, outs = h0, c0, []
    for t in range(L):
        h, c = h * carry[:, t], c * carry[:, t]
        i, f, g, o = (drive[:, t] + h @ weight_hh.T).chunk(4, dim=-1)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h_new = torch.sigmoid(o) * torch.tanh(c_new)
        m = keep[:, t]
        h, c = m * h_new + (1 - m) * h, m * c_new + (1 - m) * c
        outs.append(h)
    return torch.stack(outs, dim=1), (h, c)


def circulant_shift_matrix(kernel: torch.Tensor, units_per_channel: int) -> torch.Tensor:
    """Dense (c*m, c*m) matrix of ``Conv1d(c, c, f, padding=f // 2, padding_mode="circular")`` without bias.

    kernel: (c, c, f). Hidden index = channel * m + unit (``h.view(B, c, m)``). Cross-correlation:
    ``out[o, i] = sum_{ch, k} kernel[o, ch, k] * h[ch, (i + k - f // 2) mod m]``, i.e. ``W = sum_k kron(kernel[:, :, k],
    R_k)`` with ``R_k[i, j] = 1`` iff ``j = (i + k - f // 2) mod m``.
    """
    if kernel.dim() != 3 or kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"`kernel` must have shape (c, c, f); got {tuple(kernel.shape)}")
    m = units_per_channel
    c, _, f = kernel.shape
    eye = torch.eye(m, dtype=kernel.dtype, device=kernel.device)
    W = kernel.new_zeros(c * m, c * m)
    for k in range(f):
        R = torch.roll(eye, shifts=k - f // 2, dims=1)  # R[i, (i + k - f//2) mod m] = 1
        W = W + torch.kron(kernel[:, :, k], R)
    return W
