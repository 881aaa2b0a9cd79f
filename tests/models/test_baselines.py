"""Recurrent baselines (Elman RNN, iRNN, Wave-RNN, LSTM): exact math against float64 references, the HF contract
(save/load, cache, generate, padding, checkpointing, causality) and the reference initialisations."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForTimeSeriesPrediction

from tests.models import hf_checks
from wave_hf.models.baselines import (
    ElmanRNNConfig,
    ElmanRNNForCausalLM,
    ElmanRNNForPrediction,
    ElmanRNNModel,
    IRNNConfig,
    IRNNForCausalLM,
    IRNNForPrediction,
    KellerWaveRNNConfig,
    KellerWaveRNNForCausalLM,
    KellerWaveRNNForPrediction,
    LSTMConfig,
    LSTMForCausalLM,
    LSTMForPrediction,
)
from wave_hf.models.baselines.recurrence import circulant_shift_matrix, lstm_scan, simple_rnn_scan

VOCAB = 19
FAMILIES = {
    "elman_rnn": (ElmanRNNConfig, ElmanRNNForCausalLM, ElmanRNNForPrediction),
    "irnn": (IRNNConfig, IRNNForCausalLM, IRNNForPrediction),
    "wrnn": (KellerWaveRNNConfig, KellerWaveRNNForCausalLM, KellerWaveRNNForPrediction),
    "lstm_rnn": (LSTMConfig, LSTMForCausalLM, LSTMForPrediction),
}
SMALL = {"elman_rnn": {}, "irnn": {}, "wrnn": {"num_channels": 3}, "lstm_rnn": {}}


def _perturb(model, scale=0.3):
    """Random weights large enough for non-degenerate outputs (the reference inits are near-identity / tiny)."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * scale / max(1, p.shape[-1]) ** 0.5)
    return model


def make_lm(family, layers=2, **kw):
    torch.manual_seed(0)
    cfg_cls, lm_cls, _ = FAMILIES[family]
    cfg = cfg_cls(
        vocab_size=VOCAB, hidden_size=12, num_hidden_layers=layers, initializer_range=0.5, **{**SMALL[family], **kw}
    )
    return _perturb(lm_cls(cfg)).eval()


def make_pred(family, **kw):
    torch.manual_seed(0)
    cfg_cls, _, pred_cls = FAMILIES[family]
    cfg = cfg_cls(input_size=3, hidden_size=12, **{**SMALL[family], **kw})
    return _perturb(pred_cls(cfg)).eval()


def test_model_types_are_new_and_registered():
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    for family, (cfg_cls, lm_cls, pred_cls) in FAMILIES.items():
        assert family not in CONFIG_MAPPING_NAMES  # never a transformers built-in
        cfg = AutoConfig.for_model(family, hidden_size=12, vocab_size=VOCAB, **SMALL[family])
        assert type(cfg) is cfg_cls
        assert type(AutoModelForCausalLM.from_config(cfg)) is lm_cls
        assert type(AutoModelForTimeSeriesPrediction.from_config(cfg)) is pred_cls
    assert type(AutoModel.from_config(ElmanRNNConfig())) is ElmanRNNModel


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['hiden_size'\]"):
        ElmanRNNConfig(hiden_size=4)
    with pytest.raises(ValueError, match="`nonlinearity` must be one of"):
        ElmanRNNConfig(nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="`hidden_size` .* multiple of `num_channels`"):
        KellerWaveRNNConfig(hidden_size=10, num_channels=3)
    with pytest.raises(ValueError, match="`kernel_size` must be odd"):
        KellerWaveRNNConfig(kernel_size=4)
    with pytest.raises(ValueError, match="`input_init_std`"):
        IRNNConfig(input_init_std=0)


def test_elman_matches_the_paper_equations_in_float64():
    """h_t = tanh(W_hh h_{t-1} + W_uh x_t), h_0 = 0, y_t = W_hy h_t; no bias anywhere; 18,432 parameters at
    n = 128, d = 8 (the paper's Elman baseline)."""
    m = ElmanRNNForPrediction(ElmanRNNConfig(input_size=8, hidden_size=128)).double()
    assert sum(p.numel() for p in m.parameters()) == 18432
    assert not any("bias" in n for n, _ in m.named_parameters())
    w = m.recurrent_weights()
    assert w["W_hh"].shape == (128, 128) and w["W_uh"].shape == (128, 8) and w["W_hy"].shape == (8, 128)
    x = torch.randn(3, 15, 8, dtype=torch.float64)
    h = torch.zeros(3, 128, dtype=torch.float64)
    ref = []
    for t in range(15):
        h = torch.tanh(h @ w["W_hh"].T + x[:, t] @ w["W_uh"].T)
        ref.append(h @ w["W_hy"].T)
    out = m(input_values=x).predictions
    torch.testing.assert_close(out, torch.stack(ref, 1), rtol=0, atol=1e-12)


