"""The training loop: one ``accelerate.Accelerator`` loop for every model family and dataset.

``train(run_config, overrides)`` parses the config, builds data and model (all errors before step 1), then runs
optimizer steps. Per step: the global batch is drawn as a function of (seed, step, curriculum level); each process
takes its slice (and each gradient-accumulation micro-step a sub-slice); the summed loss is normalised by the count of
the *global* batch so that any number of processes / micro-steps follows the same gradient; statistics are reduced
across processes so every process takes the same curriculum / stopping decisions. On a corpus (``dataset.corpus``,
see ``corpora``) the rows' ``position_ids`` go to models whose forward takes them, and the logs add validation bits
per byte, the tokens seen and the training tokens per second. Non-finite loss or gradient norm
stops the run before the optimizer step, keeping the last good checkpoint.

From accelerate: device placement, DDP/FSDP wrapping (``prepare``), mixed precision, ``backward``/``no_sync``/
``clip_grad_norm_``, cross-process ``reduce``, ``save_state``/``load_state`` (inside ``checkpoints``) and the trackers
(``Accelerator(log_with=...)``, see ``logs``). Ours, because accelerate's versions would change the numbers:
gradient accumulation is explicit (``accelerator.accumulate`` averages micro-batch *means*, which is not the global
mean when micro-batches score different numbers of elements, see ``objectives``); there is no DataLoader (a batch is
a pure function of seed and step, see ``tasks``, so a resumed run draws exactly the batches of an uninterrupted one,
and the curriculum can change the data parameters from one step to the next); checkpoints are written atomically
(see ``checkpoints``). The push to the Hub at the end of a run belongs to ``wave_hf.hub.train_and_push`` (the
training package does not depend on the Hub client).

Outputs in ``output_dir``: ``run_config.yaml``, ``run_info.json``, ``logs/{train,eval}.csv`` (+ TensorBoard),
``checkpoints/step_XXXXXXXX`` (accelerate state, atomic), ``training_curves.png``, ``result.json`` and ``model/``
(``save_pretrained`` + README.md model card + plots + training_info.json), loadable with the Auto classes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from .._version import __version__
from .cards import write_card
from .checkpoints import CheckpointManager
from .corpora import CorpusSource, corpus_task, load_run_corpus
from .curriculum import Curriculum
from .evaluation import evaluate_batches
from .logs import make_trackers
from .modeling import auto_class_for, build_model, takes_position_ids
from .objectives import NUM_TOTALS, batch_count, compute_stats, metric_value
from .plots import plot_curves
from .schema import RunConfig, RunConfigError, load_run_config
from .tasks import BatchSource, TaskSpec, get_task, model_inputs, slice_batch

__all__ = ["PreparedRun", "TrainResult", "TrainingDiverged", "prepare_run", "train", "write_result"]

# run-config sections that must not change when a run is resumed (steps/evaluation/logging/hub may)
_RESUME_FIXED = ("model", "dataset", "curriculum", "optim", "seed", "mixed_precision")


class TrainingDiverged(RuntimeError):
    """The loss (or gradient norm) became NaN/inf; the run stopped and kept its last good checkpoint."""


@dataclass
class TrainResult:
    """What a run produced. Paths are absolute; ``model_dir`` holds the ``save_pretrained`` folder + card.
    ``hub_url`` / ``hub_error`` are filled by ``wave_hf.hub.train_and_push`` when the run config asks for a push."""

    output_dir: Path
    model_dir: Path
    checkpoint: Path | None
    metric: str
    test_metrics: dict[str, float] = field(default_factory=dict)
    train_metrics: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    stopped_early: bool = False
    stop_reason: str = ""
    curriculum: dict[str, Any] = field(default_factory=dict)
    wall_time_s: float = 0.0
    num_processes: int = 1
    hub_url: str | None = None
    hub_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


@dataclass
class PreparedRun:
    """Config, task, data source and the freshly initialised model of a run (nothing trained yet)."""

    config: RunConfig
    task: TaskSpec
    source: BatchSource | CorpusSource
    model_config: Any
    model: torch.nn.Module


def prepare_run(run_config: RunConfig | dict | str | Path, overrides: list[str] | None = None,
                check_forward: bool = True) -> PreparedRun:
    """Parse the config, look up the task (a corpus: pack it, cached; the main process first), build the model
    (seeded) and, with ``check_forward``, run one forward pass on two rows of the first training and evaluation
    batches. Every config or data error surfaces here."""
    cfg = load_run_config(run_config, overrides)
    eval_params = cfg.evaluation.params or _curriculum_overrides(cfg, 0) or None
    if cfg.dataset.is_corpus:
        with _process_state().main_process_first():
            corpus = load_run_corpus(cfg.dataset)
        task, source = corpus_task(corpus), CorpusSource(corpus.splits, cfg.seed)
        source.train_batch(0, cfg.optim.batch_size)  # a corpus smaller than one global batch is an error here
        if len(source.validation) == 0 and (cfg.evaluation.every or cfg.evaluation.final):
            raise RunConfigError("`dataset.validation_fraction` is 0, so the corpus has no validation rows to "
                                 "evaluate; set evaluation.every: 0 and evaluation.final: false, or hold out documents")
    else:
        train_params = {**cfg.dataset.params, **_curriculum_overrides(cfg, 0)}
        task = get_task(cfg.dataset.name, train_params)
        for level in range(1, len(cfg.curriculum.values) if cfg.curriculum else 1):  # validates each curriculum value
            get_task(cfg.dataset.name, {**cfg.dataset.params, **_curriculum_overrides(cfg, level)})
        if eval_params:
            get_task(cfg.dataset.name, {**train_params, **eval_params})  # validates the evaluation params
        source = BatchSource(cfg.dataset, cfg.seed)
    torch.manual_seed(cfg.seed)
    model_config, model = build_model(cfg.model, task, cfg.config_dir)
    positions = takes_position_ids(model)
    if cfg.dataset.is_corpus and not positions:
        warnings.warn(f"model_type {model_config.model_type!r}: its forward takes no `position_ids`, so the documents "
                      "packed in one corpus row are not separated (each document also sees the end of the one "
                      "before it in the row)", stacklevel=2)
    if check_forward:
        with torch.no_grad():
            batches = [source.train_batch(0, 2, _curriculum_overrides(cfg, 0))]
            if source.eval_batch_count(1, 2):
                batches.append(source.eval_batch(0, 2, cfg.evaluation.seed, eval_params))
            for batch in batches:
                out = model(**model_inputs(batch, task.kind, position_ids=positions), use_cache=False)
                compute_stats(out, batch, task.kind)
    return PreparedRun(cfg, task, source, model_config, model)


def _curriculum_overrides(cfg: RunConfig, level: int) -> dict[str, Any]:
    return {cfg.curriculum.param: cfg.curriculum.values[level]} if cfg.curriculum else {}


# --------------------------------------------------------------------------------------------------------------------
# Setup helpers
# --------------------------------------------------------------------------------------------------------------------


def _process_state():
    """accelerate's ``PartialState`` (rank, world size, device), created as ``Accelerator()`` would create it; the
    trainer needs it before the Accelerator, whose trackers depend on the step a resumed run starts from."""
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    return PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))


def _check_precision(cfg: RunConfig) -> None:
    device = _process_state().device
    if cfg.mixed_precision == "fp16" and device.type == "cpu":
        raise RunConfigError("`mixed_precision: fp16` does nothing on CPU in accelerate (autocast stays fp32); use "
                             "`bf16` or `no`")
    if cfg.mixed_precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise RunConfigError("`mixed_precision: bf16` is not supported by this GPU; use `fp16` or `no`")


def _check_launch(state) -> None:
    """A launch that started several processes must have formed one process group (accelerate forms none on CPU
    without ``ACCELERATE_USE_CPU=1``: every process would then train alone, on the whole batch)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and state.num_processes != world:
        raise RunConfigError(
            f"{world} processes were launched (WORLD_SIZE={world}) but accelerate runs this one as "
            f"{state.distributed_type} with {state.num_processes} process(es); on CPU launch with "
            "ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu --num_processes N ... (see the README)")


