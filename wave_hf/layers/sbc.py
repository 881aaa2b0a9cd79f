"""The self-attention boundary condition (SBC): banded causal attention over the substrate, with an age bias.

The SBC step of a traveling-wave memory (the paper's self-attention boundary condition) with substrate ``H`` of
``S`` columns (newest last):

    q = W_Q H[newest];  k_i = W_K H[i];  v_i = W_V H[i]
    alpha = softmax_i( k_i^T q * scale + b[age_i] )        over the valid columns only
    new   = W_O sum_i alpha_i v_i                          then the substrate shifts: push(new), drop the oldest

Run over a sequence, every position is the "newest" column of its own substrate, so the step is a causal attention
whose band is ``S`` wide: the query at step ``s`` sees the keys at steps ``s-S+1 .. s``. ``banded_attention`` computes
exactly that without ever building an (L, L) mask: short query chunks (``T <= S``: decoding, windows) attend directly,
long ones are split into blocks of ``S`` queries that each see ``2S`` keys (their own block and the previous one), so
memory is O(L * S). Both paths end in ``torch.nn.functional.scaled_dot_product_attention`` (fused kernels on GPUs).

Position encoding ("age bias"): a per-head additive bias ``b[h, a]`` on the attention logits that depends only on the
age ``a = s_query - s_key`` in 0..S-1 of a column in the substrate (a T5/ALiBi-style relative scheme). ``"age_bias"``
learns the table (initialised to ALiBi: ``b[h, a] = -m_h * a``), ``"alibi"`` keeps the fixed ALiBi values, ``"none"``
adds nothing (the bare SBC equation). ALiBi slopes: ``m_h = 2^(-8 (h+1) / H)``, h = 0..H-1.

Substrates in caches are kept right-aligned (newest column last, invalid columns on the left); ``shift_substrate``
pushes new columns in, ``push_stream_substrate`` keeps a layer's key/value substrate. Padding never enters: callers
pass packed rows whose real positions come first (``wave_hf.layers.padding``), and an invalid key is never attended to
by a valid query.

``SBCStreamMixer`` is the SBC boundary as a token mixer of a layer stack (the sliding-window stream: each layer
attends to its own S newest keys and keeps them as its state), with the interface of ``wave_hf.layers.lbc``'s
``WaveLBCMixer``, so one stack can hold both boundary conditions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init

from .padding import TokenLayout, document_ids, same_document

__all__ = [
    "STREAM_STATE_NAMES",
    "SBCAttention",
    "SBCStreamMixer",
    "alibi_bias",
    "band_mask",
    "banded_attention",
    "banded_attention_weights",
    "push_stream_substrate",
    "shift_substrate",
    "weights_in_input_order",
]

STREAM_STATE_NAMES = ("key", "value", "key_valid")
"""A stream layer's state: its S newest keys and values (N, H, S, Dh) and which of those columns are filled (N, S)."""


