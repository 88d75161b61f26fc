#!/usr/bin/env python3
"""Remake every picture the README and the manual (docs/) show, each with the command its caption names:

    python scripts/refresh_pictures.py               # all of them, in order (the video ones take the longest)
    python scripts/refresh_pictures.py --list        # each picture with its commands; runs nothing
    python scripts/refresh_pictures.py --only web_page --only demo_sheet

Needs the VGG weights (KERAS_STYLE_WEIGHTS_DIR or Keras's cache/download), matplotlib for the charts, the web extra
and Debian's chromium for the screenshot, the video extra for the clip; video_flicker's second clip is made from
../shared/images (tubingen.jpg, starry_night.jpg). tests/test_docs.py checks that every picture shown has a recipe
here and that its caption names the recipe's command."""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VIDEO_OUT = "outputs/video_benchmark_256b"
VIDEO_RUN = ("benchmarks/video.py --frames 12 --size 256 --iterations 60 --frame-iterations 30 "
             f"--rows independent warm temporal --out {VIDEO_OUT}")


@dataclass(frozen=True)
class Recipe:
    pictures: tuple[str, ...]  # paths from the repository root
    commands: tuple[str, ...]  # run in order from the root; "python" is this interpreter
    caption: str  # what the picture's caption quotes of its commands (tests/test_docs.py looks for it)


def temporal_folder() -> str:
    from keras_style.config.settings import Settings

    return f"{VIDEO_OUT}/demo/temporal_{Settings.from_options().temporal_weight:g}"


def one_command(picture: str, command: str) -> Recipe:
    """A picture made by one command, which its caption quotes whole."""
    return Recipe((picture,), (command,), command)


def recipes() -> dict[str, Recipe]:
    return {
        "demo_sheet": Recipe(
            ("examples/demo_sheet.jpg",),
            ("python scripts/transfer.py examples/content.jpg examples/style.jpg outputs/demo.png --size 256 "
             "--iterations 150 --force",  # what `make demo` runs
             "python scripts/demo_sheet.py outputs/demo.png examples/demo_sheet.jpg"),
            "python scripts/demo_sheet.py outputs/demo.png examples/demo_sheet.jpg"),
        "sizes_sheet": one_command("examples/sizes_sheet.jpg",
                                   "python scripts/demo_sheet.py --sizes examples/sizes_sheet.jpg"),
        "quality_sheet": one_command("examples/quality_sheet.jpg",
                                     "python scripts/demo_sheet.py --compare examples/quality_sheet.jpg"),
        "styles_sheet": one_command("examples/styles_sheet.jpg", "python scripts/features_sheet.py --styles"),
        "early_stop": one_command("examples/early_stop.png", "python scripts/features_sheet.py --early-stop"),
        "layer_losses": one_command("examples/layer_losses.png", "python scripts/features_sheet.py --layers"),
        "tiles_sheet": one_command("examples/tiles_sheet.jpg", "python scripts/features_sheet.py --tiles"),
        "colors_sheet": one_command("examples/colors_sheet.jpg", "python scripts/colors_sheet.py"),
        "masks_sheet": one_command("examples/masks_sheet.jpg", "python scripts/colors_sheet.py --masks"),
        "web_page": Recipe(
            ("examples/web_page.png",),
            ("KERAS_STYLE_SCREENSHOT=examples/web_page.png python -m pytest -q tests/test_web_browser.py "
             "-k upload_to_download",),
            "KERAS_STYLE_SCREENSHOT=examples/web_page.png"),
        "video_flicker": Recipe(("examples/video_flicker.png",),
                                (f"python {VIDEO_RUN} --temporal-weights 1e11 5e10 3e10 "
                                 "--plot examples/video_flicker.png",),
                                "--plot examples/video_flicker.png"),
        "demo_clip_stylized": Recipe(
            ("examples/demo_clip_stylized.webp",),
            (f"python {VIDEO_RUN} --clips demo --resume",
             "python scripts/video_sheet.py examples/demo_clip.mp4 examples/demo_clip_stylized.webp --scale 0.75 "
             f"--frames 8 --column independent={VIDEO_OUT}/demo/independent "
             f"--column 'warm start={VIDEO_OUT}/demo/warm' --column 'temporal loss={temporal_folder()}'"),
            "python scripts/video_sheet.py examples/demo_clip.mp4 examples/demo_clip_stylized.webp"),
    }


def run(command: str) -> None:
    """One recipe command: leading NAME=value words go to the environment, "python" is this interpreter."""
    words = shlex.split(command)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    while "=" in words[0]:
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    if words[0] == "python":
        words[0] = sys.executable
    print(f"$ {command}", flush=True)
    subprocess.run(words, cwd=ROOT, env=env, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="print each picture and its commands; run nothing")
    parser.add_argument("--only", action="append", metavar="NAME", help="remake only this recipe (repeatable)")
    args = parser.parse_args(argv)
    book = recipes()
    unknown = sorted(set(args.only or ()) - set(book))
    if unknown:
        parser.error(f"unknown picture {', '.join(unknown)}: one of {', '.join(book)}")
    chosen = {name: book[name] for name in (args.only or book)}
    if args.list:
        for name, recipe in chosen.items():
            print(f"{name}: {' '.join(recipe.pictures)}")
            for command in recipe.commands:
                print(f"    {command}")
        return 0
    (ROOT / "outputs").mkdir(exist_ok=True)
    for name, recipe in chosen.items():
        print(f"== {name}: {' '.join(recipe.pictures)}", flush=True)
        for command in recipe.commands:
            run(command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
