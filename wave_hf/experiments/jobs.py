"""The training runs of the reproduction: run configs built from the job files shipped in ``jobs/`` (recipes named
by the shipped run configs of ``wave_hf.training``) and the run lengths of the settings.

A job is a plain run-config mapping (what ``wave_hf.training.train`` takes, and what travels to a worker process);
``model.file`` entries are made absolute paths of the shipped model configs.
"""

from __future__ import annotations

import copy
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from wave_hf.training.resources import shipped_model_config, shipped_run_config

from .settings import Settings

__all__ = [
    "DESCRIPTION", "PARTS", "build_jobs", "elman_variant_name", "h3_full_job_name", "h3_job_name", "job_file",
    "job_part", "main_job_name", "merge", "mqar_job_name",
]

DESCRIPTION = "wave_hf.experiments"
# runs started first (the longest), so that two workers finish together
_LONGEST_FIRST = ("elman_", "elmanvar_", "associative_recall_", "mqar_", "adding200_", "induction_head_lbc")


def job_file(name: str) -> dict[str, Any]:
    """The parsed job file ``jobs/<name>.yaml`` shipped with this package."""
    return yaml.safe_load(files(__package__).joinpath("jobs", f"{name}.yaml").read_text())


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``over``, mappings merged key by key (``over`` wins); neither input is changed."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _model(spec: dict[str, Any] | str) -> dict[str, Any]:
    """A model spec with its ``file`` (a shipped model-config name) made an absolute path."""
    spec = {"file": spec} if isinstance(spec, str) else dict(spec)
    if "file" in spec:
        spec["file"] = str(shipped_model_config(Path(spec["file"]).stem).resolve())
    return spec


def _recipe(name: str, run_name: str, runs: Path, *overrides: dict[str, Any]) -> dict[str, Any]:
    """The shipped run config ``name`` renamed to ``run_name`` (output in ``runs/run_name``) with ``overrides``."""
    data = yaml.safe_load(shipped_run_config(name).read_text())
    data["model"] = _model(data["model"])
    cfg = merge(data, {"name": run_name, "output_dir": str(runs / run_name), "description": f"{DESCRIPTION} ({name})"})
    for over in overrides:
        cfg = merge(cfg, over)
    return cfg


