"""Loading and sizing the inputs of a run: the content, the style and the starting image, each loaded once."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from PIL import Image

from .colors import luminance_only, match_color_statistics
from .images import ImageSource, initial_image, load_image, resize, style_size, target_size, to_array
from .memory import check_memory
from .settings import Settings


@dataclass(frozen=True)
class Inputs:
    """The content and style as loaded, before any resizing (loaded once, sized once per scale)."""

    content: Image.Image
    style: Image.Image


class SizedImages(NamedTuple):
    """Content, style and starting image at one scale, as RGB float arrays (H, W, 3) in 0..255."""

    content: np.ndarray
    style: np.ndarray
    start: np.ndarray


@dataclass(frozen=True)
class Prepared:
    """What a run starts from: the inputs as loaded, and their images at the output size (checked: big enough,
    and within the memory estimate)."""

    inputs: Inputs
    final: SizedImages


def load_inputs(content: ImageSource, style: ImageSource) -> Inputs:
    return Inputs(load_image(content, "content image"), load_image(style, "style image"))


def sized_images(inputs: Inputs, settings: Settings, size: int | None = None) -> SizedImages:
    """Content, style and initial image at `size` (default settings.size), recoloured as --preserve-colors says
    (histogram: the style gets the content's colour statistics; luminance-only: all three become grey). The memory
    estimate is checked before any large array exists."""
    content_image, style_image = inputs.content, inputs.style
    width, height = target_size(content_image.width, content_image.height, size or settings.size, settings.resize)
    check_memory(settings, width, height)
    content_rgb = to_array(resize(content_image, width, height, "content image"))
    if settings.mode == "concat":
        style_width, style_height = width, height  # the articles stretch the style to the content's size
    else:
        style_width, style_height = style_size(style_image, (width, height), settings.style_scale)
    recolor = match_color_statistics if settings.preserve_colors == "histogram" else lambda style, _content: style
    style_rgb = recolor(to_array(resize(style_image, style_width, style_height, "style image")), content_rgb)
    rng = np.random.default_rng(settings.seed)
    start_rgb = initial_image(
        settings.init, content_rgb,
        lambda: recolor(to_array(resize(style_image, width, height, "style image")), content_rgb), rng
    )
    if settings.preserve_colors == "luminance-only":  # the network sees grey images; transfer adds colour back
        return SizedImages(*luminance_only(content_rgb, style_rgb, start_rgb))
    return SizedImages(content_rgb, style_rgb, start_rgb)


def prepare(content: ImageSource, style: ImageSource, settings: Settings) -> Prepared:
    """Load the inputs and size them for the output: every input problem surfaces here, before TensorFlow loads."""
    inputs = load_inputs(content, style)
    return Prepared(inputs, sized_images(inputs, settings))