def _check_sharding(acc) -> None:
    """``accelerate launch`` with an FSDP config must give an FSDP run. accelerate enables FSDP only for GPU-like
    devices (``AcceleratorState`` switches to ``DistributedType.FSDP`` only from MULTI_GPU/NPU/XPU/...); on CPU it
    silently runs plain data parallelism instead (torch's own ``fully_shard`` does shard on CPU with gloo)."""
    from accelerate.utils import DistributedType, parse_flag_from_env

    if parse_flag_from_env("ACCELERATE_USE_FSDP") and acc.distributed_type != DistributedType.FSDP:
        raise RunConfigError(
            f"FSDP was requested (ACCELERATE_USE_FSDP=true, e.g. configs/accelerate/fsdp.yaml) but accelerate set up "
            f"this run as {acc.distributed_type} on {acc.device}: accelerate shards only on GPUs/accelerators, not on "
            "CPU. Use FSDP on GPUs; on CPU use data parallelism: ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu "
            "--num_processes N ...")


def _make_accelerator(cfg: RunConfig, out: Path, trackers: list):
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration

    return Accelerator(
        mixed_precision=cfg.mixed_precision,
        gradient_accumulation_steps=1,  # accumulation is explicit in the loop (exact normalisation, see module doc)
        # stepping the scheduler once per optimizer step; with True, accelerate steps it num_processes times
        step_scheduler_with_optimizer=False,
        # checkpoint folders are named and rotated by CheckpointManager (atomic saves, see checkpoints)
        project_config=ProjectConfiguration(project_dir=str(out), logging_dir=str(out / "logs"),
                                            automatic_checkpoint_naming=False),
        log_with=trackers,
    )


