"""Document boundaries of packed rows, as the backends use them.

A packed row holds several documents one after another; ``reset`` (B, L) bool is True at the first position of each.
At a document start the substrate (the FIR history, the gating memory) is empty, exactly as for a separate run: a
recurrence term that reads position t - k contributes only when t - k lies in the document of t. Positions before
the first reset of a row continue the initial state. These helpers turn ``reset`` into the index tensors the
backends need; none of them loops over documents in Python.
"""

from __future__ import annotations

import torch

NO_START = -(1 << 30)  # document start of the positions before a row's first reset: they read the initial state


def starts_from_bounds(what: str, bounds: object, length: int, device: torch.device) -> torch.Tensor:
    """Document bounds ``[0, l_1, l_1 + l_2, ..., L]`` of one packed row (``cu_seqlens``, ``cu_seq_lens_q``) as
    (1, L) bool document starts. ``bounds`` must be a 1-D integer tensor rising from 0 to ``length``; a repeated
    bound (an empty document) starts nothing. ``what`` names the argument in the ``ValueError``."""
    if not isinstance(bounds, torch.Tensor) or bounds.dim() != 1 or bounds.is_floating_point() \
            or bounds.dtype == torch.bool or bounds.is_complex():
        got = f"{bounds.dtype} {tuple(bounds.shape)}" if isinstance(bounds, torch.Tensor) else type(bounds).__name__
        raise ValueError(f"{what} must be a 1-D integer tensor [0, l_1, l_1 + l_2, ..., L]; got {got}")
    b = bounds.tolist()  # a host sync, like every data-dependent check
    if len(b) < 2 or b[0] != 0 or b[-1] != length or any(x > y for x, y in zip(b, b[1:])):
        raise ValueError(f"{what} must rise from 0 to L = {length} (non-decreasing); got {b}")
    out = torch.zeros(1, length, dtype=torch.bool, device=device)
    out[0, [x for x in b[:-1] if x < length]] = True
    return out


def doc_starts(reset: torch.Tensor) -> torch.Tensor:
    """(B, L) int64: the start of the document of each position (the last reset at or before it), NO_START before
    the first reset of a row."""
    L = reset.shape[1]
    idx = torch.arange(L, device=reset.device).expand_as(reset)
    marked = torch.where(reset, idx, torch.full_like(idx, NO_START))
    return marked.cummax(dim=1).values if L else marked


def before_first_reset(reset: torch.Tensor, n: int) -> torch.Tensor:
    """(B, n) bool, n <= L: positions 0..n-1 that precede the row's first reset (they read the initial state)."""
    return ~(reset[:, :n].cumsum(1, dtype=torch.int32) > 0)


def final_window(reset: torch.Tensor, S: int) -> torch.Tensor:
    """(B, S) bool: which of the last S positions L-S .. L-1 (chronological; negative ones are the initial state)
    belong to the last document, the substrate after the last position."""
    L = reset.shape[1]
    last = doc_starts(reset)[:, -1:] if L else torch.full((reset.shape[0], 1), NO_START, device=reset.device)
    return torch.arange(L - S, L, device=reset.device)[None, :] >= last


def start_list(reset: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The document starts of all rows, row-major: (row b, position p, length of the document n), each (R,) int64.

    A host sync (``nonzero``): used inside the custom ops, whose eager bodies may sync.
    """
    B, L = reset.shape
    b, p = reset.nonzero(as_tuple=True)
    nxt = torch.full_like(p, L)
    if p.numel() > 1:
        same_row = b[1:] == b[:-1]
        nxt[:-1] = torch.where(same_row, p[1:], nxt[:-1])
    return b, p, nxt - p
