#!/usr/bin/env python3
"""Peak memory against output size with --tile-size: a fresh `python -m keras_style` per size, one benchmark run.

    python benchmarks/tiling.py                                    # 1024, 2048, 4096 px, tiles of 512, 2 evaluations
    python benchmarks/tiling.py --sizes 1024 2048 --tile-size 256 --iterations 4
    python benchmarks/tiling.py --untiled 1024                     # also an untiled run at 1024 px, for comparison

Each run is `python -m keras_style CONTENT STYLE OUT.png --size N --tile-size T --iterations E --optimizer O --seed
0 --quiet --force` in a subprocess; its peak RSS is the child's ru_maxrss (getrusage RUSAGE_CHILDREN, read in a
wrapper process of its own so that each figure is one run's). Few evaluations are enough: memory depends on the
shapes, not on how long the optimiser runs. The table also gives the estimate keras_style.run.memory makes for the same
run (what the memory guard and --tile-size auto act on), and the sidecar's evaluations, tiles and seconds.

The default optimiser here is lbfgs-device: scipy's L-BFGS-B wrapper converts its bounds in a Python loop over the
variables at every call (about 3 us each, so about 4 s for each 672 x 672 tile window, once per tile and pass),
which would make a few-evaluation benchmark of hundreds of tiles mostly that; `--optimizer lbfgs` measures it.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from arguments import ROOT, add_image_arguments  # benchmarks/, the script's own folder
from end_to_end import machine_line

# Runs the command given as arguments and prints the child's peak RSS in KiB (Linux ru_maxrss unit).
PEAK_RSS_WRAPPER = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
                    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")


def estimate_gib(size: int, tile: int | None, optimizer: str, content: str) -> float:
    from PIL import Image

    from keras_style.config.settings import Settings
    from keras_style.files.images import target_size
    from keras_style.run.memory import estimate_bytes, tiled_estimate_bytes
    from keras_style.run.tiling import ALIGN, TILE_CONTEXT

    settings = Settings.from_options(size=size, tile_size=tile or "off", optimizer=optimizer)
    with Image.open(content) as image:
        width, height = target_size(image.width, image.height, size, settings.resize)
    if tile is None:
        return estimate_bytes(settings, width, height) / 2**30
    return tiled_estimate_bytes(settings, width, height, tile, 1, TILE_CONTEXT, ALIGN) / 2**30


def run(size: int, tile: int | None, iterations: int, optimizer: str, content: str, style: str,
        folder: Path) -> dict[str, Any]:
    output = folder / f"{size}_{tile or 'untiled'}.png"
    command = [sys.executable, "-m", "keras_style", content, style, str(output), "--size", str(size),
               "--tile-size", str(tile or "off"), "--iterations", str(iterations), "--optimizer", optimizer,
               "--seed", "0", "--quiet", "--force"]
    started = time.perf_counter()
    process = subprocess.run([sys.executable, "-c", PEAK_RSS_WRAPPER, *command], capture_output=True, text=True)
    wall = time.perf_counter() - started
    row: dict[str, Any] = {"size": size, "tile_size": tile, "optimizer": optimizer, "exit_code": process.returncode,
                           "wall_seconds": round(wall, 1),
                           "peak_rss_gib": round(int(process.stdout.split()[-1]) / 2**20, 2),
                           "estimate_gib": round(estimate_gib(size, tile, optimizer, content), 2)}
    if process.returncode != 0:
        lines = process.stderr.strip().splitlines()
        row["error"] = lines[-1] if lines else f"exit {process.returncode}"
        return row
    sidecar = json.loads(output.with_suffix(".json").read_text())
    row.update(output_size=sidecar["sizes"]["output"], evaluations=sidecar["evaluations"],
               seconds=sidecar["seconds"], tiles=sidecar["scales"][-1].get("tiles"),
               final_total_loss=sidecar["losses"]["final"]["total"])
    return row


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| output (px) | tile | peak RSS (GiB) | estimate (GiB) | tiles per pass | evaluations | wall s |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        size = "x".join(map(str, row.get("output_size", [row["size"]])))
        tiles = row.get("tiles") or {}
        lines.append(f"| {size} | {row['tile_size'] or 'untiled'} | {row['peak_rss_gib']} | {row['estimate_gib']} "
                     f"| {tiles.get('per_pass', '-')} | {row.get('evaluations', row.get('error'))} "
                     f"| {row['wall_seconds']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_image_arguments(parser, 0, "unused: see --sizes")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096], help="output sizes in px")
    parser.add_argument("--tile-size", type=int, default=512, help="the fixed tile size of every tiled run")
    parser.add_argument("--iterations", type=int, default=2, help="evaluations per tile (split over the passes)")
    parser.add_argument("--optimizer", default="lbfgs-device", help="--optimizer of every run (see above)")
    parser.add_argument("--untiled", type=int, nargs="*", default=[], help="sizes to also run untiled")
    parser.add_argument("--json", type=Path, help="write the rows here (default: benchmarks/results/...)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for size in args.untiled:
            rows.append(run(size, None, args.iterations, args.optimizer, args.content, args.style, Path(folder)))
            print(json.dumps(rows[-1]), flush=True)
        for size in args.sizes:
            rows.append(run(size, args.tile_size, args.iterations, args.optimizer, args.content, args.style,
                            Path(folder)))
            print(json.dumps(rows[-1]), flush=True)
    machine = machine_line()
    print(machine)
    print(table(rows))
    path = args.json or ROOT / "benchmarks" / "results" / f"cpu_tiling_{args.tile_size}.json"
    path.write_text(json.dumps({"machine": machine, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