def _make_optimizer(model: torch.nn.Module, cfg: RunConfig):
    o = cfg.optim
    params = [p for p in model.parameters() if p.requires_grad]
    if o.optimizer == "adam":
        return torch.optim.Adam(params, lr=o.lr, betas=tuple(o.betas), eps=o.eps, weight_decay=o.weight_decay)
    if o.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=o.lr, betas=tuple(o.betas), eps=o.eps, weight_decay=o.weight_decay)
    return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)


def _make_scheduler(optimizer, cfg: RunConfig):
    from transformers import get_scheduler

    return get_scheduler(cfg.optim.scheduler, optimizer, num_warmup_steps=cfg.optim.warmup_steps,
                         num_training_steps=cfg.steps)


def _check_resume_compatible(saved_path: Path, cfg: RunConfig) -> None:
    if not saved_path.is_file():
        return
    saved = yaml.safe_load(saved_path.read_text()) or {}
    now = cfg.to_dict()
    changed = [k for k in _RESUME_FIXED if saved.get(k) != now.get(k)]
    if changed:
        raise RunConfigError(
            f"cannot resume: the run config differs from the one the checkpoints were trained with ({saved_path}) in "
            f"{changed}; only steps, evaluation, checkpointing, logging and hub may change on --resume"
        )


def _lock_output_dir(out: Path):
    """Hold an exclusive lock on ``out/.lock`` for the life of the process (released by the OS even on SIGKILL), so
    two runs can never write into the same output folder at once. Returns the open file (keep it referenced)."""
    out.mkdir(parents=True, exist_ok=True)
    f = open(out / ".lock", "a+")
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no protection
        return f
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.seek(0)
        holder = f.read().strip() or "unknown"
        f.close()
        raise RunConfigError(f"{out} is being written by another training process ({holder}); wait for it to end "
                             "or choose another output_dir") from None
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()}\n")
    f.flush()
    return f


