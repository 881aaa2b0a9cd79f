"""scripts/bench_models.py end to end on tiny models: every column filled, the JSON and plot written, and the
fresh-process memory probe reporting a positive number (a smoke test of the script, not a timing)."""

from __future__ import annotations

import json

from scripts import bench_models


def test_tiny_run_fills_every_column(tmp_path, capsys):
    bench_models.main(["--models", "wave_lbc", "wave_sbc_stream", "llama", "--lengths", "32",
                       "--decode-prompts", "8", "32", "--hidden", "32", "--layers", "1", "--heads", "2",
                       "--vocab", "64", "--history", "4", "--tokens-per-step", "64", "--repeats", "1",
                       "--decode-tokens", "2", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "bench_models.json").read_text())
    rows = {(r["model"], r["length"]): r for r in data["rows"]}
    assert set(rows) == {(m, n) for m in ("wave_lbc", "wave_sbc_stream", "llama") for n in (8, 32)}
    for model in ("wave_lbc", "wave_sbc_stream", "llama"):
        trained = rows[(model, 32)]
        assert trained["train_tok_s"] > 0 and isinstance(trained["train_peak_mib"], float), trained
        assert rows[(model, 8)]["train_tok_s"] is None  # 8 is a decode prompt only
        for n in (8, 32):
            assert rows[(model, n)]["decode_ms"] > 0 and rows[(model, n)]["cache_mib"] > 0
    assert (tmp_path / "bench_models.png").stat().st_size > 0
    table = capsys.readouterr().out
    assert "| wave_lbc |" in table and "(1.00x)" in table


def test_hybrid_has_two_attention_layers_and_a_matched_parameter_count():
    """wave_lbc_hybrid at the default size: WaveLBC with the last layer of each half SBC stream attention (H3's two
    attention layers), its parameters within 3% of Llama's and of WaveLBC's at both vocabularies."""
    from scripts.bench_models import Size, build_model, hybrid_attention_layers, n_params

    assert [hybrid_attention_layers(n) for n in (1, 2, 3, 4, 6, 8)] == [[0], [1], [2], [1, 3], [2, 5], [3, 7]]
    for vocab in (258, 8192):
        size = Size(vocab=vocab)
        hybrid = build_model("wave_lbc_hybrid", size, 64)
        assert hybrid.config.attention_layers == [2, 5] and hybrid.config.attention_kwargs["num_heads"] == size.heads
        kinds = ["attention" if block.is_attention else "wave" for block in hybrid.model.layers]
        assert kinds == ["wave", "wave", "attention", "wave", "wave", "attention"]
        count = n_params(hybrid)
        for other in ("llama", "wave_lbc"):
            assert abs(count / n_params(build_model(other, size, 64)) - 1) < 0.03, (vocab, other)


def test_packed_column_for_the_wave_models_only(tmp_path, capsys):
    """--packed times the wave models' step on the same rows packed with documents: a positive ratio for them, none
    for Llama (its ops have no reset), and the table's extra column."""
    bench_models.main(["--models", "wave_lbc", "llama", "--lengths", "32", "--decode-prompts", "8", "--hidden", "32",
                       "--layers", "1", "--heads", "2", "--vocab", "64", "--history", "4", "--tokens-per-step", "64",
                       "--repeats", "1", "--decode-tokens", "2", "--packed", "--doc-length", "5",
                       "--out", str(tmp_path)])
    rows = {(r["model"], r["length"]): r for r in json.loads((tmp_path / "bench_models.json").read_text())["rows"]}
    assert rows[("wave_lbc", 32)]["packed_ratio"] > 0 and rows[("llama", 32)]["packed_ratio"] is None
    assert "| packed / unpacked |" in capsys.readouterr().out


def test_packed_position_ids_restart_at_each_document():
    pos = bench_models.packed_position_ids(3, 50, 4)
    assert pos.shape == (3, 50) and bool((pos[:, 0] == 0).all())
    steps = pos[:, 1:] - pos[:, :-1]
    assert bool(((steps == 1) | (pos[:, 1:] == 0)).all())  # count up by one, or a new document starts at 0
    assert 5 < int((pos == 0).sum()) < 3 * 50 // 2  # documents of mean length 4, not one per token
