"""Model cards: Hub metadata (``ModelCardData`` + ``EvalResult`` model-index) and a per-family Markdown template.

Templates live in ``model_cards/`` at the repository root (``<model_type>.md``, else ``baseline.md``); the folder can
be moved with ``WAVE_HF_MODEL_CARDS``. Each template lays out its family's text and places shared pieces rendered
here (``how_to_load``, ``results_table``, ``training_section``, ``config_table``). The card is a pure function of
``training_info.json`` (saved next to the weights) and an optional repo id, so ``wave-hf push`` can render the loading
snippet for the target repo without touching the local folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

__all__ = ["TRAINING_INFO", "card_template_path", "render_card", "write_card"]

TRAINING_INFO = "training_info.json"

_METRIC_CARD = {  # metric -> (Hub metric type, human name)
    "bit_accuracy": ("accuracy", "bit accuracy"),
    "token_accuracy": ("accuracy", "token accuracy"),
    "mse": ("mse", "mean squared error"),
}
_PIPELINE = {"tokens": "text-generation", "values": "time-series-forecasting"}
_FALLBACK_TEMPLATE = """---
{{ card_data }}
---

# {{ model_name }}

A `{{ model_type }}` model trained with wave_hf.

{{ how_to_load }}

{{ results_table }}