def _replace_dir(tmp: Path, final: Path) -> None:
    """Move ``tmp`` to ``final``; an existing ``final`` is swapped out first and deleted only afterwards."""
    if final.exists():
        old = final.with_name(final.name + ".old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


# --------------------------------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------------------------------


class _Run:
    """State and steps of one training run (split out of ``train`` to keep each part short)."""

    def __init__(self, prepared: PreparedRun, resume: bool | str | Path, overwrite: bool):
        self.cfg, self.task, self.source = prepared.config, prepared.task, prepared.source
        self.state = state = _process_state()
        _check_launch(state)
        self.out = Path(self.cfg.output_dir).resolve()
        self.world = state.num_processes
        self.accum = self.cfg.optim.gradient_accumulation_steps
        B = self.cfg.optim.batch_size
        if B % (self.world * self.accum):
            raise RunConfigError(
                f"`optim.batch_size`={B} (the global batch) is not divisible by num_processes ({self.world}) x "
                f"optim.gradient_accumulation_steps ({self.accum})"
            )
        if self.cfg.evaluation.batch_size % self.world:
            raise RunConfigError(f"`evaluation.batch_size`={self.cfg.evaluation.batch_size} is not divisible by "
                                 f"num_processes ({self.world})")
        self.micro = B // (self.world * self.accum)
        self.is_corpus = self.cfg.dataset.is_corpus
        self.positions = takes_position_ids(prepared.model)
        self.tokens_per_step = B * self.cfg.dataset.block_size if self.is_corpus else 0
        self._timed_tokens, self._timed_s = 0, 0.0  # training tokens / seconds since the last logged row
        self.ckpts = CheckpointManager(self.out / "checkpoints", self.cfg.checkpointing.keep_last)
        self.curriculum = Curriculum(self.cfg.curriculum, self.task.higher_is_better)
        self.step = 0
        self.last_eval: dict[str, Any] | None = None
        self.last_train: dict[str, float] = {}
        self.last_checkpoint: Path | None = None
        self.checkpointed_step = -1
        self.stopped_early, self.stop_reason = False, ""
        self.elapsed_before = 0.0
        self._lock = _lock_output_dir(self.out) if state.is_main_process else None
        resume_from = self._resume_target(resume, overwrite)
        resume_step = None if resume_from is None else int(self.ckpts.read_state(resume_from)["step"])
        columns = {"train": self._train_columns(), "eval": self._eval_columns()}
        trackers = make_trackers(self.out / "logs", columns, self.cfg.logging.tensorboard, resume_step)
        self.acc = acc = _make_accelerator(self.cfg, self.out, trackers)
        _check_sharding(acc)

        model = prepared.model
        optimizer = _make_optimizer(model, self.cfg)
        scheduler = _make_scheduler(optimizer, self.cfg)
        self.model, self.optimizer, self.scheduler = acc.prepare(model, optimizer, scheduler)
        if resume_from is not None:
            self._load(resume_from)
        self._write_run_files()
        acc.init_trackers(self.cfg.name)

    # -- resume ---------------------------------------------------------------------------------------------------

    def _resume_target(self, resume: bool | str | Path, overwrite: bool) -> Path | None:
        state = self.state
        if resume:
            _check_resume_compatible(self.out / "run_config.yaml", self.cfg)
            if state.is_main_process:
                self.ckpts.cleanup_partial()
            state.wait_for_everyone()
            if resume is True:
                target = self.ckpts.latest()
                if target is None:
                    state.print(f"[wave_hf] --resume: no checkpoint in {self.ckpts.root}; starting from step 0")
                return target
            return Path(resume).resolve()
        existing = self.ckpts.latest()
        if existing is not None:
            if not overwrite:
                raise RunConfigError(
                    f"{self.out} already holds checkpoints (latest: {existing.name}); pass --resume to continue that "
                    "run, --overwrite to delete them and start over, or choose another output_dir"
                )
            if state.is_main_process:
                shutil.rmtree(self.ckpts.root)
            state.wait_for_everyone()
        return None

    def _load(self, path: Path) -> None:
        state = self.ckpts.load(self.acc, path)
        self.step = int(state["step"])
        self.curriculum.load_state_dict(state["curriculum"])
        self.last_eval = state.get("last_eval")
        self.last_train = state.get("last_train", {})
        self.elapsed_before = float(state.get("elapsed_s", 0.0))
        self.last_checkpoint = path
        self.checkpointed_step = self.step
        self.acc.print(f"[wave_hf] resumed from {path} at step {self.step}")

    def _trainer_state(self) -> dict[str, Any]:
        return {"curriculum": self.curriculum.state_dict(), "last_eval": self.last_eval,
                "last_train": self.last_train, "elapsed_s": self.elapsed(), "num_processes": self.world}

    # -- files ------------------------------------------------------------------------------------------------------

    def _write_run_files(self) -> None:
        if not self.acc.is_main_process:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "run_config.yaml").write_text(yaml.safe_dump(self.cfg.to_dict(), sort_keys=False))
        info = {
            "num_processes": self.world,
            "distributed_type": str(self.acc.distributed_type),
            "device": str(self.acc.device),
            "mixed_precision": self.acc.mixed_precision,
            "micro_batch_per_process": self.micro,
            "gradient_accumulation_steps": self.accum,
            "torch_threads": torch.get_num_threads(),
        }
        (self.out / "run_info.json").write_text(json.dumps(info, indent=2))

    def _train_columns(self) -> list[str]:
        cols = ["step", "loss", self.task.metric, "lr", "grad_norm"]
        if self.cfg.curriculum:
            cols += [f"curriculum_{self.cfg.curriculum.param}", "curriculum_level"]
        if self.is_corpus:  # tokens seen so far (padding included) and training throughput since the last row
            cols += ["tokens", "tokens_per_s"]
        return cols + ["elapsed_s"]

    def _eval_columns(self) -> list[str]:
        extra = ["perplexity", "tokens"] if self.is_corpus else []
        return ["step", "loss", self.task.metric, *extra, "elapsed_s"]

    def log(self, prefix: str, row: dict[str, Any]) -> None:
        """One row to the trackers (main process only): ``{"step": 3, "loss": x}`` -> ``{"<prefix>/loss": x}``."""
        self.acc.log({f"{prefix}/{k}": v for k, v in row.items() if k != "step"}, step=int(row["step"]))

    def elapsed(self) -> float:
        return self.elapsed_before + (time.perf_counter() - self.t0)

    # -- one optimizer step -----------------------------------------------------------------------------------------

    def train_step(self) -> dict[str, float]:
        acc, kind = self.acc, self.task.kind
        params = self.curriculum.params()
        batch = self.source.train_batch(self.step, self.cfg.optim.batch_size, params)
        norm = batch_count(batch, kind)
        if norm <= 0:
            raise RuntimeError(f"training batch of step {self.step + 1} scores no elements (all masked)")
        scale = self.world / norm  # DDP averages gradients over processes: sum/global_count after averaging
        totals = torch.zeros(NUM_TOTALS, dtype=torch.float64, device=acc.device)
        rank = acc.process_index
        for k in range(self.accum):
            mb = slice_batch(batch, k * self.world + rank, self.micro)
            mb = {n: t.to(acc.device) for n, t in mb.items()}
            last = k == self.accum - 1
            ctx = acc.no_sync(self.model) if not last else contextlib.nullcontext()
            with ctx:
                out = self.model(**model_inputs(mb, kind, position_ids=self.positions), use_cache=False)
                stats = compute_stats(out, mb, kind)
                acc.backward(stats.loss_sum * scale)
            totals += stats.detached()
        totals = acc.reduce(totals, reduction="sum") if self.world > 1 else totals
        loss, metric = metric_value(self.task.metric, totals.cpu())
        grad_norm = math.nan
        if self.cfg.optim.max_grad_norm is not None:
            grad_norm = float(acc.clip_grad_norm_(self.model.parameters(), self.cfg.optim.max_grad_norm))
        bad_grad = not math.isfinite(grad_norm) and self.cfg.optim.max_grad_norm is not None
        if not math.isfinite(loss) or (bad_grad and self.cfg.mixed_precision != "fp16"):
            self.optimizer.zero_grad(set_to_none=True)
            what = f"loss {loss}" if not math.isfinite(loss) else f"gradient norm {grad_norm}"
            raise TrainingDiverged(self._diverged_message(what))
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        row = {"step": self.step, "loss": loss, self.task.metric: metric,
               "lr": self.scheduler.get_last_lr()[0], "grad_norm": grad_norm}
        if self.cfg.curriculum:
            row[f"curriculum_{self.cfg.curriculum.param}"] = self.curriculum.value
            row["curriculum_level"] = self.curriculum.level
        if self.is_corpus:
            row["tokens"] = self.step * self.tokens_per_step
        self.curriculum.observe(metric, self.step)
        self.last_train = {"loss": loss, self.task.metric: metric}
        return row

    def _diverged_message(self, what: str) -> str:
        where = f" ({self.cfg.curriculum.param}={self.curriculum.value})" if self.cfg.curriculum else ""
        ckpt = self.ckpts.latest()
        kept = (f"the last good checkpoint is kept: {ckpt} (resume from it with --resume, e.g. with a lower "
                f"optim.lr)") if ckpt else "no checkpoint had been saved yet (checkpointing.every)"
        return (f"training stopped: non-finite {what} at step {self.step + 1}{where}; the optimizer step was not "
                f"applied and nothing was saved after step {self.step}; {kept}")

    # -- evaluation / checkpoints -----------------------------------------------------------------------------------

    def evaluate(self) -> dict[str, Any]:
        ev = self.cfg.evaluation
        params = ev.params or self.curriculum.params() or None
        reduce = (lambda t: self.acc.reduce(t, reduction="sum")) if self.world > 1 else None
        res = evaluate_batches(self.model, self.task, self.source, params=params, batches=ev.batches,
                               batch_size=ev.batch_size, seed=ev.seed, rank=self.acc.process_index,
                               world_size=self.world, reduce=reduce, device=self.acc.device)
        res = {"step": self.step, **res}
        self.last_eval = res
        row = {"step": self.step, "loss": res["loss"], self.task.metric: res[self.task.metric],
               "elapsed_s": round(self.elapsed(), 3)}
        if self.is_corpus:
            row.update(perplexity=res["perplexity"], tokens=self.step * self.tokens_per_step)
        self.log("eval", row)
        return res

    def reached_target(self, res: dict[str, Any]) -> bool:
        target = self.cfg.evaluation.stop_at
        if target is None or not self.curriculum.completed:
            return False
        value = res[self.task.metric]
        return value >= target if self.task.higher_is_better else value <= target

    def checkpoint(self) -> None:
        self.last_checkpoint = self.ckpts.save(self.acc, self.step, self._trainer_state())
        self.checkpointed_step = self.step

    # -- the whole run ----------------------------------------------------------------------------------------------

    def run(self) -> None:
        from tqdm.auto import tqdm

        cfg, acc = self.cfg, self.acc
        self.t0 = time.perf_counter()
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not (acc.is_main_process and cfg.logging.progress_bar),
                   desc=cfg.name, dynamic_ncols=True, mininterval=0.5, file=sys.stderr)
        try:
            while self.step < cfg.steps:
                started = time.perf_counter()
                row = self.train_step()
                self._timed_s += time.perf_counter() - started
                self._timed_tokens += self.tokens_per_step
                row["elapsed_s"] = round(self.elapsed(), 3)
                if self.step % cfg.logging.every == 0 or self.step == cfg.steps:
                    if self.is_corpus:
                        row["tokens_per_s"] = round(self._timed_tokens / max(self._timed_s, 1e-9), 1)
                        self._timed_tokens, self._timed_s = 0, 0.0
                    self.log("train", row)
                postfix = {"loss": f"{row['loss']:.4g}", self.task.metric: f"{row[self.task.metric]:.4f}"}
                if cfg.curriculum:
                    postfix[cfg.curriculum.param] = self.curriculum.value
                if cfg.evaluation.every and self.step % cfg.evaluation.every == 0:
                    res = self.evaluate()
                    postfix[f"eval_{self.task.metric}"] = f"{res[self.task.metric]:.4f}"
                    if self.reached_target(res):
                        self.stopped_early = True
                        self.stop_reason = (f"eval {self.task.metric} {res[self.task.metric]:.4f} reached "
                                            f"evaluation.stop_at={cfg.evaluation.stop_at} at step {self.step}")
                bar.set_postfix(postfix, refresh=False)
                bar.update(1)
                if cfg.checkpointing.every and self.step % cfg.checkpointing.every == 0:
                    self.checkpoint()
                if self.stopped_early:
                    break
        finally:
            bar.close()
        if self.checkpointed_step != self.step:
            self.checkpoint()

    def final_eval(self) -> dict[str, Any]:
        if not self.cfg.evaluation.final:
            return {}
        if self.last_eval is not None and self.last_eval.get("step") == self.step:
            return self.last_eval
        return self.evaluate()


