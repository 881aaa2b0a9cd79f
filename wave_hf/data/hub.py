"""Export and publication: Parquet files that carry the generation record, the dataset card, ``push_dataset``.

``export_parquet`` writes ``<split>.parquet`` (with the Hugging Face feature metadata, so
``datasets.load_dataset("parquet", data_files=...)`` restores the ``Array2D`` features, plus the generation record
under the schema metadata key ``wave_hf``), ``generation_info.json`` and a ``README.md`` card whose ``configs``
block also makes ``load_dataset(<folder>)`` work. ``push_dataset`` pushes Parquet with
``DatasetDict.push_to_hub(config_name=...)`` and then replaces the generic README with our card (keeping the
``configs``/``dataset_info`` metadata that push wrote) and adds ``<config>/generation_info.json``.
"""

from __future__ import annotations

import importlib.resources
import json
import os
from pathlib import Path
from typing import Any

import datasets
import pyarrow.parquet as pq

from ._base import SPLITS, get_family, jsonable
from .api import generation_info

_TEMPLATE_NAME = "dataset_card.md"


def _split_order(split: str) -> tuple:
    return (SPLITS.get(split, len(SPLITS)), split)


def default_template() -> str:
    """The dataset card template shipped in the package (``wave_hf/data/templates/dataset_card.md``); a missing
    template is an error (a broken install), never a fallback."""
    resource = importlib.resources.files(__package__) / "templates" / _TEMPLATE_NAME
    if not resource.is_file():
        raise FileNotFoundError(f"the dataset card template {resource} is missing from the wave_hf package; "
                                "reinstall wave_hf (or pass template_path=)")
    return resource.read_text(encoding="utf-8")


def _as_dict(ds: datasets.DatasetDict | datasets.Dataset) -> datasets.DatasetDict:
    if isinstance(ds, datasets.Dataset):
        return datasets.DatasetDict({"train": ds})
    if isinstance(ds, datasets.DatasetDict):
        return ds
    raise ValueError(f"expected a datasets.DatasetDict or Dataset; got {type(ds).__name__}")


def _record_of(dd: datasets.DatasetDict) -> dict[str, Any]:
    """The generation record, after checking that the splits are still the generated ones (same row counts)."""
    record = generation_info(dd)
    sizes = {split: len(d) for split, d in dd.items()}
    built = record.get("splits")
    if built is not None and any(built.get(split) != n for split, n in sizes.items()):
        raise ValueError(f"the splits {sizes} differ from the generated ones {built}: the dataset was changed after "
                         "generation, so its record (and card) would not describe it; regenerate it with "
                         "build_dataset(..., num_train=..., num_validation=..., num_test=...) instead")
    return record


def _columns_markdown(rec: dict[str, Any]) -> str:
    ti = rec["task_info"]
    L = ti["seq_len"]
    if ti["kind"] == "tokens":
        rows = [f"| `input_ids` | int64 ({L},) | token ids, vocab_size = {ti['vocab_size']} |",
                f"| `labels` | int64 ({L},) | causal-LM labels at the same positions (the model shifts); "
                f"{ti['ignore_index']} = not scored |"]
    else:
        rows = [f"| `inputs` | float32 Array2D ({L}, {ti['input_size']}) | model input at each step |",
                f"| `targets` | float32 Array2D ({L}, {ti['output_size']}) | what the model must output at the "
                "same step |"]
    rows.append(f"| `loss_mask` | float32 ({L},) | 1 = scored by the `{rec['metric']}` metric |")
    return "| column | type | meaning |\n|---|---|---|\n" + "\n".join(rows)


def render_dataset_card(record: dict[str, Any], *, repo_id: str, config_name: str, card_data: dict | None = None,
                        record_path: str | None = None, template_path: str | os.PathLike | None = None) -> str:
    """Render the dataset card (README.md text) of a generation record from the template.

    ``card_data`` is merged into the YAML header (e.g. the ``configs``/``dataset_info`` written by push_to_hub).
    ``template_path``: a template file to use instead of the package's own (``default_template``).
    """
    from huggingface_hub import DatasetCard, DatasetCardData

    name = record["name"]
    kind = record["task_info"]["kind"]
    total = sum(record.get("splits", {}).values())
    size = "n<1K" if total < 1_000 else "1K<n<10K" if total < 10_000 else "10K<n<100K" if total < 100_000 else (
        "100K<n<1M" if total < 1_000_000 else "1M<n<10M")
    data = {
        "license": "apache-2.0",
        "pretty_name": f"wave_hf {name}",
        "tags": ["wave_hf", "synthetic", "dynamical-systems", name],
        "task_categories": ["text-generation"] if kind == "tokens" else ["time-series-forecasting"],
        "size_categories": [size],
        **(card_data or {}),
    }
    card = DatasetCard.from_template(
        DatasetCardData(**data),
        template_path=None if template_path is None else str(template_path),
        template_str=default_template() if template_path is None else None,
        pretty_name=data["pretty_name"],
        name=name,
        generator=record["generator"],
        wave_hf_version=record["wave_hf_version"],
        family_version=record["family_version"],
        summary=record["summary"],
        config_name=config_name,
        seed=record["seed"],
        metric=record["metric"],
        rng=record["rng"],
        params_json=json.dumps(record["params"], indent=2, sort_keys=True),
        params_python=repr(record["params"]),
        splits={k: record["splits"][k] for k in sorted(record.get("splits", {}), key=_split_order)},
        columns=_columns_markdown(record),
        task_info_json=json.dumps(record["task_info"], indent=2, sort_keys=True),
        ground_truth_keys=", ".join(f"`{k}`" for k in record["ground_truth"]) or "none: no hidden constants",
        record_path=record_path or f"{config_name}/generation_info.json",
        repo_id=repo_id,
    )
    return str(card)


