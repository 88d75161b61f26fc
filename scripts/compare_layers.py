#!/usr/bin/env python3
"""Compare VGG16 and VGG19 across layer sets: one style-transfer run per (layer set, network) cell.

Every cell uses the same content and style images, size, evaluation budget, seed and loss settings (the paper's
normalisation, content weight 1, style weight 1e3, no tv, L-BFGS from the content, cached targets), so only the
network and the layers differ. Each cell runs in its own fresh process, so its peak memory (RSS) is its own
(--in-process runs every cell in this process instead: quicker, but without a peak per cell).
Every result is then scored by both fixed judges (keras_style.run.judge: vgg19-paper and vgg16-johnson), which
measure all cells with one unchanging loss; a run's own final loss is only comparable within its own settings.

Writes into --output-dir: sheet.png (rows = layer sets, columns = networks), results.csv, results.md, and one
PNG per cell.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import csv
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
NETWORKS = ("vgg16", "vgg19")
# Loss settings shared by every cell, so that only the network and the layers vary.
FIXED_SETTINGS = dict(
    normalization="paper", content_weight=1.0, style_weight=1e3, tv_weight=0.0, pooling="max", init="content",
    optimizer="lbfgs", mode="cached", resize="longest",
)
TERMS = ("total", "content", "style", "tv")
JUDGE_NAMES = ("vgg19-paper", "vgg16-johnson")
JUDGE_TERMS = ("total", "content", "style")  # the judges weigh no tv; the image's tv is reported once


def block_lengths(network: str) -> tuple[int, ...]:
    """Convolutions per block of `network` (VGG16: 2,2,3,3,3; VGG19: 2,2,4,4,4)."""
    from keras_style.config.layers import CONVS_PER_BLOCK

    return CONVS_PER_BLOCK[network]


def last_conv(block: int, network: str) -> str:
    """Keras name of the deepest convolution of `block` (1-based) in `network`."""
    return f"block{block}_conv{block_lengths(network)[block - 1]}"


def first_convs() -> tuple[str, ...]:
    return tuple(f"block{block}_conv1" for block in range(1, 6))


@dataclass(frozen=True)
class LayerSet:
    name: str
    description: str

    def layers(self, network: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(content layers, style layers) as `network`'s own Keras layer names."""
        return LAYER_SET_LAYERS[self.name](network)


LAYER_SET_LAYERS = {
    # Gatys et al.: content conv4_2, style conv1_1..conv5_1.
    "paper": lambda network: (("block4_conv2",), first_convs()),
    # Article 001 (Johnson et al.'s set): content conv2_2, style conv1_2, conv2_2, conv3_3, conv4_3, conv5_3.
    # The names are kept as they are on VGG19, where conv3_3..conv5_3 are no longer the last conv of a block.
    "johnson": lambda network: (
        ("block2_conv2",), ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3"),
    ),
    # The Keras example: content block5_conv2, style block1..5_conv1.
    "keras-example": lambda network: (("block5_conv2",), first_convs()),
    # The deepest conv of each block for style, and the deepest conv of block 4 for content.
    "deepest": lambda network: ((last_conv(4, network),), tuple(last_conv(block, network) for block in range(1, 6))),
    # The paper's style layers with a shallow content layer: how much finer detail of the photo survives.
    "shallow-content": lambda network: (("block2_conv2",), first_convs()),
}
LAYER_SETS = {
    layer_set.name: layer_set
    for layer_set in (
        LayerSet("paper", "Gatys et al.: content conv4_2, style conv1_1..conv5_1"),
        LayerSet("johnson", "article 001 / Johnson et al.: content conv2_2, style conv1_2, conv2_2, conv3_3, "
                            "conv4_3, conv5_3"),
        LayerSet("keras-example", "the Keras example: content conv5_2, style conv1_1..conv5_1"),
        LayerSet("deepest", "deepest conv of each block for style (VGG16 conv5_3, VGG19 conv5_4 ...), "
                            "content the deepest conv of block 4 (conv4_3 / conv4_4)"),
        LayerSet("shallow-content", "the paper's style layers with a shallow content layer, conv2_2"),
    )
}