def _save_model(run: _Run, prepared: PreparedRun, test: dict[str, Any]) -> Path:
    """save_pretrained + plots + card into ``OUTPUT/model`` (written to a temp folder, then renamed)."""
    acc, cfg = run.acc, run.cfg
    final, tmp = run.out / "model", run.out / ".tmp-model"
    state_dict = acc.get_state_dict(run.model)  # collective under FSDP
    unwrapped = acc.unwrap_model(run.model)
    if acc.is_main_process:
        if tmp.exists():
            shutil.rmtree(tmp)
        unwrapped.save_pretrained(str(tmp), state_dict=state_dict, save_function=acc.save)
        plot = run.out / "training_curves.png"
        try:
            plot_curves(run.out / "logs", plot, run.task.metric, title=f"{cfg.name}: {unwrapped.config.model_type} "
                        f"on {run.task.name}", curriculum_param=cfg.curriculum.param if cfg.curriculum else None)
            shutil.copy2(plot, tmp / plot.name)
            plots = [plot.name]
        except Exception as e:  # a broken log must not cost the trained model
            acc.print(f"[wave_hf] warning: could not draw {plot.name} ({type(e).__name__}: {e}); saving without it")
            plots = []
        shutil.copy2(run.out / "run_config.yaml", tmp / "run_config.yaml")
        info = {
            "model_dir": str(final),
            "model_type": unwrapped.config.model_type,
            "auto_class": auto_class_for(run.task).__name__,
            "model_config": unwrapped.config.to_dict(),
            "num_parameters": sum(p.numel() for p in unwrapped.parameters()),
            "run_config": cfg.to_dict(),
            "task": {"name": run.task.name, "params": run.task.params if run.is_corpus else cfg.dataset.params,
                     "info": run.task.info},
            "evaluation": {"params": cfg.evaluation.params or run.curriculum.params(),
                           "batches": cfg.evaluation.batches, "batch_size": cfg.evaluation.batch_size,
                           "seed": cfg.seed if cfg.evaluation.seed is None else cfg.evaluation.seed},
            "test_metrics": {k: v for k, v in test.items() if k != "step"},
            "train_metrics": run.last_train,
            "final_train_params": {**cfg.dataset.params, **run.curriculum.params()},
            "curriculum_state": run.curriculum.state_dict(),
            "steps_done": run.step,
            "stopped_early": run.stopped_early,
            "stop_reason": run.stop_reason,
            "num_processes": run.world,
            "wall_time_s": run.elapsed(),
            "plots": plots,
            "wave_hf_version": __version__,
        }
        write_card(tmp, info, repo_id=cfg.hub.repo_id)
        _replace_dir(tmp, final)
    acc.wait_for_everyone()
    return final