{{ training_section }}
"""


def _templates_dir() -> Path | None:
    env = os.environ.get("WAVE_HF_MODEL_CARDS")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2] / "model_cards"
    return repo if repo.is_dir() else None


def card_template_path(model_type: str) -> Path | None:
    """``model_cards/<model_type>.md`` if it exists, else ``model_cards/baseline.md``; None when no folder exists."""
    root = _templates_dir()
    if root is None:
        return None
    for name in (f"{model_type}.md", "baseline.md"):
        if (root / name).is_file():
            return root / name
    return None


def _fmt(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _how_to_load(info: dict[str, Any], model_id: str) -> str:
    auto = info["auto_class"]
    task = info["task"]
    lines = [
        "```python",
        "import wave_hf  # registers the wave_hf model types with the transformers Auto classes",
        f"from transformers import {auto}",
        "",
        f'model = {auto}.from_pretrained("{model_id}")',
    ]
    test = info.get("evaluation", {})
    if test:
        params = {**task["params"], **test.get("params", {})}
        lines += [
            "",
            "# the test metric of this card",
            "from wave_hf.training import evaluate",
            f"print(evaluate(model, {task['name']!r}, params={params!r}, batches={test['batches']}, "
            f"batch_size={test['batch_size']}, seed={test['seed']}))",
        ]
    lines.append("```")
    return "\n".join(lines)


def _results_table(info: dict[str, Any]) -> str:
    metric = info["task"]["info"]["metric"]
    rows = ["| split | setting | loss | " + _METRIC_CARD[metric][1] + " |", "|---|---|---|---|"]
    train = info.get("train_metrics") or {}
    if train:
        setting = ", ".join(f"{k}={v}" for k, v in (info.get("final_train_params") or {}).items())
        rows.append(f"| train (last batch) | {setting} | {_fmt(train.get('loss'))} | {_fmt(train.get(metric))} |")
    test = info.get("test_metrics") or {}
    if test:
        ev = info.get("evaluation", {})
        setting = ", ".join(f"{k}={v}" for k, v in ev.get("params", {}).items()) or "as trained"
        setting += f"; {ev.get('batches')} x {ev.get('batch_size')} sequences"
        rows.append(f"| test | {setting} | {_fmt(test.get('loss'))} | {_fmt(test.get(metric))} |")
    return "\n".join(rows)


def _training_section(info: dict[str, Any]) -> str:
    cfg = info["run_config"]
    task = info["task"]
    opt = cfg["optim"]
    cur = cfg.get("curriculum")
    lines = [
        f"- Dataset: `{task['name']}` from `wave_hf.data`, parameters `{json.dumps(task['params'])}`, "
        f"data seed {cfg['seed']} (batches are a pure function of (seed, step)).",
        f"- Optimiser: {opt['optimizer']} lr {opt['lr']}, weight decay {opt['weight_decay']}, global batch "
        f"{opt['batch_size']}, gradient clipping {opt['max_grad_norm']}, schedule `{opt['scheduler']}`.",
        f"- Steps: {info['steps_done']} of {cfg['steps']} optimizer steps"
        + (f" (stopped early: {info['stop_reason']})" if info.get("stopped_early") else "")
        + f"; {info['num_processes']} process(es), mixed precision `{cfg['mixed_precision']}`, "
        f"{info['wall_time_s']:.0f} s wall time.",
    ]
    if cur:
        reached = info.get("curriculum_state", {})
        lines.append(
            f"- Curriculum on `{cur['param']}`: {cur['values']}, moving on when a training batch's metric passes "
            f"{cur['threshold']}; final level {cur['values'][reached.get('level', 0)]}, completed: "
            f"{reached.get('completed', False)}."
        )
    lines.append(f"- Parameters: {info['num_parameters']:,}.")
    if info.get("plots"):
        lines += ["", *[f"![{Path(p).stem}]({p})" for p in info["plots"]]]
    lines += ["", "<details><summary>Full run config</summary>", "", "```yaml",
              yaml.safe_dump(cfg, sort_keys=False).rstrip(), "```", "", "</details>"]
    return "\n".join(lines)


def _config_table(info: dict[str, Any]) -> str:
    skip = {"transformers_version", "architectures", "dtype", "id2label", "label2id"}
    rows = ["| field | value |", "|---|---|"]
    for k, v in sorted(info.get("model_config", {}).items()):
        if k not in skip and not k.startswith("_") and not isinstance(v, (dict, list)):
            rows.append(f"| `{k}` | {v} |")
    return "\n".join(rows)


def _card_data(info: dict[str, Any], model_name: str):
    from huggingface_hub import EvalResult, ModelCardData

    task = info["task"]
    metric = task["info"]["metric"]
    pipeline = _PIPELINE["tokens" if metric == "token_accuracy" else "values"]
    eval_results = []
    test = info.get("test_metrics") or {}
    if metric in test:
        ev = info.get("evaluation", {})
        config_name = task["params"].get("task")
        eval_results.append(EvalResult(
            task_type=pipeline,
            dataset_type=f"wave_hf/{task['name']}",
            dataset_name=task["name"],
            dataset_config=str(config_name) if config_name is not None else None,
            dataset_split="test",
            dataset_args={**task["params"], **ev.get("params", {})},
            metric_type=_METRIC_CARD[metric][0],
            metric_name=_METRIC_CARD[metric][1],
            metric_value=float(test[metric]),
        ))
    tags = ["wave_hf", info["model_type"], task["name"]]
    if str(info["model_type"]).startswith("wave_"):
        tags.append("traveling-waves")
    return ModelCardData(
        license="apache-2.0",
        library_name="transformers",
        pipeline_tag=pipeline,
        tags=list(dict.fromkeys(tags)),
        model_name=model_name,
        eval_results=eval_results or None,
    )


def render_card(info: dict[str, Any], repo_id: str | None = None):
    """The ``huggingface_hub.ModelCard`` of a trained model described by ``info`` (training_info.json)."""
    from huggingface_hub import ModelCard

    model_id = repo_id or info.get("model_dir") or "PATH_TO_THIS_FOLDER"
    model_name = repo_id.split("/")[-1] if repo_id else info["run_config"]["name"]
    kwargs = dict(
        model_name=model_name,
        model_id=model_id,
        model_type=info["model_type"],
        auto_class=info["auto_class"],
        dataset_name=info["task"]["name"],
        how_to_load=_how_to_load(info, model_id),
        results_table=_results_table(info),
        training_section=_training_section(info),
        config_table=_config_table(info),
        description=info["run_config"].get("description", ""),
        wave_hf_version=info.get("wave_hf_version", ""),
    )
    template = card_template_path(info["model_type"])
    data = _card_data(info, model_name)
    if template is None:
        return ModelCard.from_template(data, template_str=_FALLBACK_TEMPLATE, **kwargs)
    return ModelCard.from_template(data, template_path=str(template), **kwargs)


def write_card(model_dir: str | Path, info: dict[str, Any], repo_id: str | None = None) -> Path:
    """Write ``training_info.json`` and the rendered ``README.md`` into ``model_dir``."""
    model_dir = Path(model_dir)
    (model_dir / TRAINING_INFO).write_text(json.dumps(info, indent=2, default=str))
    path = model_dir / "README.md"
    render_card(info, repo_id).save(str(path))
    return path
