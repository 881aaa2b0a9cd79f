"""scripts/bench_lm.py on a tiny corpus with tiny models and step budgets: the JSON schema, the sweep, the table and
the PNG; its helpers (learning-rate schedule and parsing, row-local positions, interpolation, bits per byte)."""

import json
import math

import numpy as np
import pytest
import torch

from scripts import bench_lm
from scripts.bench_models import Size, build_model

TINY = ["--hidden", "32", "--layers", "1", "--heads", "2", "--history", "8"]
L = 64
STEPS = 2


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    words = "def class return import self for in if else while yield lambda None True False".split()
    for i in range(6):
        lines = [" ".join(rng.choice(words, 10)) for _ in range(12 + 3 * i)]
        (root / f"doc{i}.py").write_text("\n".join(lines) + "\n")
    return root


def run_bench(corpus, out, cache, *extra):
    return bench_lm.main(["--corpus", str(corpus), "--out", str(out), "--cache-dir", str(cache), "--lengths", str(L),
                          "--max-steps", str(STEPS), "--tokens-per-step", str(2 * L), "--val-tokens", str(2 * L),
                          "--eval-points", "2", "--validation-fraction", "0.2", "--threads", "1", *TINY, *extra])


@pytest.fixture(scope="module")
def bench(corpus, tmp_path_factory):
    """llama with a 3-rate sweep, the other default models at one rate each."""
    out = tmp_path_factory.mktemp("out")
    run_bench(corpus, out, tmp_path_factory.mktemp("cache"), "--lrs", "2e-3", "llama=1e-3,2e-3,4e-3")
    return out


def test_json_schema_and_points(bench):
    doc = json.loads((bench / "bench_lm.json").read_text())
    assert set(doc) >= {"runs", "sweep", "final", "failures", "corpus", "machine", "settings"}
    assert doc["failures"] == []
    assert doc["machine"]["torch_threads"] == 1
    assert {f["model"] for f in doc["final"]} == set(bench_lm.DEFAULT_MODELS)
    batch_tokens = 2 * L  # tokens per step: 2 rows of L
    for name in bench_lm.DEFAULT_MODELS:
        pts = [r for r in doc["runs"] if r["model"] == name]
        # --eval-points 2 over 2 steps: one point after each step
        assert [p["step"] for p in pts] == [1, 2]
        for p in pts:
            assert set(p) == {"model", "seq_len", "tokens", "seconds", "val_bits_per_byte", "params", "lr", "step"}
            assert p["seq_len"] == L and p["tokens"] == p["step"] * batch_tokens
            assert math.isfinite(p["val_bits_per_byte"]) and 0 < p["val_bits_per_byte"] < 12
            assert p["params"] > 0 and p["seconds"] > 0
        assert pts[0]["seconds"] < pts[1]["seconds"]
        final = next(f for f in doc["final"] if f["model"] == name)
        assert final["val_bits_per_byte"] == pts[-1]["val_bits_per_byte"]
        assert final["steps"] == STEPS and final["tokens"] == STEPS * batch_tokens and not final["diverged"]
        assert final["params"] == pts[0]["params"] == pts[1]["params"]
        assert final["lr"] == pts[0]["lr"]
    corpus_info = doc["corpus"][str(L)]
    assert corpus_info["validation_subset_rows"] == 2 and corpus_info["validation_subset_bytes"] > 0


def test_sweep_records_every_rate_and_keeps_the_best(bench):
    doc = json.loads((bench / "bench_lm.json").read_text())
    sweep = doc["sweep"]
    assert [s["model"] for s in sweep] == ["llama"] * 3  # the one-rate models are not swept
    assert [s["lr"] for s in sweep] == [1e-3, 2e-3, 4e-3]
    for s in sweep:
        assert s["steps"] == STEPS and math.isfinite(s["val_bits_per_byte"]) and not s["diverged"]
    best = min(sweep, key=lambda s: s["val_bits_per_byte"])["lr"]
    assert next(f for f in doc["final"] if f["model"] == "llama")["lr"] == best
    # the final run repeats the best trial exactly (same initialisation, same batches, same step schedule)
    final_bpb = next(f for f in doc["final"] if f["model"] == "llama")["val_bits_per_byte"]
    assert final_bpb == pytest.approx(min(s["val_bits_per_byte"] for s in sweep), rel=1e-5)
    assert all(f["lr"] == 2e-3 for f in doc["final"] if f["model"] != "llama")
    assert doc["settings"]["lr_grids"]["llama"] == [1e-3, 2e-3, 4e-3]


