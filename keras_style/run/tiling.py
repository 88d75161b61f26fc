"""Outputs larger than memory (--tile-size): the output is optimised in overlapping tiles, one at a time, so memory
depends on the tile's size and not on the output's, and each tile is optimised for the whole image's loss.

- Context: a tile is evaluated with TILE_CONTEXT px of the canvas around it (a window), which the tile's optimiser
  reads but never changes, so its features near its edges see their real surroundings.
- Style: the loss is the whole image's. Its Gram matrices are the sum of the tile's and the rest's; the rest's are
  kept up to date as tiles change (computed exactly, block by block, at the start of each pass), and the tile is asked
  for the style targets less the rest: block-coordinate descent on the untiled objective, with the untiled weights.
- Content and tv: the window's losses, whose gradient on the tile is the whole image's.
- Targets: the style Gram matrices of each whole style image, accumulated block by block and blended by weight.
- Seams: each result is blended into the canvas with weights that ramp up over the overlap from a tile's inner
  edges, and every other pass places its tiles half a step over, so no seam stays in one place.
- The reported final losses are the whole image's, computed block by block on windows (whole_terms).
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from keras_style.config.layers import feature_size, layer_channels, layer_stride
from keras_style.config.settings import MIN_TILE_SIZE, Settings
from keras_style.errors import Converged, Interrupted, UserError
from keras_style.run.memory import available_bytes, estimate_bytes, tiled_estimate_bytes

# Tile and window edges fall on multiples of the largest stride of VGG's layers (block5: 16 px per position), so a
# window's features line up with the whole image's.
ALIGN = 16
# Around a tile: the canvas there is part of the image the tile is optimised in (read, never changed), and the
# targets over a region are computed on a window as wide, so features near a tile's edges see their real
# surroundings up to the receptive field of block5_conv1, the deepest default layer (78 px either side). One margin
# for both keeps the number of window shapes, each traced once, small.
TILE_CONTEXT = 80
TILE_PASSES = 2  # the second pass's tiles straddle the first pass's seams
TILE_OVERLAP = 0.25  # of the tile size: where neighbouring tiles are blended
# --tile-size auto: the largest of these whose tiled run fits in the memory available.
AUTO_TILE_SIZES = (1024, 768, 512, 384, 256, 192, 128, MIN_TILE_SIZE)


@dataclass(frozen=True)
class Tile:
    """A rectangle of the output, in pixels."""

    top: int
    left: int
    height: int
    width: int

    @property
    def bottom(self) -> int:
        return self.top + self.height

    @property
    def right(self) -> int:
        return self.left + self.width

    def crop(self, image: np.ndarray) -> np.ndarray:
        """This tile of a network-input image (1, H, W, 3)."""
        return image[:, self.top:self.bottom, self.left:self.right, :]

    def around(self, margin: int, height: int, width: int) -> Tile:
        """This tile grown by `margin` px on each side, within the image."""
        top, left = max(0, self.top - margin), max(0, self.left - margin)
        return Tile(top, left, min(height, self.bottom + margin) - top, min(width, self.right + margin) - left)

    def within(self, outer: Tile) -> tuple[int, int, int, int]:
        """(top, left, height, width) of this tile inside `outer`."""
        return self.top - outer.top, self.left - outer.left, self.height, self.width


def tile_size_for(settings: Settings, width: int, height: int, styles: int = 1, masked: bool = False) -> int | None:
    """The tile size a scale of width x height runs with (None: the whole image at once); UserError when even the
    smallest tile would not fit in the memory available, or when masks meet tiling (their regions are not tiled)."""
    available = available_bytes()

    def whole() -> None:
        _check_fits(estimate_bytes(settings, width, height), available, settings, width, height, tiled=False)

    def tiled(size: int) -> float:
        return tiled_estimate_bytes(settings, width, height, size, styles, TILE_CONTEXT, ALIGN)

    tile = settings.tile_size
    if tile == "off" or settings.mode == "concat":
        whole()
        return None
    if tile == "auto":
        if available is None or estimate_bytes(settings, width, height) <= available:
            return None
        tile = next((size for size in AUTO_TILE_SIZES if size < max(width, height) and tiled(size) <= available),
                    MIN_TILE_SIZE)
    if max(width, height) <= tile:
        return None  # a scale that fits in one tile
    if masked:
        raise UserError("masks cannot be combined with tiling (their regions are not split into tiles): use "
                        "--tile-size off and a smaller --size")
    _check_fits(tiled(tile), available, settings, width, height, tiled=True)
    return tile


def _check_fits(needed: float, available: float | None, settings: Settings, width: int, height: int,
                tiled: bool) -> None:
    if available is None or needed <= available:
        return
    advice = "use a smaller --size"
    if settings.mode == "concat":
        advice += " or --mode cached (which can also tile)"
    elif not tiled:
        advice += " or --tile-size auto"
    raise UserError(
        f"{width}x{height} px with {settings.network} ({settings.mode} path{', tiled' if tiled else ''}) needs about "
        f"{needed / 2**30:.1f} GB but {available / 2**30:.1f} GB is available; {advice}"
    )


def check_tile_size(settings: Settings, width: int, height: int) -> None:
    """A tile size given in pixels must not exceed the output's longest side (UserError)."""
    if isinstance(settings.tile_size, int) and settings.tile_size > max(width, height):
        raise UserError(f"--tile-size {settings.tile_size} is larger than the {width}x{height} px output; give at most "
                        f"{max(width, height)}, or auto")


