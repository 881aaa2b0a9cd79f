"""Model cards: Hub metadata (``ModelCardData`` + ``EvalResult`` model-index) and a per-family Markdown template.

Templates ship in the package (``wave_hf/training/templates``, read by ``resources.card_template``): one per wave
family, ``baseline.md`` for every other model type. Each template lays out its family's text and places shared pieces
rendered here (``how_to_load``, ``results_table``, ``training_section``, ``config_table``). The card is a pure
function of ``training_info.json`` (saved next to the weights) and an optional repo id, so ``wave-hf push`` can render
the loading snippet for the target repo without touching the local folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from .resources import card_template

__all__ = ["TRAINING_INFO", "render_card", "write_card"]

TRAINING_INFO = "training_info.json"

_METRIC_CARD = {  # metric -> (Hub metric type, human name)
    "bit_accuracy": ("accuracy", "bit accuracy"),
    "token_accuracy": ("accuracy", "token accuracy"),
    "mse": ("mse", "mean squared error"),
    "bits_per_byte": ("bits_per_byte", "bits per byte"),
}
_PIPELINE = {"tokens": "text-generation", "values": "time-series-forecasting"}


def _fmt(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _corpus(info: dict[str, Any]) -> dict[str, Any] | None:
    """The corpus record of a model trained on a corpus (``corpora.corpus_task``), else None."""
    return info["task"]["info"].get("corpus")


def _eval_rows(info: dict[str, Any]) -> int:
    """Validation rows of a corpus evaluation (the first ``batches * batch_size`` rows of the split)."""
    ev = info.get("evaluation", {})
    return min(_corpus(info)["rows"]["validation"], ev.get("batches", 0) * ev.get("batch_size", 0))


def _ships_remote_code(model_type: str) -> bool:
    """Whether ``save_pretrained`` of this model type writes wave_hf's remote-code bundle (wave_hf's own families)."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    return model_type in CONFIG_MAPPING and CONFIG_MAPPING[model_type].__module__.startswith("wave_hf.")


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
    if test and _corpus(info):
        spec = {k: v for k, v in task["params"].items() if v is not None}
        lines += [
            "",
            "# the validation bits per byte of this card (the corpus is packed and cached on first use)",
            "from wave_hf.training import evaluate",
            "from wave_hf.training.corpora import corpus_splits",
            "",
            f"validation = corpus_splits({spec!r})[\"validation\"]",
            f"print(evaluate(model, validation, max_rows={_eval_rows(info)}, batch_size={test['batch_size']}))",
        ]
    elif test:
        params = {**task["params"], **test.get("params", {})}
        lines += [
            "",
            "# the test metric of this card",
            "from wave_hf.training import evaluate",
            f"print(evaluate(model, {task['name']!r}, params={params!r}, batches={test['batches']}, "
            f"batch_size={test['batch_size']}, seed={test['seed']}))",
        ]
    lines.append("```")
    if not _ships_remote_code(info["model_type"]):
        return "\n".join(lines)
    lines += [
        "",
        "Use this model without installing anything but transformers (and torch): the checkpoint carries its own",
        "modeling code (`auto_map` in `config.json` and flat `configuration_*.py` / `modeling_*.py` files, the chunked",
        "CPU path and the reference loop; Triton only where it is installed):",
        "",
        "```python",
        f"from transformers import {auto}",
        "",
        f'model = {auto}.from_pretrained("{model_id}", trust_remote_code=True)',
        "```",
    ]
    return "\n".join(lines)


def _results_table(info: dict[str, Any]) -> str:
    metric = info["task"]["info"]["metric"]
    rows = ["| split | setting | loss | " + _METRIC_CARD[metric][1] + " |", "|---|---|---|---|"]
    train = info.get("train_metrics") or {}
    if train:
        setting = ", ".join(f"{k}={v}" for k, v in (info.get("final_train_params") or {}).items()) or "as trained"
        rows.append(f"| train (last batch) | {setting} | {_fmt(train.get('loss'))} | {_fmt(train.get(metric))} |")
    test = info.get("test_metrics") or {}
    if test and _corpus(info):
        setting = (f"first {_eval_rows(info)} rows of {info['task']['params']['block_size']} tokens; perplexity "
                   f"{_fmt(test.get('perplexity'))}")
        rows.append(f"| validation | {setting} | {_fmt(test.get('loss'))} | {_fmt(test.get(metric))} |")
    elif test:
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
    corpus = _corpus(info)
    if corpus:
        rows, nbytes = corpus["rows"], corpus["num_bytes"]
        data_line = (
            f"- Corpus: `{task['name']}` ({corpus['source']}"
            + "".join(f", {k} {corpus[k]}" for k in ("include", "exclude") if corpus[k])
            + f"), tokenizer `{corpus['tokenizer']}`, packed by `wave_hf.data.load_corpus` into "
            f"rows of {corpus['block_size']} tokens: {rows['train']} training rows ({nbytes['train']:,} bytes), "
            f"{rows['validation']} validation rows ({nbytes['validation']:,} bytes); data seed {cfg['seed']} "
            "(batches are a pure function of (seed, step))."
        )
    else:
        data_line = (f"- Dataset: `{task['name']}` from `wave_hf.data`, parameters `{json.dumps(task['params'])}`, "
                     f"data seed {cfg['seed']} (batches are a pure function of (seed, step)).")
    lines = [
        data_line,
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
    corpus = _corpus(info)
    pipeline = _PIPELINE["tokens" if metric in ("token_accuracy", "bits_per_byte") else "values"]
    eval_results = []
    test = info.get("test_metrics") or {}
    if metric in test:
        ev = info.get("evaluation", {})
        config_name = None if corpus else task["params"].get("task")
        eval_results.append(EvalResult(
            task_type=pipeline,
            dataset_type=f"wave_hf/{'corpus/' if corpus else ''}{task['name']}",
            dataset_name=task["name"],
            dataset_config=str(config_name) if config_name is not None else None,
            dataset_split="validation" if corpus else "test",
            dataset_args=({k: v for k, v in task["params"].items() if v is not None} if corpus
                          else {**task["params"], **ev.get("params", {})}),
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
    template = card_template(info["model_type"])
    return ModelCard.from_template(_card_data(info, model_name), template_str=template, **kwargs)


def write_card(model_dir: str | Path, info: dict[str, Any], repo_id: str | None = None) -> Path:
    """Write ``training_info.json`` and the rendered ``README.md`` into ``model_dir``."""
    model_dir = Path(model_dir)
    (model_dir / TRAINING_INFO).write_text(json.dumps(info, indent=2, default=str))
    path = model_dir / "README.md"
    render_card(info, repo_id).save(str(path))
    return path
