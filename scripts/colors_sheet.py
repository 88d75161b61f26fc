#!/usr/bin/env python3
"""The README's "Original colours" picture: the demo pair stylized with each --preserve-colors mode, side by side.

    python scripts/colors_sheet.py [SHEET]          # default examples/colors_sheet.jpg

Needs the VGG19 weights (KERAS_STYLE_WEIGHTS_DIR or Keras's cache/download); 192 px, 150 evaluations per panel.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demo_sheet import sheet  # noqa: E402

import keras_style  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONTENT, STYLE = ROOT / "examples" / "content.jpg", ROOT / "examples" / "style.jpg"
MODES = ("none", "luminance", "luminance-only", "histogram")


def main(target: Path, size: int = 192, iterations: int = 150) -> None:
    with tempfile.TemporaryDirectory() as folder:
        panels = []
        for mode in MODES:
            image = keras_style.stylize(CONTENT, STYLE, size=size, iterations=iterations, seed=0, preserve_colors=mode)
            panels.append(Path(folder) / f"{mode}.png")
            Image.fromarray(image).save(panels[-1])
        picture = sheet([CONTENT, STYLE, *panels], ["content", "style", *(f"--preserve-colors {m}" for m in MODES)],
                        height=size)
    picture.save(target, quality=85, optimize=True)
    print(f"wrote {target} ({target.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "examples" / "colors_sheet.jpg")