def test_reference_initialisations():
    n = 128
    elman = ElmanRNNForPrediction(ElmanRNNConfig(input_size=8, hidden_size=n))
    bound = 1 / n**0.5
    for name, p in elman.named_parameters():  # torch nn.RNN / nn.Linear: U(-1/sqrt(n), 1/sqrt(n))
        assert p.abs().max() <= bound and p.std() > 0.8 * bound / 3**0.5, name
    irnn = IRNNForPrediction(IRNNConfig(input_size=2, hidden_size=50))
    assert torch.equal(irnn.recurrent_weights()["W_hh"], torch.eye(50))
    assert torch.equal(irnn.model.layers[0].cell.bias, torch.zeros(50))
    assert 0.0005 < irnn.value_in.weight.std() < 0.002
    wrnn = KellerWaveRNNForPrediction(KellerWaveRNNConfig(input_size=2, hidden_size=12, num_channels=3))
    W = wrnn.recurrent_weights()["W_hh"]
    h = torch.randn(4, 12)
    # 'shift' init: out[i] = h[i + 1] circularly inside each channel of 4 units
    torch.testing.assert_close(h @ W.T, h.view(4, 3, 4).roll(-1, dims=-1).reshape(4, 12))
    V = wrnn.value_in.weight.view(3, 4, 2)
    assert torch.equal(V[:, 0], torch.ones(3, 2)) and torch.count_nonzero(V[:, 1:]) == 0


def test_elman_wave_init_hides_the_open_shift():
    """recurrent_init='wave': W_hh = Q Phi_0 Q^T with Q orthogonal and Phi_0 the open-boundary shift of 8 columns of
    16 units: nilpotent (W^8 = 0, W^7 != 0), singular values 1 (112 times) and 0 (16 times); the hidden
    coordinates are mixed (no entry is a plain 0/1 of the shift)."""
    torch.manual_seed(0)
    m = ElmanRNNForPrediction(ElmanRNNConfig(input_size=8, hidden_size=128, recurrent_init="wave", wave_columns=8))
    W = m.recurrent_weights()["W_hh"].double()
    sv = torch.linalg.svdvals(W)
    torch.testing.assert_close(sv[:112], torch.ones(112, dtype=torch.float64), atol=1e-5, rtol=0)
    assert sv[112:].max() < 1e-5
    assert torch.linalg.matrix_power(W, 8).abs().max() < 1e-5 < torch.linalg.matrix_power(W, 7).abs().max()
    assert (W.abs() > 0.5).sum() < 128  # spread over all units, not the identity blocks of the plain shift
    assert m.value_out.weight.abs().max() <= 1 / 128**0.5  # the other weights keep torch's default
    with pytest.raises(ValueError, match="`wave_columns` \\(5\\) must divide `hidden_size` \\(128\\)"):
        ElmanRNNConfig(hidden_size=128, recurrent_init="wave", wave_columns=5)
    with pytest.raises(ValueError, match="`recurrent_init` must be one of"):
        ElmanRNNConfig(recurrent_init="shift")


