"""Outputs larger than memory (--tile-size): a scale optimised in overlapping tiles, one at a time, so memory depends
on the tile's size and not on the output's; each tile is optimised for the whole image's loss, with the same loss
terms as an untiled run (engine/terms.py). The tiles' geometry is in plan.py, the choice of tile size in memory.py.

- Context: a tile is evaluated with TILE_CONTEXT px of the canvas around it (a window), which the tile's optimiser
  reads but never changes (engine/targets.py's TileTargets), so its features near its edges see their real
  surroundings.
- Style: the loss is the whole image's. A style term's statistics (StyleTerm.statistics: the Gram matrix, or a
  Gaussian fit's moments) are sums over positions, so the whole image's are the tile's plus the rest's; the rest's
  are kept up to date as tiles change (computed exactly, block by block, at the start of each pass), and the term
  scores the sum: block-coordinate descent on the untiled objective, with the untiled weights and the same term
  objects, so every style loss tiles.
- Content and tv: the window's losses, whose gradient on the tile is the whole image's.
- Octaves (--stroke-scale): the whole image's, at each tile's evaluation: the canvas with the window in place,
  halved down to the octaves the term matches, which are small (a quarter of the pixels or less, 1/64 for 256 px at
  2048 px); targets from the content's and styles' octaves, computed whole once per scale.
- Targets: each style term's statistics of each whole style image, accumulated block by block, per position, and
  blended by weight.
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
from keras_style.engine.evaluator import Evaluator
from keras_style.engine.optimize import minimize
from keras_style.engine.spec import LossSpec
from keras_style.engine.targets import TileTargets, feature_step_for, make_terms, octave_features
from keras_style.engine.terms import OCTAVE_FEATURES, LossTerm, combine, wanted_octaves
from keras_style.errors import Converged, Interrupted
from keras_style.files.images import preprocess
from keras_style.run.assemble import RunPlan, ScalePlan
from keras_style.run.monitor import Monitor
from keras_style.run.plan import ALIGN, TILE_CONTEXT, Tile, blend_overlap, blend_weights


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


def _added(total: list | None, part: list) -> list:
    """Per layer, `total` plus `part`: a statistics term's tuples entry by entry, or single values."""
    if total is None:
        return list(part)
    return [tuple(a + b for a, b in zip(x, y)) if isinstance(x, tuple) else x + y for x, y in zip(total, part)]


def block_sums(feature_step, image: np.ndarray, layers: Sequence[str], terms: Sequence[LossTerm], block: int,
               content: np.ndarray | None = None) -> dict[str, list]:
    """Per term by name, its per-layer sums over the whole image (network input), accumulated over blocks of
    block x block px so that no large image is evaluated whole: a statistics term's statistics, and (with `content`)
    a positions term's values against the content's features."""
    _, height, width, _ = image.shape
    sums: dict[str, list] = {}
    for region in _blocks(height, width, block):
        features = dict(zip(layers, window_features(feature_step, image, layers, region)))
        content_features = None
        for term in terms:
            if term.tiling == "statistics":
                part = [term.statistics(features[layer]) for layer in term.layers]
            elif term.tiling == "positions" and content is not None:
                if content_features is None:
                    content_features = dict(zip(layers, window_features(feature_step, content, layers, region)))
                part = term.layer_losses(features, None, {}, term.targets_from(content_features, {}))
            else:
                continue
            sums[term.name] = _added(sums.get(term.name), part)
    return sums


def statistics_terms(spec: LossSpec, image_size: tuple[int, int]) -> list[LossTerm]:
    """The terms of an image of `image_size` (height, width) whose statistics add up over positions."""
    return [term for term in make_terms(spec, image_size) if term.tiling == "statistics"]