def export_parquet(ds: datasets.DatasetDict | datasets.Dataset, out_dir: str | os.PathLike, *,
                   config_name: str | None = None, template_path: str | os.PathLike | None = None) -> dict[str, str]:
    """Write ``<split>.parquet`` per split (generation record in the schema metadata), ``generation_info.json``
    and ``README.md`` into ``out_dir``; returns ``{split: path}``."""
    dd = _as_dict(ds)
    record = _record_of(dd)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    blob = json.dumps(record, sort_keys=True).encode()
    paths = {}
    for split, d in dd.items():
        if d._indices is not None:
            d = d.flatten_indices()
        table = d.data.table
        meta = dict(d.features.arrow_schema.metadata or {})
        meta[b"wave_hf"] = blob
        path = out / f"{split}.parquet"
        pq.write_table(table.replace_schema_metadata(meta), path)
        paths[split] = str(path)
    (out / "generation_info.json").write_text(json.dumps(record, indent=1, sort_keys=True))
    cfg = config_name or record["name"]
    card_data = {"configs": [{"config_name": cfg, "data_files": [{"split": s, "path": f"{s}.parquet"} for s in dd]}]}
    (out / "README.md").write_text(render_dataset_card(record, repo_id=str(out), config_name=cfg,
                                                       card_data=card_data, record_path="generation_info.json",
                                                       template_path=template_path))
    return paths


def push_dataset(ds: datasets.DatasetDict | datasets.Dataset, repo_id: str, *, name: str | None = None,
                 params: dict[str, Any] | None = None, seed: int | None = None, config_name: str | None = None,
                 private: bool = False, token: str | None = None, commit_message: str | None = None,
                 template_path: str | os.PathLike | None = None):
    """Push a built dataset to the Hub as Parquet (config ``config_name``, default the dataset name) with our card.

    ``name``/``params``/``seed`` default to the dataset's own generation record; when given they must match it
    (``ValueError`` otherwise), so a card can never describe other data than the files. Returns the last commit.
    """
    from huggingface_hub import CommitOperationAdd, DatasetCard, HfApi
    from huggingface_hub.errors import EntryNotFoundError

    dd = _as_dict(ds)
    record = _record_of(dd)
    if name is not None and name != record["name"]:
        raise ValueError(f"name={name!r} does not match the dataset's generator name {record['name']!r}")
    if seed is not None and seed != record["seed"]:
        raise ValueError(f"seed={seed!r} does not match the dataset's seed {record['seed']!r}")
    if params is not None:
        fam = get_family(record["name"])
        if jsonable(fam.resolve(params)) != jsonable(fam.resolve(record["params"])):
            raise ValueError(f"params {params} do not match the dataset's parameters {record['params']}")
    cfg = config_name or record["name"]
    dd.push_to_hub(repo_id, config_name=cfg, private=private, token=token,
                   commit_message=commit_message or f"Upload wave_hf {record['name']} ({cfg})")
    try:
        existing = DatasetCard.load(repo_id, repo_type="dataset", token=token).data.to_dict()
    except EntryNotFoundError:
        existing = {}
    keep = {k: existing[k] for k in ("configs", "dataset_info") if k in existing}
    text = render_dataset_card(record, repo_id=repo_id, config_name=cfg, card_data=keep, template_path=template_path)
    ops = [
        CommitOperationAdd("README.md", text.encode()),
        CommitOperationAdd(f"{cfg}/generation_info.json", json.dumps(record, indent=1, sort_keys=True).encode()),
    ]
    return HfApi(token=token).create_commit(repo_id, ops, repo_type="dataset",
                                            commit_message=f"wave_hf dataset card for {cfg}")
