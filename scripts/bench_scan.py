#!/usr/bin/env python
"""Benchmark of the wave scan (section 5 of the ops issue): a printed table, not a timed test.

For B=8, H=16, S in {4, 16}, D in {1, 4, 16}, L in {256, 1024, 4096, 16384} and both boundary forms it times the
forward and forward+backward of every backend and, in the same run, two references: the ``reference`` loop and a
causal FFT convolution of the same tensor (H3's FlashConv algorithm: the cost of a pure shift SSM).

Roofline model (printed per row as "% roof"): the least time the recurrence can take on this machine,
max(bytes / copy GB/s, flops / matmul GFLOP/s), with bytes = 8N (forward: read u, write z) or 20N (forward+backward:
also read grad_z and z, write grad_u) float32 values' worth of N = B*L*H*D elements, and flops = 2*N*S (diagonal) or
2*N*S*D (dense) per pass, 3 passes for forward+backward (forward, adjoint, grad a). "% roof" = roofline / measured.

Peak memory of chunked forward+backward is measured as the growth of the process's peak RSS (VmHWM) in a fresh
subprocess per length, from after a warm-up on a tiny shape to after the backward pass; it includes the inputs and
their gradients, and is reported relative to the size of u.

Packed rows (``--packed``): at the same shapes, forward+backward of ``wave_scan``, ``wave_scan_fir`` and
``decay_memory`` (keys and values of width D, the LBC mixer's gating memory) on rows of documents of random lengths
(uniform in [1, 2 * --doc-length - 1], so starts fall anywhere inside chunks) against the same rows unpacked, timed
in pairs (unpacked, then packed right after it); "ratio" is packed throughput / unpacked throughput, the median over
at least 5 pairs of the pair's time ratio (goal: >= 0.95).

Usage: python scripts/bench_scan.py [--quick] [--packed] [--doc-length N] [--device cuda] [--threads N]
    [--max-reference-length L]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time

import torch

from wave_hf.ops import decay_memory, fft_causal_conv, wave_scan, wave_scan_fir

B, H = 8, 16
GOAL = dict(S=16, D=4, L=4096)


def timer(fn, device: str, repeats: int, budget_s: float = 2.0) -> float:
    """Median wall time of fn() in ms, after one warm-up call; fewer repeats when a call is slow."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    t0 = time.perf_counter()
    fn()
    sync()
    first = time.perf_counter() - t0
    n = max(1, min(repeats, int(budget_s / max(first, 1e-6))))
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return 1e3 * sorted(times)[len(times) // 2]


def machine_peaks(device: str) -> tuple[float, float]:
    """(fp32 matmul GFLOP/s, copy GB/s counting read + write) measured here."""
    n = 4096 if device == "cuda" else 1024
    x = torch.randn(n, n, device=device)
    y = torch.randn(n, n, device=device)
    out = torch.empty(n, n, device=device)
    t_mm = timer(lambda: torch.mm(x, y, out=out), device, 10) / 1e3
    big = torch.randn(64 << 20 if device == "cuda" else 32 << 20, device=device)  # 256 MiB / 128 MiB
    dst = torch.empty_like(big)
    t_cp = timer(lambda: dst.copy_(big), device, 10) / 1e3
    return 2 * n**3 / t_mm / 1e9, 2 * big.numel() * 4 / t_cp / 1e9


def make_case(S: int, D: int, L: int, dense: bool, device: str):
    g = torch.Generator().manual_seed(0)
    u = torch.randn(B, L, H, D, generator=g)
    a = torch.randn(H, S, D, D, generator=g) if dense else torch.randn(H, S, D, generator=g)
    norms = torch.linalg.matrix_norm(a, ord=2).sum(1)[:, None, None, None] if dense else a.abs().sum(1, keepdim=True)
    a = 0.95 * a / norms
    s0 = torch.randn(B, H, S, D, generator=g)
    k = torch.randn(L, H, D, generator=g) / L
    return [t.to(device) for t in (u, a, s0, k)]


def time_scan(backend: str, u, a, s0, device: str, repeats: int) -> tuple[float, float]:
    """(forward ms, forward+backward ms) of wave_scan with initial and final state, gradients to u, a, s0."""
    leaves = [t.clone().requires_grad_() for t in (u, a, s0)]
    gz, gf = torch.randn_like(u), torch.randn_like(s0)

    def fwd():
        with torch.no_grad():
            wave_scan(u, a, s0, output_final_state=True, backend=backend)

    def fwd_bwd():
        z, final = wave_scan(*leaves, output_final_state=True, backend=backend)
        torch.autograd.backward((z, final), (gz, gf))

    return timer(fwd, device, repeats), timer(fwd_bwd, device, repeats)


def timer_pair(first, second, device: str, repeats: int, budget_s: float = 8.0) -> tuple[float, float, float]:
    """Median wall times (ms) of two functions called alternately, and the median over the pairs of first / second
    (each pair runs back to back, so that the drifts of a shared machine hit both of its calls alike): at least 5
    pairs, up to ``repeats`` within ``budget_s``."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    t0 = time.perf_counter()
    first()
    second()
    sync()
    n = max(5, min(repeats, int(budget_s / max(time.perf_counter() - t0, 1e-6))))
    times = ([], [])
    for _ in range(n):
        for fn, out in ((first, times[0]), (second, times[1])):
            t0 = time.perf_counter()
            fn()
            sync()
            out.append(time.perf_counter() - t0)
    ratio = statistics.median(a / b for a, b in zip(*times))
    return 1e3 * statistics.median(times[0]), 1e3 * statistics.median(times[1]), ratio


def random_documents(L: int, mean: int, generator: torch.Generator, batch: int = B) -> torch.Tensor:
    """(batch, L) bool starts of documents with lengths uniform in [1, 2 * mean - 1], one packed row per batch row."""
    reset = torch.zeros(batch, L, dtype=torch.bool)
    for b in range(batch):
        p = 0
        while p < L:
            reset[b, p] = True
            p += int(torch.randint(1, 2 * mean, (1,), generator=generator))
    return reset


def time_packed(S: int, D: int, L: int, dense: bool, mean: int, device: str, repeats: int) -> dict:
    """{op: (unpacked f+b ms, packed f+b ms, median unpacked / packed time of a pair)} for wave_scan, wave_scan_fir
    and (diagonal only) decay_memory."""
    u, a, s0, _ = make_case(S, D, L, dense, device)
    g = torch.Generator().manual_seed(1)
    reset = random_documents(L, mean, g).to(device)
    fir = (torch.randn(H, S, D, generator=g) / S).to(device)
    gz = torch.randn_like(u)
    out = {}

    def scan(reset):
        leaves = [t.clone().requires_grad_() for t in (u, a, s0)]
        z, _ = wave_scan(*leaves, reset=reset)
        z.backward(gz)

    def scan_fir(reset):
        leaves = [t.clone().requires_grad_() for t in (u, a, fir, s0)]
        y, _ = wave_scan_fir(*leaves, reset=reset)
        y.backward(gz)

    out["wave_scan"] = timer_pair(lambda: scan(None), lambda: scan(reset), device, repeats)
    out["wave_scan_fir"] = timer_pair(lambda: scan_fir(None), lambda: scan_fir(reset), device, repeats)
    if not dense:
        q, k, v = (torch.randn(B, L, H, D, generator=g).to(device) for _ in range(3))
        w = (torch.rand(H, D, generator=g) * -3.9 - 0.05).to(device)

        def memory(reset):
            leaves = [t.clone().requires_grad_() for t in (q, k, v, w)]
            y, _ = decay_memory(*leaves, reset=reset, check_range=False)
            y.backward(gz)

        out["decay_memory"] = timer_pair(lambda: memory(None), lambda: memory(reset), device, repeats)
    return out


def packed_table(grid, mean: int, device: str, repeats: int) -> None:
    print(f"\n# packed rows vs unpacked, forward+backward, documents of mean length {mean} (uniform lengths)")
    print("| form | S | D | L | op | unpacked ms | packed ms | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    ratios = {}
    for S, D, L in grid:
        for dense in (False, True):
            for op, (plain, packed, ratio) in time_packed(S, D, L, dense, mean, device, repeats).items():
                ratios.setdefault(op, []).append(ratio)
                form = "dense" if dense else "diag"
                print(f"| {form} | {S} | {D} | {L} | {op} | {fmt(plain)} | {fmt(packed)} | {ratio:.2f} |", flush=True)
    print("\n# packed / unpacked throughput (goal >= 0.95 for wave_scan_fir and decay_memory): min / median")
    for op, r in ratios.items():
        r = sorted(r)
        print(f"#   {op}: {r[0]:.2f} / {r[len(r) // 2]:.2f}")


def time_fft(u, k, device: str, repeats: int) -> tuple[float, float]:
    leaves = [t.clone().requires_grad_() for t in (u, k)]
    gz = torch.randn_like(u)

    def fwd():
        with torch.no_grad():
            fft_causal_conv(u, k)

    def fwd_bwd():
        fft_causal_conv(*leaves).backward(gz)

    return timer(fwd, device, repeats), timer(fwd_bwd, device, repeats)


def roofline_ms(S: int, D: int, L: int, dense: bool, passes: int, gflops: float, gbps: float) -> float:
    N = B * L * H * D
    values = 8 if passes == 1 else 20
    flops = passes * 2 * N * S * (D if dense else 1)
    return 1e3 * max(values * N / (gbps * 1e9), flops / (gflops * 1e9))


def fmt(x: float | None) -> str:
    return "—" if x is None else (f"{x:.3g}" if x < 100 else f"{x:.0f}")


def _rss_kb(field: str) -> int:
    """VmRSS / VmHWM of this process in kB (Linux /proc)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def peak_memory_child(S: int, D: int, L: int, dense: bool) -> None:
    """Subprocess body: peak RSS growth (MB) of one chunked forward+backward, as JSON on stdout.

    The peak is VmHWM after resetting it (``/proc/self/clear_refs``); ru_maxrss is not usable here, as a child
    inherits the peak of the process that forked it.
    """
    u, a, s0, _ = make_case(S, D, 16, dense, "cpu")
    time_scan("chunked", u, a, s0, "cpu", 1)  # warm-up: load kernels and libraries on a tiny shape
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak RSS to the current RSS
    before = _rss_kb("VmRSS")
    u, a, s0, _ = make_case(S, D, L, dense, "cpu")
    leaves = [t.requires_grad_() for t in (u, a, s0)]
    gz, gf = torch.randn_like(u), torch.randn_like(s0)
    z, final = wave_scan(*leaves, output_final_state=True, backend="chunked")
    torch.autograd.backward((z, final), (gz, gf))
    print(json.dumps({"peak_mb": (_rss_kb("VmHWM") - before) / 1024, "input_mb": u.numel() * 4 / 2**20}))


def peak_memory(S: int, D: int, L: int, dense: bool, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--memory-child", json.dumps([S, D, L, dense]), "--threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="S=16, D=4, L in {1024, 4096}: under a minute")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    p.add_argument("--max-reference-length", type=int, default=4096, help="time the reference loop up to this L")
    p.add_argument("--packed", action="store_true", help="only the packed-vs-unpacked table")
    p.add_argument("--doc-length", type=int, default=512, help="mean document length of --packed")
    p.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_child:
        peak_memory_child(*json.loads(args.memory_child))
        return

    device = args.device
    backends = ["chunked"] + (["triton"] if device == "cuda" else [])
    if args.quick:
        grid = [(GOAL["S"], GOAL["D"], L) for L in (1024, 4096)]
        repeats, mem_lengths = 3, (1024, 4096, 16384)
    else:
        grid = [(S, D, L) for S in (4, 16) for D in (1, 4, 16) for L in (256, 1024, 4096, 16384)]
        repeats, mem_lengths = 5, (1024, 4096, 16384, 65536)
    if args.packed:
        name = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or platform.machine()
        print(f"# wave_hf packed-row benchmark: {device} ({name}), torch {torch.__version__}, {args.threads} threads")
        print(f"# B={B}, H={H}, float32, initial state, gradients to every input")
        lengths = (1024, 4096) if args.quick else (1024, 4096, 16384)
        grid = sorted({(S, D, L) for S, D, _ in grid for L in lengths})
        packed_table(grid, args.doc_length, device, 3 * repeats)
        return
    gflops, gbps = machine_peaks(device)
    name = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or platform.machine()
    print(f"# wave_scan benchmark: {device} ({name}), torch {torch.__version__}, {args.threads} threads")
    print(f"# measured: fp32 matmul {gflops:.0f} GFLOP/s, copy {gbps:.1f} GB/s (read + write)")
    print(f"# B={B}, H={H}, float32, initial and final state, gradients to u, a, initial_state\n")

    cols = ["form", "S", "D", "L", "ref fwd", "ref f+b"]
    for b in backends:
        cols += [f"{b} fwd", f"{b} f+b", f"{b} % roof f+b"]
        if device == "cuda":
            cols += [f"{b} GB/s f+b"]
    cols += ["fft fwd", "fft f+b", "ref/chunked f+b", "chunked/fft f+b"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    goal_rows = {}
    for S, D, L in grid:
        for dense in (False, True):
            u, a, s0, k = make_case(S, D, L, dense, device)
            ref = (None, None)
            if L <= args.max_reference_length:
                ref = time_scan("reference", u, a, s0, device, 1)
            row = ["dense" if dense else "diag", S, D, L, fmt(ref[0]), fmt(ref[1])]
            times = {}
            for b in backends:
                times[b] = time_scan(b, u, a, s0, device, repeats)
                roof = roofline_ms(S, D, L, dense, 3, gflops, gbps)
                row += [fmt(times[b][0]), fmt(times[b][1]), f"{100 * roof / times[b][1]:.0f}%"]
                if device == "cuda":
                    row += [f"{20 * u.numel() * 4 / (times[b][1] / 1e3) / 1e9:.0f}"]
            fft = time_fft(u, k, device, repeats)
            speedup = None if ref[1] is None else ref[1] / times["chunked"][1]
            row += [fmt(fft[0]), fmt(fft[1]), fmt(speedup), f"{times['chunked'][1] / fft[1]:.2f}"]
            print("| " + " | ".join(str(c) for c in row) + " |", flush=True)
            if (S, D, L) == (GOAL["S"], GOAL["D"], GOAL["L"]):
                goal_rows["dense" if dense else "diag"] = (speedup, times["chunked"][1] / fft[1])

    if device == "cpu":
        print("\n# peak RSS growth of one chunked forward+backward (S=16, D=4, diagonal), fresh process per L")
        print("| L | input MB | peak growth MB | growth / input |")
        print("|---|---|---|---|")
        for L in mem_lengths:
            m = peak_memory(GOAL["S"], GOAL["D"], L, False, args.threads)
            print(f"| {L} | {m['input_mb']:.1f} | {m['peak_mb']:.1f} | {m['peak_mb'] / m['input_mb']:.1f} |")
    print("\n# goals at S=16, D=4, L=4096 (chunked forward+backward): >= 30x the reference loop, <= 2x the FFT conv")
    for form, (speedup, ratio) in goal_rows.items():
        print(f"#   {form}: {fmt(speedup)}x the reference loop, {ratio:.2f}x the FFT convolution")


if __name__ == "__main__":
    main()
