#!/usr/bin/env python3
"""The measurements behind `--precision auto` (keras_style/engine/backend.py): precision x XLA on this device.

    python benchmarks/precision.py                      # VGG19 cached, 128 px, real weights
    python benchmarks/precision.py --sizes 128 256 --json outputs/precision.json

Each combination (float32 / bfloat16, XLA off / on) runs in a fresh interpreter, so none inherits another's
compiled programs. It times the first evaluation (tracing and XLA compilation included) and the median of the next
`--evaluations`, then a 3x3 256->256 convolution on 128x128 in each precision (GFLOP/s), which is what the
bfloat16 units change. The machine line names the CPU and its avx2 / avx512_bf16 / amx_bf16 flags.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from arguments import add_image_arguments

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
COMBINATIONS = [("float32", False), ("float32", True), ("mixed", False), ("mixed", True)]


def worker(args: argparse.Namespace) -> dict:
    """One combination in this process: first evaluation, then the median of the next ones."""
    import numpy as np

    from keras_style.config.settings import Settings
    from keras_style.files.images import preprocess
    from keras_style.run.assemble import feature_model_for, settings_evaluator
    from keras_style.run.loading import prepare

    settings = Settings.from_options(size=args.size, precision=args.precision, jit_compile=args.xla == "on")
    images = prepare(args.content, args.style, settings).final
    content, style = images.content, images.style
    model = feature_model_for(settings)
    evaluator = settings_evaluator(model, settings, preprocess(content), preprocess(style))
    x = preprocess(content)
    started = time.perf_counter()
    evaluator.evaluate(x)
    first = time.perf_counter() - started
    times = []
    for step in range(args.evaluations):
        started = time.perf_counter()
        evaluator.evaluate(x + np.float32(step + 1))
        times.append(time.perf_counter() - started)
    return {"precision": args.precision, "xla": args.xla == "on", "size": [content.shape[1], content.shape[0]],
            "first_evaluation_seconds": round(first, 3), "seconds_per_evaluation": round(statistics.median(times), 4)}


def convolution_rates() -> dict[str, float]:
    """GFLOP/s of a 3x3 256->256 convolution on 128x128 in float32 and bfloat16 (TensorFlow, no XLA)."""
    import tensorflow as tf

    rates = {}
    images = tf.random.normal((1, 128, 128, 256))
    kernel = tf.random.normal((3, 3, 256, 256))
    flops = 2 * 128 * 128 * 9 * 256 * 256
    for dtype in ("float32", "bfloat16"):
        convolve = tf.function(lambda a, b: tf.nn.conv2d(a, b, 1, "SAME"))
        a, b = tf.cast(images, dtype), tf.cast(kernel, dtype)
        convolve(a, b).numpy()
        started = time.perf_counter()
        for _ in range(5):
            convolve(a, b).numpy()
        rates[dtype] = round(flops / ((time.perf_counter() - started) / 5) / 1e9, 1)
    return rates


def machine() -> str:
    from keras_style.engine.backend import read_cpu

    name, flags = read_cpu()
    present = [flag for flag in ("avx2", "avx512_bf16", "amx_bf16") if flag in flags]
    flags = " ".join(present) or "none of avx2/avx512_bf16/amx_bf16"
    return f"{name or 'unknown CPU'}, {os.cpu_count()} cores, flags: {flags}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_image_arguments(parser, size=128, size_help="output longest side in px")
    parser.add_argument("--sizes", nargs="+", type=int, help="several sizes (default: --size)")
    parser.add_argument("--evaluations", type=int, default=5, help="timed evaluations after the first")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--precision", help=argparse.SUPPRESS)
    parser.add_argument("--xla", help=argparse.SUPPRESS)
    parser.add_argument("--rates", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    if args.rates:
        print(json.dumps(convolution_rates()))
        return 0

    def child(*options: str) -> dict:
        done = subprocess.run([sys.executable, __file__, *options], capture_output=True, text=True)
        if done.returncode != 0:
            return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
        return json.loads(done.stdout.strip().splitlines()[-1])

    print(f"machine: {machine()}", flush=True)
    rates = child("--rates")
    print(f"3x3 256->256 convolution on 128x128: {rates}", flush=True)
    rows = []
    for size in args.sizes or [args.size]:
        for precision, xla in COMBINATIONS:
            row = child("--worker", "--size", str(size), "--precision", precision, "--xla", "on" if xla else "off",
                        "--evaluations", str(args.evaluations), "--content", str(args.content),
                        "--style", str(args.style))
            row.setdefault("precision", precision)
            row.setdefault("xla", xla)
            rows.append(row)
            print(f"  {size} px {precision} XLA {'on' if xla else 'off'}: {row}", file=sys.stderr, flush=True)
    print("| size | precision | XLA | first evaluation (s) | steady s / evaluation |")
    print("| --- | --- | --- | ---: | ---: |")
    for row in rows:
        if "error" in row:
            print(f"| | {row['precision']} | {'on' if row['xla'] else 'off'} | failed: {row['error']} | |")
            continue
        size = "x".join(map(str, row["size"]))
        name = "bfloat16 (mixed)" if row["precision"] == "mixed" else "float32"
        print(f"| {size} | {name} | {'on' if row['xla'] else 'off'} | {row['first_evaluation_seconds']:.2f} | "
              f"{row['seconds_per_evaluation']:.3f} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"command": " ".join(sys.argv), "machine": machine(),
                                         "convolution_gflops": rates, "rows": rows}, indent=2) + "\n")
    return 0 if any("error" not in row for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
