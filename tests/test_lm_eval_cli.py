"""lm-evaluation-harness's command line (``lm_eval --model hf``) on a saved wave_hf checkpoint with the byte tokenizer,
in a process where wave_hf cannot be imported (the checkpoint's remote-code bundle and ``tokenizer.json`` are all it
has), offline, on a tiny local multiple-choice task; its log-likelihoods are the model's own."""

import json
import math

import pytest
import torch

lm_eval = pytest.importorskip("lm_eval")

from tests.no_wave_hf import run_without_wave_hf  # noqa: E402
from wave_hf.data import byte_tokenizer  # noqa: E402
from wave_hf.models import WaveLBCConfig, WaveLBCForCausalLM  # noqa: E402

# The README's tiny task (same questions, same YAML): a JSON Lines file read by `datasets`' json builder, no download.
TASK_NAME = "tiny_mc"
TASK_DOCS = [
    {"question": "The sky is", "choices": ["blue", "green"], "answer": 0},
    {"question": "Two plus two is", "choices": ["four", "five"], "answer": 0},
    {"question": "Fire is", "choices": ["cold", "hot"], "answer": 1},
    {"question": "Ice is", "choices": ["cold", "hot"], "answer": 0},
]
TASK_YAML = """task: tiny_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data_file}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{answer}}}}"
metric_list:
  - metric: acc
"""

# Runs in the child (working directory: the run folder): the lm_eval command line with the arguments of argv.json.
CHILD = r'''
import json
import sys

from lm_eval.__main__ import cli_evaluate

sys.argv = ["lm_eval"] + json.load(open("argv.json"))
cli_evaluate()
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("wave_hf", "transformers_modules"))
json.dump(loaded, open("loaded_modules.json", "w"))
'''


def write_task(folder):
    folder.mkdir()
    data_file = folder / "tiny.jsonl"
    data_file.write_text("".join(json.dumps(doc) + "\n" for doc in TASK_DOCS))
    (folder / "tiny_mc.yaml").write_text(TASK_YAML.format(data_file=data_file))


def tiny_checkpoint(folder) -> WaveLBCForCausalLM:
    """A random tiny WaveLBC causal LM on bytes, saved with its remote-code bundle and the byte tokenizer."""
    config = WaveLBCConfig(vocab_size=258, hidden_size=32, num_hidden_layers=1, num_heads=2, head_dim=16,
                           history_length=8, pad_token_id=256, eos_token_id=257)
    model = WaveLBCForCausalLM(config).eval()
    model.save_pretrained(folder)
    byte_tokenizer().save_pretrained(folder)
    assert "AutoModelForCausalLM" in json.loads((folder / "config.json").read_text())["auto_map"]
    return model


def log_likelihood(model: WaveLBCForCausalLM, context: str, continuation: str) -> tuple[float, bool]:
    """Sum of log p(continuation byte | everything before it) and whether every byte is the argmax, computed
    directly from the model's logits."""
    ctx, cont = list(context.encode("utf-8")), list(continuation.encode("utf-8"))
    ids = torch.tensor([ctx + cont])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits.double(), dim=-1)[0]
    targets = ids[0, len(ctx):]
    scored = logp[len(ctx) - 1:-1]
    total = scored.gather(-1, targets[:, None]).sum().item()
    return total, bool(torch.equal(scored.argmax(-1), targets))


def test_lm_eval_command_line_without_wave_hf(tmp_path):
    model = tiny_checkpoint(tmp_path / "tiny_lbc")
    write_task(tmp_path / "tiny_task")
    work = tmp_path / "run"
    work.mkdir()
    argv = ["--model", "hf", "--model_args", f"pretrained={tmp_path / 'tiny_lbc'},trust_remote_code=True,dtype=float32",
            "--tasks", TASK_NAME, "--include_path", str(tmp_path / "tiny_task"), "--device", "cpu",
            "--batch_size", "1", "--output_path", str(work / "out"), "--log_samples"]
    (work / "argv.json").write_text(json.dumps(argv))
    run_without_wave_hf(CHILD, work, timeout=300)

    loaded = json.loads((work / "loaded_modules.json").read_text())
    assert not [m for m in loaded if m.split(".")[0] == "wave_hf"]
    assert [m for m in loaded if m.startswith("transformers_modules.") and "modeling_wave_lbc" in m]
    results_files = sorted((work / "out").rglob("results_*.json"))
    samples_files = sorted((work / "out").rglob(f"samples_{TASK_NAME}_*.jsonl"))
    assert len(results_files) == 1 and len(samples_files) == 1, sorted((work / "out").rglob("*"))
    acc = json.loads(results_files[0].read_text())["results"][TASK_NAME]["acc,none"]
    assert math.isfinite(acc) and 0 <= acc <= 1

    # every request's log-likelihood is the model's own, and acc is the accuracy those log-likelihoods give
    samples = sorted((json.loads(line) for line in samples_files[0].read_text().splitlines()),
                     key=lambda s: s["doc_id"])
    assert [s["doc"] for s in samples] == TASK_DOCS
    correct = []
    for sample in samples:
        requests = [sample["arguments"][k] for k in sorted(sample["arguments"])]
        assert [r["arg_1"].strip() for r in requests] == sample["doc"]["choices"]
        harness = [resp[0] for resp in sample["resps"]]  # [log-likelihood, is_greedy], written as strings
        direct = [log_likelihood(model, r["arg_0"], r["arg_1"]) for r in requests]
        for (h_ll, h_greedy), (d_ll, d_greedy) in zip(harness, direct):
            assert math.isclose(float(h_ll), d_ll, rel_tol=0, abs_tol=1e-4) and str(h_greedy) == str(d_greedy)
        scores = [d_ll for d_ll, _ in direct]
        correct.append(scores.index(max(scores)) == sample["doc"]["answer"])
    assert acc == pytest.approx(sum(correct) / len(correct))
