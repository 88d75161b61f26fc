#!/usr/bin/env python3
"""Wall time of a whole stylization (the jcjohnson/neural-style yardstick: 500 L-BFGS iterations at 512 px) and
the judged quality of its result, optionally in mixed precision.

    python benchmarks/end_to_end.py --size 512 --evaluations 500 --precision float32 mixed

Times the optimisation as a user waits for it (tracing and compilation included), after building the model.
Each result is scored by the fixed vgg19-paper judge in float32, so precisions compare on one ruler.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from arguments import add_image_arguments  # noqa: E402 - benchmarks/, the script's own folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_image_arguments(parser, size=512, size_help="output longest side in px")
    parser.add_argument("--evaluations", type=int, default=500, help="L-BFGS evaluations")
    parser.add_argument("--precision", nargs="+", default=["float32"], choices=["float32", "mixed"],
                        help="precisions to time")
    parser.add_argument("--optimizer", default="lbfgs", choices=["lbfgs", "gd", "adam"], help="optimiser")
    parser.add_argument("--weights", default="imagenet", help="weights (imagenet, none, or an .h5 path)")
    parser.add_argument("--json", type=Path, default=ROOT / "outputs" / "end_to_end.json", help="JSON output")
    args = parser.parse_args()

    import keras_style
    from keras_style.judge import judge
    from keras_style.network import device_type, feature_model_for
    from keras_style.settings import Settings

    rows = []
    for precision in args.precision:
        feature_model_for(Settings.from_options(weights=args.weights, precision=precision))  # build untimed
        started = time.perf_counter()
        result = keras_style.stylize_result(args.content, args.style, size=args.size, iterations=args.evaluations,
                                            optimizer=args.optimizer, precision=precision, weights=args.weights, seed=0)
        wall = time.perf_counter() - started
        judged = judge(result.image, args.content, args.style, "vgg19-paper", weights=args.weights)
        rows.append({"precision": precision, "optimizer": args.optimizer, "device": device_type(), "size": result.sizes["output"],
                     "evaluations": result.evaluations, "wall_seconds": round(wall, 2),
                     "optimisation_seconds": round(result.seconds, 2),
                     "seconds_per_evaluation": round(result.seconds_per_evaluation, 5), "judged": judged})
        print(f"{precision}: {result.evaluations} evaluations, {wall:.2f} s wall, judged loss {judged['total']:.5g}",
              file=sys.stderr, flush=True)
    print("| optimizer | precision | device | size | evaluations | wall s | s / evaluation | judged total | vs first |")
    print("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    reference = rows[0]["judged"]["total"]
    for row in rows:
        size = "x".join(map(str, row["size"]))
        print(f"| {row['optimizer']} | {row['precision']} | {row['device']} | {size} | {row['evaluations']} | {row['wall_seconds']:.2f} | "
              f"{row['seconds_per_evaluation']:.4f} | {row['judged']['total']:.5g} | "
              f"{row['judged']['total'] / reference - 1:+.2%} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
