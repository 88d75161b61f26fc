#!/usr/bin/env python3
"""How good are the pictures: rows of settings against a reference implementation's results, by fixed judges.

    python benchmarks/quality.py --images ../shared/images --reference ../shared/reference --size 512 \
        --iterations 300 --row "default=" --row "tv5=--tv-weight 5" --row "scales3=--scales 3"

The reference folder holds one result per pair, named CONTENT_STYLE.png after the stems of two files in --images
(tubingen_starry.png: tubingen.jpg and starry_night.jpg; a style's stem may drop a leading "the" and use - for _).
Each row is NAME=OPTIONS, command-line options of keras-style on top of --size and --iterations (an empty OPTIONS
is the default). Every row runs on every pair; each result and the reference are measured the same way
(keras_style.run.judge.quality: both judges' content and style, the VGG16 style at half size, the colour distance
to the painting, luma and chroma fine noise) and each measure is also given as a ratio to the reference's (lower
is better; 1.00 is a tie). Evaluations are counted at full size: one at s px counts (s / size)^2.

Writes OUTPUT_DIR/quality.md (the tables, with the machine), quality.json, and one contact sheet per pair
(content, painting, reference, then each row). Each run's picture and record (seconds, evaluations, options) are
kept in OUTPUT_DIR/runs/PAIR__ROW.png and .json: --jobs N runs N at a time (separate processes, one thread each,
for a machine with many cores beside one GPU); --skip-judge only runs (where the judges' weights are not at hand),
--judge-only judges the runs already there (made elsewhere, then copied back).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

from arguments import ROOT  # benchmarks/, the script's own folder

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MEASURES = ("vgg19_style", "vgg16_style", "vgg16_half_style", "colours", "chroma_noise", "luma_noise",
            "vgg16_content", "vgg19_content")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff")


def _key(stem: str) -> str:
    key = stem.lower().replace("-", "_")
    return key.removeprefix("the_")


def find_pairs(images: Path, reference: Path) -> list[dict[str, Path]]:
    """(content, painting, reference) for every reference file whose name names two files of `images`."""
    files = {path.stem: path for path in sorted(images.iterdir()) if path.suffix.lower() in IMAGE_SUFFIXES}
    pairs = []
    for result in sorted(path for path in reference.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES):
        found = None
        for stem, path in files.items():
            prefix = _key(stem) + "_"
            if _key(result.stem).startswith(prefix):
                rest = _key(result.stem)[len(prefix):]
                styles = [each for other, each in files.items() if other != stem and _key(other).startswith(rest)]
                if len(styles) == 1:
                    found = {"name": result.stem, "content": path, "painting": styles[0], "reference": result}
        if found is None:
            raise SystemExit(f"quality.py: error: {result.name} names no CONTENT_STYLE pair of files in {images}")
        pairs.append(found)
    if not pairs:
        raise SystemExit(f"quality.py: error: no reference results in {reference}")
    return pairs


def parse_row(text: str) -> tuple[str, dict]:
    """NAME=OPTIONS -> (name, Settings keyword arguments given)."""
    from keras_style.apps.options import OneLineParser, add_setting, settings_options
    from keras_style.config.settings import declared_settings

    name, _, options = text.partition("=")
    if not name:
        raise SystemExit(f"quality.py: error: a row is NAME=OPTIONS, got {text!r}")
    parser = OneLineParser(prog=f"quality.py --row {name}")
    for declared in declared_settings():
        add_setting(parser, declared)
    given = settings_options(parser.parse_args(shlex.split(options)))
    return name, {key: value for key, value in given.items() if value is not None}


def full_size_evaluations(result, size: int) -> float:
    """Evaluations counted at full size: each scale's at s px count (s / size)^2."""
    return sum(scale["evaluations"] * (max(scale["size"]) / size) ** 2 for scale in result.scales)


def run_path(output_dir: Path, pair: dict, name: str) -> Path:
    """Where one run's picture is kept (its record: the same name with .json)."""
    return output_dir / "runs" / f"{pair['name']}__{name}.png"


