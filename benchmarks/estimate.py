"""The web page's estimate of a run's time against the real time (issue: the web page for a person).

As the server does: this machine's pace is measured once with the preset's settings (keras_style.run.estimate
.measure_pace: a short run at small sizes), then each size's run is estimated before it starts, run, and timed
(wall time of stylize_result, the model already built). Between the runs, the estimator learns from the finished
run as the server does (its scale records, and an early-stopped run's share of the full budget's time).

    python benchmarks/estimate.py --sizes 256 512 [--preset painterly] [--content C --style S] [--output-dir OUT]

Writes OUT/estimate.json and prints a markdown table: size, the estimate (likely, range), the real seconds, and the
ratio real / likely, with the machine's CPU flags.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--preset", default="painterly")
    parser.add_argument("--content", default=str(ROOT.parent / "shared" / "images" / "tubingen.jpg"))
    parser.add_argument("--style", default=str(ROOT.parent / "shared" / "images" / "starry_night.jpg"))
    parser.add_argument("--output-dir", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--learn", action=argparse.BooleanOptionalAction, default=True,
                        help="learn from each finished run before estimating the next, as the server does")
    args = parser.parse_args()

    from keras_style.config.settings import Settings
    from keras_style.engine.backend import import_backend_quietly, read_cpu
    from keras_style.files.images import load_image
    from keras_style.run.estimate import (
        EARLY_STOP_SHARE,
        estimate_run,
        fit_pace,
        measure_pace,
        record_points,
        stop_share,
    )
    from keras_style.run.transfer import stylize_result

    import_backend_quietly()
    content = load_image(args.content, "content image")
    base = Settings.from_options(preset=args.preset, seed=1)
    started = time.perf_counter()
    measured = measure_pace(base)
    measure_seconds = time.perf_counter() - started
    points, first_pass, share = list(measured.points), measured.first_pass, EARLY_STOP_SHARE
    rows = []
    for size in args.sizes:
        settings = Settings.from_options(**{**base.as_dict(), "size": size})
        estimate = estimate_run(settings, content.size, fit_pace(points, first_pass), 0.0, share)
        started = time.perf_counter()
        result = stylize_result(args.content, args.style, settings=settings)
        real = time.perf_counter() - started
        rows.append({"size": size, "estimate": estimate.as_dict(), "real_seconds": round(real, 1),
                     "ratio": round(real / estimate.likely, 2), "evaluations": result.evaluations,
                     "stopped": result.stopped})
        print(f"{size} px: estimated {estimate.likely:.1f} s ({estimate.low:.1f}-{estimate.high:.1f}), "
              f"real {real:.1f} s, ratio {real / estimate.likely:.2f}", flush=True)
        if args.learn:
            new_points, extra = record_points(result.scales)
            points += new_points
            first_pass = sorted(extra)[len(extra) // 2] if extra else first_pass
            learned = stop_share(result.scales, settings) if settings.min_improvement else None
            share = learned if learned is not None and not result.interrupted else share
    name, flags = read_cpu()
    machine = {"cpu": name, "cores": os.cpu_count(),
               "flags": sorted(flag for flag in ("avx2", "avx512_bf16", "amx_bf16") if flag in flags)}
    record = {"machine": machine, "preset": args.preset, "content": args.content, "style": args.style,
              "measure_seconds": round(measure_seconds, 1), "learn": args.learn, "rows": rows}
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "estimate.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"\nmachine: {machine['cpu']}, {machine['cores']} cores, {', '.join(machine['flags'])}; measuring run "
          f"{measure_seconds:.1f} s")
    print("| size | estimate, likely (range) | real | real / likely | evaluations |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for row in rows:
        estimate = row["estimate"]
        print(f"| {row['size']} | {estimate['likely']:.0f} s ({estimate['low']:.0f}-{estimate['high']:.0f} s) | "
              f"{row['real_seconds']:.0f} s | {row['ratio']:.2f} | {row['evaluations']} |")


if __name__ == "__main__":
    main()
