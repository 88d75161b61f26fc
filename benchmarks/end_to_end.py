#!/usr/bin/env python3
"""End-to-end speed: each configuration ("row") as a user runs it, a fresh `python -m keras_style` per run.

    python benchmarks/end_to_end.py                                  # 64 px/10, 256 px/100, 512 px/500 evaluations
    python benchmarks/end_to_end.py --quick                          # the same, 100 evaluations at 512 px
    python benchmarks/end_to_end.py --sizes 64 --rows today default  # a quick check of two rows
    python benchmarks/end_to_end.py --rows today default float32 lbfgs-device gd adam --keep out/e2e

Rows (ROWS below): today = --precision float32 --xla --optimizer lbfgs (the old path); default = no options (auto
precision and XLA, scipy L-BFGS); float32 = --precision float32 only; lbfgs-device, gd, adam = that --optimizer.
Every run is `python -m keras_style CONTENT STYLE OUT.png --size N --iterations E --seed 0 --quiet --force ...` in a
subprocess with this environment (set KERAS_STYLE_WEIGHTS_DIR for offline weights). What each column measures:
- wall s: the subprocess from launch to exit (interpreter, TensorFlow import, model, targets, optimisation, saving);
- s to first evaluation: the sidecar's startup.before_first_evaluation_seconds, from process start to the start of
  the first evaluation; "before first / wall" is that over wall s. Tracing and XLA compilation are not in it: they
  happen inside the first evaluation (startup.first_evaluation_seconds, in the JSON);
- steady s / evaluation: (seconds - targets_seconds - first_evaluation_seconds) / (evaluations - 1) from the
  sidecar, the mean of the evaluations after the first (the sidecar keeps no per-evaluation times, so no median);
  it includes the optimiser's host work and the progress monitor's bookkeeping;
- host s / iteration (lbfgs only): measured here, not in the run. scipy's fmin_l_bfgs_b minimises a cheap quadratic
  with as many variables as the run's image (3*W*H), keras_style.engine.optimize's bounds, factr=0, pgtol=0, maxfun=50,
  called through the real Evaluator.loss/grads (float64 -> float32 iterate, float32 -> float64 gradient, gradient
  cache); its time per function evaluation less the quadratic's own time per evaluation (timed separately, inside
  each call), best of 5. The device optimisers (lbfgs-device, gd, adam) do that work on the device, inside each
  evaluation: "device", not measured separately;
- judged loss: the output PNG scored here by the fixed vgg19-paper judge (float32 on every device), so rows compare
  on one ruler; "vs today" compares with the today row of the same size.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from arguments import ROOT, add_image_arguments  # benchmarks/, the script's own folder

ROWS: dict[str, list[str]] = {
    "today": ["--precision", "float32", "--xla", "--optimizer", "lbfgs"],
    "default": [],
    "float32": ["--precision", "float32"],
    "lbfgs-device": ["--optimizer", "lbfgs-device"],
    "gd": ["--optimizer", "gd"],
    "adam": ["--optimizer", "adam"],
}
BUDGETS = {64: 10, 256: 100, 512: 500}  # evaluations per size; --quick: 100 at 512 px
FLAGS = ("avx2", "avx512_bf16", "amx_bf16")


def machine_line() -> str:
    from keras_style.engine.backend import read_cpu
    from keras_style.files.outputs import versions  # package metadata only: TensorFlow is not imported

    name, flags = read_cpu()
    present = ", ".join(flag for flag in FLAGS if flag in flags) or "none"
    found = versions()
    return (f"CPU {name or 'unknown'}, nproc {len(os.sched_getaffinity(0))}, flags: {present}; "
            f"TensorFlow {found['tensorflow']}, Keras {found['keras']}")


def run_row(name: str, size: int, evaluations: int, content: str, style: str, folder: Path) -> dict[str, Any]:
    """One command-line run in a fresh process; its wall time and what its sidecar says."""
    output = folder / f"{name}_{size}.png"
    command = [sys.executable, "-m", "keras_style", content, style, str(output), "--size", str(size),
               "--iterations", str(evaluations), "--seed", "0", "--quiet", "--force", *ROWS[name]]
    started = time.perf_counter()
    process = subprocess.run(command, capture_output=True, text=True)  # inherits os.environ
    wall = time.perf_counter() - started
    row: dict[str, Any] = {"row": name, "requested_size": size, "wall_seconds": round(wall, 3),
                           "exit_code": process.returncode, "output": str(output)}
    sidecar = output.with_suffix(".json")
    if process.returncode != 0 or not sidecar.exists():
        lines = process.stderr.strip().splitlines()
        row["error"] = lines[-1] if lines else "no sidecar written"
        return row
    record = json.loads(sidecar.read_text())
    startup, count = record["startup"], record["evaluations"]
    steady = None
    if count > 1 and "first_evaluation_seconds" in startup:
        steady = (record["seconds"] - startup["targets_seconds"] - startup["first_evaluation_seconds"]) / (count - 1)
    row.update(
        size=record["sizes"]["output"], evaluations=count, seconds=record["seconds"], startup=startup,
        precision=record["compute"]["precision"], xla=record["compute"]["xla"], reason=record["compute"]["reason"],
        optimizer=record["settings"]["optimizer"], steady_seconds_per_evaluation=steady,
        before_first_share=startup["before_first_evaluation_seconds"] / wall,
    )
    return row


def host_seconds_per_iteration(width: int, height: int, repeats: int = 5) -> float:
    """scipy L-BFGS-B's host time per function evaluation at this image size, less the objective's (see above)."""
    import numpy as np
    from scipy.optimize import fmin_l_bfgs_b

    from keras_style.engine.evaluator import Evaluator
    from keras_style.engine.optimize import LBFGS_FACTR, LBFGS_PGTOL, _bounds

    class QuadraticEvaluator(Evaluator):
        """The real loss/grads host path around 0.5 * sum(c * (x - m)^2) instead of the network."""

        def __init__(self, shape: tuple[int, ...]) -> None:  # no super().__init__: no model, no TensorFlow work
            rng = np.random.default_rng(0)
            self.shape, self._last_x, self._last_grad = shape, None, None
            # curvatures spread 1000x so L-BFGS keeps working all 50 evaluations; centres partly out of the bounds
            # so some bounds are active, as clipped pixels are in a real run
            self.curvature = rng.uniform(1e-3, 1.0, shape).astype(np.float32)
            self.centre = rng.uniform(-160.0, 160.0, shape).astype(np.float32)
            self.calls, self.seconds = 0, 0.0

        def evaluate(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            started = time.perf_counter()
            difference = image - self.centre
            gradient = self.curvature * difference
            terms = np.array([0.5 * np.vdot(difference, gradient), 0, 0, 0], dtype=np.float32)
            self.seconds += time.perf_counter() - started
            self.calls += 1
            return terms, gradient

    shape = (1, height, width, 3)
    best = float("inf")
    for _ in range(repeats):  # best of a few: the machine may be shared
        evaluator = QuadraticEvaluator(shape)
        started = time.perf_counter()
        fmin_l_bfgs_b(evaluator.loss, np.zeros(evaluator.centre.size), fprime=evaluator.grads, bounds=_bounds(shape),
                      maxfun=50, maxiter=50, factr=LBFGS_FACTR, pgtol=LBFGS_PGTOL)
        total = time.perf_counter() - started
        best = min(best, (total - evaluator.seconds) / evaluator.calls)
    return best


def judged(image_path: str, content: str, style: str) -> float:
    """Total vgg19-paper judged loss of an output PNG (the judge computes in float32 whatever the device)."""
    import numpy as np
    from PIL import Image

    from keras_style.run.judge import judge

    with Image.open(image_path) as picture:
        image = np.asarray(picture.convert("RGB"), dtype=np.uint8)
    return judge(image, content, style, "vgg19-paper")["total"]


def cell(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[dict[str, Any]]) -> None:
    print("| row | size | evaluations | precision | XLA | optimizer | s to first evaluation | before first / wall | "
          "steady s / evaluation | host s / iteration | wall s | judged loss | judged vs today | speed-up vs today |")
    print("| --- | --- | ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    today = {row["requested_size"]: row for row in rows if row["row"] == "today" and "error" not in row}
    for row in rows:
        wall = f"{row['wall_seconds']:.1f}"
        if "error" in row:
            error = row["error"].replace("|", "\\|")  # a | would end the Markdown cell
            cells = [row["row"], f"{row['requested_size']} px", f"failed (exit {row['exit_code']}): {error}",
                     *["-"] * 7, wall, "-", "-", "-"]
        else:
            reference = today.get(row["requested_size"])
            versus = row["judged_loss"] / reference["judged_loss"] - 1 if reference else None
            speedup = reference["wall_seconds"] / row["wall_seconds"] if reference else None
            host = row["host_seconds_per_iteration"]
            cells = [row["row"], "x".join(map(str, row["size"])), str(row["evaluations"]), row["precision"],
                     "on" if row["xla"] else "off", row["optimizer"],
                     f"{row['startup']['before_first_evaluation_seconds']:.2f}", f"{row['before_first_share']:.0%}",
                     cell(row["steady_seconds_per_evaluation"], ".4f"),
                     host if isinstance(host, str) else cell(host, ".5f"), wall, f"{row['judged_loss']:.5g}",
                     cell(versus, "+.1%"), "-" if speedup is None else f"{speedup:.2f}x"]
        print("| " + " | ".join(cells) + " |")
    print()
    for row in rows:  # why each run computed as it did (auto precision and XLA decide per device and size)
        if "error" not in row:
            print(f"- {row['row']} at {'x'.join(map(str, row['size']))}: {row['reason']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_image_arguments(parser, size=0, size_help="one size only (the same as --sizes N)")
    parser.add_argument("--sizes", type=int, nargs="+", choices=sorted(BUDGETS), default=sorted(BUDGETS),
                        help="output sizes (longest side, px) to run")
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=["today", "default"],
                        help="configurations to run (default: today default)")
    parser.add_argument("--quick", action="store_true", help="100 evaluations at 512 px instead of 500")
    parser.add_argument("--evaluations", type=int, metavar="N",
                        help="the same budget at every size instead (e.g. 500 at 256 px for the L-BFGS comparison)")
    parser.add_argument("--json", type=Path, default=ROOT / "outputs" / "end_to_end.json", help="JSON output")
    parser.add_argument("--keep", type=Path, help="keep the runs' images and sidecars in this folder")
    args = parser.parse_args()
    if args.size and args.size not in BUDGETS:
        parser.error(f"--size must be one of {sorted(BUDGETS)}")
    budgets = {**BUDGETS, **({512: 100} if args.quick else {})}
    if args.evaluations:
        budgets = {size: args.evaluations for size in budgets}
    sizes = [args.size] if args.size else args.sizes
    names = ["today"] + [name for name in args.rows if name != "today"] if "today" in args.rows else args.rows

    machine = machine_line()
    print(machine, flush=True)
    with tempfile.TemporaryDirectory(prefix="end_to_end_") as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for size in sizes:
            for name in names:
                row = run_row(name, size, budgets[size], args.content, args.style, folder)
                rows.append(row)
                outcome = f"failed (exit {row['exit_code']}): {row['error']}" if "error" in row else "done"
                print(f"{name} at {size} px: {row['wall_seconds']:.1f} s wall, {outcome}", file=sys.stderr, flush=True)
        # Everything below runs after the timed subprocesses, so this process's TensorFlow never competes with them.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        host_cache: dict[tuple[int, int], float] = {}
        for row in rows:
            if "error" in row:
                continue
            if row["optimizer"] == "lbfgs":
                width, height = row["size"]
                if (width, height) not in host_cache:
                    host_cache[width, height] = host_seconds_per_iteration(width, height)
                row["host_seconds_per_iteration"] = host_cache[width, height]
            else:
                row["host_seconds_per_iteration"] = "device"
            row["judged_loss"] = judged(row["output"], args.content, args.style)
    print_table(rows)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {"command": shlex.join(sys.argv), "machine": machine, "rows": rows}
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if all("error" in row for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