def _aligned(value: float) -> int:
    return int(value) // ALIGN * ALIGN


def _base_starts(length: int, tile: int) -> list[int]:
    """Evenly spread starts of tiles covering 0..length with at least TILE_OVERLAP of overlap (aligned)."""
    if length <= tile:
        return [0]
    stride = tile * (1 - TILE_OVERLAP)
    count = math.ceil((length - tile) / stride) + 1
    return sorted({_aligned(index * (length - tile) / (count - 1)) for index in range(count)})


def _shifted_starts(starts: list[int], length: int, tile: int) -> list[int]:
    """The other pass's starts: the two edge tiles and one tile between each pair of the base grid's."""
    if len(starts) == 1:
        return starts
    middles = [_aligned((first + second) / 2) for first, second in zip(starts, starts[1:])]
    return sorted({starts[0], *middles, starts[-1]})


def _spans(starts: list[int], length: int, tile: int) -> list[tuple[int, int]]:
    """(start, size) per tile; the last one reaches the edge (up to ALIGN - 1 px more than the tile size)."""
    return [(start, (length if start == starts[-1] else min(start + tile, length)) - start) for start in starts]


def tile_passes(width: int, height: int, tile: int) -> list[list[Tile]]:
    """The tiles of each pass in the order they are optimised. Every other pass is shifted: between each pair of the
    base grid's tiles lies one of its tiles, so the base grid's seams fall inside them. Its tiles at the image's
    edges, which coincide with the base grid's, go first, and the tiles in between last, so that they have the last
    word over the base grid's seams."""
    rows, columns = _base_starts(height, tile), _base_starts(width, tile)
    passes = []
    for index in range(TILE_PASSES):
        row_starts, column_starts = rows, columns
        if index % 2:
            row_starts, column_starts = _shifted_starts(rows, height, tile), _shifted_starts(columns, width, tile)
        tiles = [
            Tile(top, left, tile_height, tile_width)
            for top, tile_height in _spans(row_starts, height, tile)
            for left, tile_width in _spans(column_starts, width, tile)
        ]
        if index % 2:
            tiles.sort(key=lambda each: (each.left not in (columns[0], columns[-1]),
                                         each.top not in (rows[0], rows[-1])))
        passes.append(tiles)
    return passes


def evaluations_per_tile(evaluations: int) -> int:
    """Each tile gets the scale's evaluations, split over the passes: about an untiled run's work per pixel."""
    return max(1, math.ceil(evaluations / TILE_PASSES))


def tiled_evaluations(width: int, height: int, tile: int, evaluations: int) -> int:
    """The evaluation budget of a tiled scale (the progress bar's length)."""
    return sum(len(tiles) for tiles in tile_passes(width, height, tile)) * evaluations_per_tile(evaluations)


def blend_overlap(tile_size: int) -> int:
    """The width of the ramp over which a tile's result is blended into the canvas at an inner edge."""
    return max(1, round(tile_size * TILE_OVERLAP))


def blend_weights(tile: Tile, width: int, height: int, overlap: int) -> np.ndarray:
    """(h, w, 1) weights of a tile's result in the canvas: 1 inside, ramping to 0 towards edges that have a
    neighbour (an edge on the image's border keeps full weight)."""

    def ramp(start: int, size: int, length: int) -> np.ndarray:
        position = np.arange(size, dtype=np.float32) + 0.5
        weight = np.ones(size, dtype=np.float32)
        if start > 0:
            weight = np.minimum(weight, position / overlap)
        if start + size < length:
            weight = np.minimum(weight, (size - position) / overlap)
        return weight

    rows = ramp(tile.top, tile.height, height)
    columns = ramp(tile.left, tile.width, width)
    return (rows[:, None] * columns[None, :])[:, :, None]


