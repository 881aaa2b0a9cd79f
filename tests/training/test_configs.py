"""Every shipped run config parses and builds its model and data (one forward pass on two rows, no training); names
and the old source-tree paths resolve to the configs shipped in the package."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from wave_hf.cli import resolve_config_path
from wave_hf.training import RunConfigError, load_run_config, prepare_run
from wave_hf.training.resources import (
    card_template,
    shipped_model_config,
    shipped_run_config,
    shipped_run_configs,
)

from .conftest import REPO

CONFIGS = [shipped_run_config(name) for name in shipped_run_configs()]


def test_configs_are_shipped():
    names = {p.stem for p in CONFIGS}
    assert {"t1_lbc", "t1_elman", "t2_elman", "t3_elman", "t4_elman", "mqar_llama", "lorenz_lbc", "lm_stdlib_lbc",
            "lm_stdlib_llama", "lm_stdlib_sbc"} <= names, names
    # inside the package, not in a checkout's configs/ folder
    assert all(p.parent == Path(__import__("wave_hf").__file__).parent / "training" / "configs" / "train"
               for p in CONFIGS)


# the corpus configs build on two small standard-library modules instead of the whole library (fast, still `stdlib`)
SMALL_CORPUS = ["--dataset.include=[abc.py, bisect.py]", "--dataset.validation_fraction=0.5"]


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_builds(path):
    run = prepare_run(path, SMALL_CORPUS if load_run_config(path).dataset.is_corpus else None)
    assert run.config.name == path.stem
    assert run.config.output_dir == f"runs/{path.stem}"
    assert sum(p.numel() for p in run.model.parameters()) > 0
    # the task decides the head: causal LM for tokens, prediction for real values
    head = "ForCausalLM" if run.task.kind == "tokens" else "ForPrediction"
    assert type(run.model).__name__.endswith(head), type(run.model).__name__


def test_main_job_is_the_paper_setting():
    run = prepare_run("t1_lbc", check_forward=False)
    cfg, mc = run.config, run.model_config
    # the paper's single linear TWM substrate of d = s = 8, nothing else; B = C = I at the start (see the comment)
    assert mc.model_type == "wave_lbc" and (mc.num_hidden_layers, mc.num_heads, mc.head_dim, mc.history_length) == (
        1, 1, 8, 8)
    assert mc.value_init == "identity" and (cfg.optim.optimizer, cfg.optim.momentum) == ("sgd", 0.9)
    assert (mc.boundary, mc.readout, mc.gating, mc.mixer_projections, mc.use_mlp, mc.use_norm, mc.residual) == (
        "dense", "boundary", "none", False, False, False, False)
    assert cfg.dataset.name == "linear_vb" and cfg.dataset.params == {"task": "T1", "d": 8, "s": 8}
    assert cfg.curriculum.values == [10, 20, 40, 60, 100] and cfg.curriculum.threshold == 0.96
    assert cfg.optim.batch_size == 64 and cfg.optim.max_grad_norm == 1.0
    ev = cfg.evaluation
    assert ev.params == {"horizon": 200} and (ev.batches, ev.batch_size) == (10, 64) and ev.stop_at >= 0.999
    assert resolve_config_path("t1_lbc") == shipped_run_config("t1_lbc")


def test_names_and_old_paths_resolve_to_the_shipped_configs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shipped = shipped_run_config("t1_lbc")
    for value in ("t1_lbc", "t1_lbc.yaml", "configs/train/t1_lbc.yaml"):
        assert resolve_config_path(value) == shipped
        assert "the run config shipped with wave_hf" in capsys.readouterr().err
        assert load_run_config(value).name == "t1_lbc"
    # a user's own file always wins over the shipped one of the same name
    own = tmp_path / "configs" / "train" / "t1_lbc.yaml"
    own.parent.mkdir(parents=True)
    own.write_text(yaml.safe_dump({**yaml.safe_load(shipped.read_text()), "name": "mine",
                                   "model": {"file": "configs/models/wave_lbc_paper.yaml"}}))
    assert resolve_config_path("configs/train/t1_lbc.yaml") == Path("configs/train/t1_lbc.yaml")
    assert capsys.readouterr().err == ""
    # its old-style model path (no such file here) is the shipped model config of that name
    run = prepare_run("configs/train/t1_lbc.yaml", check_forward=False)
    assert run.config.name == "mine" and (run.model_config.num_heads, run.model_config.head_dim) == (1, 8)
    assert run.config.model["file"] == "configs/models/wave_lbc_paper.yaml"
    with pytest.raises(RunConfigError, match=r"no shipped run config named 't9_lbc' \(shipped: .*t1_lbc"):
        load_run_config("configs/train/t9_lbc.yaml")
    with pytest.raises(RunConfigError, match="run config file not found: elsewhere/t1_lbc.yaml"):
        load_run_config("elsewhere/t1_lbc.yaml")
    with pytest.raises(FileNotFoundError, match="no shipped model config named 'nope'"):
        shipped_model_config("nope")


def test_card_templates_are_shipped_and_a_missing_one_is_an_error(monkeypatch):
    from wave_hf.training import resources

    assert "LBC wave-RNN" in card_template("wave_lbc") and "SBC wave model" in card_template("wave_sbc")
    assert "**baseline**" in card_template("llama") and "{{ how_to_load }}" in card_template("elman_rnn")
    monkeypatch.setattr(resources, "_BASELINE_TEMPLATE", "missing.md")
    with pytest.raises(FileNotFoundError, match="template missing.md is missing from the installed wave_hf package"):
        card_template("llama")


def test_accelerate_configs_parse():
    for name, kind in (("multi_gpu.yaml", "MULTI_GPU"), ("fsdp.yaml", "FSDP")):
        data = yaml.safe_load((REPO / "configs" / "accelerate" / name).read_text())
        assert data["distributed_type"] == kind and data["num_processes"] >= 2
    from accelerate.commands.config.config_args import ClusterConfig

    fsdp = ClusterConfig.from_yaml_file(str(REPO / "configs" / "accelerate" / "fsdp.yaml"))
    assert fsdp.fsdp_config["fsdp_version"] == 2
