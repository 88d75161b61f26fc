#!/usr/bin/env python3
"""The README's pictures of several styles, early stop and each layer's loss, made from the demo images:

    python scripts/features_sheet.py --styles      # examples/styles_sheet.jpg: two styles at three blend weights
    python scripts/features_sheet.py --early-stop  # examples/early_stop.png: --min-improvement against the full run
    python scripts/features_sheet.py --layers      # examples/layer_losses.png: each layer's share of the total
    python scripts/features_sheet.py --tiles       # examples/tiles_sheet.jpg: --tile-size against one piece

Needs the VGG19 weights (KERAS_STYLE_WEIGHTS_DIR or Keras's cache/download) and, for the two charts, matplotlib (the
notebooks extra); examples/style2.jpg comes from scripts/make_demo_images.py. 192 px; 150 evaluations per panel of
the styles sheet; a 500-evaluation run (the gatys budget) for the charts.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from demo_sheet import sheet  # scripts/, the script's own folder
from PIL import Image

import keras_style

ROOT = Path(__file__).resolve().parent.parent
CONTENT, STYLE = ROOT / "examples" / "content.jpg", ROOT / "examples" / "style.jpg"
STYLE2 = ROOT / "examples" / "style2.jpg"
BLENDS = ((1, 0), (0.5, 0.5), (0, 1))
TARGETS = {"styles": "styles_sheet.jpg", "early_stop": "early_stop.png", "layers": "layer_losses.png",
           "tiles": "tiles_sheet.jpg"}


def styles_sheet(target: Path, size: int, iterations: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        panels = []
        for blend in BLENDS:
            result = keras_style.stylize_result(CONTENT, [STYLE, STYLE2], style_blend_weights=list(blend), size=size,
                                                iterations=iterations, seed=0)
            print(f"--style-blend-weights {blend[0]:g} {blend[1]:g}: {result.evaluations} evaluations in "
                  f"{result.seconds:.1f} s, final loss {result.losses['final']['total']:.4g}")
            panels.append(Path(folder) / f"blend-{blend[0]}-{blend[1]}.png")
            Image.fromarray(result.image).save(panels[-1])
        picture = sheet([CONTENT, STYLE, STYLE2, *panels],
                        ["content", "style A (style.jpg)", "style B (style2.jpg)",
                         *(f"--style-blend-weights {a:g} {b:g}" for a, b in BLENDS)], height=size)
    picture.save(target, quality=85, optimize=True)


def early_stop_chart(target: Path, size: int, budget: int, min_improvement: float, patience: int) -> None:
    """The same seeded run twice: to its full budget, and with --min-improvement/--patience (which stops early)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    elapsed: list[float] = []  # seconds into the full run after each evaluation
    common = dict(size=size, iterations=budget, seed=0)
    full = keras_style.stylize_result(CONTENT, STYLE, callback=lambda event: elapsed.append(event.elapsed),
                                      min_improvement=0, **common)  # the whole budget, the preset's early stop off
    early = keras_style.stylize_result(CONTENT, STYLE, min_improvement=min_improvement, patience=patience, **common)
    if early.stopped != "converged":
        raise SystemExit(f"the run with --min-improvement {min_improvement:g} did not stop early ({early.stopped})")
    stop = early.evaluations
    if not np.array_equal(full.history[:stop], early.history):
        print("warning: the early-stopped run's losses differ from the full run's over the same evaluations")
    best_full = np.minimum.accumulate(full.history[:, 0])
    best_early = np.minimum.accumulate(early.history[:, 0])
    final_full, final_early = full.losses["final"]["total"], early.losses["final"]["total"]
    # The seconds saved are those the full run spent after the stop point: one run's clock, so load on a shared
    # machine does not tilt the comparison as two runs' totals would.
    saved_evaluations, saved_seconds = full.evaluations - stop, elapsed[-1] - elapsed[stop - 1]
    print(f"full: {full.evaluations} evaluations in {full.seconds:.1f} s, final loss {final_full:.4g}; the evaluations "
          f"after {stop} took {saved_seconds:.1f} s of it")
    print(f"early: {stop} evaluations in {early.seconds:.1f} s, final loss {final_early:.4g} ({early.stopped})")

    figure = plt.figure(figsize=(10.4, 3.3), dpi=100)
    grid = figure.add_gridspec(1, 3, width_ratios=[1.5, 1, 1], wspace=0.08)
    curve = figure.add_subplot(grid[0])
    evaluations = np.arange(1, len(best_full) + 1)
    curve.semilogy(evaluations, best_full, color="0.6", lw=2.5, label=f"full budget: {full.evaluations} evaluations")
    curve.semilogy(evaluations[:stop], best_early, color="tab:blue", lw=1.2,
                   label=f"--min-improvement {min_improvement:g} --patience {patience}")
    curve.axvline(stop, color="tab:red", ls="--", lw=1)
    curve.plot([stop], [best_early[-1]], "o", color="tab:red")
    curve.annotate(f"stopped at {stop}", (stop, best_early[-1]), xytext=(-8, 28), textcoords="offset points",
                   ha="right", color="tab:red", fontsize=9)
    curve.set_ylim(best_full[-1] * 0.9, best_full[min(20, len(best_full) - 1)])
    curve.set_xlabel("evaluation")
    curve.set_ylabel("best total loss so far")
    curve.legend(fontsize=8, loc="upper right")
    for index, (result, label) in enumerate(((early, f"stopped early: {stop} evaluations"),
                                             (full, f"full budget: {full.evaluations} evaluations"))):
        axes = figure.add_subplot(grid[index + 1])
        axes.imshow(result.image)
        axes.set_title(label, fontsize=9)
        axes.axis("off")
    figure.suptitle(f"{size} px, seed 0: early stop saved {saved_evaluations} of {full.evaluations} evaluations "
                    f"({saved_seconds:.0f} s of the full run's {full.seconds:.0f} s); final loss "
                    f"{100 * (final_early / final_full - 1):+.1f}%", fontsize=10)
    figure.subplots_adjust(left=0.07, right=0.99, bottom=0.15, top=0.84)
    save_png(figure, target)