def run_row(pair: dict, name: str, options: dict, args: argparse.Namespace) -> dict:
    """Run one row on one pair; keep its picture and its record (seconds, evaluations, options, compute)."""
    from PIL import Image

    import keras_style

    run_options = {"size": args.size, "iterations": args.iterations, "seed": args.seed, "weights": args.weights,
                   **options}
    started = time.perf_counter()
    result = keras_style.stylize_result(str(pair["content"]), str(pair["painting"]), **run_options)
    seconds = time.perf_counter() - started
    record = {"seconds": round(seconds, 2), "options": {key: str(value) for key, value in options.items()},
              "evaluations": round(full_size_evaluations(result, max(result.image.shape[:2])), 1),
              "compute": result.compute, "machine": machine(), "stopped": result.stopped,
              "scales": [{"size": scale["size"], "evaluations": scale["evaluations"]} for scale in result.scales]}
    path = run_path(args.output_dir, pair, name)
    Image.fromarray(result.image).save(path)
    path.with_suffix(".json").write_text(json.dumps(record, indent=1))
    return record


def _run_task(task: tuple) -> str:
    """One (pair, row) in a worker process, single-threaded (several share the machine's cores)."""
    pair, name, options, args = task
    if not run_path(args.output_dir, pair, name).with_suffix(".json").exists():
        try:
            run_row(pair, name, options, args)
        except Exception as error:  # one failed run is reported; the others go on
            return f"{pair['name']} {name} FAILED: {type(error).__name__}: {error}"
    return f"{pair['name']} {name}"


def run_all(pairs: list[dict], rows: list[tuple[str, dict]], args: argparse.Namespace) -> None:
    """Every row on every pair that has no kept result yet, --jobs at a time."""
    (args.output_dir / "runs").mkdir(parents=True, exist_ok=True)
    # row by row, so that a run cut short has every pair of its first rows
    tasks = [(pair, name, options, args) for name, options in rows for pair in pairs]
    if args.jobs <= 1:
        for task in tasks:
            print("ran", _run_task(task), file=sys.stderr)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        for done in as_completed([pool.submit(_run_task, task) for task in tasks]):
            print("ran", done.result(), file=sys.stderr)


def judged_row(pair: dict, name: str, args: argparse.Namespace) -> dict:
    """A kept run's picture, its record and its measures."""
    import numpy as np
    from PIL import Image

    from keras_style.run.judge import quality

    path = run_path(args.output_dir, pair, name)
    image = np.asarray(Image.open(path).convert("RGB"))
    record = json.loads(path.with_suffix(".json").read_text())
    return {"image": image, "measures": quality(image, pair["content"], pair["painting"], weights=args.weights),
            **record}


def reference_measures(pair: dict, size: int, weights: str) -> tuple:
    """The reference result at the run's output size (longest side), and its measures."""
    import numpy as np
    from PIL import Image

    from keras_style.files.images import load_image
    from keras_style.run.judge import quality

    picture = load_image(pair["reference"], "reference")
    scale = size / max(picture.size)
    picture = picture.resize((round(picture.width * scale), round(picture.height * scale)), Image.Resampling.LANCZOS)
    image = np.asarray(picture)
    return image, quality(image, pair["content"], pair["painting"], weights=weights)


def contact_sheet(pictures: list, labels: list[str], height: int, path: Path) -> None:
    """The pictures side by side at one height, each with its label under it."""
    from PIL import Image, ImageDraw

    cells = [Image.fromarray(picture).resize((round(picture.shape[1] * height / picture.shape[0]), height))
             for picture in pictures]
    sheet = Image.new("RGB", (sum(cell.width for cell in cells), height + 20), "white")
    left = 0
    for cell, label in zip(cells, labels):
        sheet.paste(cell, (left, 0))
        ImageDraw.Draw(sheet).text((left + 4, height + 4), label, fill="black")
        left += cell.width
    sheet.save(path, quality=90)


