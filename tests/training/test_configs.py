"""Every shipped run config parses and builds its model and data (one forward pass on two rows, no training)."""

from __future__ import annotations

import pytest
import yaml

from wave_hf.cli import resolve_config_path
from wave_hf.training import prepare_run

from .conftest import REPO

CONFIGS = sorted((REPO / "configs" / "train").glob("*.yaml"))


def test_configs_are_shipped():
    names = {p.stem for p in CONFIGS}
    assert {"t1_lbc", "t1_elman", "t2_elman", "t3_elman", "t4_elman", "mqar_llama", "lorenz_lbc"} <= names, names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_builds(path):
    run = prepare_run(path)
    assert run.config.name == path.stem
    assert run.config.output_dir == f"runs/{path.stem}"
    assert sum(p.numel() for p in run.model.parameters()) > 0
    # the task decides the head: causal LM for tokens, prediction for real values
    head = "ForCausalLM" if run.task.kind == "tokens" else "ForPrediction"
    assert type(run.model).__name__.endswith(head), type(run.model).__name__


def test_main_job_is_the_paper_setting():
    run = prepare_run(REPO / "configs" / "train" / "t1_lbc.yaml", check_forward=False)
    cfg, mc = run.config, run.model_config
    # linear TWM substrates of d = s = 8 (two side by side, see the config's comment), nothing else
    assert mc.model_type == "wave_lbc" and (mc.num_hidden_layers, mc.num_heads, mc.head_dim, mc.history_length) == (
        1, 2, 8, 8)
    assert (mc.boundary, mc.readout, mc.gating, mc.mixer_projections, mc.use_mlp, mc.use_norm, mc.residual) == (
        "dense", "boundary", "none", False, False, False, False)
    assert cfg.dataset.name == "linear_vb" and cfg.dataset.params == {"task": "T1", "d": 8, "s": 8}
    assert cfg.curriculum.values == [10, 20, 40, 60, 100] and cfg.curriculum.threshold == 0.96
    assert cfg.optim.batch_size == 64 and cfg.optim.max_grad_norm == 1.0
    ev = cfg.evaluation
    assert ev.params == {"horizon": 200} and (ev.batches, ev.batch_size) == (10, 64) and ev.stop_at >= 0.99
    assert resolve_config_path("t1_lbc") == REPO / "configs" / "train" / "t1_lbc.yaml"


def test_accelerate_configs_parse():
    for name, kind in (("multi_gpu.yaml", "MULTI_GPU"), ("fsdp.yaml", "FSDP")):
        data = yaml.safe_load((REPO / "configs" / "accelerate" / name).read_text())
        assert data["distributed_type"] == kind and data["num_processes"] >= 2
    from accelerate.commands.config.config_args import ClusterConfig

    fsdp = ClusterConfig.from_yaml_file(str(REPO / "configs" / "accelerate" / "fsdp.yaml"))
    assert fsdp.fsdp_config["fsdp_version"] == 2