def save_png(figure, target: Path) -> None:
    """The figure as a 256-colour PNG: a third of the size of matplotlib's true-colour one, the same to the eye."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    buffer.seek(0)
    with Image.open(buffer) as picture:
        picture.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)


def layers_chart(target: Path, size: int, iterations: int) -> None:
    """A bar per content and style layer (and tv when weighted): its share of the weighted total at the best
    evaluation, from result.layer_losses, with the numbers --verbose prints."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from keras_style.apps.cli import layer_table

    result = keras_style.stylize_result(CONTENT, STYLE, size=size, iterations=iterations, seed=0)
    print(layer_table(result.layer_losses))
    rows = [(kind, layer, entry) for kind in ("content", "style", "tv")
            for layer, entry in result.layer_losses.get(kind, {}).items() if kind != "tv" or entry["share"] > 0]
    figure, axes = plt.subplots(figsize=(8, 0.42 * len(rows) + 1.1), dpi=100)
    positions = np.arange(len(rows))[::-1]
    shares = [100 * entry["share"] for _, _, entry in rows]
    colours = {"content": "tab:green", "style": "tab:blue", "tv": "tab:gray"}
    axes.barh(positions, shares, color=[colours[kind] for kind, _, _ in rows])
    axes.set_yticks(positions, [f"{kind} {layer}" for kind, layer, _ in rows], fontsize=9)
    for position, share, (_, _, entry) in zip(positions, shares, rows):
        axes.text(share + 0.8, position, f"{share:.1f}%  (loss {entry['loss']:.3g})", va="center", fontsize=8)
    axes.set_xlim(0, 118)
    axes.set_xticks(range(0, 101, 20))
    axes.set_xlabel("share of the weighted total loss (%)")
    axes.set_title(f"each layer's share of the weighted total at the best evaluation (result.layer_losses)\n{size} px, "
                   f"{result.evaluations} evaluations, gatys preset, final loss "
                   f"{result.losses['final']['total']:.3g}", fontsize=9)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    figure.tight_layout()
    save_png(figure, target)


