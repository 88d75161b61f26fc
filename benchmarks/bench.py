#!/usr/bin/env python3
"""Speed and memory of one loss-and-gradient evaluation, per network x path x size x XLA, against the machine's peak.

    python benchmarks/bench.py --quick          # 128 and 256 px, about 80 s on 2 CPU cores
    python benchmarks/bench.py                  # 256 and 512 px
    python benchmarks/bench.py --sizes 512 1024 2048 --paths cached --networks vgg19 --xla off   # large images

Each configuration runs in its own process, so its peak memory (RSS) is its own: a fork of the benchmark process
taken after TensorFlow is imported and before it runs anything (so no configuration pays the import), or with
--spawn (and always on the JAX backend) a fresh interpreter. Times are medians of the timed
evaluations after warm-up (tracing and XLA compilation happen in the warm-up). GFLOP/s counts the convolution
FLOPs of the forward pass and of the backward pass to the input, from the layer shapes; the machine's peak is a
large float32 matrix product in TensorFlow on the same device. Random weights: speed does not depend on them.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CONTENT = ROOT / "examples" / "content.jpg"
STYLE = ROOT / "examples" / "style.jpg"


def conv_flops(network: str, deepest: str, width: int, height: int) -> float:
    """Forward FLOPs (2 per multiply-add) of every 3x3 convolution up to `deepest`, for one image."""
    from keras_style.config.layers import CONVS_PER_BLOCK

    channels_in, flops = 3, 0.0
    for block, count in enumerate(CONVS_PER_BLOCK[network], start=1):
        channels_out = min(64 * 2 ** (block - 1), 512)
        for conv in range(1, count + 1):
            flops += 2.0 * width * height * channels_in * channels_out * 9
            channels_in = channels_out
            if f"block{block}_conv{conv}" == deepest:
                return flops
        width, height = width // 2, height // 2
    return flops


def evaluation_flops(network: str, path: str, width: int, height: int, deepest: str) -> float:
    """Forward plus backward-to-input convolution FLOPs of one evaluation (the backward costs what the forward does);
    the concat path pushes three images through both."""
    return 2.0 * conv_flops(network, deepest, width, height) * (3 if path == "concat" else 1)


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def worker(args: argparse.Namespace) -> dict:
    """One configuration: build, warm up, time; print one JSON line."""
    import numpy as np

    from keras_style.config.settings import Settings
    from keras_style.files.images import preprocess
    from keras_style.run.assemble import feature_model_for, settings_evaluator
    from keras_style.run.loading import prepare

    settings = Settings.from_options(
        network=args.network, mode=args.path, size=args.size, weights="none", jit_compile=args.xla == "on",
        precision=args.precision,
    )
    images = prepare(CONTENT, STYLE, settings).final
    content, style, start = images.content, images.style, images.start
    model = feature_model_for(settings)
    evaluator = settings_evaluator(model, settings, preprocess(content), preprocess(style))
    x = preprocess(start).astype(np.float64).ravel()
    rng = np.random.default_rng(0)
    for _ in range(args.warmup):
        evaluator.loss_and_grads(x + rng.normal(size=x.shape))
    times = []
    for _ in range(args.evaluations):
        point = x + rng.normal(size=x.shape)
        started = time.perf_counter()
        evaluator.loss_and_grads(point)
        times.append(time.perf_counter() - started)
    height, width = content.shape[:2]
    deepest = settings.deepest_layer
    return {
        "network": args.network, "path": args.path, "size": args.size, "xla": args.xla,
        "precision": args.precision, "width": width, "height": height,
        "seconds_per_evaluation": statistics.median(times), "evaluations_timed": len(times),
        "traces": evaluator.traces, "peak_rss_mb": peak_rss_mb(), "peak_device_mb": device_peak_mb(),
        "flops": evaluation_flops(args.network, args.path, width, height, deepest),
    }


def device_peak_mb():
    """Peak accelerator memory of this process, or None on a CPU."""
    import keras

    from keras_style.engine.backend import device_type

    if device_type() != "gpu":
        return None
    if keras.backend.backend() == "jax":
        import jax

        return jax.devices()[0].memory_stats()["peak_bytes_in_use"] / 2**20
    import tensorflow as tf

    return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20


def _compiled_products(size: int):
    """(matmul, conv) compiled for the Keras backend, each waiting for its result so the timing covers the work."""
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.normal(size=(size, size)).astype(np.float32)
    b = rng.normal(size=(size, size)).astype(np.float32)
    image = rng.normal(size=(1, 128, 128, 256)).astype(np.float32)
    kernel = rng.normal(size=(3, 3, 256, 256)).astype(np.float32)
    if keras.backend.backend() == "jax":
        import jax

        matmul = jax.jit(lambda: jax.numpy.matmul(a, b))
        conv = jax.jit(lambda: jax.lax.conv_general_dilated(
            image, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")))
        return (lambda: matmul().block_until_ready()), (lambda: conv().block_until_ready())
    import tensorflow as tf

    a, b, image, kernel = (tf.constant(v) for v in (a, b, image, kernel))
    matmul = tf.function(lambda: tf.matmul(a, b))
    conv = tf.function(lambda: tf.nn.conv2d(image, kernel, 1, "SAME"))
    return (lambda: matmul().numpy()), (lambda: conv().numpy())


def machine_peak(size: int = 4096, repeats: int = 5) -> dict:
    """The device's own float32 rate on a large matmul and a large 3x3 convolution, whichever is faster: the
    ceiling for this convolution-heavy work on this device."""
    from keras_style.engine.backend import device_type

    if device_type() == "gpu":
        size = max(size, 8192)
    matmul, conv = _compiled_products(size)
    work = {"matmul": (matmul, 2.0 * size**3), "conv": (conv, 2.0 * 128 * 128 * 256 * 256 * 9)}
    rates = {}
    for name, (function, flops) in work.items():
        function()  # compile
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            function()
            times.append(time.perf_counter() - started)
        rates[name] = flops / min(times) / 1e9
    best = max(rates, key=rates.get)
    return {"gflops": rates[best], "device": device_type(), "rates": rates, "best": best, "matmul": size}


def run_child(arguments: list[str], parser: argparse.ArgumentParser, fork: bool) -> dict:
    """One configuration (or the peak measurement) in a process of its own, so its peak memory is its own.

    With `fork`, the child is forked from this process, which has imported TensorFlow and Keras but run nothing:
    each configuration then skips the seconds of importing them again. Its peak RSS counts what it allocates on
    top of the imported libraries, as a fresh process's would, without the import's own short-lived peak.
    Otherwise (or on the JAX backend, which must not be forked) a fresh interpreter runs it.
    """
    if not fork:
        result = subprocess.run([sys.executable, __file__, *arguments], capture_output=True, text=True)
        lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
        if result.returncode != 0 or not lines:
            tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
            return {"error": tail, "arguments": arguments}
        return json.loads(lines[-1])
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: measure, send one JSON line, exit without running the parent's cleanup
        os.close(read_end)
        try:
            args = parser.parse_args(arguments)
            payload = machine_peak(args.peak_size) if args.peak else worker(finish_arguments(args))
        except BaseException as error:  # reported to the parent as this configuration's failure
            payload = {"error": f"{type(error).__name__}: {error}".splitlines()[0], "arguments": arguments}
        os.write(write_end, json.dumps(payload).encode())
        os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 1 << 16):
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    if not chunks:
        return {"error": f"worker died (wait status {status})", "arguments": arguments}
    return json.loads(b"".join(chunks))


def preload() -> None:
    """Import, once, what every forked configuration needs, without running any TensorFlow operation (a forked
    child must start before TensorFlow's thread pools exist)."""
    import importlib

    for module in ("keras", "keras.applications", "scipy.optimize", "keras_style.engine.evaluator",
                   "keras_style.engine.network",
                   "keras_style.run.transfer"):
        importlib.import_module(module)


def machine_description() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in ("tensorflow", "tensorflow-cpu", "keras", "jax"):
        try:
            from importlib import metadata

            versions[name] = metadata.version(name)
        except Exception:
            continue
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "backend": backend, **versions}


