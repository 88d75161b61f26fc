"""Loading and sizing the inputs of a run: the content, the style and the starting image, each loaded once."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
from PIL import Image

from keras_style.config.choices import MIN_REGION_PIXELS, MODES
from keras_style.config.settings import Settings
from keras_style.engine.spec import octave_levels
from keras_style.errors import UserError
from keras_style.files.colors import luminance, luminance_only, match_color_statistics
from keras_style.files.images import ImageSource, initial_image, load_image, resize, style_size, target_size, to_array
from keras_style.files.weights import resolve_weights
from keras_style.run.memory import check_tile_size, tile_size_for
from keras_style.run.plan import checked_plan, scale_plan


@dataclass(frozen=True)
class Inputs:
    """The content and the style images as loaded, before any resizing (loaded once, sized once per scale)."""

    content: Image.Image
    styles: tuple[Image.Image, ...]
    content_mask: Image.Image | None = None
    style_masks: tuple[Image.Image, ...] = ()


class SizedImages(NamedTuple):
    """Content, styles (each at its own size and aspect ratio) and starting image at one scale, as RGB float
    arrays (H, W, 3) in 0..255."""

    content: np.ndarray
    styles: tuple[np.ndarray, ...]
    start: np.ndarray
    # (H, W) weights in 0..1: one region per style mask (times the content mask), or the content mask alone
    masks: tuple[np.ndarray, ...] = ()
    tile: int | None = None  # --tile-size: this scale is optimised in tiles of this size (tiling.py); None: whole
    # a video frame after the first: the previous frame's output warped to this one (RGB, 0..255) and where the warp
    # can be trusted ((H, W), 1 or 0): the temporal term's target (run/video.py)
    previous: tuple[np.ndarray, np.ndarray] | None = None
    # the content in colour at this size (with --preserve-colors luminance-only `content` is grey): what the result's
    # colours and the content mask's blend come from, and a video frame's optical flow
    photo: np.ndarray | None = None
    # --scale-start detail: the content's luminance (H, W) less that of the previous scale's content resized to this
    # size, which the scale adds to its upsampled start (None: the first scale, or --scale-start upsampled)
    detail: np.ndarray | None = None

    @property
    def style(self) -> np.ndarray:
        """The first (or only) style."""
        return self.styles[0]


@dataclass(frozen=True)
class Prepared:
    """What a run starts from, every input problem checked: the inputs as loaded, their images at each scale of
    the schedule (coarse to fine, the last at the output size; each within the memory estimate, or tiled), each
    scale's evaluations (plan.scale_plan) and each style's share of the style targets (the validated blend)."""

    inputs: Inputs
    scales: tuple[SizedImages, ...]
    evaluations: tuple[int, ...]
    shares: tuple[float, ...] = (1.0,)

    @property
    def final(self) -> SizedImages:
        """The images at the output size."""
        return self.scales[-1]

    def with_final(self, final: SizedImages) -> Prepared:
        """The same inputs with other images at the output size (a video frame's carried start, a warm start)."""
        return replace(self, scales=(*self.scales[:-1], final))


def load_inputs(content: ImageSource, style: ImageSource | Sequence[ImageSource],
                settings: Settings | None = None) -> Inputs:
    """Load the content and one style, or several given as a list or tuple, and the masks the settings name."""
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    if not styles:
        raise UserError("no style image given")
    content_mask = style_masks = None
    if settings is not None:
        settings.check_masks(len(styles))
        if settings.content_mask is not None:
            content_mask = load_image(settings.content_mask, "content mask")
        style_masks = tuple(load_image(mask, "style mask") for mask in settings.style_masks or ())
    return Inputs(load_image(content, "content image"), tuple(load_image(each, "style image") for each in styles),
                  content_mask, style_masks or ())


def mask_weights(image: Image.Image, width: int, height: int) -> np.ndarray:
    """A mask image as (height, width) weights in 0..1: its grey level, resized to the output."""
    grey = image.convert("L").resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(grey, dtype=np.float32) / 255.0


def _regions(inputs: Inputs, width: int, height: int) -> tuple[np.ndarray, ...]:
    content = mask_weights(inputs.content_mask, width, height) if inputs.content_mask is not None else None
    if inputs.style_masks:
        masks = [mask_weights(mask, width, height) for mask in inputs.style_masks]
        return tuple(mask * content if content is not None else mask for mask in masks)
    return (content,) if content is not None else ()


def output_size(content: Image.Image, settings: Settings, size: int | None = None) -> tuple[int, int]:
    """(width, height) of a run's images at `size` (default settings.size), as --resize says."""
    return target_size(content.width, content.height, size or settings.size, settings.resize)


def sized_images(inputs: Inputs, settings: Settings, size: int) -> SizedImages:
    """Content, styles and initial image at `size`, recoloured as --preserve-colors says (histogram: each style gets
    the content's colour statistics; luminance-only: all become grey). The memory estimate is checked before any
    large array exists."""
    width, height = output_size(inputs.content, settings, size)
    # the memory guard: the whole image, or tiles (--tile-size); nothing large exists yet
    masked = inputs.content_mask is not None or bool(inputs.style_masks)
    tile = tile_size_for(settings, width, height, len(inputs.styles), masked=masked)
    content_rgb = to_array(resize(inputs.content, width, height, "content image"))
    recolor = match_color_statistics if settings.preserve_colors == "histogram" else lambda style, _content: style

    def sized_style(style_image: Image.Image) -> np.ndarray:
        if MODES[settings.mode].style_fit == "stretch":
            style_width, style_height = width, height  # the articles stretch the style to the content's size
        else:  # each style keeps its own aspect ratio
            style_width, style_height = style_size(style_image, (width, height), settings.style_scale)
        return recolor(to_array(resize(style_image, style_width, style_height, "style image")), content_rgb)

    styles_rgb = tuple(sized_style(style_image) for style_image in inputs.styles)
    rng = np.random.default_rng(settings.seed)
    start_rgb = initial_image(
        settings.init, content_rgb,
        lambda: recolor(to_array(resize(inputs.styles[0], width, height, "style image")), content_rgb), rng
    )
    regions = _regions(inputs, width, height)
    if regions and not any(region.sum() >= MIN_REGION_PIXELS for region in regions):
        raise UserError(f"the masks leave no region for the style to paint at {width}x{height} px (they are black "
                        "everywhere)")
    if settings.preserve_colors == "luminance-only":  # the network sees grey images; transfer adds colour back
        grey_styles = tuple(luminance_only(content_rgb, style_rgb, start_rgb)[1] for style_rgb in styles_rgb)
        grey_content, _, grey_start = luminance_only(content_rgb, styles_rgb[0], start_rgb)
        return SizedImages(grey_content, grey_styles, grey_start, regions, tile, photo=content_rgb)
    return SizedImages(content_rgb, styles_rgb, start_rgb, regions, tile, photo=content_rgb)


def lost_detail(coarser: np.ndarray, finer: np.ndarray) -> np.ndarray:
    """The luminance (H, W) of `finer` that `coarser` (the same picture at a smaller size) resized to its size lacks,
    the same Lanczos resizing plan.upsampled gives the coarser scale's result."""
    height, width = finer.shape[:2]
    picture = Image.fromarray(np.clip(coarser, 0, 255).round().astype(np.uint8))
    resized = to_array(picture.resize((width, height), Image.Resampling.LANCZOS))
    return (luminance(finer) - luminance(resized)).astype(np.float32)


def prepare(content: ImageSource, style: ImageSource | Sequence[ImageSource], settings: Settings,
            schedule: Sequence[tuple[int, int]] | None = None, frame: bool = False) -> Prepared:
    """Load the inputs and size them for every scale: every input problem surfaces here, before TensorFlow loads.
    `schedule` replaces plan.scale_plan's (size, evaluations) per scale (benchmarks of other schedules); `frame`: a
    video frame, which is optimised whole (its temporal term does not tile)."""
    inputs = load_inputs(content, style, settings)
    shares = settings.blend_weights(len(inputs.styles))  # one weight per style; concat has room for one style
    # a weights file that does not exist, or a weights folder with several candidates: said now, not once TensorFlow
    # has loaded (network.feature_model looks the file up again when it builds the model: a few stat calls)
    resolve_weights(settings.network, settings.weights)
    schedule = scale_plan(settings) if schedule is None else checked_plan(schedule, settings)
    width, height = output_size(inputs.content, settings)
    check_tile_size(settings, width, height)  # a tile in pixels must fit in the output
    if MODES[settings.mode].whole_images_only and octave_levels((height, width), settings.stroke_scale,
                                                                settings.stroke_octaves):
        raise UserError(f"--stroke-scale needs --mode cached: --mode {settings.mode} computes its targets from one "
                        f"batch; give --stroke-scale off (the {settings.preset} preset's is "
                        f"{settings.stroke_scale} px, below this {max(width, height)}-px output)")
    # the output size first: its memory guard refuses a size that cannot fit before any coarser one is made
    scales = tuple(reversed([sized_images(inputs, settings, size) for size, _ in reversed(schedule)]))
    if settings.scale_start == "detail":
        scales = (scales[0], *(finer._replace(detail=lost_detail(coarser.content, finer.content))
                               for coarser, finer in zip(scales, scales[1:])))
    if frame and any(images.tile is not None for images in scales):
        raise UserError("a video frame is optimised whole: give --tile-size off or a smaller --size")
    return Prepared(inputs, scales, tuple(evaluations for _, evaluations in schedule), shares)
