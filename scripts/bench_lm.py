"""Language-model quality benchmark: at the same budget, is a wave model as good a language model as Llama?

In one run, at matched parameter counts (``scripts.bench_models.build_model``: ~10M parameters by default, byte
tokenizer, vocabulary 258), WaveLBC, the LBC/SBC hybrid (``wave_lbc_hybrid``: WaveLBC with two SBC stream-attention
layers, ``scripts.bench_models.hybrid_attention_layers``), WaveSBC (stream substrate), Llama and GPT-2 (Mamba's torch
path and the WaveSBC window substrate when named in ``--models``) train on the same corpus at each sequence length of
``--lengths``:

- same data: the packed rows of ``wave_hf.data.load_corpus`` at block size L, drawn in one seeded permutation of
  the training rows per epoch shared by every model (``wave_hf.training.corpora.CorpusSource``), the same
  ``--tokens-per-step`` tokens per step (batch = tokens_per_step // L rows);
- same recipe: AdamW (betas 0.9/0.95, weight decay 0.1 on every parameter with >= 2 dimensions, none on vectors
  such as biases, norm gains and per-channel rates), gradient clipping at norm 1.0, a linear warm-up over the first
  10% of the run, then a cosine decay to 10% of the peak rate by the end of the run. The run's progress is its
  training seconds over its time budget (or its steps over ``--max-steps``), so every model ends its schedule at
  the end of its budget whatever its speed;
- same loss: the trainer's next-token cross-entropy (``wave_hf.training.objectives``), the first token of each
  document and padding not scored. Models whose ``forward`` takes ``position_ids`` receive them (as the trainer
  passes them), restarted at each row's start as well as at each document start
  (``wave_hf.training.tasks.row_local_positions``): the same document boundaries, and positions below L, which
  GPT-2's learned position table needs. Which models got them is recorded (``document_resets``);
- learning rate: each model first trains ``--sweep-minutes`` at each of its learning rates (``LR_GRIDS``, or
  ``--lrs``); the rate with the lowest validation bits per byte is kept and the model then trains ``--minutes`` at
  it. The whole sweep is written down;
- validation bits per byte (``wave_hf.training.evaluate`` on a corpus split: the next-token losses in nats / ln 2
  over the scored tokens, divided by the UTF-8 bytes of those tokens) on one fixed seeded subset of
  ``--val-tokens`` tokens of the validation rows, the same for every model, logged ``--eval-points`` times per
  final run (plus 3 early points, ``Budget``) against the tokens seen and the training seconds (evaluation time
  excluded); each sweep trial is evaluated at its end.

Budget of the default run on 2 cores: 2 lengths x 5 models x (3 x 1 + 5) minutes = 80 minutes of training, plus
the evaluations (9 per final run, 1 per trial, each a forward pass over ``--val-tokens`` tokens) and the packing of
the corpus at each length (once; cached): about 90 minutes. Models run one after another on ``--threads`` threads.

Outputs in ``--out``: ``bench_lm.json`` (every logged point of the final runs in ``runs``, the ``sweep``, a
per-model ``final`` summary, ``failures``, the corpus, the machine and the settings), ``bench_lm.md`` (also printed:
final bits per byte, bits per byte at equal tokens and at equal wall-clock, per length) and ``bench_lm.png`` (bits
per byte against tokens and against seconds, one panel pair per length). The files are rewritten after every run,
so an interrupted benchmark keeps what it measured. A run that raises (e.g. out of memory) is listed in
``failures`` and the benchmark goes on.

    python -m scripts.bench_lm                  # L 512 and 2048, 3 rates x 1 min, then 5 min per model
    python -m scripts.bench_lm --quick          # < 5 minutes: small models, L 512, one rate each, 30 s each
    python -m scripts.bench_lm --corpus ~/my_text --lengths 1024 --lrs 1e-3 llama=5e-4,1e-3,2e-3
    python -m scripts.bench_lm --models wave_lbc --lengths 2048 --beside reports/bench_lm/bench_lm.json \
        --out reports/bench_lm/wave_lbc_again    # retrain one model, compare it with an earlier run's others
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scripts.bench_models import MODELS, Size, build_model, machine, n_params
from wave_hf.training.tasks import row_local_positions

DEFAULT_MODELS = ["wave_lbc", "wave_lbc_hybrid", "wave_sbc_stream", "llama", "gpt2"]

# Learning-rate grids: each a factor of 2 either side of a rate known to train the family well.
# - Attention transformers (Llama, GPT-2, and the WaveSBC substrates, whose boundary is self-attention): 2e-3, the
#   geometric middle of 1e-3 (nanoGPT's rate for its 10.7M-parameter character-level model) and 3e-3 (the shipped
#   Llama recall config, wave_hf/training/configs/train/mqar_llama.yaml).
# - WaveLBC and its hybrid with SBC attention layers: 3e-3, the rate of the shipped WaveLBC configs (mqar_lbc.yaml,
#   associative_recall_lbc.yaml); the hybrid is mostly WaveLBC layers.
# - Mamba: 3e-3, the Mamba paper's rule (5x GPT-3's rate for its size, 6e-4 at 125M) at ~10M parameters.
# The sweep's short budget may favour a higher rate than the final run's would; the JSON keeps every trial.
LR_GRIDS: dict[str, list[float]] = {
    "wave_lbc": [1.5e-3, 3e-3, 6e-3],
    "wave_lbc_hybrid": [1.5e-3, 3e-3, 6e-3],
    "wave_sbc_window": [1e-3, 2e-3, 4e-3],
    "wave_sbc_stream": [1e-3, 2e-3, 4e-3],
    "llama": [1e-3, 2e-3, 4e-3],
    "gpt2": [1e-3, 2e-3, 4e-3],
    "mamba": [1.5e-3, 3e-3, 6e-3],
}
WEIGHT_DECAY = 0.1
BETAS = (0.9, 0.95)
GRAD_CLIP = 1.0
WARMUP_FRACTION = 0.1
MIN_LR_FRACTION = 0.1
EARLY_EVAL_POINTS = 3  # extra evaluations early in each final run (Budget.eval_fractions)
VOCAB = 258  # wave_hf.data.ByteTokenizer: bytes 0-255, pad 256, EOS 257

# --quick: small models so that 30 s of training shows a learning curve on 2 cores
QUICK = {"lengths": [512], "minutes": 0.5, "hidden": 128, "layers": 2, "heads": 4, "tokens_per_step": 1024,
         "val_tokens": 4096, "eval_points": 4}


# ---------------------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------------------


@dataclass
class LengthData:
    """One sequence length's data: the training batches and the fixed validation subset."""

    seq_len: int
    batch_rows: int
    source: Any  # wave_hf.training.corpora.CorpusSource over the train rows
    validation: Any  # datasets.Dataset: the validation subset, row-local positions
    corpus: dict[str, Any]

    def train_batch(self, step: int) -> dict[str, torch.Tensor]:
        batch = self.source.train_batch(step, self.batch_rows)
        batch["position_ids"] = row_local_positions(batch["position_ids"])
        return batch


