"""Where a run's targets come from, decided once when the run is assembled (run/assemble.py):

- CachedTargets: the content features and style Gram matrices are computed once; at each evaluation only the
  generated image goes through the network;
- ConcatBatch: the articles' batch concat([content, style, generated]) goes through the network at every
  evaluation, and the targets are read from its first two images;
- TileTargets: one tile of a larger image in a window of its canvas (run/tiling.py), with targets computed from the
  whole image; only the tile's pixels get a gradient.

Each builds the run's loss terms and their tensors (`fixed`: the targets, where it has them), and gives, at each
evaluation, the generated image's features, the image the losses see, and targets for terms that own none. A
compiled step keeps only `static()`, a copy without the tensors, so the compile cache keeps no run's targets alive.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from keras import ops
from PIL import Image

from keras_style.config.choices import MIN_REGION_PIXELS
from keras_style.config.layers import feature_size, layer_stride
from keras_style.engine import losses
from keras_style.engine.backend import CompiledFunction, compiled
from keras_style.engine.spec import LossSpec
from keras_style.engine.terms import (
    OCTAVE_FEATURES,
    LossTerm,
    PreviousFrame,
    Region,
    TilePart,
    make_terms,
    wanted_octaves,
)


def features(model, batch) -> list:
    """The model's outputs as a list of float32 tensors."""
    outputs = model(batch, training=False)
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    # Mixed precision computes the network in 16 bits; Gram sums need float32 to stay finite.
    return [ops.cast(output, "float32") for output in outputs]


# The feature step's input: any batch of RGB images. Traced once for every shape: it is called about once per image
# (each scale's content and styles, each tile's window), where a trace per shape would cost more than the call; its
# outputs are the per-shape traces' to the bit (float32 and mixed, with and without XLA, which still compiles per
# shape). TensorFlow only: JAX traces per shape.
FEATURE_INPUT = ((None, None, None, 3), "float32")


def feature_step_for(model, jit_compile: bool) -> CompiledFunction:
    """The process-wide compiled forward pass of `model` (its outputs as float32 tensors), for targets."""
    return compiled(model, ("features",), jit_compile, lambda: lambda batch: features(model, batch),
                    input_signature=[FEATURE_INPUT])


def by_layer(spec: LossSpec, outputs: Sequence) -> dict:
    """The model's outputs (in spec.feature_layers order) by layer name."""
    return dict(zip(spec.feature_layers, outputs))


def octave_features(spec: LossSpec, outputs_of: Callable, image, levels: Sequence[int]) -> dict:
    """The features (by layer) of each of `levels`' octaves of `image` (1 = half size, ...: losses.octaves), each
    through `outputs_of` (an image -> the model's outputs): the OCTAVE_FEATURES entry of a features dict."""
    pyramid = losses.octaves(image, levels[-1])
    return {level: by_layer(spec, outputs_of(pyramid[level - 1])) for level in levels}


class TargetSource:
    """What the three sources share: the terms, the tensors, and a copy without them for the compiled step."""

    key: tuple = ()
    terms: list[LossTerm]
    fixed: dict[str, Any] | None

    def static(self) -> TargetSource:
        light = copy.copy(self)
        light.fixed = None
        return light

    def generated(self, model, image, tensors: dict, terms: Sequence[LossTerm]) -> tuple[dict, Any, list]:
        """(the generated image's features by layer, the image the losses see, per term: targets or None)."""
        raise NotImplementedError


class CachedTargets(TargetSource):
    """Targets computed once from the content and style images (several styles blended by their shares; masks give
    the style term one region each)."""

    key = ("cached",)

    def __init__(self, spec: LossSpec, feature_step: CompiledFunction, content: np.ndarray,
                 styles: Sequence[np.ndarray], shares: Sequence[float], masks: Sequence[np.ndarray] = (),
                 per_style_masks: bool = False, previous: PreviousFrame | None = None) -> None:
        self.spec = spec
        content_features = by_layer(spec, feature_step(ops.convert_to_tensor(content, dtype="float32")))
        styles_features = [by_layer(spec, feature_step(ops.convert_to_tensor(style, dtype="float32")))
                           for style in styles]
        regions = style_regions(spec, masks, per_style_masks, content_features)
        self.terms = make_terms(spec, tuple(content.shape[1:3]), regions, previous)
        levels = wanted_octaves(self.terms)
        if levels:  # the octaves' features of the content (their sizes) and of each style (their targets)
            for image, image_features in zip([content, *styles], [content_features, *styles_features]):
                image_features[OCTAVE_FEATURES] = octave_features(
                    spec, feature_step, ops.convert_to_tensor(image, dtype="float32"), levels)
        self.fixed = {"source": {}, "terms": [
            term.tensors(term.cached_targets(content_features, styles_features, shares)) for term in self.terms]}

    def generated(self, model, image, tensors: dict, terms: Sequence[LossTerm]) -> tuple[dict, Any, list]:
        generated = by_layer(self.spec, features(model, image))
        levels = wanted_octaves(terms)
        if levels:  # one pass per matched octave more: a quarter of the image's, a sixteenth, ...
            generated[OCTAVE_FEATURES] = octave_features(self.spec, lambda octave: features(model, octave), image,
                                                         levels)
        return generated, image, [None] * len(terms)


