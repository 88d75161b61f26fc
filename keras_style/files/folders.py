"""Folders of images: which files a folder given as input contributes, and in which order (natural: frame2 before
frame10), for the batch's CONTENT and --styles and for a video given as a folder of frames."""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from keras_style.errors import UserError

# What a folder given as CONTENT or --styles contributes: its image files, not its subfolders.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif")


def natural_key(path: Path) -> list:
    """frame2 before frame10: digits compare as numbers."""
    # isdecimal, not isdigit: "²" is a digit that int() refuses
    return [int(part) if part.isdecimal() else part.lower() for part in re.split(r"(\d+)", path.name)]


def expand(paths: Sequence[str], what: str, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> list[Path]:
    """Files as given, folders as their files with `suffixes` (image files) in natural order (the frame order of
    --sequence)."""
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            images = sorted((child for child in path.iterdir() if child.is_file() and not child.name.startswith(".")
                             and child.suffix.lower() in suffixes), key=natural_key)
            if not images:
                raise UserError(f"{what} folder {given!r} holds no image files ({', '.join(suffixes)})")
            found.extend(images)
        elif path.exists():
            found.append(path)
        else:
            raise UserError(f"{what} {given!r} does not exist")
    return found