def load_length(args: argparse.Namespace, seq_len: int) -> LengthData:
    """Pack the corpus at block size ``seq_len`` and draw the validation subset: ``--val-tokens // L`` rows (at
    least 1, at most all) chosen by ``numpy.random.default_rng(--seed)``, in order."""
    from wave_hf.training.corpora import CorpusSource, load_run_corpus

    spec = {"corpus": args.corpus, "block_size": seq_len, "validation_fraction": args.validation_fraction}
    if args.cache_dir is not None:
        spec["cache_dir"] = str(args.cache_dir)
    loaded = load_run_corpus(spec)
    val = loaded.splits["validation"]
    if len(val) == 0:
        raise ValueError(f"the corpus {args.corpus!r} has no validation rows at L={seq_len}")
    n_val = min(len(val), max(1, args.val_tokens // seq_len))
    rows = np.sort(np.random.default_rng(args.seed).choice(len(val), size=n_val, replace=False))
    subset = val.select(rows.tolist()).map(
        lambda b: {"position_ids": row_local_positions(torch.as_tensor(np.asarray(b["position_ids"]))).numpy()},
        batched=True, keep_in_memory=True, desc="row-local positions")
    batch_rows = max(1, args.tokens_per_step // seq_len)
    if batch_rows > len(loaded.splits["train"]):
        raise ValueError(f"the corpus has {len(loaded.splits['train'])} training rows at L={seq_len}, fewer than one "
                         f"batch of {batch_rows}; use a smaller --tokens-per-step or more text")
    corpus = {"source": loaded.source, "include": loaded.include, "exclude": loaded.exclude,
              "train_rows": len(loaded.splits["train"]), "validation_rows": len(val),
              "validation_subset_rows": n_val, "validation_subset_bytes": int(sum(subset["num_scored_bytes"]))}
    return LengthData(seq_len, batch_rows, CorpusSource(loaded.splits, seed=args.seed), subset, corpus)


# ---------------------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------------------


def lr_factor(progress: float) -> float:
    """Multiplier of the peak rate at ``progress`` in [0, 1] of a run: linear warm-up over the first
    ``WARMUP_FRACTION``, then cosine decay to ``MIN_LR_FRACTION`` at 1."""
    if progress < WARMUP_FRACTION:
        return progress / WARMUP_FRACTION
    t = min(1.0, (progress - WARMUP_FRACTION) / (1 - WARMUP_FRACTION))
    return MIN_LR_FRACTION + (1 - MIN_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * t))


def make_optimizer(model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    """AdamW, weight decay on the parameters with >= 2 dimensions (matrices, embeddings) only."""
    params = list({id(p): p for p in model.parameters() if p.requires_grad}.values())
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": WEIGHT_DECAY},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=BETAS)


@dataclass
class Budget:
    """How long a run trains: ``seconds`` of training, or exactly ``max_steps`` steps when given (deterministic).
    Evaluations: ``eval_points`` spread evenly over the run (the last at its end), plus ``early_points`` in the first
    interval at 1/2, 1/4, ... of it, so that a model up to 2**early_points times faster than the slowest one still
    has a logged point below the token count all models reach."""

    seconds: float
    max_steps: int | None
    eval_points: int
    early_points: int = 0

    def progress(self, steps: int, seconds: float) -> float:
        return steps / self.max_steps if self.max_steps is not None else seconds / self.seconds

    def eval_fractions(self) -> list[float]:
        """Progress values in (0, 1] after which the run is evaluated, ascending."""
        even = [k / self.eval_points for k in range(1, self.eval_points + 1)]
        early = [1 / (self.eval_points * 2 ** j) for j in range(1, self.early_points + 1)]
        return sorted(early + even)


@dataclass
class RunResult:
    points: list[dict[str, float]] = field(default_factory=list)  # step, tokens, seconds, val_bits_per_byte
    steps: int = 0
    tokens: int = 0
    seconds: float = 0.0
    diverged: bool = False


def validation_bpb(model: torch.nn.Module, data: LengthData) -> float:
    """Bits per byte of ``model`` on the validation subset (``wave_hf.training.evaluate``)."""
    from wave_hf.training import evaluate

    return float(evaluate(model, data.validation, batch_size=data.batch_rows)["bits_per_byte"])


def batch_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor], positions: bool) -> torch.Tensor:
    """Mean next-token cross-entropy (nats) over the scored tokens of ``batch`` (the trainer's objective)."""
    from wave_hf.training.objectives import compute_stats
    from wave_hf.training.tasks import model_inputs

    out = model(**model_inputs(batch, "tokens", position_ids=positions), use_cache=False)
    stats = compute_stats(out, batch, "tokens")
    return stats.loss_sum / stats.count.clamp_min(1)


def train_run(model: torch.nn.Module, data: LengthData, lr: float, budget: Budget) -> RunResult:
    """Train ``model`` from its initialisation at peak rate ``lr`` for ``budget`` on the shared batch order, with
    validation bits per byte at ``budget.eval_fractions()``. One untimed forward and backward on the first batch
    (gradients discarded, parameters unchanged) comes first, so one-time costs of a first call (allocations,
    kernel selection) are not charged to the run. A non-finite loss ends the run (``diverged``)."""
    from wave_hf.training.modeling import takes_position_ids

    opt = make_optimizer(model, lr)
    positions = takes_position_ids(model)
    res = RunResult()
    last_step_s, evals = 0.0, budget.eval_fractions()
    model.train()
    batch_loss(model, data.train_batch(0), positions).backward()  # the untimed warm-up
    opt.zero_grad(set_to_none=True)
    while True:
        t0 = time.perf_counter()
        batch = data.train_batch(res.steps)
        # the rate for this step: the schedule at the progress this step is expected to end at
        factor = lr_factor(min(1.0, budget.progress(res.steps + 1, res.seconds + last_step_s)))
        for group in opt.param_groups:
            group["lr"] = lr * factor
        loss = batch_loss(model, batch, positions)
        if not torch.isfinite(loss):
            res.diverged = True
            break
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        opt.step()
        opt.zero_grad(set_to_none=True)
        last_step_s = time.perf_counter() - t0
        res.seconds += last_step_s
        res.steps += 1
        res.tokens += batch["input_ids"].numel()
        done = budget.progress(res.steps, res.seconds)
        if done >= 1 or done >= evals[0] - 1e-9:
            bpb = validation_bpb(model, data)
            if not math.isfinite(bpb):
                res.diverged = True
                break
            res.points.append({"step": res.steps, "tokens": res.tokens, "seconds": round(res.seconds, 3),
                               "val_bits_per_byte": bpb})
            evals = [f for f in evals if f > done + 1e-9] or [1.0]
        if done >= 1:
            break
    del opt
    return res


# ---------------------------------------------------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------------------------------------------------


@dataclass
class Results:
    runs: list[dict[str, Any]] = field(default_factory=list)  # one per logged point of the final runs
    sweep: list[dict[str, Any]] = field(default_factory=list)  # one per (model, L, lr) of the sweeps
    final: list[dict[str, Any]] = field(default_factory=list)  # one per (model, L): the final run's summary
    failures: list[dict[str, Any]] = field(default_factory=list)  # a run that raised: model, L, lr, error
    corpus: dict[str, Any] = field(default_factory=dict)  # per L


RUN_ERRORS = (RuntimeError, ValueError, IndexError)  # a model that cannot run here (out of memory, bad input)


def record_failure(results: Results, name: str, seq_len: int, lr: float | None, phase: str, error: str) -> None:
    results.failures.append({"model": name, "seq_len": seq_len, "lr": lr, "phase": phase, "error": error[:200]})


def first_line(e: BaseException) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0]