def style_targets(feature_step, styles: Sequence[np.ndarray], shares: Sequence[float], spec: LossSpec,
                  block: int, height: int, width: int) -> dict[str, Any]:
    """Per statistics term by name, the targets a height x width image must meet: each style's statistics over the
    whole style image divided by its positions (a style of another size asks for the same statistics), blended by
    the styles' shares, made into the term's targets."""
    terms = statistics_terms(spec, (height, width))
    blended: dict[str, list] = {}
    for style, share in zip(styles, shares):
        sums = block_sums(feature_step, style, spec.feature_layers, terms, block)
        for term in terms:
            per_position = []
            for layer, statistics in zip(term.layers, sums[term.name]):
                style_positions = max(int(np.prod(feature_size(layer, style.shape[1], style.shape[2]))), 1)
                per_position.append(tuple(value * (share / style_positions) for value in statistics))
            blended[term.name] = _added(blended.get(term.name), per_position)
    return {term.name: term.targets_of_statistics(blended[term.name]) for term in terms}


def octave_targets(feature_step, spec: LossSpec, content: np.ndarray, styles: Sequence[np.ndarray],
                   shares: Sequence[float], terms: Sequence[LossTerm]) -> dict[str, Any]:
    """Per term of the whole image's octaves (tiling "whole") by name, its targets: from the content's and each
    style's octaves, computed whole (they are small)."""
    levels = wanted_octaves(terms)
    if not levels:
        return {}
    content_features, *styles_features = (
        {OCTAVE_FEATURES: octave_features(spec, feature_step, ops.convert_to_tensor(image), levels)}
        for image in (content, *styles))
    return {term.name: term.cached_targets(content_features, styles_features, shares)
            for term in terms if term.tiling == "whole"}


def whole_terms(feature_step, canvas: np.ndarray, content: np.ndarray, spec: LossSpec, targets: dict,
                block: int) -> tuple[np.ndarray, dict]:
    """The whole image's stacked loss terms (as an Evaluator stacks them, with the same term objects) and the
    statistics terms' statistics (by name, per layer), computed block by block: the same numbers an untiled
    evaluation gives, without evaluating the image whole."""
    _, height, width, _ = canvas.shape
    terms = make_terms(spec, (height, width))
    sums = block_sums(feature_step, canvas, spec.feature_layers, terms, block, content)
    per_layer, weights = [], []
    for term in terms:
        tensors = term.tensors()
        weights.append(tensors["weight"])
        if term.tiling == "statistics":
            per_layer.append([term.loss_of_statistics(position, statistics, tensors, targets[term.name])
                              for position, statistics in enumerate(sums[term.name])])
        elif term.tiling == "positions":
            per_layer.append(sums[term.name])
        elif term.tiling == "whole":  # of the whole image's octaves, small enough to evaluate whole
            octaves = {OCTAVE_FEATURES: octave_features(spec, feature_step, ops.convert_to_tensor(canvas),
                                                        term.levels)}
            per_layer.append(term.layer_losses(octaves, None, tensors, targets[term.name]))
        else:  # a term of the image's pixels (tv)
            per_layer.append(term.layer_losses({}, ops.convert_to_tensor(canvas), tensors, None))
    _, stacked = combine(terms, weights, [[ops.cast(value, "float32") for value in values] for values in per_layer])
    statistics = {term.name: sums[term.name] for term in terms if term.tiling == "statistics"}
    return ops.convert_to_numpy(stacked), statistics


def tile_statistics(feature_step, canvas: np.ndarray, spec: LossSpec, terms: Sequence[LossTerm],
                    region: Tile) -> dict[str, list]:
    """The statistics terms' statistics (by name, per layer) over the positions of one tile of the canvas."""
    layers = spec.feature_layers
    features = dict(zip(layers, window_features(feature_step, canvas, layers, region)))
    return {term.name: [term.statistics(features[layer]) for layer in term.layers] for term in terms}


def _subtracted(total: list, part: list) -> list:
    return [tuple(a - b for a, b in zip(x, y)) for x, y in zip(total, part)]


