"""How far a judge moves when a finished picture moves: each fixed judge's style loss of a stylized image shifted by
a few whole pixels (the edge pixels repeated into the gap, as the video carry does), its content shifted with it.

    python benchmarks/judge_shift.py outputs/video_benchmark_256/demo/independent/frame_00001.png \\
        --content examples/demo_clip.mp4 --style examples/style.jpg

A whole-pixel shift changes nothing a person sees. A judge that rises far under it scores how exactly the picture
sits in the optimised network's own minimum, not how much it looks like the painting: that is what a video, whose
frames move, cannot keep, and why benchmarks/video.py reports a second network's judgement beside it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHIFTS = (0, 1, 2, 3, 4)  # a frame-to-frame motion; wider shifts add a band of repeated edge pixels


def shifted(image: np.ndarray, pixels: int) -> np.ndarray:
    """`image` moved `pixels` to the right, its left edge column repeated into the gap."""
    if pixels == 0:
        return image
    return np.concatenate([np.repeat(image[:, :1], pixels, axis=1), image[:, :-pixels]], axis=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image", type=Path, help="a stylized picture (PNG)")
    parser.add_argument("--content", type=Path, required=True,
                        help="its content: an image, or a video whose first frame it is")
    parser.add_argument("--style", type=Path, required=True, help="its painting")
    args = parser.parse_args(argv)

    from keras_style.files.images import load_image, resize, to_array
    from keras_style.files.video import VIDEO_SUFFIXES, open_clip
    from keras_style.run.judge import JUDGES, judge

    picture = to_array(load_image(args.image)).astype(np.uint8)
    height, width = picture.shape[:2]
    if args.content.suffix.lower() in VIDEO_SUFFIXES:
        content_source = next(iter(open_clip(args.content).iter_frames()))
    else:
        content_source = args.content
    content = to_array(resize(load_image(content_source), width, height, "content")).astype(np.uint8)
    print(f"judged style of {args.image} shifted right by whole pixels (x the unshifted score)")
    print("| judge | " + " | ".join(f"{pixels} px" for pixels in SHIFTS) + " |")
    print("| --- |" + " ---: |" * len(SHIFTS))
    for name in JUDGES:
        scores = [judge(shifted(picture, pixels), shifted(content, pixels), args.style, name=name)["style"]
                  for pixels in SHIFTS]
        print(f"| {name} | " + " | ".join(f"{score:.3g} ({score / scores[0]:.2f}x)" for score in scores) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