def one_run(name: str, size: Size, data: LengthData, lr: float, budget: Budget) -> tuple[RunResult, int, bool]:
    """(result, parameter count, whether the model took position_ids) of one training run of a fresh model."""
    from wave_hf.training.modeling import takes_position_ids

    model = build_model(name, size, data.seq_len)
    try:
        return train_run(model, data, lr, budget), n_params(model), takes_position_ids(model)
    finally:
        del model
        gc.collect()


def bench_length(args: argparse.Namespace, size: Size, lrs: dict[str, list[float]], data: LengthData,
                 results: Results) -> None:
    """Sweep (when a model has several rates), then the final run at the best rate, model after model."""
    L = data.seq_len
    sweep_budget = Budget(60 * args.sweep_minutes, args.max_steps, 1)
    final_budget = Budget(60 * args.minutes, args.max_steps, args.eval_points, EARLY_EVAL_POINTS)
    for name in args.models:
        best = lrs[name][0]
        if len(lrs[name]) > 1:
            scores = {}
            for lr in lrs[name]:
                print(f"  sweep {name} L={L} lr={lr:g}", flush=True)
                try:
                    res, params, _ = one_run(name, size, data, lr, sweep_budget)
                except RUN_ERRORS as e:
                    record_failure(results, name, L, lr, "sweep", first_line(e))
                    continue
                bpb = res.points[-1]["val_bits_per_byte"] if res.points and not res.diverged else None
                results.sweep.append({"model": name, "seq_len": L, "lr": lr, "params": params, "steps": res.steps,
                                      "tokens": res.tokens, "seconds": round(res.seconds, 3),
                                      "val_bits_per_byte": bpb, "diverged": res.diverged})
                if bpb is not None:
                    scores[lr] = bpb
                print(f"    -> bpb {bpb}", flush=True)
                write_outputs(args, results)
            if not scores:
                record_failure(results, name, L, None, "sweep", "every rate of the sweep diverged or failed")
                continue
            best = min(scores, key=scores.get)
        print(f"  final {name} L={L} lr={best:g}", flush=True)
        try:
            res, params, resets = one_run(name, size, data, best, final_budget)
        except RUN_ERRORS as e:
            record_failure(results, name, L, best, "final", first_line(e))
            continue
        for p in res.points:
            results.runs.append({"model": name, "seq_len": L, "tokens": p["tokens"], "seconds": p["seconds"],
                                 "val_bits_per_byte": p["val_bits_per_byte"], "params": params, "lr": best,
                                 "step": p["step"]})
        results.final.append({"model": name, "seq_len": L, "lr": best, "params": params, "steps": res.steps,
                              "tokens": res.tokens, "seconds": round(res.seconds, 3),
                              "val_bits_per_byte": res.points[-1]["val_bits_per_byte"] if res.points else None,
                              "diverged": res.diverged, "document_resets": resets})
        print(f"    -> {res.steps} steps, {res.tokens} tokens, {res.seconds:.0f} s, bpb "
              f"{results.final[-1]['val_bits_per_byte']}", flush=True)
        write_outputs(args, results)


