#!/usr/bin/env python3
"""Time to a good picture: rows of settings at several budgets, each judged as quality.py judges, with where its
wall time went.

    python benchmarks/time_to_quality.py --size 256 --only starry --baseline today \
        --row "today=--preset painterly --scale-budget equal --iterations 700" \
        --row "front=--plan 160,120,80,40,20" --budgets 0.5 1 1.5

Each row is NAME=OPTIONS, as in quality.py, plus `--plan E1,E2,...`: the evaluations of each scale, coarse to
fine, at the sizes the row's settings plan (plan.scale_plan), in place of its --scale-budget. `--budgets F ...`
runs each row with its budget (--iterations or the plan) multiplied by F; rows become NAME@F. Every run is judged
by the fixed judges (keras_style.run.judge.quality) against the reference implementation's result, and each row is
also compared with the --baseline row at the same budget factor 1 on the same pair: the worst measure's ratio to
the baseline's (1.00: no measure worse; 1.05: some measure 5 % worse) is the y of the plot, the wall seconds its x.
Two columns judge against the reference implementation (the yardstick): "worst vs ref", the worst measure's ratio to
the reference's result, and "to yardstick", the worst measure's ratio to its allowance max(1.0, 1.05 x the
baseline's ratio): a measure at or below the reference's is good enough, and one above it may not get more than 5 %
worse than the baseline's (at most 1.00: the row holds on this pair).

Where the time went, per run (seconds):
  network   the loss-and-gradient passes after each scale's first (the host waits for them);
  optimiser the host work between passes (scipy's L-BFGS-B, the monitor);
  compile   each scale's first pass (tracing, and XLA compilation when on);
  start-up  the rest: loading the images, importing the backend, building the model, each scale's targets.

Writes OUTPUT_DIR/time_to_quality.md (tables, machine), .json, .png (the plot), and keeps each run's picture and
record in OUTPUT_DIR/runs/ (a kept run is not run again: delete it to rerun).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

from arguments import ROOT
from quality import MEASURES, find_pairs, full_size_evaluations, judged_row, machine, parse_row, reference_measures

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SPLIT = ("network", "optimiser", "compile", "start-up")
# A measure above the reference's may get at most this much worse than the baseline's.
YARDSTICK_MARGIN = 1.05


def split_row(text: str) -> tuple[str, dict, list[int] | None]:
    """NAME=OPTIONS [--plan E1,E2,...] -> (name, Settings keyword arguments, evaluations per scale or None)."""
    name, _, options = text.partition("=")
    words = shlex.split(options)
    plan = None
    if "--plan" in words:
        at = words.index("--plan")
        try:
            plan = [int(value) for value in words[at + 1].split(",")]
        except (IndexError, ValueError):
            raise SystemExit(f"time_to_quality.py: error: --plan takes E1,E2,... in row {name!r}") from None
        if any(value <= 0 for value in plan):
            raise SystemExit(f"time_to_quality.py: error: every --plan count must be positive in row {name!r}")
        del words[at:at + 2]
    row_name, given = parse_row(f"{name}={shlex.join(words)}")
    return row_name, given, plan


def sized_plan(settings, evaluations: list[int]) -> list[tuple[int, int]]:
    """The sizes the settings plan (scales, --size), with these evaluations each."""
    from dataclasses import replace

    from keras_style.run.plan import scale_plan

    sizes = [size for size, _ in scale_plan(replace(settings, iterations=max(1000, 10 * len(evaluations))))]
    if len(sizes) != len(evaluations):
        raise SystemExit(f"time_to_quality.py: error: --plan has {len(evaluations)} counts for {len(sizes)} sizes "
                         f"({', '.join(map(str, sizes))} px)")
    return list(zip(sizes, evaluations))


def time_split(result, wall: float) -> dict[str, float]:
    """SPLIT of one run's wall seconds (see the module's help)."""
    network = sum(scale.get("network_seconds", 0.0) for scale in result.scales)
    first = sum(scale.get("first_pass_seconds", 0.0) for scale in result.scales)
    optimising = sum(scale.get("seconds", 0.0) for scale in result.scales)
    return {"network": round(network, 2), "optimiser": round(optimising - network - first, 2),
            "compile": round(first, 2), "start-up": round(wall - optimising, 2)}


def run_one(pair: dict, name: str, options: dict, plan: list[int] | None, factor: float,
            args: argparse.Namespace) -> dict:
    """One row at one budget factor on one pair; its picture and record are kept."""
    from PIL import Image

    import keras_style
    from keras_style.config.settings import Settings

    run_options = {"size": args.size, "seed": args.seed, "weights": args.weights, **options}
    settings = Settings.from_options(**run_options)
    schedule = None
    if plan is not None:
        schedule = sized_plan(settings, [max(1, round(count * factor)) for count in plan])
    elif factor != 1.0:
        run_options["iterations"] = max(1, round(settings.iterations * factor))
    started = time.perf_counter()
    result = keras_style.stylize_result(str(pair["content"]), str(pair["painting"]), schedule=schedule, **run_options)
    wall = time.perf_counter() - started
    record = {"seconds": round(wall, 2), "options": {key: str(value) for key, value in options.items()},
              "plan": [[size, count] for size, count in schedule] if schedule else None, "factor": factor,
              "evaluations": round(full_size_evaluations(result, max(result.image.shape[:2])), 1),
              "split": time_split(result, wall), "compute": result.compute, "machine": machine(),
              "stopped": result.stopped, "final_loss": float(result.losses["final"]["total"]),
              "scales": [{"size": scale["size"], "evaluations": scale["evaluations"],
                          "seconds": scale.get("seconds")} for scale in result.scales]}
    path = args.output_dir / "runs" / f"{pair['name']}__{name}.png"
    Image.fromarray(result.image).save(path)
    path.with_suffix(".json").write_text(json.dumps(record, indent=1))
    return record


def plot(report: dict, path: Path) -> None:
    """The worst measure's ratio to the baseline against wall seconds, one line per row (its budgets)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for pair in report["pairs"]:
        for base in dict.fromkeys(row["base"] for row in pair["rows"]):
            points = sorted((row["seconds"], row["worst_to_baseline"]) for row in pair["rows"] if row["base"] == base)
            label = base if len(report["pairs"]) == 1 else f"{pair['name']} {base}"
            line, = axes.plot([x for x, _ in points], [y for _, y in points], marker="o")
            # each point named beside it: rows run at one budget are single points
            axes.annotate(label, points[-1], textcoords="offset points", xytext=(4, 3), fontsize=7,
                          color=line.get_color())
    axes.axhline(1.05, color="grey", linestyle="--", linewidth=1)
    axes.set_xlabel("wall seconds")
    axes.set_ylabel(f"worst measure / {report['baseline']}'s (log)")
    axes.set_yscale("log")
    axes.set_title(f"time to quality, {report['size']} px ({report['machine']})", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def table(report: dict) -> str:
    lines = [f"Machine: {report['machine']}. {report['size']} px. Measures: ratio to the reference's result (lower is "
             f"better); worst: the worst measure's ratio to {report['baseline']}'s."]
    header = ("| row | " + " | ".join(MEASURES) + " | worst | worst vs ref | to yardstick | seconds | "
              + " | ".join(SPLIT) + " | full-size evaluations |")
    for pair in report["pairs"]:
        lines += ["", f"**{pair['name']}**", "", header, "|" + " --- |" * (len(MEASURES) + len(SPLIT) + 6)]
        for row in pair["rows"]:
            ratios = " | ".join(f"{row['ratios'][measure]:.2f}" for measure in MEASURES)
            split = " | ".join(f"{row['split'][part]:.1f}" for part in SPLIT)
            lines.append(f"| {row['name']} | {ratios} | {row['worst_to_baseline']:.2f} ({row['worst_measure']}) | "
                         f"{row['worst_to_reference']:.2f} ({row['worst_reference_measure']}) | "
                         f"{row['to_yardstick']:.2f} ({row['tightest_measure']}) | {row['seconds']:.1f} | {split} | "
                         f"{row['evaluations']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "images")
    parser.add_argument("--reference", type=Path, default=ROOT.parent / "shared" / "reference")
    parser.add_argument("--size", type=int, default=256, help="output size in px (longest side)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--row", action="append", default=[], metavar="NAME=OPTIONS", required=True,
                        help="a row of settings; OPTIONS may hold --plan E1,E2,... (repeatable)")
    parser.add_argument("--baseline", default=None, help="the row every row is compared with (default: the first)")
    parser.add_argument("--budgets", type=float, nargs="+", default=[1.0], metavar="F",
                        help="budget factors each row runs at")
    parser.add_argument("--only", default=None, help="run only the pairs whose name contains this text")
    parser.add_argument("--weights", default="imagenet")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "outputs" / "time_to_quality")
    parser.add_argument("--skip-judge", action="store_true",
                        help="run the rows and keep their pictures and records; no judging (a GPU machine without "
                        "the judges' weights: judge them here afterwards with --judge-only)")
    parser.add_argument("--judge-only", action="store_true", help="judge the runs kept in OUTPUT_DIR/runs")
    args = parser.parse_args(argv)
    pairs = [pair for pair in find_pairs(args.images, args.reference) if args.only is None or args.only in pair["name"]]
    rows = [split_row(text) for text in args.row]
    baseline = args.baseline or rows[0][0]
    if baseline not in [name for name, _, _ in rows]:
        raise SystemExit(f"time_to_quality.py: error: --baseline {baseline!r} is not a row")
    (args.output_dir / "runs").mkdir(parents=True, exist_ok=True)
    runs = [(f"{name}@{factor:g}" if len(args.budgets) > 1 else name, name, options, plan, factor)
            for factor in args.budgets for name, options, plan in rows]
    for pair in pairs if not args.judge_only else ():  # row by row: a run cut short has its first rows
        for run_name, _, options, plan, factor in runs:
            if not (args.output_dir / "runs" / f"{pair['name']}__{run_name}.json").exists():
                record = run_one(pair, run_name, options, plan, factor, args)
                print(f"ran {pair['name']} {run_name}: {record['seconds']} s, split {record['split']}",
                      file=sys.stderr)
    if args.skip_judge:
        return 0
    baseline_name = f"{baseline}@1" if len(args.budgets) > 1 else baseline
    report = {"machine": machine(), "size": args.size, "baseline": baseline_name, "pairs": []}
    for pair in pairs:
        _, reference = reference_measures(pair, args.size, args.weights)
        judged = {run_name: judged_row(pair, run_name, args) for run_name, *_ in runs}
        base = judged[baseline_name]["measures"]
        entry = {"name": pair["name"], "reference": reference, "rows": []}
        for run_name, name, *_ in runs:
            outcome = judged[run_name]
            to_baseline = {measure: outcome["measures"][measure] / max(base[measure], 1e-12) for measure in MEASURES}
            worst = max(to_baseline, key=to_baseline.get)
            ratios = {measure: outcome["measures"][measure] / max(reference[measure], 1e-12) for measure in MEASURES}
            allowance = {measure: max(1.0, YARDSTICK_MARGIN * base[measure] / max(reference[measure], 1e-12))
                         for measure in MEASURES}
            to_yardstick = {measure: ratios[measure] / allowance[measure] for measure in MEASURES}
            worst_reference = max(ratios, key=ratios.get)
            tightest = max(to_yardstick, key=to_yardstick.get)
            entry["rows"].append({
                "name": run_name, "base": name, "measures": outcome["measures"],
                "ratios": ratios, "worst_to_reference": ratios[worst_reference],
                "worst_reference_measure": worst_reference, "to_yardstick": to_yardstick[tightest],
                "tightest_measure": tightest,
                "to_baseline": to_baseline, "worst_to_baseline": to_baseline[worst], "worst_measure": worst,
                **{key: outcome[key] for key in ("seconds", "evaluations", "split", "plan", "compute", "stopped")},
            })
        report["pairs"].append(entry)
    (args.output_dir / "time_to_quality.json").write_text(json.dumps(report, indent=1))
    (args.output_dir / "time_to_quality.md").write_text(table(report) + "\n")
    plot(report, args.output_dir / "time_to_quality.png")
    print(table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