def markdown_table(rows: list[dict], peak: float) -> str:
    lines = [
        "| network | path | size (px) | XLA | s / evaluation | evaluations / s | peak RSS (MB) | GFLOP/s "
        "| efficiency |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {' | '.join(row['arguments'][1::2][:4])} | failed: {row['error']} | | | | |")
            continue
        rate = row["flops"] / row["seconds_per_evaluation"] / 1e9
        size = f"{row['width']}x{row['height']}"
        lines.append(
            f"| {row['network']} | {row['path']} | {size} | {row['xla']} | {row['seconds_per_evaluation']:.4f} | "
            f"{1 / row['seconds_per_evaluation']:.2f} | {row['peak_rss_mb']:.0f} | {rate:.1f} | {rate / peak:.1%} |"
        )
    return "\n".join(lines)


def headlines(rows: list[dict], peak: float) -> list[str]:
    good = [row for row in rows if "error" not in row]
    largest = max(row["size"] for row in good)
    lines = []
    for network in sorted({row["network"] for row in good}):
        best = {}
        for path in ("cached", "concat"):
            candidates = [r for r in good if r["network"] == network and r["path"] == path and r["size"] == largest]
            if candidates:
                best[path] = min(r["seconds_per_evaluation"] for r in candidates)
        if len(best) == 2:
            lines.append(f"cached/concat speed-up per evaluation, {network} at {largest} px: "
                         f"{best['concat'] / best['cached']:.2f}x")
    top = max(good, key=lambda r: r["flops"] / r["seconds_per_evaluation"])
    efficiency = top["flops"] / top["seconds_per_evaluation"] / 1e9 / peak
    lines.append(f"best efficiency: {efficiency:.1%} of the device's {peak:.0f} GFLOP/s peak "
                 f"({top['network']} {top['path']} {top['size']} px, XLA {top['xla']})")
    return lines


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="sizes 128 and 256, fewer evaluations (about 80 s on 2 CPU cores)")
    parser.add_argument("--networks", nargs="+", default=["vgg16", "vgg19"], help="networks to measure")
    parser.add_argument("--paths", nargs="+", default=["concat", "cached"], help="evaluation paths")
    parser.add_argument("--sizes", nargs="+", type=int, help="longest sides in px (default 256 512; quick 128 256)")
    parser.add_argument("--xla", nargs="+", default=["off", "on"], choices=["off", "on"], help="XLA settings")
    parser.add_argument("--precision", default="float32", choices=["float32", "mixed"], help="compute precision")
    parser.add_argument("--warmup", type=int, help="untimed evaluations first (default 2; quick 1)")
    parser.add_argument("--evaluations", type=int, help="timed evaluations (default 5; quick 2)")
    parser.add_argument("--json", type=Path, default=ROOT / "outputs" / "bench.json", help="where to write JSON")
    parser.add_argument("--peak-size", type=int, help="matrix side of the peak matmul (default 4096; quick 2048; "
                        "GPU at least 8192)")
    parser.add_argument("--spawn", action="store_true",
                        help="run each configuration in a fresh interpreter instead of a fork of this one (slower: "
                        "each re-imports TensorFlow; the JAX backend always does this)")
    parser.add_argument("--report", type=Path, metavar="JSON", help="print the table of an earlier run's JSON and exit")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--network", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--peak", action="store_true", help=argparse.SUPPRESS)
    return parser