def table(report: dict) -> str:
    """The Markdown tables: per pair, each row's ratios to the reference, seconds and full-size evaluations."""
    lines = [f"Machine: {report['machine']}. Size {report['size']} px, {report['iterations']} evaluations per row. "
             "Each cell is ours / the reference's (lower is better)."]
    header = "| row | " + " | ".join(MEASURES) + " | seconds | evaluations (full size) |"
    for pair in report["pairs"]:
        lines += ["", f"**{pair['name']}**", "", header, "|" + " --- |" * (len(MEASURES) + 3)]
        for row in pair["rows"]:
            ratios = " | ".join(f"{row['ratios'][measure]:.2f}" for measure in MEASURES)
            lines.append(f"| {row['name']} | {ratios} | {row['seconds']} | {row['evaluations']} |")
    return "\n".join(lines)


def machine() -> str:
    flags = set()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    found = [flag for flag in ("avx2", "avx512_bf16", "amx_bf16") if flag in flags]
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, flags: {', '.join(found) or 'none'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "images",
                        help="folder of the photographs and paintings")
    parser.add_argument("--reference", type=Path, default=ROOT.parent / "shared" / "reference",
                        help="folder of the reference results, CONTENT_STYLE.png")
    parser.add_argument("--size", type=int, default=512, help="output size in px (longest side)")
    parser.add_argument("--iterations", type=int, default=300, help="evaluations per row (before the row's options)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of every run")
    parser.add_argument("--row", action="append", default=[], metavar="NAME=OPTIONS",
                        help="a row of settings (repeatable; default: one row, the default settings)")
    parser.add_argument("--only", default=None, help="run only the pairs whose name contains this text")
    parser.add_argument("--weights", default="imagenet", help="VGG weights of the runs and the judges")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "outputs" / "quality", help="where results go")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time, each in its own process")
    parser.add_argument("--skip-judge", action="store_true", help="run the rows and keep their pictures; no judging")
    parser.add_argument("--judge-only", action="store_true", help="judge the runs kept in OUTPUT_DIR/runs")
    args = parser.parse_args(argv)
    pairs = [pair for pair in find_pairs(args.images, args.reference) if args.only is None or args.only in pair["name"]]
    rows = [parse_row(text) for text in args.row or ["default="]]
    args.output_dir.mkdir(parents=True, exist_ok=True)
    if not args.judge_only:
        run_all(pairs, rows, args)
    if args.skip_judge:
        return 0
    report = {"machine": machine(), "size": args.size, "iterations": args.iterations, "pairs": []}
    for pair in pairs:
        reference_image, reference = reference_measures(pair, args.size, args.weights)
        entry = {"name": pair["name"], "reference": reference, "rows": []}
        pictures, labels = [], ["content", "painting", "reference"]
        for name, _ in rows:
            outcome = judged_row(pair, name, args)
            ratios = {measure: outcome["measures"][measure] / max(reference[measure], 1e-12) for measure in MEASURES}
            entry["rows"].append({"name": name, "options": outcome["options"], "measures": outcome["measures"],
                                  "ratios": ratios, "seconds": outcome["seconds"],
                                  "evaluations": outcome["evaluations"], "compute": outcome.get("compute", {})})
            pictures.append(outcome["image"])
            labels.append(name)
            print(f"{pair['name']} {name}: " + ", ".join(f"{m} {ratios[m]:.2f}" for m in MEASURES), file=sys.stderr)
        report["pairs"].append(entry)
        from keras_style.files.images import load_image, to_array

        inputs = [to_array(load_image(pair[key])).astype("uint8") for key in ("content", "painting")]
        contact_sheet([*inputs, reference_image, *pictures], labels, reference_image.shape[0],
                      args.output_dir / f"{pair['name']}.jpg")
    (args.output_dir / "quality.json").write_text(json.dumps(report, indent=1))
    (args.output_dir / "quality.md").write_text(table(report) + "\n")
    print(table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