@dataclass(frozen=True)
class Cell:
    """One grid cell: everything a child process needs to make and score one picture."""

    layer_set: str
    network: str
    content: str
    style: str
    size: int
    iterations: int
    seed: int
    weights: str

    @property
    def name(self) -> str:
        return f"{self.layer_set}_{self.network}"

    def options(self) -> dict[str, Any]:
        from keras_style.run.judge import JUDGE_BALANCE  # weigh the sums as the judges do, so own and judge agree

        content_layers, style_layers = LAYER_SETS[self.layer_set].layers(self.network)
        return dict(
            FIXED_SETTINGS, balance=JUDGE_BALANCE, network=self.network, content_layers=content_layers,
            style_layers=style_layers,
            size=self.size, iterations=self.iterations, seed=self.seed, weights=self.weights,
        )


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB, macOS bytes)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def run_cell(cell: Cell) -> dict[str, Any]:
    """Stylize and judge one cell. Runs in a fresh child process; the peak RSS is read before judging."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras_style
    from keras_style.run.judge import judge

    started = time.perf_counter()
    result = keras_style.stylize_result(cell.content, cell.style, **cell.options())
    wall = time.perf_counter() - started
    row: dict[str, Any] = {
        "layer_set": cell.layer_set, "network": cell.network,
        "content_layers": " ".join(result.settings.content_layers),
        "style_layers": " ".join(result.settings.style_layers),
        "output_size": "x".join(str(side) for side in result.sizes["output"]),
        "evaluations": result.evaluations, "wall_seconds": wall, "optimizer_seconds": result.seconds,
        "seconds_per_evaluation": result.seconds_per_evaluation, "peak_rss_mib": peak_rss_mib(),
    }
    row.update({f"own_{term}": result.losses["final"][term] for term in TERMS})
    for judge_name in JUDGE_NAMES:
        scores = judge(result.image, cell.content, cell.style, judge_name, weights=cell.weights)
        row.update({f"{judge_name}_{term}": scores[term] for term in JUDGE_TERMS})
    row["tv"] = scores["tv"]  # the image's total variation, the same for both judges
    row["image"] = result.image
    return row


def run_grid(cells: Sequence[Cell], log=print, in_process: bool = False) -> list[dict[str, Any]]:
    """Run every cell in its own spawned process (one at a time, so timings and peaks do not mix).

    With `in_process` the cells run one after another in this process: TensorFlow is imported and each network
    loaded once, so it is quicker, but the cells share one peak memory (peak_rss_mib is left empty) and a cell's
    wall time leaves out what an earlier cell already loaded.
    """
    rows = []
    context = multiprocessing.get_context("spawn")
    for index, cell in enumerate(cells, start=1):
        log(f"[{index}/{len(cells)}] {cell.name} ...")
        if in_process:
            row = dict(run_cell(cell), peak_rss_mib=None)
        else:
            with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                row = pool.submit(run_cell, cell).result()
        log(f"    {row['evaluations']} evaluations, {row['seconds_per_evaluation']:.3f} s/eval, "
            f"peak {mib(row['peak_rss_mib'])} MiB, judge vgg19-paper {row['vgg19-paper_total']:.4g}")
        rows.append(row)
    return rows


CSV_COLUMNS = (
    "layer_set", "network", "content_layers", "style_layers", "output_size", "evaluations", "wall_seconds",
    "optimizer_seconds", "seconds_per_evaluation", "peak_rss_mib",
    *(f"own_{term}" for term in TERMS),
    *(f"{judge}_{term}" for judge in JUDGE_NAMES for term in JUDGE_TERMS),
    "tv",
)


def write_csv(rows: Sequence[dict[str, Any]], path: Path) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def mib(value: float | None) -> str:
    """A peak in whole MiB, or 'n/a' where the cells shared a process (--in-process)."""
    return "n/a" if value is None else f"{value:.0f}"


def short_layer(name: str) -> str:
    """block4_conv2 -> conv4_2, for compact tables."""
    return name.replace("block", "conv").replace("_conv", "_")


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """One row per cell: layers, budget, time, memory, own final loss and both judges' total / content / style."""
    header = (
        "| layer set | network | content | style layers | evals | wall s | s/eval | peak RSS MiB "
        "| own total | vgg19-paper total | vgg19-paper content | vgg19-paper style "
        "| vgg16-johnson total | vgg16-johnson content | vgg16-johnson style |"
    )
    lines = [header, "|" + " --- |" * (header.count("|") - 1)]
    for row in rows:
        style = ", ".join(short_layer(name) for name in row["style_layers"].split())
        content = ", ".join(short_layer(name) for name in row["content_layers"].split())
        lines.append(
            f"| {row['layer_set']} | {row['network']} | {content} | {style} | {row['evaluations']} "
            f"| {row['wall_seconds']:.1f} | {row['seconds_per_evaluation']:.3f} | {mib(row['peak_rss_mib'])} "
            f"| {row['own_total']:.3g} "
            + " ".join(f"| {row[f'{judge}_{term}']:.3g}" for judge in JUDGE_NAMES for term in JUDGE_TERMS)
            + " |"
        )
    return "\n".join(lines) + "\n"