# ---------------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------------


def interpolate(points: list[dict[str, Any]], key: str, at: float) -> float | None:
    """Bits per byte at ``key`` (tokens or seconds) = ``at``, linear between logged points; None outside them."""
    xs = [p[key] for p in points]
    if not xs or at < xs[0] - 1e-9 or at > xs[-1] + 1e-9:
        return None
    return float(np.interp(at, xs, [p["val_bits_per_byte"] for p in points]))


def comparisons(results: Results, seq_len: int) -> tuple[float | None, float | None, dict[str, tuple]]:
    """At one length: the largest token count and training time every model reached (T*, S*), and per model
    (bpb at T*, bpb at S*)."""
    curves = {}
    for r in results.runs:
        if r["seq_len"] == seq_len:
            curves.setdefault(r["model"], []).append(r)
    if not curves:
        return None, None, {}
    t_star = min(c[-1]["tokens"] for c in curves.values())
    s_star = min(c[-1]["seconds"] for c in curves.values())
    return t_star, s_star, {m: (interpolate(c, "tokens", t_star), interpolate(c, "seconds", s_star))
                            for m, c in curves.items()}


def _cell(value: float | None, ref: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" + (f" ({value / ref:.3f}x)" if ref else "")


def _beside(entry: dict[str, Any]) -> str:
    return f"from {entry['from']}" if "from" in entry else ""


def markdown(results: Results, lengths: list[int]) -> str:
    out = []
    for L in lengths:
        finals = {f["model"]: f for f in results.final if f["seq_len"] == L}
        t_star, s_star, at = comparisons(results, L)
        ref_final = finals.get("llama", {}).get("val_bits_per_byte")
        ref_tok, ref_sec = at.get("llama", (None, None))
        t_txt = f"{t_star:,}" if t_star is not None else "-"
        s_txt = f"{s_star:.0f} s" if s_star is not None else "-"
        out += [f"### L = {L}", "",
                f"| model | params | lr | steps | tokens | train s | final val bpb | bpb @ {t_txt} tokens | "
                f"bpb @ {s_txt} | document resets | notes |",
                "|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, f in finals.items():
            tok, sec = at.get(name, (None, None))
            out.append(f"| {name} | {f['params'] / 1e6:.2f}M | {f['lr']:g} | {f['steps']} | {f['tokens']:,} | "
                       f"{f['seconds']:.0f} | {_cell(f['val_bits_per_byte'], ref_final)} | {_cell(tok, ref_tok)} | "
                       f"{_cell(sec, ref_sec)} | {'yes' if f['document_resets'] else 'no'} | "
                       f"{'; '.join(n for n in ('diverged' if f['diverged'] else '', _beside(f)) if n)} |")
        for fail in (x for x in results.failures if x["seq_len"] == L):
            out.append(f"| {fail['model']} | - | {fail['lr']} | - | - | - | - | - | - | - | {fail['phase']} failed: "
                       f"{fail['error'][:80]} |")
        out.append("")
    out.append("Validation bits per byte (lower is better); ratios in parentheses are to Llama at the same L. "
               "Equal tokens / wall-clock: the largest token count / training time every model reached, "
               "interpolated linearly between logged points.")
    return "\n".join(out)


def plot(results: Results, lengths: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(lengths), 2, figsize=(11, 3.8 * len(lengths)), squeeze=False)
    for row, L in zip(axes, lengths):
        for name in MODELS:
            pts = [r for r in results.runs if r["seq_len"] == L and r["model"] == name]
            if not pts:
                continue
            bpb = [p["val_bits_per_byte"] for p in pts]
            row[0].plot([p["tokens"] for p in pts], bpb, marker="o", ms=3, label=name)
            row[1].plot([p["seconds"] for p in pts], bpb, marker="o", ms=3, label=name)
        for ax, xlabel in zip(row, ("training tokens", "training seconds")):
            ax.set_xlabel(xlabel)
            ax.set_ylabel("validation bits per byte")
            ax.set_title(f"L = {L}")
            ax.grid(True, alpha=0.3)
        if row[1].lines:
            row[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def settings(args: argparse.Namespace, size: Size, lrs: dict[str, list[float]]) -> dict[str, Any]:
    return {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "size": asdict(size),
            "lr_grids": lrs, "optimizer": {"name": "AdamW", "betas": list(BETAS), "weight_decay": WEIGHT_DECAY,
                                           "weight_decay_on": "parameters with >= 2 dimensions",
                                           "grad_clip": GRAD_CLIP, "warmup_fraction": WARMUP_FRACTION,
                                           "schedule": "linear warm-up, cosine to min_lr_fraction x peak",
                                           "min_lr_fraction": MIN_LR_FRACTION}}


# the settings that decide the data, the budgets and the models' sizes: an earlier run reported --beside this one
# must have used the same
SAME_SETTINGS = ("corpus", "minutes", "sweep_minutes", "max_steps", "tokens_per_step", "val_tokens", "eval_points",
                 "validation_fraction", "seed", "threads", "hidden", "layers", "heads", "history")


def load_beside(path: Path, args: argparse.Namespace) -> Results:
    """The entries of an earlier run's ``bench_lm.json`` for the models this run does not train, at this run's
    lengths, marked ``"from": path`` (e.g. to retrain one model after a fix and compare it with the others of a full
    run). ``SystemExit`` when the file is unreadable or its ``SAME_SETTINGS`` differ from this run's."""
    try:
        doc = json.loads(Path(path).read_text())
        theirs = doc["settings"]["args"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(f"bench_lm: --beside {path}: not a bench_lm.json ({e})") from None
    ours = settings(args, Size(), {})["args"]
    differ = {k: (theirs.get(k), ours[k]) for k in SAME_SETTINGS if theirs.get(k) != ours[k]}
    if differ:
        raise SystemExit(f"bench_lm: --beside {path}: its settings differ from this run's (theirs, ours): {differ}")

    def keep(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**e, "from": str(path)} for e in entries
                if e["model"] not in args.models and e["seq_len"] in args.lengths]

    return Results(runs=keep(doc["runs"]), sweep=keep(doc["sweep"]), final=keep(doc["final"]),
                   failures=keep(doc["failures"]))


def write_outputs(args: argparse.Namespace, results: Results) -> None:
    """``bench_lm.json``, ``bench_lm.md`` and ``bench_lm.png`` in ``args.out`` (rewritten after every run)."""
    args.out.mkdir(parents=True, exist_ok=True)
    doc = {"runs": results.runs, "sweep": results.sweep, "final": results.final, "failures": results.failures,
           "corpus": results.corpus, "machine": machine(), "settings": args.settings}
    (args.out / "bench_lm.json").write_text(json.dumps(doc, indent=1))
    (args.out / "bench_lm.md").write_text(markdown(results, args.lengths) + "\n")
    plot(results, args.lengths, args.out / "bench_lm.png")


# ---------------------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------------------


def parse_lrs(entries: list[str] | None, models: list[str]) -> dict[str, list[float]]:
    """``--lrs`` entries -> rates per model: ``1e-3`` (a rate for every model not named) or
    ``MODEL=1e-3,2e-3,4e-3``; a model given no rate keeps its ``LR_GRIDS`` grid."""
    shared: list[float] = []
    named: dict[str, list[float]] = {}

    def rates(text: str, what: str) -> list[float]:
        try:
            values = [float(x) for x in text.split(",") if x]
        except ValueError:
            raise ValueError(f"--lrs {what}: {text!r} is not a comma-separated list of numbers") from None
        if not values or not all(math.isfinite(v) and v > 0 for v in values):
            raise ValueError(f"--lrs {what}: learning rates must be positive numbers; got {text!r}")
        return values

    for entry in entries or []:
        if "=" in entry:
            model, text = entry.split("=", 1)
            if model not in MODELS:
                raise ValueError(f"--lrs {entry!r}: unknown model {model!r}; choose from {MODELS}")
            named[model] = rates(text, entry)
        else:
            shared += rates(entry, entry)
    return {m: named.get(m) or shared or list(LR_GRIDS[m]) for m in models}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", default="stdlib",
                   help="text file, folder, glob, JSON Lines / Parquet, or a named corpus (default: stdlib, the "
                        "Python standard library's source without its test folders)")
    p.add_argument("--out", type=Path, default=Path("reports/bench_lm"))
    p.add_argument("--quick", action="store_true",
                   help="under 5 minutes on 2 cores: defaults to small models (hidden 128, 2 layers), L 512, "
                        "30 s per run, and one rate per model (the middle of its grid)")
    p.add_argument("--models", nargs="+", default=DEFAULT_MODELS, choices=MODELS)
    p.add_argument("--lengths", nargs="+", type=int, default=[512, 2048])
    p.add_argument("--minutes", type=float, default=5.0, help="training time of each final run")
    p.add_argument("--sweep-minutes", type=float, default=1.0, help="training time of each learning-rate trial")
    p.add_argument("--lrs", nargs="+", metavar="[MODEL=]LR[,LR...]",
                   help="learning rates: for every model, or per model (MODEL=a,b,c); default LR_GRIDS")
    p.add_argument("--max-steps", type=int, help="train every run exactly this many steps instead of a time budget")
    p.add_argument("--tokens-per-step", type=int, default=2048, help="batch = tokens_per_step // L rows")
    p.add_argument("--val-tokens", type=int, default=8192,
                   help="tokens of the fixed validation subset, the same for every model (an evaluation is a forward "
                        "pass over them)")
    p.add_argument("--eval-points", type=int, default=6,
                   help="evenly spaced validation evaluations per final run (plus 3 early ones)")
    p.add_argument("--validation-fraction", type=float, default=0.05, help="documents held out for validation")
    p.add_argument("--seed", type=int, default=0, help="seed of the data order and of the validation subset")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--hidden", type=int, default=320)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--heads", type=int, default=5)
    p.add_argument("--history", type=int, default=64, help="S for the wave models")
    p.add_argument("--cache-dir", type=Path, help="where the packed corpus is cached (default: the datasets cache)")
    p.add_argument("--beside", type=Path, metavar="BENCH_LM_JSON",
                   help="an earlier run's bench_lm.json with the same settings: its models that this run does not "
                        "train are reported beside this run's (marked with where they come from)")
    if p.parse_args(argv).quick:  # --quick changes the defaults; options given explicitly still win
        p.set_defaults(**QUICK)
    args = p.parse_args(argv)
    for name in ("minutes", "sweep_minutes"):
        if not getattr(args, name) > 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    for name in ("tokens_per_step", "val_tokens", "eval_points", "threads", "hidden", "layers", "heads", "history"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.max_steps is not None and args.max_steps < 1:
        p.error("--max-steps must be at least 1")
    if any(L < 2 for L in args.lengths):
        p.error(f"--lengths must be at least 2; got {args.lengths}")
    if args.hidden % args.heads:
        p.error(f"--hidden {args.hidden} must be divisible by --heads {args.heads}")
    args.models = list(dict.fromkeys(args.models))
    try:
        args.lr_table = parse_lrs(args.lrs, args.models)
    except ValueError as e:
        p.error(str(e))
    if args.quick:
        args.lr_table = {m: [v[len(v) // 2]] for m, v in args.lr_table.items()}
    return args


def main(argv: list[str] | None = None) -> Results:
    from wave_hf.training import RunConfigError

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    size = Size(vocab=VOCAB, hidden=args.hidden, layers=args.layers, heads=args.heads, history=args.history)
    args.settings = settings(args, size, args.lr_table)
    print(f"machine: {machine()}", flush=True)
    results = load_beside(args.beside, args) if args.beside is not None else Results()
    t0 = time.perf_counter()
    for L in args.lengths:
        try:
            data = load_length(args, L)
        except (RunConfigError, ValueError) as e:
            raise SystemExit(f"bench_lm: cannot load the corpus {args.corpus!r} at L={L}: {e}") from None
        results.corpus[str(L)] = data.corpus
        print(f"L={L}: {data.corpus}", flush=True)
        bench_length(args, size, args.lr_table, data, results)
    write_outputs(args, results)
    print(markdown(results, args.lengths))
    print(f"total {time.perf_counter() - t0:.0f} s; wrote {args.out}/bench_lm.{{json,md,png}}", flush=True)
    return results


if __name__ == "__main__":
    main()
