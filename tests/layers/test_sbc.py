"""SBC layer pieces: banded attention against a dense float64 reference, the substrate shift, the age bias."""

from __future__ import annotations

import math

import pytest
import torch

from wave_hf.layers.sbc import (
    SBCAttention,
    alibi_bias,
    band_mask,
    banded_attention,
    banded_attention_weights,
    shift_substrate,
)


def dense_banded_reference(q, k, v, window, key_valid, age_bias, scale, doc_ids=None):
    """Loop over queries and keys: softmax over the visible keys of each valid query (float64); with ``doc_ids``
    (N, K) only the keys of the query's own document are visible."""
    N, H, T, Dh = q.shape
    K = k.shape[2]
    scale = 1.0 / math.sqrt(Dh) if scale is None else scale
    out = torch.zeros(N, H, T, Dh, dtype=torch.float64)
    for n in range(N):
        for h in range(H):
            for i in range(T):
                s = K - T + i
                keys = [j for j in range(K) if 0 <= s - j < window and (key_valid is None or key_valid[n, j] or j == s)
                        and (doc_ids is None or doc_ids[n, j] == doc_ids[n, s])]
                bias = [age_bias[h, s - j] if age_bias is not None else 0.0 for j in keys]
                logits = torch.stack([q[n, h, i] @ k[n, h, j] * scale + b for j, b in zip(keys, bias)])
                w = torch.softmax(logits, 0)
                out[n, h, i] = sum(w[a] * v[n, h, j] for a, j in enumerate(keys))
    return out


def _attention_cases():
    for S in (1, 4):
        lengths = sorted({1, 7, S - 1, S, S + 1, 3 * S + 2} - {0})  # direct (T <= S) and blocked (T > S) paths
        for P in sorted({0, 2, S, S + 3}):  # no prefix, a short one, a full cached substrate, a longer one
            for T in lengths:
                yield pytest.param(S, P, T, id=f"S{S}-P{P}-T{T}")


@pytest.mark.parametrize("S, P, T", list(_attention_cases()))
def test_banded_attention_matches_dense_loop(S, P, T):
    g = torch.Generator().manual_seed(T * 31 + P * 7 + S)
    N, H, Dh = 2, 2, 3
    q = torch.randn(N, H, T, Dh, dtype=torch.float64, generator=g)
    k = torch.randn(N, H, P + T, Dh, dtype=torch.float64, generator=g)
    v = torch.randn(N, H, P + T, Dh, dtype=torch.float64, generator=g)
    valid = torch.rand(N, P + T, generator=g) > 0.3
    bias = torch.randn(H, S, dtype=torch.float64, generator=g)
    for key_valid, age_bias, scale in [(None, None, None), (valid, bias, 0.7)]:
        got = banded_attention(q, k, v, S, key_valid, age_bias, scale)
        ref = dense_banded_reference(q, k, v, S, key_valid, age_bias, scale)
        assert got.shape == (N, H, T, Dh)
        assert torch.isfinite(got).all()
        rows = torch.ones(N, T, dtype=torch.bool) if key_valid is None else key_valid[:, P:]
        diff = (got - ref).abs().amax(dim=(1, 3))[rows]
        assert diff.numel() == 0 or diff.max() < 1e-12, diff.max()


@pytest.mark.parametrize("P, T", [(0, 1), (0, 7), (0, 14), (4, 3), (4, 14), (6, 9)])
def test_banded_attention_keeps_to_each_document(P, T):
    """With packed documents (doc_ids) a query attends only to keys of its own document, on the direct and the
    blocked path; the explicit weights reproduce the output and vanish across documents."""
    S, N, H, Dh = 4, 2, 2, 3
    g = torch.Generator().manual_seed(P * 13 + T)
    q = torch.randn(N, H, T, Dh, dtype=torch.float64, generator=g)
    k = torch.randn(N, H, P + T, Dh, dtype=torch.float64, generator=g)
    v = torch.randn(N, H, P + T, Dh, dtype=torch.float64, generator=g)
    starts = torch.rand(N, P + T, generator=g) < 0.3
    starts[:, :P] = False  # the prefix is document 0
    doc_ids = starts.long().cumsum(1)
    valid = torch.rand(N, P + T, generator=g) > 0.2
    bias = torch.randn(H, S, dtype=torch.float64, generator=g)
    for key_valid in (None, valid):
        got = banded_attention(q, k, v, S, key_valid, bias, 0.8, doc_ids)
        ref = dense_banded_reference(q, k, v, S, key_valid, bias, 0.8, doc_ids)
        rows = torch.ones(N, T, dtype=torch.bool) if key_valid is None else key_valid[:, P:]
        assert (got - ref).abs().amax(dim=(1, 3))[rows].max() < 1e-12
        weights = banded_attention_weights(q, k, S, key_valid, bias, 0.8, doc_ids)
        assert weights.shape == (N, H, T, P + T)
        assert (torch.matmul(weights, v) - got).abs().amax(dim=(1, 3))[rows].max() < 1e-12
        across = doc_ids[:, P:, None] != doc_ids[:, None, :]  # (N, T, P + T)
        assert torch.count_nonzero(weights * across[:, None]) == 0