def _t_task_jobs(st: Settings, runs: Path) -> dict[str, dict[str, Any]]:
    spec = job_file("t_tasks")
    common = spec["common"]

    def evaluation(every: int) -> dict[str, Any]:
        return {"evaluation": {**spec["evaluation"], "every": every, "batches": st.eval_batches}}

    jobs = {}
    elman = spec["elman"]
    for task, seed in st.elman_runs:
        name = f"elman_{task}_s{seed}"
        gradient_run = [task, seed] == elman["gradient_run"]
        every = max(1, st.elman_steps // st.grad_checkpoints) if gradient_run else 0
        jobs[name] = _recipe(elman["recipes"][task], name, runs, common, evaluation(st.elman_eval_every), {
            "seed": seed, "steps": st.elman_steps,
            "checkpointing": {"every": every, "keep_last": st.grad_checkpoints + 2}})
    for variant, pairs in st.elman_variants.items():
        for task, seed in pairs:
            name = elman_variant_name(variant, task, seed)
            steps = st.elman_variant_steps.get(variant, st.elman_steps)
            jobs[name] = _recipe(elman["recipes"][task], name, runs, common, evaluation(st.elman_eval_every),
                                 spec["elman_variants"][variant],
                                 {"seed": seed, "steps": steps, "checkpointing": {"every": 0, "keep_last": 2}})
    lbc, lstm = spec["lbc"], spec["lstm"]
    for task in st.cmp_tasks:
        jobs[f"lbc_{task}"] = _recipe(lbc["recipe"], f"lbc_{task}", runs, common, evaluation(st.elman_eval_every), {
            "steps": st.cmp_steps, "dataset": {"params": {"task": task}}, "checkpointing": lbc["checkpointing"]})
        cfg = _recipe(lstm["recipes"][task], f"lstm_{task}", runs, common, evaluation(st.elman_eval_every), {
            "steps": st.cmp_steps, "checkpointing": lstm["checkpointing"]})
        cfg["model"] = {**_model(lstm["model"]), "hidden_size": st.lstm_hidden}
        jobs[f"lstm_{task}"] = cfg
    return jobs


PARTS = (1, 2, 3, 4)  # the full run split in four, each under an hour on 2 cores


def job_part(name: str) -> int:
    """The part of a split run (``PARTS``) that trains the job ``name``: 2 for section 11's wave-initialised Elman
    runs and section 8's runs with H3's full recipe, 3 for section 12's MQAR sweep, 4 for section 11's robustness grid
    (the other Elman variants), else 1."""
    if name.startswith("elmanvar_wave_init_") or name.endswith("_h3recipe"):
        return 2
    if name.startswith("mqar_"):
        return 3
    return 4 if name.startswith("elmanvar_") else 1


def elman_variant_name(variant: str, task: str, seed: int) -> str:
    """The name of section 11's run of the Elman ``variant`` (``jobs/t_tasks.yaml``) on ``task`` with ``seed``."""
    return f"elmanvar_{variant}_{task}_s{seed}"


def _wave_rnn_jobs(st: Settings, runs: Path) -> dict[str, dict[str, Any]]:
    spec = job_file("wave_rnn")

    def group(prefix: str, task: dict[str, Any], params: dict[str, Any], steps: int,
              model_over: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        out = {}
        for kind, model in task["models"].items():
            name = f"{prefix}_{kind}"
            model = _model(model)
            if kind == "lbc" and model_over:
                model.update(model_over)
            out[name] = merge(spec["recipe"], {
                "name": name, "output_dir": str(runs / name), "steps": steps, "model": model,
                "dataset": {"name": task["dataset"], "params": {**task["params"], **params}, "source": "sample"},
                "evaluation": {"every": max(task["min_eval_every"], steps // 20), "batches": st.eval_batches},
                "description": DESCRIPTION})
        return out

    jobs = {}
    copy_task = spec["copy"]
    for delay in st.copy_delays:
        length = 2 * copy_task["params"]["copy_len"] + delay + 1
        jobs.update(group(f"copy{delay}", copy_task, {"delay": delay}, st.copy_steps, {"history_length": length}))
    for length in st.adding_lengths:
        jobs.update(group(f"adding{length}", spec["adding"], {"seq_len": length}, st.adding_steps))
    return jobs


def _h3_model(fields: dict[str, Any], width: int) -> dict[str, Any]:
    """A model of ``jobs/h3_tasks.yaml`` at ``width`` (the width-dependent fields named there)."""
    model = {**fields, "hidden_size": width}
    if model["model_type"] == "wave_lbc":
        model["num_heads"] = width // model["head_dim"]
    if model["model_type"] == "llama":
        model["intermediate_size"] = 4 * width
    return model


def h3_job_name(task: str, kind: str, lr: float) -> str:
    """The name of section 8's run of model ``kind`` on ``task`` at learning rate ``lr``."""
    return f"{task}_{kind}_lr{lr:g}"


def h3_full_job_name(task: str, kind: str) -> str:
    """The name of section 8's run of model ``kind`` on ``task`` with H3's full recipe."""
    return f"{task}_{kind}_h3recipe"


def _h3_jobs(st: Settings, runs: Path) -> dict[str, dict[str, Any]]:
    spec = job_file("h3_tasks")
    jobs = {}
    full = spec["full_recipe"]
    for kind in full["models"]:
        name = h3_full_job_name(full["task"], kind)
        cfg = _recipe(spec["recipe"], name, runs, spec["common"], {
            "dataset": {"name": full["task"], "params": full["dataset"]}, "steps": st.h3_full_steps,
            "optim": {"lr": full["lr"], "warmup_steps": max(1, st.h3_full_steps // 10)},
            "evaluation": {"every": max(10, st.h3_full_steps // 20), "batches": st.eval_batches,
                           "params": full["evaluation"]}})
        cfg["model"] = _h3_model(spec["models"][kind], st.h3_hidden)
        jobs[name] = cfg
    for task, steps in st.h3_steps.items():
        for kind, fields in spec["models"].items():
            for lr in st.h3_lrs:
                name = h3_job_name(task, kind, lr)
                cfg = _recipe(spec["recipe"], name, runs, spec["common"], {
                    "dataset": {"name": task}, "steps": steps,
                    "optim": {"lr": lr, "warmup_steps": max(1, steps // 10)},
                    "evaluation": {"every": max(10, steps // 20), "batches": st.eval_batches}})
                cfg["model"] = _h3_model(fields, st.h3_hidden)
                jobs[name] = cfg
    return jobs


def mqar_job_name(length: int, width: int, kind: str, lr: float) -> str:
    """The name of section 12's run of model ``kind`` on MQAR of ``length`` tokens at ``width`` and rate ``lr``."""
    return f"mqar_L{length}_w{width}_{kind}_lr{lr:g}"


def _mqar_jobs(st: Settings, runs: Path) -> dict[str, dict[str, Any]]:
    """Section 8's models and recipe (``jobs/h3_tasks.yaml``) on MQAR over the settings' lengths and widths."""
    h3, spec = job_file("h3_tasks"), job_file("mqar")
    jobs = {}
    for length in st.mqar_lengths:
        data = {**spec["dataset"], "input_seq_len": length,
                "num_kv_pairs": int(length * spec["kv_pairs_per_token"])}
        for width in st.mqar_widths:
            for kind, fields in h3["models"].items():
                model = _h3_model(fields, width)
                if model["model_type"] == "wave_sbc":
                    model["history_length"] = length
                if model["model_type"] == "llama":
                    model["max_position_embeddings"] = length
                for lr in st.h3_lrs:
                    name = mqar_job_name(length, width, kind, lr)
                    cfg = _recipe(h3["recipe"], name, runs, h3["common"], {
                        "dataset": {"name": "mqar", "params": data}, "steps": st.mqar_steps,
                        "optim": {**spec["optim"], "lr": lr, "warmup_steps": max(1, st.mqar_steps // 10)},
                        "evaluation": {"every": max(10, st.mqar_steps // 20), "batches": st.eval_batches}})
                    cfg["model"] = dict(model)
                    jobs[name] = cfg
    return jobs


def main_job_name(seed: int) -> str:
    """The name of the main job's run with ``seed`` (section 10)."""
    return f"main_s{seed}"


def _main_jobs(st: Settings, runs: Path) -> dict[str, dict[str, Any]]:
    """The shipped main recipe once per seed of the settings, unchanged but for seed, output and logging."""
    spec = job_file("main_job")
    return {main_job_name(seed): _recipe(spec["recipe"], main_job_name(seed), runs, spec["common"], {"seed": seed})
            for seed in st.main_seeds}


def build_jobs(st: Settings, runs: Path) -> dict[str, dict[str, Any]]:
    """Every training run of the report as ``{name: run config}``, the longest first; outputs in ``runs/<name>``."""
    runs = Path(runs)
    jobs = {**_t_task_jobs(st, runs), **_wave_rnn_jobs(st, runs), **_h3_jobs(st, runs), **_mqar_jobs(st, runs),
            **_main_jobs(st, runs)}
    rank = {n: next((i for i, p in enumerate(_LONGEST_FIRST) if n.startswith(p)), len(_LONGEST_FIRST)) for n in jobs}
    return dict(sorted(jobs.items(), key=lambda kv: rank[kv[0]]))
