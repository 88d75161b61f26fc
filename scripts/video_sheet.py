"""An animated side-by-side of stylized clips: the input clip and each folder of stylized frames (frame_00001.png ...,
as `keras-style video` and benchmarks/video.py write them), one column each, with a label above, as a looping
animated WebP (.webp) or GIF.

    python scripts/video_sheet.py examples/demo_clip.mp4 examples/demo_clip_stylized.webp \\
        --column independent=outputs/video_benchmark_192/demo/independent \\
        --column "temporal loss=outputs/video_benchmark_192/demo/temporal_3e+11"
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LABEL_HEIGHT = 16
WEBP_QUALITY = 70


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", type=Path, help="the input clip (a video file or a folder of frames)")
    parser.add_argument("output", type=Path, help="the animation to write: .webp or .gif")
    parser.add_argument("--column", action="append", default=[], metavar="LABEL=FOLDER",
                        help="a folder of stylized frames and its label (repeat for each column)")
    parser.add_argument("--scale", type=float, default=1.0, help="resize every column by this factor")
    parser.add_argument("--frames", type=int, default=None, help="at most this many frames (default: all)")
    args = parser.parse_args(argv)
    if not args.column:
        parser.error("give at least one --column LABEL=FOLDER")

    from keras_style.files.video import FRAME_NAME, open_clip

    columns = [(label, Path(folder)) for label, _, folder in (column.partition("=") for column in args.column)]
    clip = open_clip(args.clip)
    count = min(len(list(folder.glob("frame_*.png"))) for _, folder in columns)
    count = min(count, args.frames) if args.frames else count
    sheets = []
    for index, source in zip(range(count), clip.iter_frames()):
        pictures = [Image.open(folder / FRAME_NAME.format(index + 1)).convert("RGB") for _, folder in columns]
        width, height = (round(side * args.scale) for side in pictures[0].size)
        cells = [Image.fromarray(source).resize((width, height), Image.Resampling.LANCZOS)]
        cells += [picture.resize((width, height), Image.Resampling.NEAREST) for picture in pictures]
        sheet = Image.new("RGB", (width * len(cells), height + LABEL_HEIGHT), "white")
        draw = ImageDraw.Draw(sheet)
        for position, (cell, label) in enumerate(zip(cells, ["input", *(label for label, _ in columns)])):
            sheet.paste(cell, (position * width, LABEL_HEIGHT))
            draw.text((position * width + 4, 2), label, fill="black")
        sheets.append(sheet)
    milliseconds = round(1000 / float(clip.fps))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if args.output.suffix.lower() == ".webp":  # an animated WebP: a third of the GIF's bytes, full colour
        sheets[0].save(args.output, save_all=True, append_images=sheets[1:], duration=milliseconds, loop=0,
                       quality=WEBP_QUALITY, method=6)
    else:
        palette = [sheet.quantize(256, method=Image.Quantize.MEDIANCUT) for sheet in sheets]
        palette[0].save(args.output, save_all=True, append_images=palette[1:], duration=milliseconds, loop=0,
                        optimize=True)
    print(f"wrote {args.output}: {len(sheets)} frames, {np.prod(sheets[0].size)} px each")
    return 0


if __name__ == "__main__":
    sys.exit(main())