def test_table_and_png(bench):
    table = (bench / "bench_lm.md").read_text()
    assert f"### L = {L}" in table
    for name in bench_lm.DEFAULT_MODELS:
        assert f"| {name} |" in table
    assert "(1.000x)" in table  # llama's own ratio
    png = (bench / "bench_lm.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000


def test_validation_bpb_matches_its_definition(corpus, tmp_path):
    """bits per byte = (sum of next-token losses in nats / ln 2 over the scored tokens) / their UTF-8 bytes; the
    first token of each document and padding are not scored."""
    args = bench_lm.parse_args(["--corpus", str(corpus), "--cache-dir", str(tmp_path), "--val-tokens", str(4 * L),
                                "--validation-fraction", "0.2", "--tokens-per-step", str(2 * L)])
    data = bench_lm.load_length(args, L)
    model = build_model("llama", Size(vocab=bench_lm.VOCAB, hidden=32, layers=1, heads=2, history=8), L)
    got = bench_lm.validation_bpb(model, data)
    nats = scored_bytes = 0.0
    with torch.no_grad():
        for row in data.validation.with_format("torch"):
            ids, pos, labels = (row[k][None] for k in ("input_ids", "position_ids", "labels"))
            logits = model(input_ids=ids, position_ids=pos).logits.double()[0, :-1]
            target = labels[0, 1:]
            keep = target != -100
            nats += float(torch.nn.functional.cross_entropy(logits[keep], target[keep], reduction="sum"))
            scored_bytes += float(row["num_scored_bytes"])
    assert got == pytest.approx(nats / math.log(2) / scored_bytes, rel=1e-4)
    # the subset: 4 rows drawn once, the same for every model and every call
    assert len(data.validation) == 4
    assert bench_lm.load_length(args, L).validation["input_ids"] == data.validation["input_ids"]


def test_data_order_is_shared(corpus, tmp_path):
    args = bench_lm.parse_args(["--corpus", str(corpus), "--cache-dir", str(tmp_path), "--validation-fraction", "0.2",
                                "--tokens-per-step", str(3 * L)])
    a, b = bench_lm.load_length(args, L), bench_lm.load_length(args, L)
    assert a.batch_rows == 3
    for step in (0, 1, 7):
        assert torch.equal(a.train_batch(step)["input_ids"], b.train_batch(step)["input_ids"])
    assert not torch.equal(a.train_batch(0)["input_ids"], a.train_batch(1)["input_ids"])


def test_lr_schedule():
    assert bench_lm.lr_factor(0.0) == 0.0
    assert bench_lm.lr_factor(bench_lm.WARMUP_FRACTION / 2) == pytest.approx(0.5)
    assert bench_lm.lr_factor(bench_lm.WARMUP_FRACTION) == pytest.approx(1.0)
    assert bench_lm.lr_factor(1.0) == pytest.approx(bench_lm.MIN_LR_FRACTION)
    values = [bench_lm.lr_factor(p) for p in np.linspace(bench_lm.WARMUP_FRACTION, 1, 50)]
    assert all(x >= y for x, y in zip(values, values[1:]))


def test_eval_fractions():
    assert bench_lm.Budget(60, None, 4, 3).eval_fractions() == [1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 3 / 4, 1]
    assert bench_lm.Budget(60, None, 1).eval_fractions() == [1]
    assert bench_lm.Budget(60, 10, 1).progress(5, 1e9) == 0.5  # a step budget ignores the clock
    assert bench_lm.Budget(60, None, 1).progress(5, 30.0) == 0.5


def test_parse_lrs():
    models = ["wave_lbc", "llama"]
    assert bench_lm.parse_lrs(None, models) == {m: bench_lm.LR_GRIDS[m] for m in models}
    assert bench_lm.parse_lrs(["1e-3"], models) == {"wave_lbc": [1e-3], "llama": [1e-3]}
    assert bench_lm.parse_lrs(["llama=1e-3,2e-3"], models) == {"wave_lbc": bench_lm.LR_GRIDS["wave_lbc"],
                                                              "llama": [1e-3, 2e-3]}
    with pytest.raises(ValueError, match="unknown model 'bert'"):
        bench_lm.parse_lrs(["bert=1e-3"], models)
    with pytest.raises(ValueError, match="positive"):
        bench_lm.parse_lrs(["-1e-3"], models)
    with pytest.raises(ValueError, match="not a comma-separated list"):
        bench_lm.parse_lrs(["llama=fast"], models)


def test_quick_settings_and_bad_arguments():
    args = bench_lm.parse_args(["--quick"])
    assert args.lengths == [512] and args.models == bench_lm.DEFAULT_MODELS
    assert args.lr_table == {m: [bench_lm.LR_GRIDS[m][1]] for m in bench_lm.DEFAULT_MODELS}
    assert (args.hidden, args.layers, args.minutes) == (128, 2, 0.5)
    assert bench_lm.parse_args(["--quick", "--lengths", "256"]).lengths == [256]  # explicit options win
    assert bench_lm.parse_args([]).lengths == [512, 2048] and bench_lm.parse_args([]).hidden == 320
    for bad in (["--minutes", "0"], ["--lengths", "1"], ["--max-steps", "0"], ["--hidden", "30", "--heads", "4"],
                ["--lrs", "llama=x"]):
        with pytest.raises(SystemExit):
            bench_lm.parse_args(bad)


def test_interpolation_at_equal_budgets():
    pts = [{"tokens": 100, "seconds": 1.0, "val_bits_per_byte": 4.0},
           {"tokens": 300, "seconds": 2.0, "val_bits_per_byte": 2.0}]
    assert bench_lm.interpolate(pts, "tokens", 200) == pytest.approx(3.0)
    assert bench_lm.interpolate(pts, "seconds", 2.0) == pytest.approx(2.0)
    assert bench_lm.interpolate(pts, "tokens", 50) is None and bench_lm.interpolate(pts, "tokens", 400) is None


def test_a_failing_model_is_reported_and_the_others_run(corpus, tmp_path, monkeypatch):
    def build(name, size, max_len):
        if name == "gpt2":
            raise RuntimeError("gpt2 cannot be built here")
        return build_model(name, size, max_len)

    monkeypatch.setattr(bench_lm, "build_model", build)
    run_bench(corpus, tmp_path / "out", tmp_path / "cache", "--models", "gpt2", "llama", "--lrs", "1e-3",
              "--max-steps", "1")
    doc = json.loads((tmp_path / "out" / "bench_lm.json").read_text())
    assert doc["failures"] == [{"model": "gpt2", "seq_len": L, "lr": 1e-3, "phase": "final",
                                "error": "gpt2 cannot be built here"}]
    assert [f["model"] for f in doc["final"]] == ["llama"]
    assert "| gpt2 | - | 0.001 |" in (tmp_path / "out" / "bench_lm.md").read_text()


def test_missing_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="cannot load the corpus .*no such file or directory"):
        bench_lm.main(["--corpus", str(tmp_path / "missing"), "--out", str(tmp_path / "out"), "--lengths", "64"])


