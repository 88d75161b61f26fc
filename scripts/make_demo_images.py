#!/usr/bin/env python3
"""Draw the bundled demo images (examples/content.jpg, examples/style.jpg, examples/style2.jpg) from code, so the
project owns them.

content: a small village by a river under a sky; style: a painting-like field of swirling, coloured brush strokes;
style2: a second painting for the several-styles picture, warm angular facets hatched with straight strokes.
Deterministic: the same files every run (seeded). Run: python scripts/make_demo_images.py
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def draw_content(width: int = 384, height: int = 288) -> Image.Image:
    rng = np.random.default_rng(7)
    y = np.linspace(0, 1, height)[:, None, None]
    sky = (1 - y) * np.array([110, 160, 225]) + y * np.array([230, 225, 210])
    image = Image.fromarray(np.broadcast_to(sky, (height, width, 3)).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.ellipse((290, 30, 340, 80), fill=(255, 236, 170))  # sun
    hills = [(0, 190)] + [(x, 170 - 25 * math.sin(x / 55) - 10 * math.cos(x / 23)) for x in range(0, width + 1, 8)]
    draw.polygon(hills + [(width, 190)], fill=(70, 120, 70))
    draw.rectangle((0, 185, width, 215), fill=(95, 140, 80))
    x = 20
    while x < width - 40:  # houses along the bank
        w = int(rng.integers(38, 58))
        h = int(rng.integers(45, 80))
        wall = tuple(int(c) for c in rng.integers(150, 250, 3))
        draw.rectangle((x, 200 - h, x + w, 200), fill=wall, outline=(60, 50, 40))
        draw.polygon([(x - 4, 200 - h), (x + w / 2, 200 - h - 30), (x + w + 4, 200 - h)], fill=(150, 60, 45))
        for wx in range(x + 6, x + w - 8, 14):
            for wy in range(200 - h + 8, 190, 18):
                draw.rectangle((wx, wy, wx + 7, wy + 9), fill=(60, 70, 90))
        x += w + int(rng.integers(4, 14))
    water = np.asarray(image.crop((0, 140, width, 200)).transpose(Image.Transpose.FLIP_TOP_BOTTOM), dtype=np.float32)
    water = water * 0.55 + np.array([20, 50, 90]) * 0.45
    image.paste(Image.fromarray(water.astype(np.uint8)).resize((width, height - 215)), (0, 215))
    return image


def draw_style(width: int = 320, height: int = 320) -> Image.Image:
    rng = np.random.default_rng(11)
    image = Image.new("RGB", (width, height), (20, 30, 70))
    draw = ImageDraw.Draw(image)
    palette = [(30, 60, 140), (50, 100, 190), (240, 200, 60), (250, 240, 170), (20, 40, 90), (90, 150, 210)]
    centres = rng.uniform(0, width, size=(7, 2))
    for _ in range(1800):  # short curved strokes following swirls around a few centres
        px, py = rng.uniform(0, width), rng.uniform(0, height)
        cx, cy = centres[rng.integers(len(centres))]
        angle = math.atan2(py - cy, px - cx) + math.pi / 2
        length = rng.uniform(12, 30)
        colour = palette[rng.integers(len(palette))]
        points = []
        for step in range(8):
            bend = angle + 0.12 * step
            points.append((px + math.cos(bend) * length * step / 7, py + math.sin(bend) * length * step / 7))
        draw.line(points, fill=colour, width=int(rng.integers(2, 5)))
    for cx, cy in centres[:3]:  # bright stars
        draw.ellipse((cx - 12, cy - 12, cx + 12, cy + 12), outline=(255, 230, 120), width=4)
    return image.filter(ImageFilter.SMOOTH)


def draw_style2(width: int = 320, height: int = 320) -> Image.Image:
    rng = np.random.default_rng(23)
    image = Image.new("RGB", (width, height), (120, 40, 30))
    draw = ImageDraw.Draw(image)
    palette = [(200, 70, 40), (230, 140, 50), (240, 200, 120), (150, 40, 60), (90, 30, 40), (60, 110, 90)]
    for _ in range(90):  # overlapping angular facets with dark outlines
        cx, cy = rng.uniform(-20, width + 20), rng.uniform(-20, height + 20)
        corners = int(rng.integers(3, 6))
        angles = np.sort(rng.uniform(0, 2 * math.pi, corners))
        radii = rng.uniform(20, 60, corners)
        points = [(cx + r * math.cos(a), cy + r * math.sin(a)) for a, r in zip(angles, radii)]
        draw.polygon(points, fill=palette[rng.integers(len(palette))], outline=(40, 20, 20), width=3)
    for _ in range(700):  # straight hatching strokes in two directions
        px, py = rng.uniform(0, width), rng.uniform(0, height)
        angle = math.pi / 4 if rng.random() < 0.5 else -math.pi / 6
        length = rng.uniform(8, 22)
        colour = palette[rng.integers(len(palette))]
        draw.line((px, py, px + math.cos(angle) * length, py + math.sin(angle) * length), fill=colour,
                  width=int(rng.integers(1, 4)))
    return image.filter(ImageFilter.SMOOTH)


def main() -> None:
    EXAMPLES.mkdir(exist_ok=True)
    draw_content().save(EXAMPLES / "content.jpg", quality=92)
    draw_style().save(EXAMPLES / "style.jpg", quality=92)
    draw_style2().save(EXAMPLES / "style2.jpg", quality=92)
    print(f"wrote {EXAMPLES / 'content.jpg'}, {EXAMPLES / 'style.jpg'} and {EXAMPLES / 'style2.jpg'}")


if __name__ == "__main__":
    main()
