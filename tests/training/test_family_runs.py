"""A few-step run of every model family through ``scripts/train.py`` (one through the ``wave-hf`` console script):
each leaves a checkpoint that loads with the Auto classes in a fresh process and reproduces the reported test
metric, a curve PNG and a model card with valid Hub metadata."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from .conftest import BIN, run_py, run_train_script, subprocess_env, tiny_config, write_config

# (family, dataset, extra run-config sections)
FAMILY_RUNS = {
    "wave_lbc": ("associative_recall", {}),
    "wave_sbc": ("linear_vb", {"curriculum": {"param": "horizon", "values": [4, 6], "threshold": 0.0},
                               "evaluation": {"params": {"horizon": 10}}}),
    "elman_rnn": ("var", {}),
    "llama": ("associative_recall", {}),
}
STEPS = 4


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("family_runs")
    out = {}
    for family, (data, extra) in FAMILY_RUNS.items():
        cfg = tiny_config(root / family, model=family, data=data, steps=STEPS,
                          evaluation={"every": 2, "batches": 2, "batch_size": 8, **extra.pop("evaluation", {})},
                          checkpointing={"every": 2}, **extra)
        path = write_config(root / f"{family}.yaml", cfg)
        if family == "llama":  # the console script, with a --key=value override
            proc = subprocess.run([str(BIN / "wave-hf"), "train", "--config", str(path), f"--steps={STEPS}"],
                                  env=subprocess_env(), capture_output=True, text=True, timeout=180)
            assert proc.returncode == 0, proc.stderr[-3000:]
            stdout = proc.stdout
        else:
            code, stdout = run_train_script(["--config", str(path)])
            assert code == 0, stdout[-3000:]
        out[family] = {"dir": root / family, "stdout": stdout, "cfg": cfg,
                       "result": json.loads((root / family / "result.json").read_text())}
    return out


def test_outputs_of_every_run(runs):
    for family, run in runs.items():
        d = run["dir"]
        model = d / "model"
        names = sorted(p.name for p in model.iterdir())
        for required in ("config.json", "model.safetensors", "README.md", "training_curves.png", "run_config.yaml",
                         "training_info.json"):
            assert required in names, (family, names)
        assert not [n for n in names if n.endswith((".bin", ".pt", ".pkl"))], names
        if run["result"]["metric"] == "token_accuracy":  # generative heads also save their generation config
            assert "generation_config.json" in names, (family, names)
        assert (model / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (d / "training_curves.png").is_file()
        rows = (d / "logs" / "train.csv").read_text().strip().splitlines()
        assert len(rows) == 1 + STEPS, (family, rows)
        assert [p.name for p in sorted((d / "checkpoints").iterdir())] == ["step_00000002", "step_00000004"]
        assert json.loads((d / "model" / "config.json").read_text())["model_type"] == family
        res = run["result"]
        assert res["steps"] == STEPS and res["num_processes"] == 1 and res["test_metrics"]
        assert "from_pretrained" in run["stdout"] and str(model) in run["stdout"], run["stdout"][-2000:]


def test_curriculum_advanced_in_the_sbc_run(runs):
    res = runs["wave_sbc"]["result"]
    assert res["curriculum"]["level"] == 1 and res["curriculum"]["completed"]
    col = [r.split(",")[5] for r in (runs["wave_sbc"]["dir"] / "logs" / "train.csv").read_text().splitlines()[1:]]
    assert col[0] == "4" and col[-1] == "6", col


# Runs, for every model, the Python block of its model card (import wave_hf, the Auto class, from_pretrained on the
# saved folder, evaluate with the card's test settings) in one fresh interpreter.
LOADER = r"""
import ast, contextlib, io, json, sys
out = {}
for family, card_path in json.loads(sys.argv[1]).items():
    code = open(card_path).read().split("```python", 1)[1].split("```", 1)[0]
    ns, buf = {}, io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(code, ns)
    out[family] = {"class": type(ns["model"]).__name__, "metrics": ast.literal_eval(buf.getvalue().strip())}
print("RESULT" + json.dumps(out))
"""


def test_card_instructions_load_the_checkpoint_in_a_fresh_process_and_reproduce_the_metric(runs):
    cards = {family: str(run["dir"] / "model" / "README.md") for family, run in runs.items()}
    proc = run_py(["-c", LOADER, json.dumps(cards)], timeout=180)
    loaded = json.loads(proc.stdout.split("RESULT", 1)[1])
    for family, run in runs.items():
        test = run["result"]["test_metrics"]
        got = loaded[family]["metrics"]
        metric = run["result"]["metric"]
        assert got[metric] == pytest.approx(test[metric], abs=1e-6), (family, got, test)
        assert got["loss"] == pytest.approx(test["loss"], rel=1e-5), (family, got, test)
    assert loaded["wave_lbc"]["class"] == "WaveLBCForCausalLM"
    assert loaded["wave_sbc"]["class"] == "WaveSBCForPrediction"
    assert loaded["elman_rnn"]["class"] == "ElmanRNNForPrediction"
    assert loaded["llama"]["class"] == "LlamaForCausalLM"


def test_model_cards_have_valid_hub_metadata(runs):
    from huggingface_hub import ModelCard

    for family, run in runs.items():
        card = ModelCard.load(run["dir"] / "model" / "README.md")
        data = card.data.to_dict()
        res = run["result"]
        metric = res["metric"]
        assert data["library_name"] == "transformers" and data["license"] == "apache-2.0"
        assert family in data["tags"] and "wave_hf" in data["tags"]
        assert data["pipeline_tag"] == ("text-generation" if metric == "token_accuracy" else "time-series-forecasting")
        (result,) = data["model-index"][0]["results"]
        assert result["metrics"][0]["value"] == pytest.approx(res["test_metrics"][metric])
        assert result["dataset"]["type"] == f"wave_hf/{run['cfg']['dataset']['name']}"
        assert card.data.eval_results[0].metric_value == pytest.approx(res["test_metrics"][metric])
        text = card.text
        assert "import wave_hf" in text and ".from_pretrained(" in text and "training_curves.png" in text
        assert yaml.safe_load(text.split("```yaml", 1)[1].split("```", 1)[0])["steps"] == STEPS
        title = {"wave_lbc": "LBC wave-RNN", "wave_sbc": "SBC wave model"}.get(family, "baseline")
        assert title in text, (family, text[:400])