class TiledScale:
    """One scale optimised tile by tile from its start image (see the module's docstring)."""

    def __init__(self, model, plan: RunPlan, scale: ScalePlan, monitor: Monitor, record: dict[str, Any]) -> None:
        images, grid = scale.images, scale.tiles
        self.model, self.scale, self.monitor, self.record = model, scale, monitor, record
        self.tile, self.passes, self.optimizer, self.compute = grid.size, grid.passes, grid.optimizer, scale.compute
        self.height, self.width = images.content.shape[:2]
        self.feature_step = feature_step_for(model, self.compute.xla)
        self.content = preprocess(images.content)
        styles = [preprocess(style) for style in images.styles]
        self.targets = style_targets(self.feature_step, styles, plan.shares, scale.loss, self.tile, self.height,
                                     self.width)
        whole = make_terms(scale.loss, (self.height, self.width))
        self.targets.update(octave_targets(self.feature_step, scale.loss, self.content, styles, plan.shares, whole))
        self.statistics_terms = [term for term in whole if term.tiling == "statistics"]
        self.positions_terms = [term for term in whole if term.tiling == "positions"]
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
            for number, tiles in enumerate(self.passes):
                # the whole image's statistics, kept up to date as tiles change (exactly again at each pass)
                terms, statistics = self.whole_terms()
                if number == 0:
                    self.monitor.start_whole(terms)
                for region in tiles:
                    statistics = self.optimise_tile(region, statistics)
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

    def whole_terms(self) -> tuple[np.ndarray, dict]:
        return whole_terms(self.feature_step, self.canvas, self.content, self.scale.loss, self.targets, self.tile)

    def finish(self) -> None:
        terms, _ = self.whole_terms()
        self.monitor.finish_tiles(self.canvas, terms)

    def optimise_tile(self, region: Tile, statistics: dict) -> dict:
        """Optimise one tile in its window; returns the whole image's statistics with the tile's change."""
        layers, loss = self.scale.loss.feature_layers, self.scale.loss
        window = region.around(TILE_CONTEXT, self.height, self.width)
        before = tile_statistics(self.feature_step, self.canvas, loss, self.statistics_terms, region)
        content_features = dict(zip(layers, self.feature_step(
            ops.convert_to_tensor(window.crop(self.content), dtype="float32"))))
        targets = {term.name: term.targets_from(content_features, {}) for term in self.positions_terms}
        source = TileTargets(
            loss, window.crop(self.content).shape, targets={**targets, **self.targets},
            rest={name: _subtracted(statistics[name], before[name]) for name in statistics},
            crop=region.within(window), image_size=(self.height, self.width), canvas=self.canvas,
            origin=(window.top, window.left),
        )
        self.monitor.start_tile(lambda best: self.blend(region, window, best, self.canvas.copy()),
                                budget=self.optimizer.evaluation_budget)
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
        after = tile_statistics(self.feature_step, self.canvas, loss, self.statistics_terms, region)
        return {name: _added(_subtracted(statistics[name], before[name]), after[name]) for name in statistics}

    def blend(self, region: Tile, window: Tile, result: np.ndarray, into: np.ndarray) -> np.ndarray:
        """`into` with the tile's part of `result` (the optimised window) blended in."""
        top, left, tile_height, tile_width = region.within(window)
        weight = blend_weights(region, self.width, self.height, self.overlap)[None]
        tile_result = np.asarray(result, dtype=np.float32)[:, top:top + tile_height, left:left + tile_width]
        area = (slice(None), slice(region.top, region.bottom), slice(region.left, region.right), slice(None))
        into[area] = into[area] * (1.0 - weight) + tile_result * weight
        return into


def run_tiled_scale(model, plan: RunPlan, scale: ScalePlan, monitor: Monitor, record: dict[str, Any]) -> None:
    """A scale's runner (scales.py has the one for a whole image): the scale tile by tile."""
    started = time.perf_counter()
    TiledScale(model, plan, scale, monitor, record).run(started)