def alibi_bias(num_heads: int, window: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """ALiBi age bias table (num_heads, window): ``-m_h * age`` with slopes ``m_h = 2^(-8 (h+1) / num_heads)``."""
    slopes = torch.pow(2.0, -8.0 * torch.arange(1, num_heads + 1, device=device, dtype=torch.float32) / num_heads)
    ages = torch.arange(window, device=device, dtype=torch.float32)
    return (-slopes[:, None] * ages[None, :]).to(dtype)


def band_mask(
    ages: torch.Tensor,
    window: int,
    key_valid: torch.Tensor | None,
    age_bias: torch.Tensor | None,
    dtype: torch.dtype,
    same_doc: torch.Tensor | None = None,
) -> torch.Tensor:
    """Additive attention mask for queries/keys whose step difference is ``ages``.

    Args:
        ages: (T, K) integer, query step minus key step.
        window: band width S; a key is visible when ``0 <= age < S``.
        key_valid: (N, K) bool (False = padding / empty slot) or None (all valid). A query always sees its own key
            (age 0), so no row is ever fully masked (SDPA would return NaN); for a valid query that key is valid.
        age_bias: (H, S) bias per head and age, or None.
        dtype: dtype of the result.
        same_doc: (N, T, K) bool, whether the key lies in the query's document (packed documents), or None (one
            document). A query's own key always does.

    Returns:
        (N or 1, H or 1, T, K) float mask: the age bias where visible, -inf elsewhere.
    """
    allowed = ((ages >= 0) & (ages < window))[None, None]
    if key_valid is not None:
        allowed = allowed & (key_valid[:, None, None, :] | (ages == 0))
    if same_doc is not None:
        allowed = allowed & same_doc[:, None]
    if age_bias is None:
        bias = torch.zeros((1, 1) + tuple(ages.shape), dtype=dtype, device=ages.device)
    else:
        bias = age_bias.to(dtype)[:, ages.clamp(0, window - 1)][None]
    return bias.masked_fill(~allowed, float("-inf"))


def banded_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    window: int,
    key_valid: torch.Tensor | None = None,
    age_bias: torch.Tensor | None = None,
    scale: float | None = None,
    doc_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Causal attention with band ``window``: the queries are the last T of the K key steps.

    Args:
        q: (N, H, T, Dh) queries of key steps K-T .. K-1.
        k, v: (N, H, K, Dh) keys and values, K >= T (the first K-T steps are a prefix, e.g. a cached substrate).
        window: S; query step s attends to key steps s-S+1 .. s.
        key_valid: (N, K) bool or None.
        age_bias: (H, S) additive bias per age, or None.
        scale: logit scale; None means 1/sqrt(Dh).
        doc_ids: (N, K) integer document of each key step (packed documents: a query sees only the keys of its own
            document), or None.

    Returns:
        (N, H, T, Dh). Never materialises more than (T, S + T) scores for T <= S, or (T, 2S) for T > S.
    """
    N, H, T, Dh = q.shape
    K = k.shape[2]
    if K < T:
        raise ValueError(f"banded_attention needs at least as many keys as queries; got {K} keys for {T} queries")
    S = window
    if T <= S:
        # direct: only the last T + S - 1 keys are within reach of any query
        start = max(0, K - T - S + 1)
        k, v = k[:, :, start:], v[:, :, start:]
        key_valid = key_valid[:, start:] if key_valid is not None else None
        steps = torch.arange(K - start, device=q.device)
        ages = steps[-T:, None] - steps[None, :]
        same_doc = None if doc_ids is None else same_document(doc_ids[:, -T:], doc_ids[:, start:])
        mask = band_mask(ages, S, key_valid, age_bias, q.dtype, same_doc)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)

    # blocked: queries in blocks of S; block m (query steps P + mS ..) sees the S keys before it and its own S keys
    prefix = K - T
    if prefix > S:
        k, v = k[:, :, prefix - S :], v[:, :, prefix - S :]
        key_valid = key_valid[:, prefix - S :] if key_valid is not None else None
        doc_ids = doc_ids[:, prefix - S :] if doc_ids is not None else None
        prefix = S
    nb = math.ceil(T / S)
    front, back = S - prefix, nb * S - T
    if key_valid is None and front > 0:
        key_valid = torch.ones(N, k.shape[2], dtype=torch.bool, device=q.device)
    k = F.pad(k, (0, 0, front, back))
    v = F.pad(v, (0, 0, front, back))
    q = F.pad(q, (0, 0, 0, back))
    if key_valid is not None:
        key_valid = F.pad(key_valid, (front, back), value=False)
        key_valid = key_valid.unfold(1, 2 * S, S).reshape(N * nb, 2 * S)
    same_doc = None
    if doc_ids is not None:  # padded steps get document -1: they are invalid keys or discarded queries
        doc_ids = F.pad(doc_ids, (front, back), value=-1).unfold(1, 2 * S, S).reshape(N * nb, 2 * S)
        same_doc = same_document(doc_ids[:, S:], doc_ids)

    def blocks(x: torch.Tensor) -> torch.Tensor:  # (N, H, (nb+1) S, Dh) -> (N*nb, H, 2S, Dh)
        return x.unfold(2, 2 * S, S).permute(0, 2, 1, 4, 3).reshape(N * nb, H, 2 * S, Dh)

    qb = q.view(N, H, nb, S, Dh).transpose(1, 2).reshape(N * nb, H, S, Dh)
    steps = torch.arange(2 * S, device=q.device)
    mask = band_mask(steps[S:, None] - steps[None, :], S, key_valid, age_bias, q.dtype, same_doc)
    out = F.scaled_dot_product_attention(qb, blocks(k), blocks(v), attn_mask=mask, scale=scale)
    return out.view(N, nb, H, S, Dh).transpose(1, 2).reshape(N, H, nb * S, Dh)[:, :, :T]


def banded_attention_weights(
    q: torch.Tensor,
    k: torch.Tensor,
    window: int,
    key_valid: torch.Tensor | None = None,
    age_bias: torch.Tensor | None = None,
    scale: float | None = None,
    doc_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """The attention weights of ``banded_attention`` (same arguments, without the values): (N, H, T, K), zero
    outside the band, at invalid keys and across documents; each query's row sums to 1.

    Materialises all (T, K) scores (``output_attentions``); ``banded_attention`` never does.
    """
    T, K = q.shape[2], k.shape[2]
    steps = torch.arange(K, device=q.device)
    ages = steps[-T:, None] - steps[None, :]
    same_doc = None if doc_ids is None else same_document(doc_ids[:, -T:], doc_ids)
    dtype = torch.promote_types(q.dtype, torch.float32)  # softmax in float32 at least
    mask = band_mask(ages, window, key_valid, age_bias, dtype, same_doc)
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    scores = torch.matmul(q.to(dtype), k.to(dtype).transpose(-1, -2)) * scale + mask
    return torch.softmax(scores, dim=-1).to(q.dtype)


def shift_substrate(ext: torch.Tensor, num_new: torch.Tensor | None, width: int, dim: int) -> torch.Tensor:
    """Push new columns into a right-aligned substrate: the last ``width`` real columns of ``ext`` along ``dim``.

    Args:
        ext: the old substrate (``width`` columns along ``dim``, newest last) followed by T new columns whose first
            ``num_new[b]`` are real (the rest padding), e.g. (N, width + T, D) or (N, H, width + T, Dh).
        num_new: (N,) integer count of real new columns per sequence, or None (all T are real).
        width: S.
        dim: the column dimension (>= 1; dim 0 is the batch).

    Returns:
        a new tensor (never a view of ``ext``) with ``width`` columns along ``dim``: column ``width-1`` is the newest
        real one.
    """
    T = ext.shape[dim] - width
    if num_new is None:  # a copy, not a view: a cache must not keep the whole input's storage alive
        return ext.narrow(dim, T, width).clone(memory_format=torch.contiguous_format)
    index = num_new.to(torch.long)[:, None] + torch.arange(width, device=ext.device)  # (N, width)
    shape = [ext.shape[0]] + [1] * (ext.dim() - 1)
    shape[dim] = width
    target = list(ext.shape)
    target[dim] = width
    return ext.gather(dim, index.view(shape).expand(target))


class SBCAttention(nn.Module):
    """Multi-head SBC attention over a substrate of ``window`` columns (no normalisation, no residual).

    Args:
        hidden_size: width D of the columns.
        num_heads: H.
        head_dim: Dh (``num_heads * head_dim`` need not equal ``hidden_size``).
        window: substrate width S.
        position_encoding: one of ``wave_hf.layers.options.POSITION_ENCODINGS`` (module docstring; the configuration
            validates it).
        scale: logit scale, None for 1/sqrt(head_dim).
    """

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        head_dim: int,
        window: int,
        position_encoding: str = "age_bias",
        scale: float | None = None,
    ):
        super().__init__()
        self.num_heads, self.head_dim, self.window = num_heads, head_dim, window
        self.position_encoding, self.scale = position_encoding, scale
        inner = num_heads * head_dim
        self.q_proj = nn.Linear(hidden_size, inner, bias=False)
        self.k_proj = nn.Linear(hidden_size, inner, bias=False)
        self.v_proj = nn.Linear(hidden_size, inner, bias=False)
        self.o_proj = nn.Linear(inner, hidden_size, bias=False)
        if position_encoding == "age_bias":
            # in the default dtype, like every other parameter (from_pretrained(dtype=...) builds under that dtype)
            self.age_bias = nn.Parameter(alibi_bias(num_heads, window, dtype=torch.get_default_dtype()))

    def init_wave_weights(self) -> None:
        if self.position_encoding == "age_bias":
            init.copy_(self.age_bias, alibi_bias(self.num_heads, self.window))

    def position_bias(self, device: torch.device) -> torch.Tensor | None:
        """(H, S) bias over the age of a column, or None."""
        if self.position_encoding == "age_bias":
            return self.age_bias
        if self.position_encoding == "alibi":
            return alibi_bias(self.num_heads, self.window, device=device)
        return None

    def _heads(self, x: torch.Tensor) -> torch.Tensor:  # (N, T, H*Dh) -> (N, H, T, Dh)
        return x.view(x.shape[0], x.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        x: torch.Tensor,
        key_valid: torch.Tensor | None = None,
        prefix: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
        last_query_only: bool = False,
        doc_ids: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor | None]:
        """Attend from every new column (or only the last) to the substrate that ends at it.

        Args:
            x: (N, T, D) new columns, oldest first.
            key_valid: (N, T) bool validity of the new columns, or None (all valid).
            prefix: (keys (N, H, P, Dh), values (N, H, P, Dh), valid (N, P) bool) of the P columns before ``x``
                (a cached substrate), or None.
            last_query_only: compute the output of the last column only (the rest are not needed).
            doc_ids: (N, T) integer document of each new column (packed documents, ``padding.document_ids``): a
                column attends only to columns of its own document; the prefix counts as document 0. None: one
                document.
            output_attentions: also return the attention weights (computed without the fused kernel).

        Returns:
            output (N, T or 1, D); (keys, values, valid) of prefix + new columns ((N, H, P+T, Dh), ..., (N, P+T)
            or None when everything is valid), for the caller's cache; the weights (N, H, T or 1, P+T) with
            ``output_attentions``, else None.
        """
        N, T, _ = x.shape
        q_in = x[:, -1:] if last_query_only else x
        q = self._heads(self.q_proj(q_in))
        k, v = self._heads(self.k_proj(x)), self._heads(self.v_proj(x))
        if prefix is not None:
            pk, pv, pvalid = prefix
            k, v = torch.cat([pk.to(k.dtype), k], dim=2), torch.cat([pv.to(v.dtype), v], dim=2)
            new_valid = key_valid if key_valid is not None else torch.ones(N, T, dtype=torch.bool, device=x.device)
            key_valid = torch.cat([pvalid, new_valid], dim=1)
            if doc_ids is not None:
                doc_ids = torch.cat([doc_ids.new_zeros(N, pk.shape[2]), doc_ids], dim=1)
        bias = self.position_bias(x.device)
        weights = None
        if output_attentions:
            weights = banded_attention_weights(q, k, self.window, key_valid, bias, self.scale, doc_ids)
            out = torch.matmul(weights, v)
        else:
            out = banded_attention(q, k, v, self.window, key_valid, bias, self.scale, doc_ids)
        out = out.transpose(1, 2).reshape(N, q.shape[2], self.num_heads * self.head_dim)
        return self.o_proj(out), (k, v, key_valid), weights


def push_stream_substrate(
    keys: torch.Tensor,
    values: torch.Tensor,
    key_valid: torch.Tensor | None,
    num_new: torch.Tensor | None,
    window: int,
    first: bool,
) -> dict[str, torch.Tensor]:
    """A stream layer's new state (``STREAM_STATE_NAMES``): the S newest real columns of its keys and values.

    Args:
        keys, values: (N, H, P + T, Dh) the cached substrate (P = S columns; none on the ``first`` write) followed by
            the T new columns, as ``SBCAttention`` returns them.
        key_valid: (N, P + T) bool validity of those columns, or None (all valid).
        num_new: (N,) real new columns per row (packed rows: real first), or None (all T).
        window: S.
        first: no substrate was cached yet: the new columns are pushed into an empty one (S invalid columns).

    Returns:
        ``{"key", "value"}`` (N, H, S, Dh) and ``"key_valid"`` (N, S) bool, right-aligned (newest last); copies,
        never views of the inputs.
    """
    S = window
    if first:
        N, T = keys.shape[0], keys.shape[2]
        keys, values = F.pad(keys, (0, 0, S, 0)), F.pad(values, (0, 0, S, 0))
        new_valid = key_valid if key_valid is not None else torch.ones(N, T, dtype=torch.bool, device=keys.device)
        key_valid = F.pad(new_valid, (S, 0), value=False)
    return {
        "key": shift_substrate(keys, num_new, S, dim=2),
        "value": shift_substrate(values, num_new, S, dim=2),
        "key_valid": shift_substrate(key_valid, num_new, S, dim=1),
    }


def weights_in_input_order(weights: torch.Tensor, layout: TokenLayout | None, num_prefix: int) -> torch.Tensor:
    """Attention weights (B, H, T, P + T) of packed rows -> queries and new keys in the input's order (zero rows at
    padded queries); the P cached columns stay first."""
    if layout is None or layout.order is None:
        return weights
    B, H, T, K = weights.shape
    inverse = layout.inverse
    weights = weights * layout.valid[:, None, :, None].to(weights.dtype)
    weights = weights.gather(2, inverse[:, None, :, None].expand(B, H, T, K))
    new = weights[..., num_prefix:].gather(3, inverse[:, None, None, :].expand(B, H, T, T))
    return torch.cat([weights[..., :num_prefix], new], dim=3)


class SBCStreamMixer(nn.Module):
    """The SBC boundary as a token mixer: every position attends to the S newest columns of this layer (itself
    included) and the layer keeps those S keys/values as its state (the sliding-window stream).

    Same interface as ``WaveLBCMixer``: packed rows and their ``TokenLayout`` in (padding after each row's real
    tokens; packed documents' starts in ``layout.reset``, never attended across), the state a dict of
    ``state_names`` (``STREAM_STATE_NAMES``; None before the first call).

    Args:
        attn: the attention it runs (``SBCAttention``; its window is the substrate's width S). Its parameters are
            then the mixer's ``attn.q_proj`` ... ``attn.o_proj`` (and ``attn.age_bias``).
    """

    state_names = STREAM_STATE_NAMES

    def __init__(self, attn: SBCAttention):
        super().__init__()
        self.attn = attn

    def forward(
        self,
        hidden_states: torch.Tensor,
        layout: TokenLayout | None = None,
        state: dict[str, torch.Tensor | None] | None = None,
        output_state: bool = False,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None, torch.Tensor | None]:
        """hidden_states (B, L, hidden_size) of packed rows -> output (B, L, hidden_size) (unspecified at padded
        positions), the new state (with ``output_state``, else None) and, with ``output_attentions``, the weights
        (B, H, L, P + L) over the P cached columns (S, or none without a state) and the L new ones, queries and new
        keys in the input's order (``weights_in_input_order``), else None."""
        valid = None if layout is None else layout.valid
        doc_ids = None if layout is None or layout.reset is None else document_ids(layout.reset)
        state = state or {}
        prefix = None if state.get("key") is None else tuple(state[name] for name in STREAM_STATE_NAMES)
        out, (keys, values, key_valid), weights = self.attn(
            hidden_states, valid, prefix, False, doc_ids, output_attentions
        )
        new_state = None
        if output_state:
            num_new = None if valid is None else valid.sum(1)
            new_state = push_stream_substrate(keys, values, key_valid, num_new, self.attn.window, first=prefix is None)
        if weights is not None:
            weights = weights_in_input_order(weights, layout, 0 if prefix is None else prefix[0].shape[2])
        return out, new_state, weights
