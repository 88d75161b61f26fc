"""Command-line options the benchmark scripts share: the image pair and the size."""
from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def add_image_arguments(parser: argparse.ArgumentParser, size: int, size_help: str) -> None:
    """--content and --style (default: the bundled demo pair) and --size."""
    parser.add_argument("--content", default=str(ROOT / "examples" / "content.jpg"), help="content image")
    parser.add_argument("--style", default=str(ROOT / "examples" / "style.jpg"), help="style image")
    parser.add_argument("--size", type=int, default=size, help=size_help)