def window_features(feature_step, image: np.ndarray, layers: Sequence[str], region: Tile) -> list:
    """The whole image's features at each layer over `region` (whose top and left are multiples of ALIGN),
    computed on a window reaching TILE_CONTEXT px past it: (1, h, w, C) tensors."""
    from keras import ops

    _, height, width, _ = image.shape
    window = region.around(TILE_CONTEXT, height, width)
    outputs = feature_step(ops.convert_to_tensor(window.crop(image), dtype="float32"))
    sliced = []
    for layer, output in zip(layers, outputs):
        stride = layer_stride(layer)
        rows, columns = feature_size(layer, region.height, region.width)
        first_row, first_column = (region.top - window.top) // stride, (region.left - window.left) // stride
        sliced.append(output[:, first_row:first_row + rows, first_column:first_column + columns, :])
    return sliced


def image_grams(feature_step, image: np.ndarray, layers: Sequence[str], style_layers: Sequence[str],
                block: int, content: np.ndarray | None = None) -> tuple[list, list]:
    """The Gram matrix of each style layer over the whole image (network input), accumulated over blocks of
    block x block px so that no large image is evaluated whole; with `content`, also each content layer's loss
    (the squared feature difference, summed over the image)."""
    from keras import ops

    from keras_style.engine import losses

    _, height, width, _ = image.shape
    block = max(ALIGN, _aligned(block))
    grams: list = [0.0] * len(style_layers)
    content_sums = [0.0] * len(layers)
    for top in range(0, height, block):
        for left in range(0, width, block):
            region = Tile(top, left, min(block, height - top), min(block, width - left))
            features = dict(zip(layers, window_features(feature_step, image, layers, region)))
            for position, layer in enumerate(style_layers):
                grams[position] = grams[position] + losses.gram_matrix(features[layer])
            if content is not None:
                for position, (layer, target) in enumerate(
                        zip(layers, window_features(feature_step, content, layers, region))):
                    content_sums[position] += float(ops.convert_to_numpy(losses.content_loss(features[layer], target)))
    return grams, content_sums


def style_targets(feature_step, styles: Sequence[np.ndarray], shares: Sequence[float], layers: Sequence[str],
                  style_layers: Sequence[str], block: int, height: int, width: int) -> list:
    """The style Gram matrices a height x width image must have: each style's over the whole style image, divided by
    its positions and multiplied by the image's (a style of another size asks for the same statistics), blended by
    the styles' shares."""
    targets: list = [0.0] * len(style_layers)
    for style, share in zip(styles, shares):
        grams, _ = image_grams(feature_step, style, layers, style_layers, block)
        for position, layer in enumerate(style_layers):
            style_rows, style_columns = feature_size(layer, style.shape[1], style.shape[2])
            rows, columns = feature_size(layer, height, width)
            targets[position] = targets[position] + grams[position] * (
                share * rows * columns / max(style_rows * style_columns, 1))
    return targets


def whole_terms(feature_step, canvas: np.ndarray, content: np.ndarray, settings: Settings, targets: list,
                block: int) -> tuple[np.ndarray, list]:
    """The whole image's loss terms (as loss_terms stacks them) and its style Gram matrices, computed block by
    block: the same numbers an untiled evaluation gives, without evaluating the image whole."""
    from keras import ops

    from keras_style.engine import losses

    layers = settings.feature_layers
    _, height, width, _ = canvas.shape
    grams, content_sums = image_grams(feature_step, canvas, layers, settings.style_layers, block, content)
    style_layers = []
    for position, layer in enumerate(settings.style_layers):
        rows, columns = feature_size(layer, height, width)
        scale = losses.style_scale(settings.normalization, layer_channels(layer), rows * columns, height * width)
        loss = float(ops.convert_to_numpy(losses.style_loss(grams[position], targets[position], scale)))
        style_layers.append(settings.layer_weights[position] * loss)
    content_layers = [content_sums[layers.index(layer)] for layer in settings.content_layers]
    image = canvas.astype(np.float64)
    down = np.square(image[:, :-1, :-1, :] - image[:, 1:, :-1, :])
    right = np.square(image[:, :-1, :-1, :] - image[:, :-1, 1:, :])
    tv = float(np.sum(np.power(down + right, losses.TV_EXPONENT)))
    content_loss, style_loss = sum(content_layers), sum(style_layers)
    total = settings.content_weight * content_loss + settings.style_weight * style_loss + settings.tv_weight * tv
    terms = np.array([total, content_loss, style_loss, tv, *style_layers, *content_layers], dtype=np.float32)
    return terms, grams


