"""Model-level benchmark: wave_hf models against the models users would pick instead, side by side in one run.

For WaveLBCForCausalLM (also as the LBC/SBC hybrid ``wave_lbc_hybrid``: two of its layers SBC stream attention,
``hybrid_attention_layers``), WaveSBCForCausalLM (window and stream substrates) and, from transformers,
LlamaForCausalLM (sdpa), MambaForCausalLM (its torch path on CPU) and GPT2LMHeadModel (dropout 0), at matched
parameter counts:

- training throughput (tokens/s of forward + backward + AdamW step, ``--tokens-per-step`` tokens per step) at the
  ``--lengths`` and the peak memory of a training step (CPU: peak-RSS growth in a fresh process; GPU: peak allocated);
- prefill time and decode latency per token after prompts of ``--decode-prompts`` tokens, and the cache's memory;
- with ``--packed``, for the models that take packed rows (the wave models: the reset lives in their ops), the
  training throughput on the same rows packed (``position_ids`` with documents of random lengths, uniform in
  [1, 2 * ``--doc-length`` - 1]) relative to the rows unpacked, the two steps timed back to back in each repeat and
  the ratio the median over the repeats of the pair's time ratio (goal: >= 0.95).

Every gated MLP uses Llama's SwiGLU width (2.7 x hidden; GPT-2 keeps its 4 x hidden MLP, one layer fewer), so the
parameter counts match. Every timing
is the median of ``--repeats`` runs, and within each repeat the models' training steps run in turn, so the slow
drifts of a shared, noisy machine hit all models alike and the ratios to Llama are side by side. Rows
that would run past ``--row-limit`` seconds are reported as "timed out" (measured, projected from a one-row step, or
projected from a shorter length when the time per token can only grow), never dropped. Prints a markdown table with
ratios to Llama, writes a PNG (tokens/s and ms/token against L, log axes) and a JSON of the raw numbers with the
machine description.

    python scripts/bench_models.py            # CPU default: ~10M parameters, L 512/2048/8192, prompts 128/2048/8192
    python scripts/bench_models.py --quick    # < 2 minutes
    python scripts/bench_models.py --device cuda --dtype bfloat16 --hidden 768 --layers 12 --heads 12 \
        --vocab 32000 --lengths 2048 8192 16384        # ~125M parameters on a GPU (scripts/gpu_check.sh)
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

import wave_hf  # noqa: F401  (registers the wave_hf model types with the Auto classes)

TIMED_OUT = "timed out"


# ---------------------------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------------------------


@dataclass
class Size:
    vocab: int = 8192
    hidden: int = 320
    layers: int = 6
    heads: int = 5
    history: int = 64  # S for the wave models


def hybrid_attention_layers(num_layers: int) -> list[int]:
    """The attention layers of ``wave_lbc_hybrid``: two, as in H3's hybrid, the last layer of each half of the stack
    (2 and 5 of 6 layers, 3 and 7 of 8); below 4 layers only the last one, so that most layers stay wave layers (a
    one-layer stack is then all attention)."""
    return [num_layers // 2 - 1, num_layers - 1] if num_layers >= 4 else [num_layers - 1]


def build_model(name: str, size: Size, max_len: int) -> torch.nn.Module:
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        GPT2Config,
        LlamaConfig,
        MambaConfig,
    )

    h, n, V = size.hidden, size.layers, size.vocab
    mlp = int(2.7 * h) // 8 * 8  # Llama's SwiGLU width, for every gated MLP
    if name in ("wave_lbc", "wave_lbc_hybrid"):
        # the hybrid's attention layers: size.heads heads (as WaveSBC and Llama), window S = size.history
        hybrid = dict(attention_layers=hybrid_attention_layers(n), attention_heads=size.heads)
        cfg = AutoConfig.for_model(
            "wave_lbc", vocab_size=V, hidden_size=h, num_hidden_layers=n, num_heads=h // 16, head_dim=16,
            history_length=size.history, boundary="diagonal", boundary_max_norm=1.0, readout="fir", gating="qkv",
            use_mlp=True, intermediate_size=mlp, tie_word_embeddings=True,
            **(hybrid if name == "wave_lbc_hybrid" else {}),
        )
    elif name in ("wave_sbc_window", "wave_sbc_stream"):
        cfg = AutoConfig.for_model(
            "wave_sbc", vocab_size=V, hidden_size=h, num_hidden_layers=n, num_attention_heads=size.heads,
            history_length=size.history, substrate_mode=name.rsplit("_", 1)[1], use_mlp=True,
            intermediate_size=mlp, tie_word_embeddings=True,
        )
    elif name == "llama":
        cfg = LlamaConfig(
            vocab_size=V, hidden_size=h, intermediate_size=mlp, num_hidden_layers=n,
            num_attention_heads=size.heads, num_key_value_heads=size.heads, max_position_embeddings=max_len,
            tie_word_embeddings=True, attn_implementation="sdpa",
        )
    elif name == "mamba":
        cfg = MambaConfig(vocab_size=V, hidden_size=h, num_hidden_layers=n + 4, state_size=16,
                          tie_word_embeddings=True)
    elif name == "gpt2":
        cfg = GPT2Config(vocab_size=V, n_embd=h, n_layer=max(n - 1, 1), n_head=size.heads, n_positions=max_len,
                         resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0,
                         attn_implementation="sdpa")
    else:
        raise ValueError(f"unknown model {name!r}; choose from {MODELS}")
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(cfg)


MODELS = ["wave_lbc", "wave_lbc_hybrid", "wave_sbc_window", "wave_sbc_stream", "llama", "mamba", "gpt2"]


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


# ---------------------------------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------------------------------


def cuda_peak_mib(fn: Callable[[], object]) -> float:
    """Peak GPU memory (MiB) allocated by torch while ``fn`` runs, above what was allocated before."""
    gc.collect()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def train_step_fn(
    model: torch.nn.Module, batch: int, length: int, vocab: int, opt: torch.optim.Optimizer | None = None,
    doc_length: int | None = None,
) -> Callable[[], None]:
    """One training step (forward, backward, AdamW) on a fixed random batch; with ``doc_length``, the rows are packed
    documents of random lengths with mean ``doc_length`` (their ``position_ids`` restart at each document)."""
    device = next(model.parameters()).device
    opt = opt or torch.optim.AdamW(model.parameters(), lr=1e-4)
    torch.manual_seed(0)
    ids = torch.randint(0, vocab, (batch, length), device=device)
    packing = {} if doc_length is None else {"position_ids": packed_position_ids(batch, length, doc_length).to(device)}
    model.train()

    def step():
        loss = model(input_ids=ids, labels=ids, use_cache=False, **packing).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        _sync()

    return step


PACKED_MODELS = ("wave_lbc", "wave_lbc_hybrid", "wave_sbc_window", "wave_sbc_stream")  # the reset is in their ops


def packed_position_ids(batch: int, length: int, mean: int) -> torch.Tensor:
    """(batch, length) position ids of rows packed with documents of lengths uniform in [1, 2 * mean - 1]."""
    from wave_hf.ops.resets import doc_starts

    from .bench_scan import random_documents

    reset = random_documents(length, mean, torch.Generator().manual_seed(1), batch)
    return torch.arange(length) - doc_starts(reset)


def cache_of(out) -> object:
    return getattr(out, "cache", None) if getattr(out, "cache", None) is not None else out.past_key_values


def cache_bytes(cache) -> int:
    seen, total = set(), 0

    def visit(obj, depth=0):
        nonlocal total
        if depth > 4 or id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, torch.Tensor):
            total += obj.numel() * obj.element_size()
        elif isinstance(obj, dict):
            for v in obj.values():
                visit(v, depth + 1)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                visit(v, depth + 1)
        elif hasattr(obj, "__dict__"):
            for v in vars(obj).values():
                visit(v, depth + 1)

    visit(cache)
    return total


@torch.no_grad()
def decode(model: torch.nn.Module, prompt_len: int, new_tokens: int, vocab: int) -> tuple[float, float, int]:
    """Prefill a (1, prompt_len) prompt, then greedy-decode ``new_tokens`` one at a time with the cache.
    Returns (prefill seconds, median ms per decoded token, cache bytes after decoding)."""
    model.eval()
    ids = torch.randint(0, vocab, (1, prompt_len), device=next(model.parameters()).device)
    t0 = time.perf_counter()
    out = model(input_ids=ids, use_cache=True)
    _sync()
    prefill = time.perf_counter() - t0
    cache, tok, per_token = cache_of(out), out.logits[:, -1:].argmax(-1), []
    for _ in range(new_tokens):
        t0 = time.perf_counter()
        out = model(input_ids=tok, cache=cache, use_cache=True)
        _sync()
        per_token.append(time.perf_counter() - t0)
        cache, tok = cache_of(out), out.logits[:, -1:].argmax(-1)
    return prefill, 1e3 * statistics.median(per_token), cache_bytes(cache)


def timed(fn: Callable[[], object], repeats: int, limit: float) -> tuple[list[float], bool]:
    """Run ``fn`` up to ``repeats`` times; stop early (timed out) once one run exceeds ``limit`` seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if times[-1] > limit:
            return times, True
    return times, False