def contact_sheet(rows: Sequence[dict[str, Any]], layer_sets: Sequence[str], networks: Sequence[str],
                  title: str) -> Image.Image:
    """A grid of results (rows = layer sets, columns = networks), each cell labelled under its picture."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    by_cell = {(row["layer_set"], row["network"]): row for row in rows}
    cell_height, cell_width = next(iter(by_cell.values()))["image"].shape[:2]
    label_height, margin, title_height = 30, 8, 24
    sheet = Image.new(
        "RGB",
        (margin + len(networks) * (cell_width + margin),
         title_height + len(layer_sets) * (cell_height + label_height + margin)),
        "white",
    )
    draw = ImageDraw.Draw(sheet)
    draw.text((margin, 6), title, fill="black", font=font)
    for row_index, layer_set in enumerate(layer_sets):
        for column_index, network in enumerate(networks):
            row = by_cell[(layer_set, network)]
            left = margin + column_index * (cell_width + margin)
            top = title_height + row_index * (cell_height + label_height + margin)
            sheet.paste(Image.fromarray(row["image"]), (left, top))
            content = ",".join(short_layer(name) for name in row["content_layers"].split())
            draw.text((left, top + cell_height + 2), f"{network} / {layer_set} (content {content})",
                      fill="black", font=font)
            draw.text((left, top + cell_height + 15), f"judge vgg19-paper {row['vgg19-paper_total']:.3g}",
                      fill="dimgray", font=font)
    return sheet


def parse_names(text: str, known: Sequence[str], what: str) -> list[str]:
    """'a,b' -> ['a', 'b'], refusing names not in `known`."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(unknown) or '(none)'}; choose from {', '.join(known)}"
        )
    return names


def build_parser() -> argparse.ArgumentParser:
    layer_help = "\n".join(f"  {name:<16} {layer_set.description}" for name, layer_set in LAYER_SETS.items())
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"layer sets (mapped to each network's own layer names):\n{layer_help}",
    )
    parser.add_argument("--content", default=str(REPO_ROOT / "examples" / "content.jpg"),
                        help="content image (default: examples/content.jpg)")
    parser.add_argument("--style", default=str(REPO_ROOT / "examples" / "style.jpg"),
                        help="style image (default: examples/style.jpg)")
    parser.add_argument("--size", type=int, default=256, help="longest side of the output in pixels (default 256)")
    parser.add_argument("--iterations", type=int, default=60,
                        help="L-BFGS evaluation budget per cell, the same for every cell (default 60)")
    parser.add_argument("--seed", type=int, default=0, help="random seed, the same for every cell (default 0)")
    parser.add_argument("--networks", default=",".join(NETWORKS),
                        type=lambda text: parse_names(text, NETWORKS, "network"),
                        help="comma-separated networks, the sheet's columns (default vgg16,vgg19)")
    parser.add_argument("--layer-sets", default=",".join(LAYER_SETS),
                        type=lambda text: parse_names(text, list(LAYER_SETS), "layer set"),
                        help=f"comma-separated layer sets, the sheet's rows (default all: {','.join(LAYER_SETS)})")
    parser.add_argument("--output-dir", type=Path, default=REPO_ROOT / "outputs" / "compare_layers",
                        help="folder for sheet.png, results.csv, results.md and the cell images "
                             "(default outputs/compare_layers)")
    parser.add_argument("--weights", default="imagenet", choices=("imagenet", "none"),
                        help="'imagenet' (default): Keras's VGG16/VGG19 ImageNet weights, taken from "
                             "$KERAS_STYLE_WEIGHTS_DIR when set (both networks and both judges need them); "
                             "'none': random weights, for checking the script only")
    parser.add_argument("--in-process", action="store_true",
                        help="run the cells one after another in this process instead of a fresh process each: "
                             "quicker (TensorFlow and each network load once), but no peak memory per cell "
                             "(peak_rss_mib is left empty) and later cells' wall times skip what earlier ones loaded")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("size", "iterations"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be a positive integer")
    for name in ("content", "style"):
        path = Path(getattr(args, name)).expanduser()
        if not path.is_file():
            parser.error(f"--{name} {path} is not a file")
        setattr(args, name, str(path.resolve()))
    output_dir = args.output_dir.expanduser().resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    cells = [
        Cell(layer_set, network, args.content, args.style, args.size, args.iterations, args.seed, args.weights)
        for layer_set in args.layer_sets for network in args.networks
    ]
    started = time.perf_counter()
    rows = run_grid(cells, in_process=args.in_process)
    from PIL import Image

    for row in rows:
        Image.fromarray(row["image"]).save(output_dir / f"{row['layer_set']}_{row['network']}.png")
    write_csv(rows, output_dir / "results.csv")
    (output_dir / "results.md").write_text(markdown_table(rows))
    title = (f"{Path(args.content).name} in the style of {Path(args.style).name}: {args.size} px, "
             f"{args.iterations} L-BFGS evaluations, seed {args.seed}")
    contact_sheet(rows, args.layer_sets, args.networks, title).save(output_dir / "sheet.png")
    print(f"{len(rows)} runs in {time.perf_counter() - started:.0f} s -> {output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
