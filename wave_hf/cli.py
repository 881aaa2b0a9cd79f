"""The ``wave-hf`` console script.

    wave-hf train --config NAME|PATH [--resume[=CHECKPOINT]] [--overwrite] [--key=value ...]
    wave-hf check --config NAME|PATH [--key=value ...]        (build model and data, one forward pass, no training)
    wave-hf push CHECKPOINT_DIR --repo-id USER/NAME [--private] [--revision BRANCH]
    wave-hf reproduce [ARGS ...]                              (the paper reproduction; --help lists its arguments)

``--config`` takes a run-config file, or the name of a config shipped with wave_hf (``t1_lbc``; ``wave-hf train
--list`` names them). A path that is not a file but lies in ``configs/train/`` (where the shipped configs were kept
in the source tree) names the shipped config of that name. Overrides are dotted run-config keys (``--optim.lr=3e-4
--dataset.params.horizon=20``), values parsed as YAML. ``accelerate launch scripts/train.py ...`` takes the same
arguments as ``wave-hf train``.

Exit codes: 0 ok, 1 training diverged or a push failed, 2 bad arguments / config / checkpoint.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main", "resolve_config_path"]


def resolve_config_path(value: str) -> Path:
    """The run-config file ``--config VALUE`` names: a file as given, else a shipped config (see the module doc).
    Says on stderr which shipped file is used when VALUE is not itself a file."""
    from .training.resources import resolve_run_config

    path = resolve_run_config(value)
    if not Path(value).expanduser().is_file():
        print(f"[wave_hf] --config {value}: the run config shipped with wave_hf ({path})", file=sys.stderr)
    return path


def _list_configs() -> int:
    from .training.resources import shipped_run_configs

    print("\n".join(shipped_run_configs()))
    return 0


def _train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wave-hf train", description="Train a run config. Extra --key=value arguments override run-config "
        "keys, e.g. --steps=500 --optim.lr=3e-4 --output_dir=runs/x.")
    p.add_argument("--config", help="run config YAML, or the name of a shipped one (e.g. t1_lbc)")
    p.add_argument("--list", action="store_true", help="print the names of the shipped run configs and exit")
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
                   help="continue from the newest checkpoint in output_dir (or from CHECKPOINT)")
    p.add_argument("--overwrite", action="store_true", help="delete output_dir's checkpoints and start over")
    return p


def _split_overrides(parser: argparse.ArgumentParser, argv: list[str]):
    args, rest = parser.parse_known_args(argv)
    bad = [a for a in rest if not (a.startswith("--") and "=" in a)]
    if bad:
        parser.error(f"unrecognised argument(s) {bad}; run-config overrides look like --key=value")
    return args, rest


def _cmd_train(argv: list[str]) -> int:
    from .hub import train_and_push
    from .training import CheckpointError, RunConfigError, TrainingDiverged

    parser = _train_parser()
    args, overrides = _split_overrides(parser, argv)
    if args.list:
        return _list_configs()
    if not args.config:
        parser.error("the following arguments are required: --config")
    try:
        result = train_and_push(resolve_config_path(args.config), overrides, resume=args.resume,
                                overwrite=args.overwrite)
    except (RunConfigError, CheckpointError, FileNotFoundError) as e:
        print(f"wave-hf train: error: {e}", file=sys.stderr)
        return 2
    except TrainingDiverged as e:
        print(f"wave-hf train: {e}", file=sys.stderr)
        return 1
    from accelerate import PartialState

    if PartialState().is_main_process:
        _print_summary(result)
    return 1 if result.hub_error else 0


def _print_summary(result) -> None:
    m = result.metric
    test = result.test_metrics
    print(f"\n[wave_hf] done: {result.steps} steps in {result.wall_time_s:.1f} s on {result.num_processes} process(es)"
          + (f"; {result.stop_reason}" if result.stopped_early else ""))
    if test:
        print(f"[wave_hf] test {m}: {test[m]:.6f} (loss {test['loss']:.6g}, {test['num_sequences']} sequences)")
    print(f"[wave_hf] model (save_pretrained + card): {result.model_dir}")
    print(f"[wave_hf] last training checkpoint (accelerate state, for --resume): {result.checkpoint}")
    auto = "AutoModelForCausalLM" if m in ("token_accuracy", "bits_per_byte") else "AutoModelForTimeSeriesPrediction"
    print("[wave_hf] load it with:\n"
          f"    import wave_hf\n    from transformers import {auto}\n"
          f"    model = {auto}.from_pretrained({str(result.model_dir)!r})")
    if result.hub_url:
        print(f"[wave_hf] pushed to the Hub: {result.hub_url}")


def _cmd_check(argv: list[str]) -> int:
    from .training import RunConfigError, prepare_run

    parser = argparse.ArgumentParser(prog="wave-hf check", description="Parse a run config and build its model "
                                     "and data (one forward pass), without training.")
    parser.add_argument("--config", required=True, help="run config YAML, or the name of a shipped one")
    args, overrides = _split_overrides(parser, argv)
    try:
        run = prepare_run(resolve_config_path(args.config), overrides)
    except (RunConfigError, FileNotFoundError) as e:
        print(f"wave-hf check: error: {e}", file=sys.stderr)
        return 2
    n = sum(p.numel() for p in run.model.parameters())
    print(f"ok: {run.config.name}: {run.model_config.model_type} ({n:,} parameters) on {run.task.name} "
          f"({run.task.kind}, metric {run.task.metric})")
    return 0


def _cmd_push(argv: list[str]) -> int:
    from .hub import PushError, push_model

    p = argparse.ArgumentParser(prog="wave-hf push", description="Upload a trained model folder (weights, config, "
                                "card, plots) to the Hugging Face Hub in one commit.")
    p.add_argument("checkpoint_dir", help="the run's output folder or its model/ folder")
    p.add_argument("--repo-id", required=True, help="USER/NAME on the Hub")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--revision", default=None, help="branch to push to (created if missing; default main)")
    p.add_argument("--commit-message", default=None)
    args = p.parse_args(argv)
    try:
        res = push_model(args.checkpoint_dir, args.repo_id, private=args.private, revision=args.revision,
                         commit_message=args.commit_message)
    except PushError as e:
        print(f"wave-hf push: error: {e}", file=sys.stderr)
        return 1
    print(f"pushed {len(res.files)} files to {res.repo_id}@{res.revision}: {res.commit_url}")
    for f in res.files:
        print(f"  {f}")
    return 0


def _cmd_reproduce(argv: list[str]) -> int:
    from .experiments import main as reproduce

    return reproduce(argv)


_COMMANDS = {"train": _cmd_train, "push": _cmd_push, "check": _cmd_check, "reproduce": _cmd_reproduce}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in _COMMANDS:
        print(__doc__.strip())
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    return _COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