def style_regions(spec: LossSpec, masks: Sequence[np.ndarray], per_style: bool, content_features: dict
                  ) -> list[Region]:
    """The style term's regions: the whole image, or one per mask (an empty one dropped) with the mask at every style
    layer's resolution and its positions-over-area ratio."""
    regions = [(mask, index if per_style else None) for index, mask in enumerate(masks)
               if mask.sum() >= MIN_REGION_PIXELS]
    if masks and not regions:  # loading.sized_images refuses such masks before anything loads
        raise ValueError("the masks leave no region for the style to paint")
    if not regions:
        return [Region()]
    made = []
    for mask, style in regions:
        picture = Image.fromarray(mask.astype(np.float32), mode="F")
        layer_masks, ratios = [], []
        for layer in spec.style_layers:
            _, height, width, _ = content_features[layer].shape
            resized = np.asarray(picture.resize((width, height), Image.Resampling.BOX), dtype=np.float32)
            layer_masks.append(resized[None, :, :, None])
            # a region smaller than one position at a coarse layer counts as one position
            ratios.append(np.float32(height * width / max(resized.sum(), 1.0)))
        made.append(Region(tuple(layer_masks), tuple(ratios), style))
    return made


class ConcatBatch(TargetSource):
    """The articles' path: [content, style, generated] through the network at every evaluation."""

    key = ("concat",)

    def __init__(self, spec: LossSpec, content: np.ndarray, style: np.ndarray,
                 previous: PreviousFrame | None = None) -> None:
        if tuple(style.shape) != tuple(content.shape):
            raise ValueError(f"concat mode needs style and content of one shape, got {style.shape} and {content.shape}")
        self.spec = spec
        self.terms = make_terms(spec, tuple(content.shape[1:3]), previous=previous)
        if wanted_octaves(self.terms):  # loading.prepare refuses --stroke-scale on the concat path
            raise ValueError("the concat batch has no octaves: --stroke-scale needs --mode cached")
        self.fixed = {"source": {"content": ops.convert_to_tensor(content, dtype="float32"),
                                 "style": ops.convert_to_tensor(style, dtype="float32")},
                      "terms": [term.tensors() for term in self.terms]}

    def generated(self, model, image, tensors: dict, terms: Sequence[LossTerm]) -> tuple[dict, Any, list]:
        outputs = features(model, ops.concatenate([tensors["content"], tensors["style"], image], axis=0))
        generated = by_layer(self.spec, [output[2:3] for output in outputs])
        content = by_layer(self.spec, [output[0:1] for output in outputs])
        style = by_layer(self.spec, [output[1:2] for output in outputs])
        return generated, image, [term.targets_from(content, style) for term in terms]


class TileTargets(TargetSource):
    """A tile in a window of the canvas: the window is the image, only the tile's pixels change. `targets` holds each
    term's targets by name (the content's features over the window; a style term's whole-image targets), `rest` each
    statistics term's statistics of the image outside the tile (per style layer), `crop` where the tile lies in the
    window, `image_size` the whole image's (height, width), which scales the terms. A term of the whole image's
    octaves (tiling "whole") sees the `canvas` with the window in place at `origin` (its top and left)."""

    key = ("tile",)

    def __init__(self, spec: LossSpec, window_shape: tuple[int, ...], targets: dict, rest: dict,
                 crop: tuple[int, int, int, int], image_size: tuple[int, int], canvas: np.ndarray | None = None,
                 origin: tuple[int, int] = (0, 0)) -> None:
        self.spec = spec
        top, left, height, width = crop
        tile_mask = np.zeros((1, *window_shape[1:3], 1), dtype=np.float32)
        tile_mask[:, top:top + height, left:left + width] = 1.0
        position_masks = []
        for layer in spec.style_layers:  # the tile's positions at each style layer (its edges are aligned)
            stride = layer_stride(layer)
            rows, columns = feature_size(layer, window_shape[1], window_shape[2])
            mask = np.zeros((1, rows, columns, 1), dtype=np.float32)
            mask[:, top // stride:(top + height) // stride, left // stride:(left + width) // stride] = 1.0
            position_masks.append(mask)
        self.terms = make_terms(spec, image_size, tile=TilePart(tuple(position_masks), rest))
        source = {"tile_mask": ops.convert_to_tensor(tile_mask)}
        if wanted_octaves(self.terms):  # the whole image: the canvas outside the window, and where the window goes
            if canvas is None:
                raise ValueError("a term of the whole image's octaves needs the canvas")
            (window_top, window_left), (window_height, window_width) = origin, window_shape[1:3]
            rows, columns = np.meshgrid(np.arange(window_top, window_top + window_height),
                                        np.arange(window_left, window_left + window_width), indexing="ij")
            source["canvas"] = ops.convert_to_tensor(np.asarray(canvas, dtype=np.float32))
            # (0, row, column) of each window pixel in the whole image, row by row (a fixed input: no retrace)
            source["placement"] = ops.convert_to_tensor(np.stack(
                [np.zeros(rows.size, dtype=np.int32), rows.ravel().astype(np.int32),
                 columns.ravel().astype(np.int32)], axis=1))
        self.fixed = {"source": source, "terms": [term.tensors(targets.get(term.name)) for term in self.terms]}

    def generated(self, model, image, tensors: dict, terms: Sequence[LossTerm]) -> tuple[dict, Any, list]:
        # the context is read, never changed: the losses see the window, the gradient reaches the tile only
        mask = tensors["tile_mask"]
        image = image * mask + ops.stop_gradient(image) * (1.0 - mask)
        generated = by_layer(self.spec, features(model, image))
        levels = wanted_octaves(terms)
        if levels:  # the whole image's octaves, small beside the window (--stroke-scale's coarse ones)
            whole = ops.scatter_update(tensors["canvas"], tensors["placement"], ops.reshape(image, (-1, 3)))
            generated[OCTAVE_FEATURES] = octave_features(self.spec, lambda octave: features(model, octave), whole,
                                                         levels)
        return generated, image, [None] * len(terms)