def tiles_sheet(target: Path, size: int, iterations: int, tile_size: int) -> None:
    """The same run untiled and in tiles (--tile-size), each judged by the untiled loss of the whole image, and the
    tiled result again with its two passes' tiles drawn on it (first pass red, second blue)."""
    from PIL import ImageDraw

    from keras_style.config.settings import Settings
    from keras_style.files.images import preprocess
    from keras_style.run.assemble import feature_model_for, settings_evaluator
    from keras_style.run.loading import prepare
    from keras_style.run.tiling import tile_passes

    common = dict(size=size, iterations=iterations, seed=0)
    settings = Settings.from_options(precision="float32", **common)
    prepared = prepare(CONTENT, STYLE, settings)
    judge = settings_evaluator(feature_model_for(settings), settings, preprocess(prepared.final.content),
                      [preprocess(style) for style in prepared.final.styles])
    with tempfile.TemporaryDirectory() as folder:
        panels, labels = [CONTENT], ["content"]
        for tile in ("off", tile_size):
            result = keras_style.stylize_result(CONTENT, STYLE, tile_size=tile, **common)
            judged = float(judge.terms_at(preprocess(result.image.astype(np.float32)))[0])
            print(f"--tile-size {tile}: {result.evaluations} evaluations in {result.seconds:.1f} s, judged loss "
                  f"{judged:.4g}")
            panels.append(Path(folder) / f"tile-{tile}.png")
            Image.fromarray(result.image).save(panels[-1])
            labels.append(f"--tile-size {tile}: loss {judged:.3g}")
        grid = Image.open(panels[-1]).convert("RGB")
        draw = ImageDraw.Draw(grid)
        for colour, tiles in zip(((230, 40, 40), (40, 90, 240)), tile_passes(grid.width, grid.height, tile_size)):
            for each in tiles:
                draw.rectangle((each.left, each.top, each.right - 1, each.bottom - 1), outline=colour, width=2)
        panels.append(Path(folder) / "grid.png")
        grid.save(panels[-1])
        labels.append("its tiles: pass 1 red, pass 2 blue")
        picture = sheet(panels, labels, height=round(size * 0.75))
    picture.save(target, quality=85, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--styles", action="store_true", help="the several-styles sheet")
    which.add_argument("--early-stop", action="store_true", help="the early-stop chart")
    which.add_argument("--layers", action="store_true", help="the per-layer loss chart")
    which.add_argument("--tiles", action="store_true", help="the tiled and untiled sheet")
    parser.add_argument("--tile-size", type=int, default=192, help="--tiles: the tile size")
    parser.add_argument("--output", type=Path, help="the picture (default: examples/" + ", ".join(TARGETS.values())
                        + ")")
    parser.add_argument("--size", type=int, default=192, help="longest side of each image in px")
    parser.add_argument("--iterations", type=int, help="evaluations per run (default: 150 for --styles, 500 for "
                        "the charts)")
    parser.add_argument("--min-improvement", type=float, default=0.01, help="the early-stop run's --min-improvement")
    parser.add_argument("--patience", type=int, default=50, help="the early-stop run's --patience")
    args = parser.parse_args()
    mode = "styles" if args.styles else "early_stop" if args.early_stop else "tiles" if args.tiles else "layers"
    target = args.output or ROOT / "examples" / TARGETS[mode]
    if mode == "styles":
        styles_sheet(target, args.size, args.iterations or 150)
    elif mode == "tiles":
        tiles_sheet(target, args.size if args.size != 192 else 384, args.iterations or 100, args.tile_size)
    elif mode == "early_stop":
        early_stop_chart(target, args.size, args.iterations or 500, args.min_improvement, args.patience)
    else:
        layers_chart(target, args.size, args.iterations or 500)
    print(f"wrote {target} ({target.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
