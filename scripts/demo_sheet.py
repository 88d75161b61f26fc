#!/usr/bin/env python3
"""Put content, style and result side by side with labels: python scripts/demo_sheet.py RESULT SHEET."""
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


if __name__ == "__main__":
    result, target = Path(sys.argv[1]), Path(sys.argv[2])
    sheet([ROOT / "examples" / "content.jpg", ROOT / "examples" / "style.jpg", result],
          ["content (examples/content.jpg)", "style (examples/style.jpg)", "make demo"]).save(target, quality=90)
    print(f"wrote {target}")