def test_circulant_matrix_equals_circular_conv1d():
    torch.manual_seed(1)
    for c, m, f in [(1, 7, 3), (3, 5, 3), (2, 6, 5)]:
        conv = torch.nn.Conv1d(c, c, f, padding=f // 2, padding_mode="circular", bias=False).double()
        h = torch.randn(4, c * m, dtype=torch.float64)
        ref = conv(h.view(4, c, m)).reshape(4, c * m)
        W = circulant_shift_matrix(conv.weight.detach(), m)
        torch.testing.assert_close(h @ W.T, ref, rtol=0, atol=1e-12)


def test_fused_and_masked_paths_agree():
    torch.manual_seed(2)
    B, L, n = 3, 7, 5
    x, h0 = torch.randn(B, L, n, dtype=torch.float64), torch.randn(B, n, dtype=torch.float64)
    W, Wi, b = (
        torch.randn(n, n, dtype=torch.float64) * 0.5,
        torch.randn(n, n, dtype=torch.float64),
        torch.randn(n, dtype=torch.float64),
    )
    ones = torch.ones(B, L)
    for act in ("tanh", "relu"):
        for wi, bias in ((None, None), (Wi, b)):
            fast = simple_rnn_scan(x, h0, W, wi, bias, act)
            slow = simple_rnn_scan(x, h0, W, wi, bias, act, keep=ones)
            torch.testing.assert_close(fast[0], slow[0], rtol=0, atol=1e-12)
    lstm = torch.nn.LSTM(n, n, batch_first=True).double()
    c0 = torch.randn(B, n, dtype=torch.float64)
    args = (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)
    ref, (hn, cn) = lstm(x, (h0[None], c0[None]))
    for keep in (None, ones):
        out, (h, c) = lstm_scan(x, (h0, c0), *args, keep=keep)
        torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
        torch.testing.assert_close(c, cn[0], rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="`nonlinearity`"):
        simple_rnn_scan(x, h0, W, nonlinearity="gelu")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_hf_contract(family):
    ids = torch.randint(1, VOCAB, (2, 9))
    m = make_lm(family)
    hf_checks.check_save_load_roundtrip(m, AutoModelForCausalLM, {"input_ids": ids})
    hf_checks.check_chunked_prefill(m, ids, splits=[1, 4, 5])
    hf_checks.check_generate_matches_no_cache(m, ids)
    prompts = [torch.randint(1, VOCAB, (k,)) for k in (3, 6, 5)]
    hf_checks.check_left_padding(m, prompts, pad_id=0)
    hf_checks.check_right_padding_prefill(m, prompts, torch.randint(1, VOCAB, (3,)), pad_id=0)
    hf_checks.check_causality(m, m.get_input_embeddings()(ids).detach())
    hf_checks.check_gradient_checkpointing(lambda: make_lm(family).train(), {"input_ids": ids, "labels": ids})


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_prediction_head_rollout_and_roundtrip(family):
    m = make_pred(family)
    x = torch.randn(2, 6, 3)
    hf_checks.check_save_load_roundtrip(m, AutoModelForTimeSeriesPrediction, {"input_values": x}, "predictions")
    hf_checks.check_causality(m, x, input_key="input_values", output_key="predictions")
    steps = 5
    got = m.rollout(x, steps)
    # the same rollout recomputed from scratch without any cache
    seq = x
    for _ in range(steps):
        nxt = m(input_values=seq, use_cache=False).predictions[:, -1:]
        seq = torch.cat([seq, nxt], dim=1)
    torch.testing.assert_close(got, seq[:, x.shape[1] :], rtol=0, atol=1e-5)


def test_recurrent_weights_of_deeper_layers_and_errors():
    m = ElmanRNNForPrediction(ElmanRNNConfig(input_size=4, hidden_size=6, num_hidden_layers=2))
    w0, w1 = m.recurrent_weights(0), m.recurrent_weights(1)
    assert w0["W_hy"] is None and torch.equal(w0["W_uh"], m.value_in.weight)
    assert torch.equal(w1["W_uh"], m.model.layers[1].cell.weight_ih) and torch.equal(w1["W_hy"], m.value_out.weight)
    with pytest.raises(ValueError, match="`layer_idx`"):
        m.recurrent_weights(2)


def test_token_embeddings_follow_the_reference_init():
    """The token embedding plays the input map's role: solo for the wRNN, N(0, 0.001^2) for the iRNN."""
    wrnn = KellerWaveRNNForCausalLM(KellerWaveRNNConfig(vocab_size=5, hidden_size=12, num_channels=3))
    E = wrnn.get_input_embeddings().weight.view(5, 3, 4)
    assert torch.equal(E[:, :, 0], torch.ones(5, 3)) and torch.count_nonzero(E[:, :, 1:]) == 0
    irnn = IRNNForCausalLM(IRNNConfig(vocab_size=50, hidden_size=40))
    assert 0.0005 < irnn.get_input_embeddings().weight.std() < 0.002


@pytest.mark.parametrize(
    "model_file,dataset,params",
    [
        ("elman_paper.yaml", "linear_vb", {"task": "T2", "horizon": 4}),
        ("lstm_paper.yaml", "linear_vb", {"task": "T1", "horizon": 4}),
        ("irnn_100.yaml", "adding", {"seq_len": 6}),
        ("wrnn_adding.yaml", "adding", {"seq_len": 6}),
        ("wrnn_copy.yaml", "copy", {"delay": 2, "copy_len": 3}),
    ],
)
def test_the_trainer_builds_the_model_configs(model_file, dataset, params):
    """The shipped model configs of the baselines (by name) load through the project trainer (sizes filled from the
    dataset)."""
    from wave_hf.training import prepare_run

    cfg = {
        "name": "t",
        "output_dir": "unused",
        "steps": 1,
        "model": {"file": model_file.removesuffix(".yaml")},
        "dataset": {"name": dataset, "params": params},
    }
    run = prepare_run(cfg)  # builds the model and runs one forward on training and evaluation rows
    assert run.model.config.model_type in FAMILIES


def test_text_generation_pipeline():
    hf_checks.check_pipeline(make_lm("elman_rnn"), VOCAB)
