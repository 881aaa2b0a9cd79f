"""Train one run config over several seeds with the package's trainer and print the seed table.

    python -m scripts.seed_table --config t1_lbc --seeds 0-9 --out reports/t1_lbc_seeds [--key=value ...]

Every run is ``wave_hf.training.train(config, ["--seed=N", "--output_dir=RUNS/seed_N", *overrides])``; the
table has one row per seed (steps trained, why the run stopped, the test metric, wall seconds) and a last line that
counts the seeds whose test metric reached ``--target``. Writes ``OUT/seed_table.md`` and ``OUT/seed_table.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from wave_hf.training import train
from wave_hf.training.tasks import LOWER_IS_BETTER


def parse_seeds(text: str) -> list[int]:
    """'0-9' -> [0..9]; '0,3,5' -> [0, 3, 5]."""
    seeds: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        seeds += list(range(int(first), int(last or first) + 1))
    if not seeds:
        raise ValueError(f"--seeds names no seed: {text!r}")
    return seeds


def reached(value: float, metric: str, target: float) -> bool:
    """Whether a test metric reached the target (at most the target for losses, at least it for accuracies)."""
    return value <= target if metric in LOWER_IS_BETTER else value >= target


def markdown(config: str, rows: list[dict], metric: str, target: float) -> str:
    goal = f"{'<=' if metric in LOWER_IS_BETTER else '>='} {target}"
    lines = [
        f"Seed table: `{config}`, test {metric} (target {goal})",
        "",
        f"| seed | steps | stop reason | test {metric} | wall s |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [r["seed"], r["steps"], r["stop_reason"], f"{r['test_metric']:.6f}", f"{r['wall_s']:.1f}"]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    count = sum(reached(r["test_metric"], metric, target) for r in rows)
    slowest = max(r["wall_s"] for r in rows)
    machine = f"{torch.get_num_threads()} torch threads, {platform.machine()}, {platform.python_version()}"
    lines += ["", f"{count} of {len(rows)} seeds reach {metric} {goal}; the slowest run took {slowest:.1f} s "
              f"({machine})."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="run config path or shipped name")
    parser.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 0,3,5")
    parser.add_argument("--target", type=float, default=0.999,
                        help="the test metric a seed must reach (a maximum for losses such as mse, bits_per_byte)")
    parser.add_argument("--out", type=Path, default=Path("reports/seed_table"), help="where the table is written")
    parser.add_argument("--runs", type=Path, default=Path("runs/seed_table"), help="the runs' output folders")
    args, overrides = parser.parse_known_args(argv)
    rows = []
    for seed in parse_seeds(args.seeds):
        start = time.perf_counter()
        result = train(args.config, [f"--seed={seed}", f"--output_dir={args.runs / f'seed_{seed}'}",
                                     *overrides], overwrite=True)
        rows.append({"seed": seed, "steps": result.steps, "stop_reason": result.stop_reason,
                     "metric": result.metric, "test_metric": result.test_metrics[result.metric],
                     "wall_s": time.perf_counter() - start})
        print(json.dumps(rows[-1]), flush=True)
    table = markdown(args.config, rows, rows[0]["metric"], args.target)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "seed_table.md").write_text(table)
    (args.out / "seed_table.json").write_text(json.dumps({"config": args.config, "overrides": overrides,
                                                          "rows": rows}, indent=1))
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
