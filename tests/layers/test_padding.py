"""The one padding module (wave_hf.layers.padding): packing each row's real tokens first and back, the layout's
lengths and validity, and the substrate after each row's last real token."""

from __future__ import annotations

import pytest
import torch

from wave_hf.layers.padding import (
    TokenLayout,
    document_ids,
    document_starts,
    pack_tokens,
    substrate_at_last_token,
    unpack_tokens,
)
from wave_hf.ops import wave_scan_reference


def test_pack_unpack_roundtrip():
    mask = torch.tensor([[0, 1, 1, 0, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]])
    x = torch.arange(15.0).view(3, 5)
    layout = TokenLayout.from_attention_mask(mask)
    packed = pack_tokens(x, layout)
    assert packed[0, :3].tolist() == [1.0, 2.0, 4.0]
    assert torch.equal(unpack_tokens(packed, layout), x * mask)
    assert layout.lengths.tolist() == [3, 5, 0]
    assert layout.valid.tolist() == [[True] * 3 + [False] * 2, [True] * 5, [False] * 5]
    # trailing feature dimensions travel with their token
    feats = torch.randn(3, 5, 2, 4)
    assert torch.equal(unpack_tokens(pack_tokens(feats, layout), layout), feats * mask[:, :, None, None])


def test_no_mask_means_no_layout_and_identity():
    x = torch.randn(2, 4, 3)
    assert TokenLayout.from_attention_mask(None) is None
    assert pack_tokens(x, None) is x and unpack_tokens(x, None) is x


def test_substrate_at_last_token_equals_the_scan_of_the_real_tokens():
    """After a padded (packed) scan, the substrate at each row's last real token equals the final state of the scan of
    that row's real tokens alone, for rows shorter than S (reaching into the initial state), longer, and empty."""
    torch.manual_seed(0)
    B, L, H, S, D = 4, 7, 2, 3, 5
    a = 0.3 * torch.randn(H, S, D, dtype=torch.float64)
    u = torch.randn(B, L, H, D, dtype=torch.float64)
    init = torch.randn(B, H, S, D, dtype=torch.float64)
    lengths = torch.tensor([7, 4, 1, 0])
    z, _ = wave_scan_reference(u, a, init)
    got = substrate_at_last_token(z, init, lengths, S)
    for b, n in enumerate(lengths.tolist()):
        if n == 0:
            assert torch.equal(got[b], init[b])
            continue
        _, final = wave_scan_reference(u[b : b + 1, :n], a, init[b : b + 1], output_final_state=True)
        torch.testing.assert_close(got[b], final[0], rtol=0, atol=1e-12)
    _, final = wave_scan_reference(u, a, init, output_final_state=True)
    torch.testing.assert_close(substrate_at_last_token(z, init, None, S), final, rtol=0, atol=1e-12)
    zeros = substrate_at_last_token(z, None, torch.tensor([0, 0, 0, 0]), S)
    assert torch.count_nonzero(zeros) == 0


def test_document_starts_from_every_packing_form():
    bounds = torch.tensor([0, 2, 3, 7], dtype=torch.int32)
    want = torch.tensor([[True, False, True, True, False, False, False]])
    forms = [
        dict(position_ids=torch.tensor([[0, 1, 0, 0, 1, 2, 3]])),
        dict(position_ids=torch.tensor([0, 1, 0, 0, 1, 2, 3])),  # (L,) as well
        dict(cu_seq_lens_q=bounds, cu_seq_lens_k=bounds, max_length_q=4, max_length_k=4),
        dict(seq_idx=torch.tensor([[5, 5, 6, 7, 7, 7, 7]], dtype=torch.int32)),
        dict(cu_seqlens=bounds.long()),
        dict(position_ids=torch.tensor([[0, 1, 0, 0, 1, 2, 3]]), cu_seqlens=bounds.long(),
             seq_idx=torch.tensor([[0, 0, 1, 2, 2, 2, 2]])),
    ]
    for form in forms:
        assert torch.equal(document_starts(1, 7, **form), want), form
    assert document_ids(want).tolist() == [[1, 1, 2, 3, 3, 3, 3]]
    layout = TokenLayout.from_inputs(None, 1, 7, cu_seqlens=bounds)
    assert layout.order is None and torch.equal(layout.reset, want)
    x = torch.randn(1, 7, 2)
    assert pack_tokens(x, layout) is x and unpack_tokens(x, layout) is x


def test_one_document_per_row_is_not_packing():
    assert document_starts(2, 5) is None
    assert document_starts(2, 5, position_ids=torch.arange(5).expand(2, 5)) is None
    assert document_starts(1, 5, position_ids=torch.arange(3, 8)[None]) is None  # continues a cache
    assert document_starts(1, 5, cu_seqlens=torch.tensor([0, 5])) is None
    assert document_starts(2, 1, position_ids=torch.zeros(2, 1, dtype=torch.long)) is None  # decoding
    # generate's position ids for a left-padded batch: 0 at the padding and at the first real token
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    position_ids = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
    assert document_starts(2, 5, attention_mask=mask, position_ids=position_ids) is None
    assert TokenLayout.from_inputs(mask, 2, 5, position_ids=position_ids).reset is None
    with pytest.raises(ValueError, match="cannot be combined with padding"):
        TokenLayout.from_inputs(mask, 2, 5, position_ids=torch.tensor([[0, 0, 0, 1, 0], [0, 1, 2, 3, 4]]))


def test_substrate_at_last_token_starts_empty_at_the_last_document():
    """With document starts, the substrate after a row's last token is that of its last document run alone."""
    torch.manual_seed(0)
    B, L, H, S, D = 3, 9, 2, 4, 3
    a = 0.3 * torch.randn(H, S, D, dtype=torch.float64)
    u = torch.randn(B, L, H, D, dtype=torch.float64)
    init = torch.randn(B, H, S, D, dtype=torch.float64)
    reset = torch.zeros(B, L, dtype=torch.bool)
    reset[0, 7] = True  # last document of 2 tokens (< S)
    reset[1, [2, 3]] = True  # last document of 6 tokens (> S)
    lengths = torch.tensor([9, 9, 5])  # row 2: no reset, padded: reaches into the initial state
    z, _ = wave_scan_reference(u, a, init, reset=reset)
    got = substrate_at_last_token(z, init, lengths, S, reset)
    for b, start, n, state in ((0, 7, 9, None), (1, 3, 9, None), (2, 0, 5, init[2:3])):
        _, final = wave_scan_reference(u[b : b + 1, start:n], a, state, output_final_state=True)
        torch.testing.assert_close(got[b], final[0], rtol=0, atol=1e-12)
