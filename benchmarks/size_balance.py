#!/usr/bin/env python3
"""Does a look hold at every --size: the same rows run at several sizes, each result downscaled to one size and
judged there.

    python benchmarks/quality.py --size 256 --iterations 700 --only starry --skip-judge \
        --row "per-pixel=" --row "output=--balance output" --output-dir benchmarks/outputs/size_balance/256
    (the same at 512 and 1024 px), then
    python benchmarks/size_balance.py --runs benchmarks/outputs/size_balance --judge-size 256 --identical-at 512

The runs are benchmarks/quality.py's (RUNS/SIZE/runs/PAIR__ROW.png). Each is resized (Lanczos) to --judge-size px
on its longest side and measured there by keras_style.run.judge.quality, so the three sizes are compared as the same
picture seen at one size. For each row and measure the table gives the value at each size and the spread (the
largest over the smallest): a balance that holds at every size keeps the spread near 1.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from arguments import ROOT  # benchmarks/, the script's own folder
from quality import _key, machine

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The measures the balance moves: how much of the photograph, how much of the painting.
SPREAD_MEASURES = ("vgg19_content", "vgg16_style")


def spread(values: list[float]) -> float:
    """The largest value over the smallest (1.0: the same at every size)."""
    return max(values) / min(values)


def judged_runs(runs: Path, judge_size: int, images: Path, identical_at: int | None = None) -> dict:
    """{pair: {row: {size: measures}}} of every kept run under RUNS/SIZE/runs, judged at `judge_size` px; at the size
    `identical_at`, a row without a run of its own takes the run of the row that has one (rows whose settings
    coincide there: --balance output and per-pixel at 512 x 384 px)."""
    import numpy as np
    from PIL import Image

    from keras_style.run.judge import quality

    found: dict = {}
    for size_dir in sorted((path for path in runs.iterdir() if path.name.isdigit()), key=lambda path: int(path.name)):
        for picture_path in sorted((size_dir / "runs").glob("*__*.png")):
            pair, row = picture_path.stem.split("__")
            record = json.loads(picture_path.with_suffix(".json").read_text())
            picture = Image.open(picture_path).convert("RGB")
            scale = judge_size / max(picture.size)
            picture = picture.resize((round(picture.width * scale), round(picture.height * scale)),
                                     Image.Resampling.LANCZOS)
            content, painting = pair_files(pair, images)
            measures = quality(np.asarray(picture), content, painting)
            found.setdefault(pair, {}).setdefault(row, {})[int(size_dir.name)] = {
                "measures": measures, "seconds": record["seconds"], "evaluations": record["evaluations"]}
    if identical_at is not None:
        for rows in found.values():
            shared = next((row[identical_at] for row in rows.values() if identical_at in row), None)
            for row in rows.values():
                if shared is not None and identical_at not in row:
                    row[identical_at] = {**shared, "shared": True}
    return found


def pair_files(pair: str, images: Path) -> tuple[Path, Path]:
    """The content and painting files a pair's name (CONTENT_STYLE) names, as benchmarks/quality.py finds them."""
    files = {path.stem: path for path in images.iterdir()}
    for stem, path in files.items():
        if _key(pair).startswith(_key(stem) + "_"):
            rest = _key(pair)[len(_key(stem)) + 1:]
            styles = [each for other, each in files.items() if other != stem and _key(other).startswith(rest)]
            if len(styles) == 1:
                return path, styles[0]
    raise SystemExit(f"size_balance.py: error: {pair} names no CONTENT_STYLE pair of files in {images}")


def detail(runs: Path, found: dict) -> str:
    """Is the largest run more than an enlarged preview: per row, the luma fine noise (judge.fine_noise) of its run
    at the largest size, against the smallest size's run (the row's own, or the one shared there) enlarged to it."""
    import numpy as np
    from PIL import Image

    from keras_style.run.judge import fine_noise

    lines = ["", "Fine detail at the largest size: luma noise of the run there, and of the smallest size's run "
             "enlarged to it (Lanczos); above 1, the large run has detail of its own.", "",
             "| pair | row | sizes | luma noise, large run | luma noise, preview enlarged | ratio |",
             "| --- | --- | --- | ---: | ---: | ---: |"]
    sizes = sorted(int(path.name) for path in runs.iterdir() if path.name.isdigit())
    for pair, rows in found.items():
        for row in rows:
            large = runs / str(sizes[-1]) / "runs" / f"{pair}__{row}.png"
            smalls = [runs / str(sizes[0]) / "runs" / f"{pair}__{name}.png" for name in (row, *rows)]
            small = next((path for path in smalls if path.exists()), None)
            if not large.exists() or small is None:
                continue
            picture = Image.open(large).convert("RGB")
            enlarged = Image.open(small).convert("RGB").resize(picture.size, Image.Resampling.LANCZOS)
            own, preview = (fine_noise(np.asarray(each))["luma"] for each in (picture, enlarged))
            lines.append(f"| {pair} | {row} | {sizes[0]} -> {sizes[-1]} | {own:.3g} | {preview:.3g} | "
                         f"{own / preview:.2f} |")
    return "\n".join(lines)


def table(found: dict, judge_size: int, machine: str) -> str:
    lines = [f"Machine: {machine}. Each run downscaled to {judge_size} px and judged there (lower is better); "
             "spread: the largest over the smallest across the sizes."]
    for pair, rows in found.items():
        sizes = sorted({size for row in rows.values() for size in row})
        lines += ["", f"**{pair}**", "",
                  "| row | measure | " + " | ".join(f"{size} px" for size in sizes) + " | spread |",
                  "|" + " --- |" * (len(sizes) + 3)]
        for row, by_size in rows.items():
            for measure in SPREAD_MEASURES:
                values = [by_size[size]["measures"][measure] for size in sizes if size in by_size]
                cells = " | ".join(
                    f"{by_size[size]['measures'][measure]:.4g}{' (same run)' if by_size[size].get('shared') else ''}"
                    if size in by_size else "-" for size in sizes)
                lines.append(f"| {row} | {measure} | {cells} | {spread(values):.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "benchmarks" / "outputs" / "size_balance",
                        help="the folder of one benchmarks/quality.py output folder per size, named by the size")
    parser.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "images",
                        help="the photographs and paintings the runs used")
    parser.add_argument("--judge-size", type=int, default=256, help="the size every run is judged at (longest side)")
    parser.add_argument("--identical-at", type=int, default=None, metavar="SIZE",
                        help="the size at which the rows' settings coincide: one run serves every row there")
    args = parser.parse_args(argv)
    if not args.runs.is_dir():
        parser.error(f"--runs {args.runs} is not a folder")
    found = judged_runs(args.runs, args.judge_size, args.images, args.identical_at)
    if not found:
        parser.error(f"no runs under {args.runs}/SIZE/runs")
    report = table(found, args.judge_size, machine()) + "\n" + detail(args.runs, found)
    (args.runs / "size_balance.md").write_text(report + "\n")
    (args.runs / "size_balance.json").write_text(json.dumps(found, indent=1))
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
