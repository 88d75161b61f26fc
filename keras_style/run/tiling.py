"""Outputs larger than memory (--tile-size): a scale optimised in overlapping tiles, one at a time, so memory depends
on the tile's size and not on the output's; each tile is optimised for the whole image's loss, with the same loss
terms as an untiled run (engine/terms.py). The tiles' geometry is in plan.py, the choice of tile size in memory.py.

- Context: a tile is evaluated with TILE_CONTEXT px of the canvas around it (a window), which the tile's optimiser
  reads but never changes (engine/targets.py's TileTargets), so its features near its edges see their real
  surroundings.
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

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from keras import ops

from keras_style.config.layers import feature_size, layer_stride
from keras_style.engine import losses
from keras_style.engine.evaluator import Evaluator
from keras_style.engine.optimize import minimize
from keras_style.engine.spec import LossSpec
from keras_style.engine.targets import TileTargets, feature_step_for, make_terms
from keras_style.engine.terms import CORE_TERMS, combine, layout
from keras_style.errors import Converged, Interrupted, UserError
from keras_style.files.images import preprocess
from keras_style.run.assemble import compute_for
from keras_style.run.plan import (
    ALIGN,
    TILE_CONTEXT,
    Tile,
    blend_overlap,
    blend_weights,
    evaluations_per_tile,
    tile_passes,
)
from keras_style.run.scales import ScaleRun


def window_features(feature_step, image: np.ndarray, layers: Sequence[str], region: Tile) -> list:
    """The whole image's features at each layer over `region` (whose top and left are multiples of ALIGN),
    computed on a window reaching TILE_CONTEXT px past it: (1, h, w, C) tensors."""
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


def _blocks(height: int, width: int, block: int) -> list[Tile]:
    block = max(ALIGN, int(block) // ALIGN * ALIGN)
    return [Tile(top, left, min(block, height - top), min(block, width - left))
            for top in range(0, height, block) for left in range(0, width, block)]


def image_grams(feature_step, image: np.ndarray, layers: Sequence[str], style_layers: Sequence[str],
                block: int, content: np.ndarray | None = None) -> tuple[list, list]:
    """The Gram matrix of each style layer over the whole image (network input), accumulated over blocks of
    block x block px so that no large image is evaluated whole; with `content`, also each layer's content loss
    (the squared feature difference, summed over the image)."""
    _, height, width, _ = image.shape
    grams: list = [0.0] * len(style_layers)
    content_sums = [0.0] * len(layers)
    for region in _blocks(height, width, block):
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


def whole_terms(feature_step, canvas: np.ndarray, content: np.ndarray, spec: LossSpec, targets: list,
                block: int) -> tuple[np.ndarray, list]:
    """The whole image's stacked loss terms (as an Evaluator stacks them, with the same terms) and its style Gram
    matrices, computed block by block: the same numbers an untiled evaluation gives, without evaluating the image
    whole."""
    _, height, width, _ = canvas.shape
    layers = spec.feature_layers
    grams, content_sums = image_grams(feature_step, canvas, layers, spec.style_layers, block, content)
    terms = make_terms(spec, (height, width))
    per_layer, weights = [], []
    for term in terms:
        tensors = term.tensors()
        weights.append(tensors["weight"])
        if term.name == "content":
            per_layer.append([np.float32(content_sums[layers.index(layer)]) for layer in term.layers])
        elif term.name == "style":
            per_layer.append([term.layer_loss(position, lambda region, position=position: grams[position], tensors,
                                              [targets]) for position in range(len(term.layers))])
        else:  # a term of the image's pixels (tv)
            per_layer.append(term.layer_losses({}, ops.convert_to_tensor(canvas), tensors, None))
    _, stacked = combine(terms, weights, [[ops.cast(value, "float32") for value in values] for values in per_layer])
    return ops.convert_to_numpy(stacked), grams


def _tile_grams(feature_step, canvas: np.ndarray, layers: Sequence[str], style_layers: Sequence[str],
                region: Tile) -> list:
    features = dict(zip(layers, window_features(feature_step, canvas, layers, region)))
    return [losses.gram_matrix(features[layer]) for layer in style_layers]


def check_tileable(loss: LossSpec, temporal: bool = False) -> None:
    """Tiles serve the terms a run makes from its content, style and smoothness: any other (the temporal term of a
    video frame, `temporal`) is a UserError."""
    if any(name not in CORE_TERMS for name, _ in layout(loss, temporal)):
        raise UserError("tiling supports the content, style and tv terms only: use --tile-size off")


class TiledScale:
    """One scale optimised tile by tile from its start image (see the module's docstring)."""

    def __init__(self, model, settings, scale: ScaleRun, monitor, record: dict[str, Any]) -> None:
        check_tileable(scale.loss, scale.images.previous is not None)
        images, self.tile = scale.images, scale.images.tile
        self.model, self.scale, self.monitor, self.record = model, scale, monitor, record
        self.height, self.width = images.content.shape[:2]
        self.passes = tile_passes(self.width, self.height, self.tile)
        self.optimizer = scale.optimizer.with_budget(evaluations_per_tile(scale.optimizer.evaluation_budget))
        self.compute = compute_for(settings, self.tile * self.tile, self.optimizer.iterations)
        self.feature_step = feature_step_for(model, self.compute.xla)
        self.content = preprocess(images.content)
        self.targets = style_targets(self.feature_step, [preprocess(style) for style in images.styles],
                                     settings.blend_weights(len(images.styles)), scale.loss.feature_layers,
                                     scale.loss.style_layers, self.tile, self.height, self.width)
        self.canvas = preprocess(images.start)
        self.overlap = blend_overlap(self.tile)
        self.evaluations = self.traces = self.converged = 0
        self.changed = False

    def run(self, started: float) -> None:
        """Every pass over the tiles; leaves the canvas as the monitor's best image with the whole image's terms (also
        when interrupted, then re-raising Interrupted), and fills the scale's record."""
        optimising = time.perf_counter()
        self.record.update(
            compute=self.compute.as_dict(), targets_seconds=optimising - started, optimisation_started=optimising,
            tiles={"tile_size": self.tile, "per_pass": [len(tiles) for tiles in self.passes], "context": TILE_CONTEXT,
                   "evaluations_per_tile": self.optimizer.iterations})
        try:
            for tiles in self.passes:
                # the whole image's Gram matrices, kept up to date as tiles change (exactly again at each pass)
                _, grams = self.whole_terms()
                for region in tiles:
                    grams = self.optimise_tile(region, grams)
        except Interrupted:
            if self.changed:
                self.finish()
            raise
        finally:
            self.record.update(evaluations=self.evaluations, seconds=round(time.perf_counter() - optimising, 3),
                               traces=self.traces)
        if self.converged == sum(len(tiles) for tiles in self.passes):
            self.record["stopped"] = "converged"
        self.finish()

    def whole_terms(self) -> tuple[np.ndarray, list]:
        return whole_terms(self.feature_step, self.canvas, self.content, self.scale.loss, self.targets, self.tile)

    def finish(self) -> None:
        terms, _ = self.whole_terms()
        self.monitor.finish_tiles(self.canvas, terms)

    def optimise_tile(self, region: Tile, grams: list) -> list:
        """Optimise one tile in its window; returns the whole image's Gram matrices with the tile's change."""
        layers, style_layers = self.scale.loss.feature_layers, self.scale.loss.style_layers
        window = region.around(TILE_CONTEXT, self.height, self.width)
        before = _tile_grams(self.feature_step, self.canvas, layers, style_layers, region)
        content_features = self.feature_step(ops.convert_to_tensor(window.crop(self.content), dtype="float32"))
        source = TileTargets(
            self.scale.loss, window.crop(self.content).shape,
            content=[features for layer, features in zip(layers, content_features)
                     if layer in self.scale.loss.content_layers],
            style=[target - (whole - part) for target, whole, part in zip(self.targets, grams, before)],
            crop=region.within(window), image_size=(self.height, self.width),
        )
        self.monitor.start_tile(lambda best: self.blend(region, window, best, self.canvas.copy()))
        evaluator = Evaluator(self.model, source, self.compute, window.crop(self.content).shape, self.monitor)
        try:
            minimize(evaluator, np.ascontiguousarray(window.crop(self.canvas)), self.optimizer)
        except Converged:
            self.converged += 1
        finally:
            self.evaluations += evaluator.passes
            self.traces += evaluator.traces
            if self.monitor.best_image is not None:
                self.blend(region, window, self.monitor.best_image, self.canvas)
                self.changed = True
        after = _tile_grams(self.feature_step, self.canvas, layers, style_layers, region)
        return [whole - old + new for whole, old, new in zip(grams, before, after)]

    def blend(self, region: Tile, window: Tile, result: np.ndarray, into: np.ndarray) -> np.ndarray:
        """`into` with the tile's part of `result` (the optimised window) blended in."""
        top, left, tile_height, tile_width = region.within(window)
        weight = blend_weights(region, self.width, self.height, self.overlap)[None]
        tile_result = np.asarray(result, dtype=np.float32)[:, top:top + tile_height, left:left + tile_width]
        area = (slice(None), slice(region.top, region.bottom), slice(region.left, region.right), slice(None))
        into[area] = into[area] * (1.0 - weight) + tile_result * weight
        return into


def run_tiled_scale(model, settings, scale: ScaleRun, monitor, record: dict[str, Any]) -> None:
    """A scale's runner (transfer.py's other one runs the whole image): the scale tile by tile."""
    started = time.perf_counter()
    TiledScale(model, settings, scale, monitor, record).run(started)
