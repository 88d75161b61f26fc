#!/usr/bin/env python3
"""Batch against separate runs: the same jobs as N command-line runs, as one in-process batch, and on Ray.

    python benchmarks/batch.py                              # 8 jobs at 128 px, 100 evaluations each
    python benchmarks/batch.py --contents a.jpg b.jpg --styles s1.jpg s2.jpg s3.jpg s4.jpg --json out.json

The jobs cycle through CONTENT x STYLE pairs (seed 0, outputs job1.png ...). Three ways to run them, each timed from
launch to exit of its subprocess (set KERAS_STYLE_WEIGHTS_DIR for offline weights):
- cli: `python -m keras_style CONTENT STYLE OUT ...` once per job, one after another: every run pays for the
  interpreter, the TensorFlow import and the model (with its weights) again;
- batch, in process: `keras-style batch --manifest M --workers 1`: one process, the model built once;
- batch, Ray: `keras-style batch --manifest M` with the default workers (a local Ray instance; on 2 cores 2
  workers x 1 thread), each worker building the model once.
Columns: wall s; speed-up = cli wall / this wall; work s = the sum of the jobs' sidecar `seconds` (targets and
optimisation, the part no batch can save); start-up s per job = (wall - work / workers) / jobs, the time each job
costs beyond its own work (for cli: the mean of wall - seconds per run); saved s per job = cli's start-up per job
less this row's. "same images" says whether every output is byte-identical to the cli run's (same seed).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from arguments import ROOT  # benchmarks/, the script's own folder
from end_to_end import machine_line


def jobs_of(contents: list[str], styles: list[str], count: int) -> list[tuple[str, str]]:
    """`count` (content, style) pairs, cycling through every pair."""
    pairs = [(content, style) for content in contents for style in styles]
    return [pairs[index % len(pairs)] for index in range(count)]


def timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    process = subprocess.run(command, capture_output=True, text=True)  # inherits os.environ
    return time.perf_counter() - started, process


def sidecar_seconds(folder: Path, count: int) -> list[float]:
    return [json.loads((folder / f"job{index}.json").read_text())["seconds"] for index in range(1, count + 1)]


def run_cli(jobs: list[tuple[str, str]], options: list[str], folder: Path) -> dict[str, Any]:
    walls = []
    for index, (content, style) in enumerate(jobs, start=1):
        wall, process = timed([sys.executable, "-m", "keras_style", content, style, str(folder / f"job{index}.png"),
                               *options, "--quiet", "--force"])
        if process.returncode != 0:
            raise SystemExit(f"cli run {index} failed: {process.stderr.strip().splitlines()[-1:]}")
        walls.append(wall)
        print(f"cli job {index}: {wall:.1f} s", file=sys.stderr, flush=True)
    work = sidecar_seconds(folder, len(jobs))
    startup = sum(wall - seconds for wall, seconds in zip(walls, work)) / len(jobs)
    return {"mode": "cli", "workers": 1, "threads": len(os.sched_getaffinity(0)), "wall_seconds": round(sum(walls), 3),
            "run_walls": [round(wall, 3) for wall in walls], "work_seconds": round(sum(work), 3),
            "startup_seconds_per_job": round(startup, 3)}


def run_batch(mode: str, manifest: Path, options: list[str], folder: Path, extra: list[str]) -> dict[str, Any]:
    wall, process = timed([sys.executable, "-m", "keras_style", "batch", "--manifest", str(manifest), "--out",
                           str(folder), *options, "--quiet", "--force", *extra])
    if process.returncode != 0:
        raise SystemExit(f"{mode} failed: {process.stderr.strip().splitlines()[-1:]}")
    rows = [json.loads(line) for line in (folder / "batch.jsonl").read_text().splitlines()]
    count = len(rows)
    workers = len({(row["worker"]["host"], row["worker"]["pid"]) for row in rows})
    threads = rows[0]["worker"]["threads"]
    work = sum(sidecar_seconds(folder, count))
    print(f"{mode}: {wall:.1f} s", file=sys.stderr, flush=True)
    return {"mode": mode, "workers": workers, "threads": threads, "wall_seconds": round(wall, 3),
            "work_seconds": round(work, 3), "startup_seconds_per_job": round((wall - work / workers) / count, 3),
            "vgg_builds_per_worker": max(row["worker"]["vgg_builds"] for row in rows),
            "jobs_per_worker": sorted(Counter(row["worker"]["pid"] for row in rows).values())}


def same_images(first: Path, second: Path, count: int) -> bool:
    return all((first / f"job{index}.png").read_bytes() == (second / f"job{index}.png").read_bytes()
               for index in range(1, count + 1))


def print_table(rows: list[dict[str, Any]], jobs: int) -> None:
    cli = rows[0]
    print("| mode | workers x threads | wall s | s per job | speed-up vs cli | work s | start-up s per job | "
          "saved s per job | same images |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for row in rows:
        saved = cli["startup_seconds_per_job"] - row["startup_seconds_per_job"]
        print(f"| {row['mode']} | {row['workers']} x {row['threads']} | {row['wall_seconds']:.1f} | "
              f"{row['wall_seconds'] / jobs:.2f} | {cli['wall_seconds'] / row['wall_seconds']:.2f}x | "
              f"{row['work_seconds']:.1f} | {row['startup_seconds_per_job']:.2f} | "
              f"{'-' if row is cli else f'{saved:.2f}'} | {row.get('same_images', '-')} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contents", nargs="+", default=[str(ROOT / "examples" / "content.jpg")],
                        help="content images (default: the bundled demo photograph)")
    parser.add_argument("--styles", nargs="+", default=[str(ROOT / "examples" / "style.jpg")],
                        help="style images (default: the bundled demo painting)")
    parser.add_argument("--jobs", type=int, default=8, help="number of jobs (default: 8)")
    parser.add_argument("--size", type=int, default=128, help="output size in px (default: 128)")
    parser.add_argument("--iterations", type=int, default=100, help="evaluations per job (default: 100)")
    parser.add_argument("--json", type=Path, default=ROOT / "outputs" / "batch.json", help="JSON output")
    parser.add_argument("--keep", type=Path, help="keep the outputs in this folder")
    args = parser.parse_args()
    options = ["--size", str(args.size), "--iterations", str(args.iterations), "--seed", "0"]
    jobs = jobs_of(args.contents, args.styles, args.jobs)

    machine = machine_line()
    print(machine, flush=True)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="batch_bench_") as temporary:
        folder = args.keep or Path(temporary)
        manifest = folder / "jobs.csv"
        folder.mkdir(parents=True, exist_ok=True)
        with open(manifest, "w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["content", "style", "output"])
            for index, (content, style) in enumerate(jobs, start=1):
                writer.writerow([str(Path(content).resolve()), str(Path(style).resolve()), f"job{index}.png"])
        outputs = {name: folder / name for name in ("cli", "in_process", "ray")}
        for path in outputs.values():
            path.mkdir(exist_ok=True)
        rows = [run_cli(jobs, options, outputs["cli"]),
                run_batch("batch, in process", manifest, options, outputs["in_process"], ["--workers", "1"]),
                run_batch("batch, Ray", manifest, options, outputs["ray"], [])]
        for row, name in zip(rows[1:], ("in_process", "ray")):
            row["same_images"] = same_images(outputs["cli"], outputs[name], len(jobs))
    load_after = os.getloadavg()
    print_table(rows, len(jobs))
    print(f"\nload average (1 min) before and after: {load_before[0]:.1f}, {load_after[0]:.1f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {"command": shlex.join(sys.argv), "machine": machine, "jobs": len(jobs), "size": args.size,
              "iterations": args.iterations, "load_average_before_after": [load_before[0], load_after[0]],
              "rows": rows}
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
