#!/usr/bin/env python3
"""Single-scale vs multi-scale: judged loss against wall time at the same output size.

    python benchmarks/multiscale.py --content ../shared/images/tubingen.jpg \
        --style ../shared/images/starry_night.jpg --size 512 --evaluations 200 --scales 3

Both runs use the gatys settings (VGG19, real weights). Every --every evaluations the best image so far is kept
with its time; afterwards each is upsampled to the output size if it is coarser and scored by the fixed
vgg19-paper judge (the paper's layers and normalisation), so the two runs are measured by the same ruler.
Prints a Markdown table and the headline: the time multi-scale needs to reach the single-scale final loss, as a
fraction of the single-scale time.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from arguments import ROOT, add_image_arguments  # benchmarks/, the script's own folder

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run(content: str, style: str, size: int, evaluations: int, scales: int, every: int, init: str,
        plan=None) -> list[tuple]:
    """One stylization; returns (seconds, evaluations, image) checkpoints, timed from the call."""
    import numpy as np

    import keras_style

    checkpoints = []
    started = time.perf_counter()

    def keep(event) -> None:
        if event.evaluation % every == 0:
            checkpoints.append((time.perf_counter() - started, event.evaluation, event.best_image()))

    result = keras_style.stylize_result(content, style, size=size, iterations=evaluations, scales=scales,
                                        callback=keep, seed=0, init=init, schedule=plan)
    checkpoints.append((time.perf_counter() - started, result.evaluations, np.asarray(result.image)))
    return checkpoints


def judged_curve(checkpoints: list[tuple], content: str, style: str, width: int, height: int) -> list[dict]:
    import numpy as np
    from PIL import Image

    from keras_style.run.judge import judge

    curve = []
    for seconds, evaluation, image in checkpoints:
        if image.shape[:2] != (height, width):  # a coarse scale's image, as it would be delivered at full size
            image = np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS))
        terms = judge(image, content, style, "vgg19-paper")
        curve.append({"seconds": round(seconds, 2), "evaluations": evaluation, **terms})
    return curve


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_image_arguments(parser, size=512, size_help="output longest side in px")
    parser.add_argument("--evaluations", type=int, default=200, help="evaluation budget of each run")
    parser.add_argument("--multi-evaluations", type=int, help="budget of the multi-scale run (default: the same)")
    parser.add_argument("--scales", type=int, default=3, help="scales of the multi-scale run")
    parser.add_argument("--plan", nargs="+", metavar="SIZE:EVALUATIONS",
                        help="the multi-scale run's schedule instead of --scales' default, e.g. 128:180 256:120 "
                             "(its budget is their sum; the last size must be --size)")
    parser.add_argument("--init", default="content", help="start image of both runs (content, noise, ...)")
    parser.add_argument("--every", type=int, default=10, help="evaluations between checkpoints")
    parser.add_argument("--json", type=Path, default=ROOT / "outputs" / "multiscale.json", help="JSON output")
    args = parser.parse_args()
    plan = None
    if args.plan:
        try:
            plan = [tuple(int(part) for part in item.split(":")) for item in args.plan]
        except ValueError:
            parser.error(f"--plan items are SIZE:EVALUATIONS, got {' '.join(args.plan)}")
        if any(len(item) != 2 for item in plan) or plan[-1][0] != args.size:
            parser.error(f"--plan items are SIZE:EVALUATIONS ending at --size {args.size}")
        args.scales, args.multi_evaluations = len(plan), sum(count for _, count in plan)

    from keras_style.config.settings import Settings
    from keras_style.run.assemble import feature_model_for
    from keras_style.run.loading import prepare

    settings = Settings.from_options(size=args.size)
    feature_model_for(settings)  # build once, outside both timings
    content_rgb = prepare(args.content, args.style, settings).final.content
    height, width = content_rgb.shape[:2]
    curves = {}
    for label, scales, budget in (("single-scale", 1, args.evaluations),
                                  (f"{args.scales} scales", args.scales, args.multi_evaluations or args.evaluations)):
        checkpoints = run(args.content, args.style, args.size, budget, scales, args.every, args.init,
                          plan if scales > 1 else None)
        curves[label] = judged_curve(checkpoints, args.content, args.style, width, height)
        final = curves[label][-1]
        print(f"{label}: {final['evaluations']} evaluations in {final['seconds']:.1f} s, judged loss "
              f"{final['total']:.4g}", file=sys.stderr, flush=True)

    single, multi = curves["single-scale"], curves[f"{args.scales} scales"]
    target, single_seconds = single[-1]["total"], single[-1]["seconds"]
    reached = next((point for point in multi if point["total"] <= target), None)
    print("| run | evaluations | seconds | judged total | judged content | judged style |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, curve in curves.items():
        for point in curve:
            print(f"| {label} | {point['evaluations']} | {point['seconds']:.1f} | {point['total']:.4g} | "
                  f"{point['content']:.4g} | {point['style']:.4g} |")
    if reached:
        headline = (f"multi-scale reached the single-scale final judged loss {target:.4g} after "
                    f"{reached['seconds']:.1f} s"
                    f" = {reached['seconds'] / single_seconds:.0%} of the single-scale {single_seconds:.1f} s")
    else:
        headline = f"multi-scale did not reach the single-scale final judged loss {target:.4g}"
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"command": " ".join(sys.argv), "curves": curves, "headline": headline},
                                    indent=2) + "\n")
    print(headline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
