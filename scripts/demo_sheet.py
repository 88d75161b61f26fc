#!/usr/bin/env python3
"""Put content, style and result side by side with labels: python scripts/demo_sheet.py RESULT SHEET.

python scripts/demo_sheet.py --compare SHEET runs the demo pair with the paper's preset (gatys) and the default
(painterly), same seed, 256 px, 300 evaluations each, and puts both beside the inputs (the README's quality sheet).

python scripts/demo_sheet.py --sizes SHEET [SMALL LARGE] puts the demo pair made with the default at 256 and at
2048 px (`keras-style examples/content.jpg examples/style.jpg OUT --size 2048`, nothing else) side by side at one
display size, so the look can be compared; without SMALL and LARGE it makes both first (the 2048-px one takes the
better part of an hour on a 2-core CPU).
"""
from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent


def sheet(paths: list[Path], labels: list[str], height: int = 256) -> Image.Image:
    tiles = []
    for path in paths:
        picture = Image.open(path).convert("RGB")
        tiles.append(picture.resize((round(picture.width * height / picture.height), height), Image.LANCZOS))
    gap, caption = 6, 18
    canvas = Image.new("RGB", (sum(t.width for t in tiles) + gap * (len(tiles) - 1), height + caption), "white")
    draw = ImageDraw.Draw(canvas)
    x = 0
    for tile, label in zip(tiles, labels):
        canvas.paste(tile, (x, caption))
        draw.text((x + 4, 3), label, fill=(0, 0, 0))
        x += tile.width + gap
    return canvas


COMPARED = ("gatys", "painterly")
COMPARE_OPTIONS = dict(size=256, iterations=300, seed=1)


def compare(target: Path) -> None:
    """The demo pair through each preset of COMPARED, side by side."""
    import tempfile

    from PIL import Image

    import keras_style

    content, style = ROOT / "examples" / "content.jpg", ROOT / "examples" / "style.jpg"
    with tempfile.TemporaryDirectory() as folder:
        results = []
        for preset in COMPARED:
            path = Path(folder) / f"{preset}.png"
            Image.fromarray(keras_style.stylize(str(content), str(style), preset=preset, **COMPARE_OPTIONS)).save(path)
            results.append(path)
        labels = ["content", "style", *(f"--preset {preset}" for preset in COMPARED)]
        sheet([content, style, *results], labels).save(target, quality=90)


SIZES = (256, 2048)


def sizes(target: Path, results: list[Path] | None = None) -> None:
    """The default at each of SIZES, side by side at one height (the larger shown smaller, the smaller larger)."""
    import tempfile

    import keras_style

    content, style = ROOT / "examples" / "content.jpg", ROOT / "examples" / "style.jpg"
    with tempfile.TemporaryDirectory() as folder:
        if not results:
            results = []
            for size in SIZES:
                path = Path(folder) / f"{size}.png"
                Image.fromarray(keras_style.stylize(str(content), str(style), size=size)).save(path)
                results.append(path)
        labels = [f"--size {size} ({Image.open(path).width}x{Image.open(path).height} px)"
                  for size, path in zip(SIZES, results)]
        sheet(list(results), labels, height=384).save(target, quality=90)


if __name__ == "__main__":
    if sys.argv[1] == "--sizes":
        sizes(Path(sys.argv[2]), [Path(each) for each in sys.argv[3:5]])
        print(f"wrote {sys.argv[2]}")
        sys.exit(0)
    if sys.argv[1] == "--compare":
        compare(Path(sys.argv[2]))
        print(f"wrote {sys.argv[2]}")
        sys.exit(0)
    result, target = Path(sys.argv[1]), Path(sys.argv[2])
    sheet([ROOT / "examples" / "content.jpg", ROOT / "examples" / "style.jpg", result],
          ["content (examples/content.jpg)", "style (examples/style.jpg)", "make demo"]).save(target, quality=90)
    print(f"wrote {target}")