def _tile_grams(feature_step, canvas: np.ndarray, layers: Sequence[str], style_layers: Sequence[str],
                region: Tile) -> list:
    from keras_style.engine import losses

    features = dict(zip(layers, window_features(feature_step, canvas, layers, region)))
    return [losses.gram_matrix(features[layer]) for layer in style_layers]


def run_tiled_scale(model, settings: Settings, images, monitor, record: dict[str, Any], tile: int) -> None:
    """Optimise one scale tile by tile from images.start (see the module's docstring); leaves the canvas as the
    monitor's best image, with the whole image's terms (also when interrupted, then re-raising Interrupted), and
    fills the scale's record."""
    from keras import ops

    from keras_style.engine.backend import choose_compute, detect_device
    from keras_style.engine.evaluator import Evaluator, TileTargets, feature_step_for
    from keras_style.engine.optimize import minimize
    from keras_style.files.images import preprocess

    started = time.perf_counter()
    height, width = images.content.shape[:2]
    passes = tile_passes(width, height, tile)
    per_tile = evaluations_per_tile(settings.evaluation_budget)
    compute = choose_compute(detect_device(), settings.precision, settings.jit_compile, tile * tile, per_tile)
    feature_step = feature_step_for(model, compute.xla)
    layers = settings.feature_layers
    content = preprocess(images.content)
    targets = style_targets(feature_step, [preprocess(style) for style in images.styles],
                            settings.blend_weights(len(images.styles)), layers, settings.style_layers, tile,
                            height, width)
    canvas = preprocess(images.start)
    overlap = blend_overlap(tile)
    tile_settings = replace(settings, iterations=per_tile, outer_iterations=None, maxfun=None)
    optimising = time.perf_counter()
    record.update(compute=compute.as_dict(), targets_seconds=optimising - started, optimisation_started=optimising,
                  tiles={"tile_size": tile, "per_pass": [len(tiles) for tiles in passes], "context": TILE_CONTEXT,
                         "evaluations_per_tile": per_tile})
    evaluations = traces = converged = 0

    def blend(region: Tile, window: Tile, result: np.ndarray, into: np.ndarray) -> np.ndarray:
        """`into` with the tile's part of `result` (the optimised window) blended in."""
        top, left, tile_height, tile_width = region.within(window)
        weight = blend_weights(region, width, height, overlap)[None]
        tile_result = np.asarray(result, dtype=np.float32)[:, top:top + tile_height, left:left + tile_width]
        area = (slice(None), slice(region.top, region.bottom), slice(region.left, region.right), slice(None))
        into[area] = into[area] * (1.0 - weight) + tile_result * weight
        return into

    def finish() -> None:
        terms, _ = whole_terms(feature_step, canvas, content, settings, targets, tile)
        monitor.finish_tiles(canvas, terms)

    changed = False
    try:
        for tiles in passes:
            # the whole image's Gram matrices, kept up to date as tiles change (exactly again at each pass)
            _, grams = whole_terms(feature_step, canvas, content, settings, targets, tile)
            for region in tiles:
                window = region.around(TILE_CONTEXT, height, width)
                before = _tile_grams(feature_step, canvas, layers, settings.style_layers, region)
                content_features = feature_step(ops.convert_to_tensor(window.crop(content), dtype="float32"))
                tile_targets = TileTargets(
                    content=[features for layer, features in zip(layers, content_features)
                             if layer in settings.content_layers],
                    style=[target - (whole - part) for target, whole, part in zip(targets, grams, before)],
                    crop=region.within(window),
                    image_size=(height, width),
                )
                monitor.start_tile(lambda best, region=region, window=window: blend(region, window, best,
                                                                                   canvas.copy()))
                evaluator = Evaluator(model, tile_settings, window.crop(content), window.crop(content),
                                      observer=monitor, targets=tile_targets, compute=compute)
                try:
                    minimize(evaluator, np.ascontiguousarray(window.crop(canvas)), tile_settings)
                except Converged:
                    converged += 1
                finally:
                    evaluations += evaluator.passes
                    traces += evaluator.traces
                    if monitor.best_image is not None:
                        blend(region, window, monitor.best_image, canvas)
                        changed = True
                after = _tile_grams(feature_step, canvas, layers, settings.style_layers, region)
                grams = [whole - old + new for whole, old, new in zip(grams, before, after)]
    except Interrupted:
        if changed:
            finish()
        raise
    finally:
        record.update(evaluations=evaluations, seconds=round(time.perf_counter() - optimising, 3), traces=traces)
    if converged == sum(len(tiles) for tiles in passes):
        record["stopped"] = "converged"
    finish()