@dataclass
class Row:
    model: str
    length: int
    params: int = 0
    train_tok_s: float | str | None = None
    packed_ratio: float | str | None = None  # --packed: packed / unpacked training throughput
    train_peak_mib: float | str | None = None
    prefill_s: float | str | None = None
    decode_ms: float | str | None = None
    cache_mib: float | str | None = None
    notes: list[str] = field(default_factory=list)


def one_row_seconds(model: torch.nn.Module, batch: int, length: int, vocab: int, limit: float) -> float:
    """CPU time of a (second) training step on one row, 0 when the batch is one row. On a CPU a full step costs at
    least ``batch`` times this (no idle parallelism to absorb more rows), so a model far too slow for the row limit
    is reported as timed out without running a step that would take minutes."""
    if batch == 1:
        return 0.0
    step = train_step_fn(model, 1, length, vocab)
    step()
    return timed(step, 1, limit)[0][0]


def projected_over(history: dict[str, float], key: str, tokens: int, limit: float) -> bool:
    """``history[key]``: seconds per token of the same measurement at a shorter length; the time per token does not
    shrink as L grows, so ``tokens`` tokens take at least that many times as long."""
    return key in history and history[key] * tokens > limit


def size_of(args: argparse.Namespace) -> Size:
    return Size(vocab=args.vocab, hidden=args.hidden, layers=args.layers, heads=args.heads, history=args.history)