def test_banded_attention_gradients_match_reference():
    S, T, P = 3, 8, 3
    g = torch.Generator().manual_seed(0)
    q = torch.randn(1, 2, T, 4, dtype=torch.float64, generator=g, requires_grad=True)
    k = torch.randn(1, 2, P + T, 4, dtype=torch.float64, generator=g, requires_grad=True)
    v = torch.randn(1, 2, P + T, 4, dtype=torch.float64, generator=g, requires_grad=True)
    bias = torch.randn(2, S, dtype=torch.float64, generator=g, requires_grad=True)
    grads = []
    for fn in (banded_attention, dense_banded_reference):
        out = fn(q, k, v, S, None, bias, None)
        grads.append(torch.autograd.grad(out.pow(2).sum(), (q, k, v, bias)))
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-12)


def test_banded_attention_rejects_fewer_keys_than_queries():
    q = torch.randn(1, 1, 4, 2)
    with pytest.raises(ValueError, match="at least as many keys"):
        banded_attention(q, q[:, :, :3], q[:, :, :3], 2)


def test_band_mask_never_masks_a_whole_row():
    ages = torch.arange(6)[:, None] - torch.arange(6)[None, :]
    mask = band_mask(ages, 3, torch.zeros(2, 6, dtype=torch.bool), None, torch.float32)
    assert mask.shape == (2, 1, 6, 6)
    assert torch.isfinite(mask).any(-1).all()
    # only the query's own key survives when every key is invalid
    assert torch.equal(torch.isfinite(mask[0, 0]), torch.eye(6, dtype=torch.bool))


def test_alibi_bias_values():
    b = alibi_bias(2, 3)
    expected = torch.tensor([[0.0, -1 / 16, -2 / 16], [0.0, -1 / 256, -2 / 256]])
    assert torch.allclose(b, expected)


@pytest.mark.parametrize("dim_layout", ["window", "heads"])
def test_shift_substrate_keeps_newest_real_columns_right_aligned(dim_layout):
    S, T = 4, 6
    num_new = torch.tensor([0, 2, 6])
    if dim_layout == "window":
        ext, dim = torch.arange(3 * (S + T) * 2).view(3, S + T, 2), 1
    else:
        ext, dim = torch.arange(3 * 2 * (S + T) * 2).view(3, 2, S + T, 2), 2
    got = shift_substrate(ext, num_new, S, dim)
    for b, n in enumerate(num_new.tolist()):
        cols = list(range(n, n + S))  # the S columns that end at the last real one
        assert torch.equal(got[b], ext[b].index_select(dim - 1, torch.tensor(cols)))
    assert torch.equal(shift_substrate(ext, None, S, dim), ext.narrow(dim, T, S))


@pytest.mark.parametrize("encoding", ["age_bias", "alibi", "none"])
def test_sbc_attention_position_encodings(encoding):
    attn = SBCAttention(6, 2, 3, 4, encoding)
    bias = attn.position_bias(torch.device("cpu"))
    if encoding == "none":
        assert bias is None
    else:
        assert torch.allclose(bias, alibi_bias(2, 4))
    assert hasattr(attn, "age_bias") == (encoding == "age_bias")
    if encoding == "age_bias":
        with torch.no_grad():
            attn.age_bias.zero_()
        attn.init_wave_weights()
        assert torch.allclose(attn.age_bias, alibi_bias(2, 4))


def test_sbc_attention_prefix_equals_full_sequence():
    """Attending with a cached prefix of keys/values == attending over the concatenated sequence."""
    attn = SBCAttention(6, 3, 2, 4, "age_bias").double()
    x = torch.randn(2, 9, 6, dtype=torch.float64)
    full, _, _ = attn(x)
    _, (k, v, valid), _ = attn(x[:, :5])
    assert valid is None
    tail, (k2, _, valid2), _ = attn(x[:, 5:], prefix=(k, v, torch.ones(2, 5, dtype=torch.bool)))
    assert k2.shape == (2, 3, 9, 2) and valid2.shape == (2, 9)
    assert torch.allclose(tail, full[:, 5:], atol=1e-12)
    last, _, _ = attn(x, last_query_only=True)
    assert torch.allclose(last, full[:, -1:], atol=1e-12)
