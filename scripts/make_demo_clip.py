#!/usr/bin/env python3
"""Draw the bundled demo clip (examples/demo_clip.mp4) from code, so the project owns it, as make_demo_images.py
does for the demo images.

A camera pans slowly across a landscape (a sky gradient, hills, houses, trees, clouds and a striped field: texture
for optical flow to track) while a striped ball rolls and hops to the right and a car drives to the left in front
of it: the two pass each other, so parts of the scene are covered and uncovered (occlusions and disocclusions).
Deterministic: the same frames every run (seeded). Needs the video extra (PyAV).
Run: python scripts/make_demo_clip.py [--frames 48 --fps 12 --width 192 --height 128 --output ...]
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from keras_style.errors import UserError
from keras_style.files.video import check_clip_output, encode_clip

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# The camera's pan, the ball's and the car's speeds, in pixels per frame at the default 192 px width.
PAN_SPEED, BALL_SPEED, CAR_SPEED = 1.25, 4.0, 3.0


def draw_landscape(width: int, height: int, seed: int = 5) -> Image.Image:
    """The background, wider than a frame so the camera can pan across it."""
    rng = np.random.default_rng(seed)
    horizon = round(height * 0.62)
    y = np.linspace(0, 1, horizon)[:, None, None]
    x = np.linspace(0, 1, width)[None, :, None]
    sky = (1 - y) * np.array([80, 135, 215]) + y * np.array([225, 220, 200]) + 15 * x * np.array([1, 0.4, -0.6])
    ground_y = np.linspace(0, 1, height - horizon)[:, None, None]
    ground = (1 - ground_y) * np.array([110, 150, 70]) + ground_y * np.array([60, 105, 45])
    pixels = np.concatenate([np.broadcast_to(sky, (horizon, width, 3)),
                             np.broadcast_to(ground, (height - horizon, width, 3))])
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(width // 60):  # clouds: a few overlapping ellipses
        cx, cy = rng.uniform(0, width), rng.uniform(height * 0.08, height * 0.3)
        for _ in range(4):
            dx, dy, r = rng.uniform(-14, 14), rng.uniform(-3, 3), rng.uniform(6, 11)
            draw.ellipse((cx + dx - r * 1.6, cy + dy - r, cx + dx + r * 1.6, cy + dy + r), fill=(245, 245, 250))
    hills = [(x, horizon - 14 - 10 * math.sin(x / 37) - 6 * math.cos(x / 13)) for x in range(0, width + 1, 4)]
    draw.polygon([(0, horizon)] + hills + [(width, horizon)], fill=(80, 125, 85))
    x = 4
    while x < width - 20:  # houses and trees along the horizon
        if rng.random() < 0.55:
            w, h = int(rng.integers(16, 26)), int(rng.integers(14, 24))
            wall = tuple(int(c) for c in rng.integers(150, 245, 3))
            draw.rectangle((x, horizon - h, x + w, horizon + 2), fill=wall, outline=(60, 50, 40))
            draw.polygon([(x - 3, horizon - h), (x + w / 2, horizon - h - 12), (x + w + 3, horizon - h)],
                         fill=(150, 60, 45))
            for wx in range(x + 4, x + w - 4, 8):
                draw.rectangle((wx, horizon - h + 5, wx + 4, horizon - h + 10), fill=(55, 65, 90))
            x += w + int(rng.integers(3, 9))
        else:
            r = int(rng.integers(6, 10))
            draw.rectangle((x + r - 2, horizon - r, x + r + 2, horizon + 2), fill=(90, 60, 35))
            draw.ellipse((x, horizon - 3 * r, x + 2 * r, horizon - r + 2), fill=(40, 100 + int(rng.integers(40)), 50))
            x += 2 * r + int(rng.integers(3, 9))
    for row in range(horizon + 6, height, 7):  # furrows of the field
        draw.line((0, row, width, row + 2), fill=(75, 115, 45), width=2)
    flowers = [(250, 240, 120), (240, 130, 170), (250, 250, 250), (200, 90, 60)]
    for _ in range(width // 2):  # flowers in the field: small features for the flow to follow near the objects
        fx, fy = rng.uniform(0, width), rng.uniform(horizon + 4, height)
        draw.ellipse((fx - 1.5, fy - 1.5, fx + 1.5, fy + 1.5), fill=flowers[rng.integers(len(flowers))])
    return image.filter(ImageFilter.SMOOTH)


def draw_ball(radius: int) -> Image.Image:
    """A red ball with white stripes (RGBA), turned as it rolls."""
    size = 2 * radius + 1
    ball = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(ball)
    draw.ellipse((0, 0, size - 1, size - 1), fill=(205, 40, 40, 255), outline=(90, 20, 20, 255))
    for offset in (-radius // 2, radius // 2):
        draw.line((radius + offset, 1, radius + offset, size - 2), fill=(250, 250, 240, 255), width=3)
    draw.ellipse((radius - 3, radius - 3, radius + 3, radius + 3), fill=(250, 220, 60, 255))
    return ball


def draw_car(width: int, height: int, turn: float) -> Image.Image:
    """A blue car (RGBA) facing left, its wheels' spokes turned by `turn` radians."""
    car = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(car)
    body_top, body_bottom = height * 0.35, height * 0.8
    draw.rounded_rectangle((0, body_top, width - 1, body_bottom), radius=4, fill=(40, 80, 180, 255),
                           outline=(20, 30, 70, 255))
    draw.polygon([(width * 0.2, body_top), (width * 0.32, 1), (width * 0.75, 1), (width * 0.88, body_top)],
                 fill=(40, 80, 180, 255), outline=(20, 30, 70, 255))
    draw.polygon([(width * 0.27, body_top), (width * 0.35, 4), (width * 0.52, 4), (width * 0.52, body_top)],
                 fill=(190, 225, 245, 255))
    draw.polygon([(width * 0.56, body_top), (width * 0.56, 4), (width * 0.72, 4), (width * 0.82, body_top)],
                 fill=(190, 225, 245, 255))
    draw.rectangle((0, height * 0.45, 4, height * 0.55), fill=(255, 240, 150, 255))  # headlight
    radius = height * 0.2
    for centre_x in (width * 0.22, width * 0.78):
        centre_y = height - radius - 1
        draw.ellipse((centre_x - radius, centre_y - radius, centre_x + radius, centre_y + radius),
                     fill=(30, 30, 30, 255))
        for spoke in range(3):
            angle = turn + spoke * math.pi / 3
            dx, dy = math.cos(angle) * radius * 0.8, math.sin(angle) * radius * 0.8
            draw.line((centre_x - dx, centre_y - dy, centre_x + dx, centre_y + dy), fill=(200, 200, 200, 255))
    return car