TRAIN_FIELDS = ("train_tok_s", "packed_ratio", "train_peak_mib")
DECODE_FIELDS = ("prefill_s", "decode_ms", "cache_mib")


def run(args: argparse.Namespace) -> list[Row]:
    size = size_of(args)
    max_len = max(args.lengths + args.decode_prompts) + args.decode_tokens + 8
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[args.dtype]
    models = {name: build_model(name, size, max_len).to(args.device, dtype) for name in args.models}
    rows = {(name, n): Row(name, n, params=n_params(models[name]))
            for n in sorted(set(args.lengths) | set(args.decode_prompts)) for name in args.models}
    history: dict[str, float] = {}
    for length in sorted(set(args.lengths) | set(args.decode_prompts)):
        if length in args.lengths:
            train_rows(args, models, size, length, rows, history)
        for name in args.models if length in args.decode_prompts else ():
            with record_failure(rows[(name, length)], DECODE_FIELDS, "decode"):
                decode_row(args, name, models[name], size, length, rows[(name, length)], history)
        print(f"  done L={length}", flush=True)
        write_outputs(args, list(rows.values()))  # after every length: a later crash or timeout keeps these
    return list(rows.values())


@contextlib.contextmanager
def record_failure(row: Row, fields: tuple[str, ...], what: str):
    """Turn an out-of-memory or runtime error of one measurement into "OOM"/"error" cells and go on."""
    try:
        yield
    except (torch.OutOfMemoryError, RuntimeError) as e:
        oom = isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e).lower()
        for f in fields:
            setattr(row, f, "OOM" if oom else "error")
        row.notes.append(f"{what}: {str(e).splitlines()[0][:80]}")
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def train_rows(args, models: dict, size: Size, length: int, rows: dict, history: dict) -> None:
    """Training tokens/s at one length, every model timed in turn within each repeat (so slow drifts of a shared
    machine hit all models alike), then the peak memory of one step per model."""
    steps = {}
    for name, model in models.items():
        row = rows[(name, length)]
        with record_failure(row, TRAIN_FIELDS, "train"):
            prepared = prepare_train(args, name, model, size, length, row, history)
            if prepared is not None:
                steps[name] = prepared
    packed = {name: train_step_fn(models[name], steps[name][1], length, size.vocab, doc_length=args.doc_length)
              for name in steps if args.packed and name in PACKED_MODELS}
    for step in packed.values():
        step()  # warm-up (its own optimizer state)
    times: dict[str, list[float]] = {name: [] for name in steps}
    packed_times: dict[str, list[float]] = {name: [] for name in packed}
    running = list(steps)
    for _ in range(args.repeats):
        for name in list(running):
            ok = False
            with record_failure(rows[(name, length)], TRAIN_FIELDS, "train"):
                times[name] += timed(steps[name][0], 1, args.row_limit)[0]
                if name in packed:  # right after the unpacked step: drifts of the machine hit both alike
                    packed_times[name] += timed(packed[name], 1, args.row_limit)[0]
                ok = True
            if not ok:
                del steps[name]
            if not ok or times[name][-1] > args.row_limit:
                running.remove(name)
    for name, (_, batch, tokens, gpu_mib) in steps.items():
        row = rows[(name, length)]
        over = max(times[name]) > args.row_limit
        row.train_tok_s = TIMED_OUT if over else round(tokens / statistics.median(times[name]), 1)
        if packed_times.get(name):
            pairs = zip(times[name], packed_times[name])  # each pair back to back: the ratio sees one machine state
            row.packed_ratio = TIMED_OUT if over else round(statistics.median(t / p for t, p in pairs), 3)
        if over:
            row.train_peak_mib = TIMED_OUT
        elif args.device == "cpu":
            row.train_peak_mib = fresh_process_train_memory(args, name, length, batch)
        else:
            row.train_peak_mib = gpu_mib
        history[f"train/{name}"] = times[name][-1] / tokens
    steps.clear()
    packed.clear()
    gc.collect()


