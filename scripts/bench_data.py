"""Benchmark of wave_hf.data: generation rows/s and peak memory, torch read throughput, batch-sampler speed.

    python scripts/bench_data.py              # 100k linear_vb rows and 10k Lorenz trajectories of length 1,000
    python scripts/bench_data.py --quick      # a tenth of the rows
    python scripts/bench_data.py --json out.json

Each build runs in a fresh subprocess with an empty cache; peak RSS is ru_maxrss of that process and of its
worker processes, taken right after the build (before the read tests). The reference is the trainer's
appetite: batches of 64 at ~50-100 steps/s, i.e. 3,200-6,400 rows/s. The machine's load average is printed: on a
shared machine the numbers are lower bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

TRAINER_ROWS_PER_S = (64 * 50, 64 * 100)

_CHILD = r"""
import json, os, resource, sys, time
import datasets
import torch
datasets.disable_progress_bars()
import wave_hf.data as wd

name, rows, num_proc, cache = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
params = json.loads(sys.argv[5])
torch.set_num_threads(int(sys.argv[6]))
t0 = time.perf_counter()
dd = wd.build_dataset(name, num_train=rows, num_validation=64, num_test=64, num_proc=num_proc, cache_dir=cache,
                      **params)
build_s = time.perf_counter() - t0
build_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
build_child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
ds = dd["train"].with_format("torch")
t0 = time.perf_counter()
n = 0
for batch in ds.iter(batch_size=64):
    n += len(batch["loss_mask"])
iter_s = time.perf_counter() - t0
t0 = time.perf_counter()
whole = ds[:]
all_s = time.perf_counter() - t0
print(json.dumps({"build_s": build_s, "iter_s": iter_s, "read_all_s": all_s, "rows": n,
                  "peak_rss_mb": build_kb / 1024, "peak_rss_workers_mb": build_child_kb / 1024,
                  "bytes_per_row": sum(v[0].numel() * v.element_size() for v in whole.values())}))
"""


def run_build(name: str, rows: int, num_proc: int, params: dict, torch_threads: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="wave_hf_bench_") as cache:
        env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_CACHE=os.path.join(cache, "hf"))
        out = subprocess.run([sys.executable, "-c", _CHILD, name, str(rows), str(num_proc), cache, json.dumps(params),
                              str(torch_threads)],
                             capture_output=True, text=True, env=env, check=False)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res.update(name=name, num_proc=num_proc, params=params, train_rows=rows,
               gen_rows_per_s=(rows + 128) / res["build_s"], torch_iter_rows_per_s=res["rows"] / res["iter_s"],
               torch_read_all_rows_per_s=res["rows"] / res["read_all_s"])
    return res


def bench_sampler(name: str, batch_size: int, params: dict, seconds: float = 3.0) -> dict:
    import wave_hf.data as wd

    wd.sample_batch(name, batch_size, step=0, **params)  # constants / normalisation stats are cached
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        n += 1
        wd.sample_batch(name, batch_size, step=n, **params)
    dt = time.perf_counter() - t0
    return {"name": name, "batch_size": batch_size, "params": params, "batches_per_s": n / dt,
            "rows_per_s": n * batch_size / dt}


def bench_stream(name: str, rows: int, params: dict) -> dict:
    import wave_hf.data as wd

    ids = wd.stream_dataset(name, num_rows=rows, **params).with_format("torch")
    t0 = time.perf_counter()
    n = sum(len(b["loss_mask"]) for b in ids.iter(batch_size=64))
    dt = time.perf_counter() - t0
    return {"name": name, "rows": n, "rows_per_s": n / dt, "params": params}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a tenth of the rows")
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--skip-lorenz", action="store_true")
    ap.add_argument("--torch-threads", type=int, default=1,
                    help="torch threads in the reading process (1, like a DataLoader worker; on a busy machine more "
                         "threads make torch.tensor copies spin)")
    args = ap.parse_args()
    scale = 10 if args.quick else 1
    builds = [("linear_vb", 100_000 // scale, {})]
    if not args.skip_lorenz:
        builds.append(("lorenz", 10_000 // scale, {"seq_len": 1000}))
    results: dict = {"builds": [], "sampler": [], "stream": [], "trainer_rows_per_s": TRAINER_ROWS_PER_S,
                     "load_average_at_start": os.getloadavg(), "cpus": os.cpu_count()}
    print(f"load average {os.getloadavg()} on {os.cpu_count()} CPUs", flush=True)
    for name, rows, params in builds:
        for num_proc in (1, 2):
            r = run_build(name, rows, num_proc, params, args.torch_threads)
            results["builds"].append(r)
            print(f"build  {name:10s} rows={rows:>7d} num_proc={num_proc}: {r['build_s']:7.2f} s "
                  f"{r['gen_rows_per_s']:9.0f} rows/s  peak RSS {r['peak_rss_mb']:6.0f} MB "
                  f"(workers {r['peak_rss_workers_mb']:5.0f} MB)  torch iter(64) {r['torch_iter_rows_per_s']:9.0f} "
                  f"rows/s  read-all {r['torch_read_all_rows_per_s']:9.0f} rows/s  {r['bytes_per_row']} B/row",
                  flush=True)
    for name, params in (("linear_vb", {}), ("linear_vb", {"horizon": 100}), ("mqar", {}), ("lorenz", {})):
        r = bench_sampler(name, 64, params)
        results["sampler"].append(r)
        print(f"sample_batch {name:10s} {json.dumps(params):18s} B=64: {r['batches_per_s']:8.1f} batches/s "
              f"({r['rows_per_s']:9.0f} rows/s)", flush=True)
    r = bench_stream("linear_vb", 20_000 // scale, {})
    results["stream"].append(r)
    print(f"stream_dataset linear_vb: {r['rows_per_s']:9.0f} rows/s", flush=True)
    print(f"trainer appetite: {TRAINER_ROWS_PER_S[0]}-{TRAINER_ROWS_PER_S[1]} rows/s (64 x 50-100 steps/s)")
    print(f"load average at the end {os.getloadavg()}")
    results["load_average_at_end"] = os.getloadavg()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
