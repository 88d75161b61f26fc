#!/usr/bin/env python3
"""The README's pictures of the options that change what is painted where, made from the demo pair:

    python scripts/colors_sheet.py                 # examples/colors_sheet.jpg: each --preserve-colors mode
    python scripts/colors_sheet.py --masks         # examples/masks_sheet.jpg: --content-mask and --style-masks

Needs the VGG19 weights (KERAS_STYLE_WEIGHTS_DIR or Keras's cache/download); 192 px, 150 evaluations per panel.
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
MODES = ("none", "luminance", "luminance-only", "histogram")


def colour_panels(folder: Path, size: int, iterations: int) -> tuple[list[Path], list[str]]:
    panels = []
    for mode in MODES:
        image = keras_style.stylize(CONTENT, STYLE, size=size, iterations=iterations, seed=0, preserve_colors=mode)
        panels.append(folder / f"{mode}.png")
        Image.fromarray(image).save(panels[-1])
    return [CONTENT, STYLE, *panels], ["content", "style", *(f"--preserve-colors {mode}" for mode in MODES)]


def mask_panels(folder: Path, size: int, iterations: int) -> tuple[list[Path], list[str]]:
    """A left-to-right ramp as the content mask; the same ramp and its inverse as the masks of two styles (the
    painting, and the photograph itself as a second 'style')."""
    with Image.open(CONTENT) as content:
        width, height = content.size
    ramp = np.tile(np.clip(np.linspace(-0.5, 1.5, width), 0, 1), (height, 1))
    masks = [folder / "ramp.png", folder / "inverse.png"]
    Image.fromarray((ramp * 255).round().astype(np.uint8)).save(masks[0])
    Image.fromarray(((1 - ramp) * 255).round().astype(np.uint8)).save(masks[1])
    common = dict(size=size, iterations=iterations, seed=0)
    results = {
        "content-mask.png": keras_style.stylize(CONTENT, STYLE, content_mask=str(masks[0]), **common),
        "style-masks.png": keras_style.stylize(CONTENT, [STYLE, CONTENT], style_masks=[str(m) for m in masks],
                                               **common),
    }
    for name, image in results.items():
        Image.fromarray(image).save(folder / name)
    return ([CONTENT, STYLE, masks[0], folder / "content-mask.png", folder / "style-masks.png"],
            ["content", "style", "mask (ramp)", "--content-mask ramp", "--style-masks ramp inverse (style, content)"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--masks", action="store_true", help="the masks sheet instead of the colours sheet")
    parser.add_argument("--output", type=Path, help="the sheet (default: examples/colors_sheet.jpg or masks_sheet.jpg)")
    parser.add_argument("--size", type=int, default=192, help="longest side of each panel in px")
    parser.add_argument("--iterations", type=int, default=150, help="evaluations per panel")
    args = parser.parse_args()
    target = args.output or ROOT / "examples" / ("masks_sheet.jpg" if args.masks else "colors_sheet.jpg")
    with tempfile.TemporaryDirectory() as folder:
        panels = (mask_panels if args.masks else colour_panels)(Path(folder), args.size, args.iterations)
        picture = sheet(*panels, height=args.size)
    picture.save(target, quality=85, optimize=True)
    print(f"wrote {target} ({target.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