def test_divergence_is_recorded_not_logged(corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(bench_lm, "validation_bpb", lambda model, data: math.nan)
    run_bench(corpus, tmp_path / "out", tmp_path / "cache", "--models", "llama", "--lrs", "1e-3,2e-3",
              "--max-steps", "1")
    doc = json.loads((tmp_path / "out" / "bench_lm.json").read_text())
    assert [(s["lr"], s["val_bits_per_byte"], s["diverged"]) for s in doc["sweep"]] == [(1e-3, None, True),
                                                                                      (2e-3, None, True)]
    assert doc["runs"] == [] and doc["final"] == []
    assert doc["failures"][0]["error"] == "every rate of the sweep diverged or failed"


def test_beside_reports_an_earlier_runs_other_models(bench, corpus, tmp_path):
    """--beside: retrain one model and report the earlier run's other models next to it, marked; the earlier run's
    settings must match."""
    earlier = bench / "bench_lm.json"
    out = tmp_path / "again"
    run_bench(corpus, out, tmp_path / "cache", "--lrs", "2e-3", "--models", "wave_lbc", "--beside", str(earlier))
    doc, before = json.loads((out / "bench_lm.json").read_text()), json.loads(earlier.read_text())
    assert {f["model"] for f in doc["final"]} == {f["model"] for f in before["final"]}
    for key in ("runs", "sweep", "final"):
        for e in doc[key]:
            assert ("from" in e) == (e["model"] != "wave_lbc"), e
        assert [e for e in doc[key] if e["model"] != "wave_lbc"] == [
            {**e, "from": str(earlier)} for e in before[key] if e["model"] != "wave_lbc"]
    assert f"from {earlier}" in (out / "bench_lm.md").read_text()
    with pytest.raises(SystemExit, match=r"settings differ from this run's .*'val_tokens'"):
        run_bench(corpus, tmp_path / "x", tmp_path / "cache", "--models", "wave_lbc", "--val-tokens", "64",
                  "--beside", str(earlier))
    with pytest.raises(SystemExit, match="not a bench_lm.json"):
        run_bench(corpus, tmp_path / "y", tmp_path / "cache", "--models", "wave_lbc", "--beside", str(out / "nope"))