def train(run_config: RunConfig | dict | str | Path, overrides: list[str] | None = None, *,
          resume: bool | str | Path = False, overwrite: bool = False) -> TrainResult:
    """Train one run config (path, shipped name, mapping or ``RunConfig``) with ``--key=value`` overrides.

    Args:
        resume: True = continue from the newest complete checkpoint in ``output_dir`` (from step 0 if none);
            a path = continue from that checkpoint folder.
        overwrite: start fresh even though ``output_dir`` holds checkpoints (they are deleted).

    Raises:
        RunConfigError: bad config, data or model settings (before any training step).
        TrainingDiverged: NaN/inf loss; the last good checkpoint is kept.

    ``hub.push_to_hub`` is not acted on here: ``wave_hf.hub.train_and_push`` (what ``wave-hf train`` runs) trains
    with this function and then pushes ``model/``.
    """
    cfg = load_run_config(run_config, overrides)
    if cfg.num_threads is not None:
        torch.set_num_threads(cfg.num_threads)
    if cfg.deterministic:  # cuBLAS needs this before CUDA starts to have deterministic matmuls
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    _check_precision(cfg)
    from accelerate.utils import set_seed

    set_seed(cfg.seed)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    prepared = prepare_run(cfg)
    run = _Run(prepared, resume, overwrite)
    acc = run.acc
    try:
        run.run()
        test = run.final_eval()
    finally:
        for tracker in acc.trackers:  # close the logs (end_training, below, would also end the process group)
            tracker.finish()
    model_dir = _save_model(run, prepared, test)
    result = TrainResult(
        output_dir=run.out, model_dir=model_dir, checkpoint=run.last_checkpoint, metric=run.task.metric,
        test_metrics={k: v for k, v in test.items() if k != "step"}, train_metrics=run.last_train, steps=run.step,
        stopped_early=run.stopped_early, stop_reason=run.stop_reason, curriculum=run.curriculum.state_dict(),
        wall_time_s=run.elapsed(), num_processes=run.world,
    )
    if acc.is_main_process:
        write_result(result)
    acc.wait_for_everyone()
    acc.end_training()
    return result


def write_result(result: TrainResult) -> Path:
    """Write ``result.json`` into the run's output folder (``wave_hf.hub.train_and_push`` rewrites it after a push)."""
    path = Path(result.output_dir) / "result.json"
    path.write_text(json.dumps(result.to_dict(), indent=2, default=str))
    return path
