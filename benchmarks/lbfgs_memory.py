#!/usr/bin/env python3
"""Seconds per evaluation of the device L-BFGS against its history length (--lbfgs-memory): what 100 curvature pairs
cost over 10, at one scale.

    python benchmarks/lbfgs_memory.py                    # 512 px, m = 10 and 100, 4 and 24 evaluations
    python benchmarks/lbfgs_memory.py --size 256 --repeats 2 --json benchmarks/results/lbfgs_memory.json

Each (m, budget) is one `stylize_result` run of the `painterly` preset at one scale with `--optimizer lbfgs-device`.
Seconds per evaluation are the difference of the scale's optimisation seconds (the sidecar's per-scale `seconds`)
between the two budgets over the difference of their evaluations: start-up and the targets cancel out, and a
warm-up run per history length first traces its step (in one process the step is traced once per shape, so only a
configuration's first run would pay it). The runs of a repeat are interleaved (m = 10 and 100 one after the other),
and the table takes each configuration's median over the repeats. --kernel also times the history's share alone:
the direction kernel (the two-loop recursion over the ring buffer, projection included) on random pairs of the
image's shape.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from arguments import ROOT  # benchmarks/, the script's own folder

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

IMAGES = ROOT.parent / "shared" / "images"


def scale_seconds(content: str, style: str, size: int, memory: int, evaluations: int, seed: int) -> tuple[float, int]:
    """(the scale's optimisation seconds, its evaluations) of one run."""
    import keras_style

    result = keras_style.stylize_result(content, style, preset="painterly", size=size, scales=1,
                                        iterations=evaluations, lbfgs_memory=memory, optimizer="lbfgs-device",
                                        seed=seed)
    scale = result.scales[-1]
    return float(scale["seconds"]), int(scale["evaluations"])


def kernel_seconds(size: int, memory: int, repeats: int = 5) -> float:
    """Seconds of one call of the direction kernel with a full history of `memory` pairs at size x 3/4 size px."""
    import numpy as np
    from keras import ops

    from keras_style.engine.backend import CompiledFunction, history_ring, ring_write
    from keras_style.engine.optimize_device import _bounds, _search_direction

    shape = (1, size * 3 // 4, size, 3)
    rng = np.random.default_rng(0)
    buffers = [history_ring(memory, shape) for _ in range(2)]
    for index in range(2):
        for slot in range(memory):
            buffers[index] = ring_write(buffers[index], slot, rng.standard_normal(shape).astype(np.float32))
    rho = ops.convert_to_tensor(np.full(memory, 1e-6, np.float32))
    x = ops.convert_to_tensor(rng.uniform(-50, 50, shape).astype(np.float32))
    gradient = ops.convert_to_tensor(rng.standard_normal(shape).astype(np.float32))
    direction_at = CompiledFunction(_search_direction(*_bounds()), False)
    arguments = (x, gradient, ops.convert_to_tensor(5.0), *buffers, rho, ops.convert_to_tensor(memory - 1, "int32"))
    ops.convert_to_numpy(direction_at(*arguments)[0])  # traces and compiles
    started = time.perf_counter()
    for _ in range(repeats):
        ops.convert_to_numpy(direction_at(*arguments)[0])
    return (time.perf_counter() - started) / repeats


def machine() -> dict:
    flags = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    import keras

    return {"cores": os.cpu_count(), "flags": [flag for flag in ("avx2", "avx512_bf16", "amx_bf16") if flag in flags],
            "keras": keras.__version__, "backend": keras.backend.backend()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--content", default=str(IMAGES / "tubingen.jpg"), help="content image")
    parser.add_argument("--style", default=str(IMAGES / "starry_night.jpg"), help="style image")
    parser.add_argument("--size", type=int, default=512, help="output size in px (default 512)")
    parser.add_argument("--memories", type=int, nargs="+", default=[10, 100], help="history lengths (default 10 100)")
    parser.add_argument("--budgets", type=int, nargs=2, default=[4, 24], help="the two budgets (default 4 24)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each configuration (median; default 1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kernel", action="store_true", help="also time the direction kernel alone")
    parser.add_argument("--json", type=Path, help="write the measurements here")
    args = parser.parse_args(argv)
    runs: dict[tuple[int, int], list[tuple[float, int]]] = {}
    for memory in args.memories:  # warm-up: each history length's step traced once, so no measured run traces
        scale_seconds(args.content, args.style, args.size, memory, min(args.budgets), args.seed)
    for _ in range(args.repeats):
        for budget in args.budgets:
            for memory in args.memories:
                measured = scale_seconds(args.content, args.style, args.size, memory, budget, args.seed)
                runs.setdefault((memory, budget), []).append(measured)
                print(f"m={memory} budget={budget}: {measured[0]:.2f} s, {measured[1]} evaluations", file=sys.stderr)
    rows = []
    low, high = args.budgets
    for memory in args.memories:
        seconds = {budget: statistics.median(s for s, _ in runs[(memory, budget)]) for budget in args.budgets}
        evaluations = {budget: runs[(memory, budget)][0][1] for budget in args.budgets}
        per_evaluation = (seconds[high] - seconds[low]) / max(1, evaluations[high] - evaluations[low])
        row = {"memory": memory, "seconds": seconds, "evaluations": evaluations, "per_evaluation": per_evaluation}
        if args.kernel:
            row["kernel_seconds"] = kernel_seconds(args.size, memory)
        rows.append(row)
    base = rows[0]["per_evaluation"]
    print(f"| m | s / evaluation | vs m={rows[0]['memory']} |" + (" direction kernel (s) |" if args.kernel else ""))
    print("| ---: | ---: | ---: |" + (" ---: |" if args.kernel else ""))
    for row in rows:
        kernel = f" {row['kernel_seconds']:.3f} |" if args.kernel else ""
        print(f"| {row['memory']} | {row['per_evaluation']:.3f} | {row['per_evaluation'] / base:.2f}x |{kernel}")
    if args.json:
        args.json.write_text(json.dumps({"size": args.size, "budgets": args.budgets, "repeats": args.repeats,
                                         "machine": machine(), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