def prepare_train(args, name: str, model: torch.nn.Module, size: Size, length: int, row: Row, history: dict):
    """(step function, batch, tokens, GPU peak MiB) after a warm-up step, or None when the row is reported as timed
    out without timing it (projected from a shorter length or, on a CPU, from a one-row step)."""
    # the exact window substrate recomputes every S-window: activations are S times a transformer's, so it trains on
    # fewer tokens per step (tokens/s stays comparable; the note says so)
    tokens = args.window_tokens_per_step if name == "wave_sbc_window" else args.tokens_per_step
    batch = max(1, tokens // length)
    if tokens != args.tokens_per_step:
        row.notes.append(f"train batch {batch} x {length}")
    key, tokens = f"train/{name}", batch * length
    if projected_over(history, key, tokens, args.row_limit):
        row.train_tok_s = row.train_peak_mib = TIMED_OUT
        row.notes.append("train projected past the row limit")
        return None
    probe = one_row_seconds(model, batch, length, size.vocab, args.row_limit) if args.device == "cpu" else 0.0
    if probe * batch > args.row_limit:
        row.train_tok_s = row.train_peak_mib = TIMED_OUT
        row.notes.append(f"train projected from a 1-row step ({probe:.1f} s x {batch} rows)")
        history[key] = probe / length
        return None
    step = train_step_fn(model, batch, length, size.vocab)
    warm, out = timed(step, 1, args.row_limit)  # allocates the optimizer state
    if out:
        row.train_tok_s = row.train_peak_mib = TIMED_OUT
        history[key] = warm[0] / tokens
        return None
    gpu_mib = None if args.device == "cpu" else round(cuda_peak_mib(step), 1)
    return step, batch, tokens, gpu_mib


def fresh_process_train_memory(args, name: str, length: int, batch: int) -> float | str:
    """CPU peak memory of one training step: the growth of peak RSS (VmHWM) in a fresh process, from after a warm-up
    step on 16 tokens (model and optimizer state allocated; gradients freed) to after the full step, so gradients and
    activations count. In the benchmark's own process freed blocks stay cached by the allocator, so RSS there
    under-reports later and shorter rows."""
    spec = {"model": name, "length": length, "batch": batch, "size": vars(size_of(args)), "dtype": args.dtype}
    try:
        out = subprocess.run([sys.executable, __file__, "--memory-probe", json.dumps(spec)], capture_output=True,
                             text=True, timeout=10 * args.row_limit, check=True)
        return round(float(out.stdout.strip().splitlines()[-1]), 1)
    except subprocess.TimeoutExpired:
        return TIMED_OUT
    except (subprocess.CalledProcessError, ValueError, IndexError) as e:
        tail = (getattr(e, "stderr", "") or "").strip().splitlines()[-1:] or [str(e)]
        return f"probe failed: {tail[0][:80]}"


def _vm_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def memory_probe(spec: dict) -> float:
    """The body of ``fresh_process_train_memory`` (run with ``--memory-probe``): MiB of peak RSS growth."""
    size = Size(**spec["size"])
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[spec["dtype"]]
    model = build_model(spec["model"], size, spec["length"] + 8).to(dtype)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    train_step_fn(model, 1, 16, size.vocab, opt)()
    step = train_step_fn(model, spec["batch"], spec["length"], size.vocab, opt)
    gc.collect()
    try:  # reset the peak to the current RSS (Linux >= 4.0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError as e:
        raise RuntimeError(f"cannot reset the peak RSS through /proc/self/clear_refs: {e}") from None
    base = _vm_kib("VmRSS")
    step()
    return (_vm_kib("VmHWM") - base) / 1024


def decode_row(args, name: str, model: torch.nn.Module, size: Size, length: int, row: Row, history: dict) -> None:
    """Prefill time of a ``length``-token prompt, decode ms/token after it and the cache's size."""
    key = f"decode/{name}"
    if projected_over(history, key, length, args.row_limit):  # prefill: one row of ``length`` tokens
        row.prefill_s = row.decode_ms = row.cache_mib = TIMED_OUT
        row.notes.append("prefill projected past the row limit")
        return
    results = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        results.append(decode(model, length, args.decode_tokens, size.vocab))
        if time.perf_counter() - t0 > args.row_limit:
            break
    row.prefill_s = round(statistics.median(r[0] for r in results), 4)
    row.decode_ms = round(statistics.median(r[1] for r in results), 3)
    row.cache_mib = round(results[-1][2] / 2**20, 3)
    history[key] = results[-1][0] / length


# ---------------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------------


def _fmt(value, ref) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(ref, (int, float)) and ref:
        ratio = value / ref
        return f"{value:,.4g} ({ratio:.2f}x)"
    return f"{value:,.4g}"


def markdown(rows: list[Row]) -> str:
    ref = {r.length: r for r in rows if r.model == "llama"}
    packed = any(r.packed_ratio is not None for r in rows)
    head = ("| model | params | L | train tok/s |" + (" packed / unpacked |" if packed else "")
            + " train peak MiB | prefill s | decode ms/token | cache MiB | notes |\n" + "|---" * (9 + packed) + "|")
    lines = [head]
    for r in sorted(rows, key=lambda r: (r.length, MODELS.index(r.model))):
        base = ref.get(r.length, Row("llama", r.length))
        lines.append(
            f"| {r.model} | {r.params / 1e6:.2f}M | {r.length} | {_fmt(r.train_tok_s, base.train_tok_s)} | "
            + (f"{_fmt(r.packed_ratio, None)} | " if packed else "")
            + f"{_fmt(r.train_peak_mib, base.train_peak_mib)} | {_fmt(r.prefill_s, base.prefill_s)} | "
            f"{_fmt(r.decode_ms, base.decode_ms)} | {_fmt(r.cache_mib, base.cache_mib)} | "
            f"{'; '.join(r.notes)} |"
        )
    note = "\n\nRatios in parentheses are to Llama at the same L (the prompt length for decode)."
    if packed:
        note += (" packed / unpacked: training throughput on the same rows packed with documents (position_ids) "
                 "over the rows unpacked (goal >= 0.95).")
    return "\n".join(lines) + note


def plot(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for name in MODELS:
        pts = sorted((r.length, r) for r in rows if r.model == name)
        if not pts:
            continue
        tr = [(L, r.train_tok_s) for L, r in pts if isinstance(r.train_tok_s, float)]
        de = [(L, r.decode_ms) for L, r in pts if isinstance(r.decode_ms, float)]
        if tr:
            ax1.plot(*zip(*tr), marker="o", label=name)
        if de:
            ax2.plot(*zip(*de), marker="o", label=name)
    for ax, title, ylabel in ((ax1, "training throughput", "tokens/s"), (ax2, "decode latency", "ms/token")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence / prompt length L")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def machine() -> dict:
    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes and lengths, finishes in under 2 minutes")
    p.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    p.add_argument("--lengths", nargs="+", type=int, default=[512, 2048, 8192], help="training sequence lengths")
    p.add_argument("--decode-prompts", nargs="+", type=int, default=[128, 2048, 8192],
                   help="prompt lengths for prefill and decode")
    p.add_argument("--tokens-per-step", type=int, default=8192, help="batch = tokens_per_step // L")
    p.add_argument("--window-tokens-per-step", type=int, default=1024,
                   help="tokens per training step for wave_sbc_window (its activations are S times larger)")
    p.add_argument("--decode-tokens", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--row-limit", type=float, default=60.0, help="seconds a single run may take before 'timed out'")
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--hidden", type=int, default=320)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--heads", type=int, default=5)
    p.add_argument("--history", type=int, default=64)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--out", type=Path, default=Path("outputs/bench_models"))
    p.add_argument("--packed", action="store_true",
                   help="also time the wave models' training step on the same rows packed with documents")
    p.add_argument("--doc-length", type=int, default=512, help="mean document length of --packed")
    p.add_argument("--memory-probe", help=argparse.SUPPRESS)  # internal: one fresh-process memory measurement
    args = p.parse_args(argv)
    if args.memory_probe:
        print(memory_probe(json.loads(args.memory_probe)))
        return
    if args.quick:
        args.lengths, args.tokens_per_step, args.window_tokens_per_step, args.repeats = [128, 512], 1024, 512, 3
        args.decode_prompts = [128, 512]
        args.hidden, args.layers, args.heads, args.vocab, args.decode_tokens, args.row_limit = 128, 2, 4, 2048, 8, 15.0
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}", flush=True)
    rows = run(args)
    print(markdown(rows))
    print(f"wrote {args.out}/bench_models.{{md,json,png}}")


def write_outputs(args: argparse.Namespace, rows: list[Row]) -> None:
    """The markdown table, the PNG and the JSON of the raw numbers (with the machine and the arguments)."""
    plot(rows, args.out / "bench_models.png")
    (args.out / "bench_models.json").write_text(json.dumps(
        {"machine": machine(), "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
         "rows": [vars(r) for r in rows]}, indent=2))
    (args.out / "bench_models.md").write_text(markdown(rows) + "\n")


if __name__ == "__main__":
    main()