def frames(count: int, width: int, height: int) -> Iterator[np.ndarray]:
    """The clip, one RGB uint8 frame at a time."""
    scale = width / 192  # speeds and sizes are given for a 192 px wide frame
    pan = PAN_SPEED * scale
    landscape = draw_landscape(width + math.ceil(pan * count) + 2, height)
    ground = height * 0.62
    radius = max(4, round(9 * scale))
    ball = draw_ball(radius)
    car_width, car_height = round(60 * scale), round(30 * scale)
    for index in range(count):
        camera = pan * index  # sub-pixel: the landscape is resampled, not shifted by whole pixels
        frame = landscape.transform((width, height), Image.Transform.AFFINE, (1, 0, camera, 0, 1, 0),
                                    resample=Image.Resampling.BICUBIC)
        ball_x = -radius + BALL_SPEED * scale * index
        hop = abs(math.sin(index * math.pi / 10)) * 14 * scale  # hops of ten frames
        ball_y = ground + 0.22 * height - radius - hop
        turned = ball.rotate(-math.degrees(BALL_SPEED * scale * index / radius), resample=Image.Resampling.BICUBIC)
        frame.paste(turned, (round(ball_x - radius), round(ball_y - radius)), turned)
        car_x = width - CAR_SPEED * scale * index
        car = draw_car(car_width, car_height, turn=-CAR_SPEED * scale * index / (car_height * 0.2))
        frame.paste(car, (round(car_x), round(height - car_height - 4 * scale)), car)  # in front of the ball
        yield np.asarray(frame)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=EXAMPLES / "demo_clip.mp4",
                        help="a video file (.mp4, .webm, .gif, ...) or a folder for PNG frames (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=48, help="number of frames (default: %(default)s)")
    parser.add_argument("--fps", type=int, default=12, help="frames per second (default: %(default)s)")
    parser.add_argument("--width", type=int, default=192, help="frame width in pixels (default: %(default)s)")
    parser.add_argument("--height", type=int, default=128, help="frame height in pixels (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.frames < 1 or args.fps < 1 or args.width < 32 or args.height < 32:
        parser.error("--frames and --fps must be at least 1, --width and --height at least 32")
    try:
        check_clip_output(args.output, force=True)
        encode_clip(frames(args.frames, args.width, args.height), args.output, Fraction(args.fps))
    except UserError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    print(f"wrote {args.output} ({args.frames} frames, {args.width}x{args.height}, {args.fps} fps)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
