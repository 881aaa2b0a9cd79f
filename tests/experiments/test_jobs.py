"""The report's training runs: every job is a valid run config of the shipped recipes with the settings' lengths."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from wave_hf.experiments.cli import main
from wave_hf.experiments.jobs import build_jobs, job_file, job_part, merge
from wave_hf.experiments.pipeline import MissingRunsError, _part_jobs
from wave_hf.experiments.settings import settings_for
from wave_hf.training import load_run_config
from wave_hf.training.modeling import resolve_model_fields
from wave_hf.training.resources import shipped_model_config, shipped_run_config


@pytest.fixture(scope="module")
def quick_jobs(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    return runs, build_jobs(settings_for("quick"), runs)


def test_quick_jobs_names_order_and_outputs(quick_jobs):
    runs, jobs = quick_jobs
    assert list(jobs) == [
        "elman_T1_s0", "elmanvar_wave_init_T1_s0", "elmanvar_hidden_32_T1_s0", "associative_recall_lbc_h3_h3recipe",
        "associative_recall_lbc_shift_h3recipe", "associative_recall_sbc_h3recipe", "associative_recall_llama_h3recipe",
        "mqar_L32_w32_lbc_h3_lr0.003", "mqar_L32_w32_lbc_shift_lr0.003", "mqar_L32_w32_sbc_lr0.003",
        "mqar_L32_w32_llama_lr0.003", "mqar_L32_w64_lbc_h3_lr0.003", "mqar_L32_w64_lbc_shift_lr0.003",
        "mqar_L32_w64_sbc_lr0.003", "mqar_L32_w64_llama_lr0.003",
        "induction_head_lbc_h3_lr0.003", "induction_head_lbc_shift_lr0.003", "lbc_T1", "lstm_T1",
        "copy10_wrnn", "copy10_irnn", "copy10_lbc", "adding30_wrnn", "adding30_irnn", "adding30_lbc",
        "induction_head_sbc_lr0.003", "induction_head_llama_lr0.003", "main_s0", "main_s1",
    ]
    for name, cfg in jobs.items():
        assert cfg["name"] == name and Path(cfg["output_dir"]) == runs / name
        parsed = load_run_config(cfg)  # every job is a valid run config
        fields = resolve_model_fields(parsed.model, parsed.config_dir)
        assert fields["model_type"]
        if "file" in cfg["model"]:
            assert Path(cfg["model"]["file"]).is_absolute() and Path(cfg["model"]["file"]).is_file()


def test_quick_jobs_follow_the_settings(quick_jobs):
    _, jobs = quick_jobs
    st = settings_for("quick")
    elman = jobs["elman_T1_s0"]
    assert elman["steps"] == st.elman_steps and elman["seed"] == 0
    assert elman["checkpointing"] == {"every": st.elman_steps // st.grad_checkpoints,
                                      "keep_last": st.grad_checkpoints + 2}
    assert elman["evaluation"]["params"] == {"horizon": 200} and elman["evaluation"]["batches"] == st.eval_batches
    assert resolve_model_fields(jobs["lstm_T1"]["model"])["hidden_size"] == st.lstm_hidden
    assert jobs["lbc_T1"]["dataset"]["params"]["task"] == "T1" and jobs["lbc_T1"]["steps"] == st.cmp_steps
    assert jobs["copy10_lbc"]["model"]["history_length"] == 2 * 10 + 10 + 1
    assert jobs["copy10_wrnn"]["dataset"]["params"] == {"copy_len": 10, "num_categories": 8, "delay": 10}
    assert jobs["adding30_irnn"]["dataset"]["params"] == {"seq_len": 30}
    llama = jobs["induction_head_llama_lr0.003"]
    assert llama["model"]["hidden_size"] == st.h3_hidden and llama["model"]["intermediate_size"] == 4 * st.h3_hidden
    assert llama["model"]["num_attention_heads"] == 1  # H3's attention baseline: one head of width 32
    assert jobs["induction_head_lbc_h3_lr0.003"]["model"]["num_heads"] == st.h3_hidden // 8
    assert llama["optim"]["warmup_steps"] == max(1, st.h3_steps["induction_head"] // 10)
    assert {k: llama["optim"][k] for k in ("optimizer", "lr", "weight_decay", "batch_size")} == {
        "optimizer": "adamw", "lr": st.h3_lrs[0], "weight_decay": 0.1, "batch_size": 32}  # H3's recipe
    assert llama["evaluation"]["stop_at"] == 0.99
    assert llama["dataset"]["name"] == "induction_head"
    # H3's full recipe on associative recall: safari's data, H3's rate, only the answers evaluated, every model
    for kind in ("lbc_h3", "lbc_shift", "sbc"):
        assert jobs[f"associative_recall_{kind}_h3recipe"]["model"] == jobs[f"induction_head_{kind}_lr0.003"]["model"]
    full = jobs["associative_recall_llama_h3recipe"]
    assert full["model"] == llama["model"] and full["steps"] == st.h3_full_steps
    assert full["dataset"] == {"name": "associative_recall",
                               "params": {"vocab_size": 20, "input_seq_len": 40, "label_all": True}}
    assert full["evaluation"]["params"] == {"label_all": False} and full["evaluation"]["stop_at"] == 0.99
    assert full["optim"]["lr"] == 5e-4 and full["optim"]["warmup_steps"] == max(1, st.h3_full_steps // 10)
    # section 12: section 8's models and recipe on MQAR, kv pairs = length / 8, the window and positions = length
    (length,) = st.mqar_lengths
    assert st.mqar_widths == [32, 64]  # the width of section 8's models, and zoology's narrowest
    for width in st.mqar_widths:
        mq = {kind: jobs[f"mqar_L{length}_w{width}_{kind}_lr0.003"] for kind in ("lbc_h3", "lbc_shift", "sbc", "llama")}
        for kind, cfg in mq.items():
            assert cfg["dataset"] == {"name": "mqar", "params": {"vocab_size": 128, "input_seq_len": length,
                                                                 "num_kv_pairs": length // 8}}
            assert cfg["steps"] == st.mqar_steps and cfg["optim"]["batch_size"] == 32
            assert cfg["optim"]["warmup_steps"] == max(1, st.mqar_steps // 10)
            h3 = jobs[f"induction_head_{kind}_lr0.003"]["model"]  # section 8's model, at width st.h3_hidden
            sized = ("history_length", "max_position_embeddings", "hidden_size", "num_heads", "intermediate_size")
            assert {k: v for k, v in cfg["model"].items() if k not in sized} \
                == {k: v for k, v in h3.items() if k not in sized}
            assert cfg["model"]["hidden_size"] == width
            if kind.startswith("lbc"):  # the LBC keeps its head size
                assert cfg["model"]["num_heads"] * h3["hidden_size"] == h3["num_heads"] * width
        assert mq["llama"]["model"]["intermediate_size"] == 4 * width
        assert mq["sbc"]["model"]["history_length"] == length
        assert mq["llama"]["model"]["max_position_embeddings"] == length
    assert mq["lbc_h3"]["model"]["boundary"] == "diagonal" and mq["lbc_shift"]["model"]["boundary"] == "none"


def test_full_jobs_cover_every_task_and_seed(tmp_path):
    st = settings_for("full")
    jobs = build_jobs(st, tmp_path)
    assert len(jobs) == len(st.elman_runs) + 2 * len(st.cmp_tasks) + 3 * (len(st.copy_delays)
                                                                           + len(st.adding_lengths)) \
        + 4 * len(st.h3_steps) * len(st.h3_lrs) + 10 + sum(len(v) for v in st.elman_variants.values()) \
        + 4 * len(st.mqar_lengths) * len(st.mqar_widths) * len(st.h3_lrs) + 4  # + H3's full recipe, every model
    assert [n for n in jobs if n.startswith("main_")] == [f"main_s{s}" for s in range(10)]
    assert [n for n in jobs][: len(st.elman_runs)] == [f"elman_{t}_s{s}" for t, s in st.elman_runs]
    assert {jobs[f"elman_{t}_s{s}"]["dataset"]["params"]["task"] for t, s in st.elman_runs} == set(st.cmp_tasks)
    only_gradient_run = [n for n, c in jobs.items() if n.startswith("elman") and c["checkpointing"]["every"]]
    assert only_gradient_run == ["elman_T1_s0"]
    # section 11: the Elman recipe with one change each; every task has waves-vs-default seeds
    assert {t for t, _ in st.elman_variants["wave_init"]} == set(st.cmp_tasks)
    for variant, change in (("wave_init", ("model", "recurrent_init", "wave")),
                            ("hidden_32", ("model", "hidden_size", 32)),
                            ("weight_decay", ("optim", "weight_decay", 1e-4))):
        task, seed = st.elman_variants[variant][0]
        cfg, plain = jobs[f"elmanvar_{variant}_{task}_s{seed}"], jobs[f"elman_{task}_s{seed}"]
        assert cfg[change[0]][change[1]] == change[2] and plain[change[0]].get(change[1]) != change[2]
        assert cfg["dataset"] == plain["dataset"] and cfg["seed"] == seed
        assert cfg["steps"] == st.elman_variant_steps.get(variant, plain["steps"])
    assert st.elman_variant_steps == {"hidden_64": 2 * st.elman_steps, "weight_decay": 2 * st.elman_steps}


def test_main_jobs_are_the_shipped_recipe_but_for_seed_output_and_logging(quick_jobs):
    runs, jobs = quick_jobs
    recipe = yaml.safe_load(shipped_run_config("t1_lbc").read_text())
    common = job_file("main_job")["common"]
    for seed in settings_for("quick").main_seeds:
        cfg = jobs[f"main_s{seed}"]
        assert cfg["seed"] == seed and cfg["output_dir"] == str(runs / f"main_s{seed}")
        assert cfg["logging"] == {**recipe["logging"], **common["logging"]}
        assert cfg["model"]["file"] == str(shipped_model_config(Path(recipe["model"]["file"]).stem).resolve())
        assert {k: v for k, v in cfg["model"].items() if k != "file"} == {
            k: v for k, v in recipe["model"].items() if k != "file"}
        unchanged = set(recipe) - {"name", "description", "seed", "output_dir", "logging", "model"}
        assert unchanged >= {"steps", "dataset", "optim", "curriculum", "evaluation"}
        assert {k: cfg[k] for k in unchanged} == {k: recipe[k] for k in unchanged}


def test_merge_is_deep_and_leaves_inputs_alone():
    base = {"a": {"b": 1, "c": [1]}, "d": 2}
    over = {"a": {"b": 3}, "e": {"f": 4}}
    out = merge(base, over)
    assert out == {"a": {"b": 3, "c": [1]}, "d": 2, "e": {"f": 4}}
    out["a"]["c"].append(2)
    assert base == {"a": {"b": 1, "c": [1]}, "d": 2} and over == {"a": {"b": 3}, "e": {"f": 4}}


def test_the_split_run_trains_each_part_after_the_earlier_ones(tmp_path, capsys):
    jobs = build_jobs(settings_for("full"), tmp_path / "runs")
    part2 = [n for n in jobs if job_part(n) == 2]
    part3 = [n for n in jobs if job_part(n) == 3]
    part4 = [n for n in jobs if job_part(n) == 4]
    assert part2 and all(n.startswith(("elmanvar_wave_init_", "associative_recall_")) for n in part2)
    assert [n for n in part2 if n.endswith("_h3recipe")] == [
        f"associative_recall_{kind}_h3recipe" for kind in ("lbc_h3", "lbc_shift", "sbc", "llama")]
    assert part3 and all(n.startswith("mqar_") for n in part3)
    assert {n.rsplit("_", 2)[0] for n in part4} == {"elmanvar_hidden_64", "elmanvar_hidden_32",
                                                     "elmanvar_weight_decay"}
    mine, earlier = _part_jobs(jobs, 1)
    assert set(mine) == set(jobs) - set(part2) - set(part3) - set(part4) and earlier == {}
    for part in (2, 3, 4):
        with pytest.raises(MissingRunsError, match="missing or changed: elman_T1_s0, "):
            _part_jobs(jobs, part)
    with pytest.raises(ValueError, match="`part` must be one of"):
        _part_jobs(jobs, 5)
    with pytest.raises(SystemExit) as exit_info:  # before any training starts
        main(["--quick", "--part", "2", "--out", str(tmp_path / "report")])
    assert exit_info.value.code == 2 and "part 2 reports with the finished runs" in capsys.readouterr().err
