"""Padding and packed documents, done one way for every family.

Padding: a model builds one ``TokenLayout`` per forward from the attention mask (1 = token, 0 = padding; left, right
or interior padding), packs its input with ``pack_tokens`` (each row's real tokens first, in their order, the padding
after them), runs its layers on the packed rows and puts the result back with ``unpack_tokens`` (zero at the padded
positions). A layer therefore only ever sees rows of the form ``[lengths[b] real tokens, padding]``:

- a causal layer's outputs at real positions never depend on padding, whatever the layer computes at the tail;
- the state to carry on (a cache) is the one after position ``lengths[b] - 1``: ``substrate_at_last_token`` for a
  scan's substrate, ``lengths`` for the ops' final states, ``valid`` for a step loop that holds its state.

Packed documents (padding-free training, transformers' ``DataCollatorWithFlattening``): several documents follow
one another in a row. ``document_starts`` reads their boundaries from any of the forms that collator (and fla)
produce: ``position_ids`` (a document starts where it is 0), the flash-attention kwargs ``cu_seq_lens_q`` /
``cu_seq_lens_k`` / ``max_length_q`` / ``max_length_k``, ``seq_idx`` (the document index of each token) or
``cu_seqlens``, and checks that the forms given agree. The layout then holds ``reset`` (B, L) bool, True where a
document starts; the layers hand it to the ops (``wave_scan(..., reset=...)``, ``wave_scan_fir``, ``decay_memory``)
or mask attention with ``same_document``, so every document runs exactly as it would alone. Packing and padding do
not mix (a packed row has no padding), so a layout holds one or the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from wave_hf.ops.resets import NO_START, doc_starts, starts_from_bounds

__all__ = [
    "PACKING_KWARGS",
    "TokenLayout",
    "document_ids",
    "document_starts",
    "pack_tokens",
    "same_document",
    "substrate_at_last_token",
    "unpack_tokens",
]

PACKING_KWARGS = ("position_ids", "cu_seq_lens_q", "cu_seq_lens_k", "max_length_q", "max_length_k", "seq_idx",
                  "cu_seqlens")
"""The keyword arguments that describe packed documents (``document_starts``); every model forward accepts them."""


def _gather_time(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x (B, L, ...) gathered along dim 1 with index (B, L)."""
    return x.gather(1, index.view(*index.shape, *([1] * (x.dim() - 2))).expand(index.shape + x.shape[2:]))


@dataclass(frozen=True)
class TokenLayout:
    """Where the real tokens and the documents of a (B, L) batch are.

    Attributes (padding; all None for a packed batch, which has none):
        order: (B, L) int64; ``x.gather(1, order)`` puts each row's real tokens first, in their order.
        inverse: (B, L) int64; undoes ``order``.
        lengths: (B,) int64, real tokens per row.
        valid: (B, L) bool in packed order: ``valid[b, t] = t < lengths[b]``.
    Attribute (packed documents; None for a padded batch):
        reset: (B, L) bool, True at the first position of each document (``document_starts``).
    """

    order: torch.Tensor | None = None
    inverse: torch.Tensor | None = None
    lengths: torch.Tensor | None = None
    valid: torch.Tensor | None = None
    reset: torch.Tensor | None = None

    @classmethod
    def from_attention_mask(cls, attention_mask: torch.Tensor | None) -> TokenLayout | None:
        """(B, L) 0/1 mask -> the layout, or None when there is no mask (every position is a token)."""
        if attention_mask is None:
            return None
        real = attention_mask.bool()
        order = torch.argsort((~real).to(torch.int8), dim=1, stable=True)
        return cls(order=order, inverse=torch.argsort(order, dim=1), lengths=real.sum(1), valid=real.gather(1, order))

    @classmethod
    def from_inputs(
        cls, attention_mask: torch.Tensor | None, batch_size: int, length: int, **packing: object
    ) -> TokenLayout | None:
        """The layout of a batch from its attention mask and packing inputs (the keys of ``PACKING_KWARGS``).

        Returns None when every position is a token of one document per row, a padding layout for a padded batch,
        a packed layout (``reset``) for packed documents. Raises ``ValueError`` for packed documents together with
        padding, and for the errors of ``document_starts``.
        """
        reset = document_starts(batch_size, length, attention_mask=attention_mask, **packing)
        if reset is None:
            return cls.from_attention_mask(attention_mask)
        if attention_mask is not None:
            raise ValueError(
                "packed documents (several documents in one row: position_ids restarting at 0, cu_seq_lens_*, "
                "seq_idx or cu_seqlens) cannot be combined with padding in `attention_mask`; a packed row has no "
                "padding (drop the attention mask or the packing inputs)"
            )
        return cls(reset=reset)