def finish_arguments(args: argparse.Namespace) -> argparse.Namespace:
    """Mode-dependent defaults, and a worker's single XLA setting."""
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    args.evaluations = args.evaluations or (2 if args.quick else 5)
    args.peak_size = args.peak_size or (2048 if args.quick else 4096)
    if args.worker:
        args.xla = args.xla[0]
    return args


def main() -> int:
    parser = build_parser()
    args = finish_arguments(parser.parse_args())

    if args.report:
        report = json.loads(args.report.read_text())
        print_report(report)
        return 0
    if args.peak:
        print(json.dumps(machine_peak(args.peak_size)))
        return 0
    if args.worker:
        print(json.dumps(worker(args)))
        return 0

    sizes = args.sizes or ([128, 256] if args.quick else [256, 512])
    started = time.perf_counter()
    fork = hasattr(os, "fork") and not args.spawn and os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow"
    if fork:
        preload()
    rows = []
    for network, path, size, xla in itertools.product(args.networks, args.paths, sizes, args.xla):
        arguments = ["--worker", "--network", network, "--path", path, "--size", str(size), "--xla", xla,
                     "--precision", args.precision, "--warmup", str(args.warmup),
                     "--evaluations", str(args.evaluations)]
        row = run_child(arguments, parser, fork)
        rows.append(row)
        status = row.get("error") or f"{row['seconds_per_evaluation']:.3f} s/eval, {row['peak_rss_mb']:.0f} MB"
        print(f"  {network} {path} {size} px XLA {xla}: {status}", file=sys.stderr, flush=True)
    if all("error" in row for row in rows):
        print(f"every configuration failed, e.g.: {rows[0]['error']}", file=sys.stderr)
        return 1
    # the machine's peak last, and only when some configuration ran: a run that failed throughout needs none
    peak = run_child(["--peak", "--peak-size", str(args.peak_size)], parser, fork)
    if "error" in peak:
        print(f"peak measurement failed: {peak['error']}", file=sys.stderr)
        return 1
    report = {"machine": machine_description(), "peak": peak, "rows": rows, "command": " ".join(sys.argv),
              "seconds": time.perf_counter() - started}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"JSON: {args.json}")
    print_report(report)
    return 0


def print_report(report: dict) -> None:
    """Machine, table, then the two headline ratios last."""
    machine, peak, rows = report["machine"], report["peak"], report["rows"]
    framework = machine.get("tensorflow") or machine.get("tensorflow-cpu")
    framework = f"TensorFlow {framework}" if framework else f"JAX {machine.get('jax')}"
    print(f"machine: {machine.get('cpu')}, {machine.get('cores')} cores, {framework}, Keras {machine.get('keras')} "
          f"({machine.get('backend')} backend, {peak['device']}); peak {peak['gflops']:.0f} GFLOP/s (float32, "
          f"{', '.join(f'{k} {v:.0f}' for k, v in peak['rates'].items())}); run took {report['seconds']:.0f} s")
    print(f"command: {report['command']}")
    print(markdown_table(rows, peak["gflops"]))
    for line in headlines(rows, peak["gflops"]):
        print(line)


if __name__ == "__main__":
    sys.exit(main())