def _check_int_tensor(name: str, x: object, shape: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        got = f"{x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"`{name}` must be an integer tensor of shape {shape}; got {got}")
    return x


def document_starts(
    batch_size: int,
    length: int,
    *,
    attention_mask: torch.Tensor | None = None,
    position_ids: torch.Tensor | None = None,
    cu_seq_lens_q: torch.Tensor | None = None,
    cu_seq_lens_k: torch.Tensor | None = None,
    max_length_q: int | None = None,
    max_length_k: int | None = None,
    seq_idx: torch.Tensor | None = None,
    cu_seqlens: torch.Tensor | None = None,
) -> torch.Tensor | None:
    """(B, L) bool, True at the first position of each packed document, or None when no row holds more than one.

    Forms (those of ``DataCollatorWithFlattening`` and fla):
        position_ids: (B, L) (or (L,)) integers; a document starts where it is 0 and counts up by one inside it.
            Only a 0 after a row's first real token marks packing, so the position ids ``generate`` builds (0 at
            the first real token) describe one document.
        cu_seq_lens_q, cu_seq_lens_k: 1-D [0, l_1, l_1 + l_2, ..., L] (equal: self-attention), B == 1; with
            max_length_q / max_length_k (ints): the longest document.
        seq_idx: (B, L) integers, the document index of each token (a document starts where it changes), B == 1.
        cu_seqlens: fla's name for the bounds, as ``cu_seq_lens_q``.

    Raises ``ValueError`` for a form with a bad shape or values, bounds or ``seq_idx`` with B > 1, and forms that
    disagree with each other. Reading the forms syncs with the host (as every data-dependent check does); a
    one-token input (decoding) is never packed and is not read.
    """
    B, L = batch_size, length
    found: dict[str, torch.Tensor] = {}  # form name -> (B, L) starts
    device = None
    for value in (position_ids, seq_idx, cu_seq_lens_q, cu_seq_lens_k, cu_seqlens):
        if isinstance(value, torch.Tensor):
            device = value.device
            break
    for name, value in (("max_length_q", max_length_q), ("max_length_k", max_length_k)):
        if value is not None and cu_seq_lens_q is None and cu_seq_lens_k is None:
            raise ValueError(f"`{name}` needs `cu_seq_lens_q` / `cu_seq_lens_k` (the document bounds it belongs to)")
    bounded = [(n, v) for n, v in (("cu_seq_lens_q", cu_seq_lens_q), ("cu_seq_lens_k", cu_seq_lens_k),
                                   ("seq_idx", seq_idx), ("cu_seqlens", cu_seqlens)) if v is not None]
    if bounded and B != 1:
        names = [n for n, _ in bounded]
        raise ValueError(
            f"{names} describe one packed row and need a batch of one row (B == 1); got B = {B}. Flatten the batch "
            "into one row (as DataCollatorWithFlattening does) or pass per-row `position_ids`"
        )
    for name, value in bounded:
        if name == "seq_idx":
            value = _check_int_tensor(name, value, f"(1, L) = (1, {L})")
            if tuple(value.shape) not in ((1, L), (L,)):
                raise ValueError(f"`seq_idx` must have shape (1, L) = (1, {L}); got {tuple(value.shape)}")
            value = value.reshape(1, L)
            starts = torch.ones(1, L, dtype=torch.bool, device=value.device)
            starts[:, 1:] = value[:, 1:] != value[:, :-1]
            found[name] = starts
        else:
            found[name] = starts_from_bounds(f"`{name}`", value, L, value.device if device is None else device)
    if "cu_seq_lens_q" in found:
        bounds = cu_seq_lens_q.tolist()
        longest = max(y - x for x, y in zip(bounds, bounds[1:]))
        for name, value in (("max_length_q", max_length_q), ("max_length_k", max_length_k)):
            if value is not None and int(value) != longest:
                raise ValueError(f"`{name}` ({value}) disagrees with `cu_seq_lens_q`, whose longest document has "
                                 f"{longest} tokens")
    if position_ids is not None and L > 1:
        position_ids = _check_int_tensor("position_ids", position_ids, f"(B, L) = ({B}, {L})")
        if position_ids.dim() == 1:
            position_ids = position_ids[None]
        if tuple(position_ids.shape) not in ((B, L), (1, L)):
            raise ValueError(f"`position_ids` must have shape (B, L) = ({B}, {L}); got {tuple(position_ids.shape)}")
        position_ids = position_ids.expand(B, L)
        starts = position_ids == 0
        if attention_mask is None:
            packed = bool(starts[:, 1:].any())
            if packed:
                if bool((position_ids < 0).any()):
                    raise ValueError("`position_ids` of packed documents must be >= 0")
                steps = position_ids[:, 1:] - position_ids[:, :-1]
                if not bool(((steps == 1) | starts[:, 1:]).all()):
                    raise ValueError(
                        "`position_ids` of packed documents must start at 0 at each document's first token and count "
                        "up by one inside it"
                    )
        else:  # only a start after a row's first real token marks packing
            real = attention_mask.bool()
            first_real = torch.zeros_like(real)
            first_real.scatter_(1, real.to(torch.int8).argmax(1, keepdim=True), True)
            packed = bool((starts & real & ~first_real).any())
        if packed or found:
            starts = starts.clone()
            starts[:, 0] = True
            found["position_ids"] = starts
    if not found:
        return None
    (first_name, reset), *others = found.items()
    for name, other in others:
        if not torch.equal(other, reset):
            raise ValueError(f"packing inputs disagree: `{first_name}` and `{name}` describe different documents")
    if not bool(reset[:, 1:].any()):
        return None  # one document per row: nothing to reset
    return reset


def document_ids(reset: torch.Tensor) -> torch.Tensor:
    """(B, L) int64: the index of each position's document in its row (0 for the first), from ``reset`` (B, L)."""
    return reset.to(torch.int64).cumsum(1)


def same_document(query_ids: torch.Tensor, key_ids: torch.Tensor) -> torch.Tensor:
    """(N, T, K) bool: whether key k lies in the document of query t, from document ids (N, T) and (N, K)."""
    return query_ids[:, :, None] == key_ids[:, None, :]


def pack_tokens(x: torch.Tensor, layout: TokenLayout | None) -> torch.Tensor:
    """x (B, L, ...) in the input's order -> each row's real tokens first (unchanged without padding)."""
    return x if layout is None or layout.order is None else _gather_time(x, layout.order)


def unpack_tokens(y: torch.Tensor, layout: TokenLayout | None) -> torch.Tensor:
    """y (B, L, ...) in packed order -> back in the input's order, zero at the padded positions."""
    if layout is None or layout.order is None:
        return y
    keep = layout.valid.to(y.dtype).view(*layout.valid.shape, *([1] * (y.dim() - 2)))
    return _gather_time(y * keep, layout.inverse)


def substrate_at_last_token(
    z: torch.Tensor,
    initial_state: torch.Tensor | None,
    lengths: torch.Tensor | None,
    history: int,
    reset: torch.Tensor | None = None,
) -> torch.Tensor:
    """The substrate (B, H, S, D) right after each row's last real token, for packed rows.

    z: (B, L, H, D) scan outputs of packed rows; initial_state: (B, H, S, D) or None (zeros); lengths: (B,) real
    tokens per row, or None (all L); reset: (B, L) bool document starts, or None. ``result[:, :, j] = z_{last-j}``,
    reaching back into ``initial_state`` when fewer than S tokens were real (a row without tokens keeps
    ``initial_state``); columns before the start of the last document are zero (its substrate started empty).
    """
    B, L, H, D = z.shape
    init = z.new_zeros(B, H, history, D) if initial_state is None else initial_state.to(z.dtype)
    # timeline (B, S + L, H, D): oldest initial column first, then the outputs
    timeline = torch.cat([init.flip(2).transpose(1, 2), z], dim=1)
    last = torch.full((B,), L - 1, device=z.device) if lengths is None else lengths.to(z.device) - 1
    idx = (last + history)[:, None] - torch.arange(history, device=z.device)[None]  # (B, S): newest first
    gathered = timeline.gather(1, idx[:, :, None, None].expand(B, history, H, D))
    if reset is not None:
        last_start = doc_starts(reset).gather(1, last.clamp(min=0)[:, None])
        last_start = torch.where(last[:, None] >= 0, last_start, torch.full_like(last_start, NO_START))
        keep = (idx - history) >= last_start  # (B, S): the column lies in the last document
        gathered = gathered * keep[:, :, None, None].to(gathered.dtype)
    return gathered.transpose(1, 2)
