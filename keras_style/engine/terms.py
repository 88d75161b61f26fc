"""The loss terms of a run: objects that own their targets and their weight, built from the functions of losses.py.

A term has a name (its key in the sidecar, the progress events and --NAME-weight) and names its per-layer values.
Everything fixed for a run lives in its `tensors` (weight, targets, scales, masks): they are passed to the compiled
step as an argument, so one trace serves every run of the same structure (`key`). The total is the weighted sum of
the terms, in the order of TERMS.

Adding a term is one class here, registered with @term, plus its weight declared in config/settings.py as
NAME_weight (run/assemble.py reads the weight of every registered term). Masks and tiles are what the style term is
given (its regions), not branches of the loss.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from keras import ops

from keras_style.config.choices import CORE_TERMS
from keras_style.config.layers import feature_size, layer_channels
from keras_style.engine import losses
from keras_style.engine.spec import LossSpec, octave_levels

# The registered terms by name, in the order the total adds them.
TERMS: dict[str, type[LossTerm]] = {}


def term(cls: type[LossTerm]) -> type[LossTerm]:
    """Register a term class under its name."""
    TERMS[cls.name] = cls
    return cls


def combine(terms: Sequence[LossTerm], weights: Sequence, per_layer: Sequence[Sequence]):
    """(total, stacked [total, each term's value, then each term's per-layer values]) from each term's per-layer
    values: a term's value is the sum of its layers', the total the weighted sum of the terms'."""
    # sum() starts from 0, as the loss has always been added up: the same graph, so the same float32 rounding
    values = [sum(layer_values) if term.layers else layer_values[0] for term, layer_values in zip(terms, per_layer)]
    total = losses.summed([weight * value for weight, value in zip(weights, values)])
    layered = [value for term, layer_values in zip(terms, per_layer) if term.layers for value in layer_values]
    return total, ops.stack([total, *values, *layered])


def scalar(value: float):
    return ops.convert_to_tensor(np.float32(value))


class LossTerm:
    """A weighted loss term (see the module's docstring)."""

    name: ClassVar[str]
    regional: ClassVar[bool] = False  # takes the style regions (masks, a tile's positions) as its third argument
    # How the term's value grows with the pixels of the image: as pixels ** pixel_power (1: a sum over positions,
    # 0: a mean or a statistic normalised by the positions). The weight is carried from spec.balance_pixels to the
    # image's size by this power, so the terms keep their balance at every size.
    pixel_power: ClassVar[int] = 0
    # How run/tiling.py computes the term over an image too large to evaluate whole: "positions" (a sum over feature
    # positions against the content's: its blocks' values add up), "statistics" (a StyleTerm: its statistics add
    # up), "pixels" (of the image itself, computed on the whole canvas), "whole" (of the whole image's small octaves,
    # computed whole at each tile's evaluation), or None (it cannot be tiled).
    tiling: ClassVar[str | None] = "pixels"

    def __init__(self, spec: LossSpec, image_size: tuple[int, int]) -> None:
        """`image_size` is the (height, width) of the image the loss is about (a tile's whole image)."""
        self.spec = spec
        self.image_size = image_size
        self.weight = spec.weight(self.name) * self.balance_factor()

    def balance_factor(self) -> float:
        """The factor on the term's weight at this image's size (exactly 1 at spec.balance_pixels, so a weight
        given for the output size is used as it is there)."""
        height, width = self.image_size
        if not self.pixel_power or self.spec.balance_pixels in (None, height * width):
            return 1
        return (self.spec.balance_pixels / (height * width)) ** self.pixel_power

    @property
    def layers(self) -> tuple[str, ...]:
        """The names of its per-layer values (empty: one value, the term itself)."""
        return ()

    @property
    def key(self) -> tuple:
        """What a trace of the loss depends on besides tensor values."""
        return (self.name, self.layers)

    def tensors(self, targets: Any = None) -> dict[str, Any]:
        """The term's fixed tensors: its weight, and its targets (None: the target source gives them per evaluation)."""
        fixed: dict[str, Any] = {"weight": scalar(self.weight)}
        if targets is not None:
            fixed["targets"] = targets
        return fixed

    def targets_from(self, content_features: dict, style_features: dict) -> Any:
        """Targets from one content and one style image's features (layer name -> (1, h, w, C))."""
        return None

    def cached_targets(self, content_features: dict, styles_features: Sequence[dict], shares: Sequence[float],
                       regions: Sequence = ()) -> Any:
        """Targets computed once for a run: by default from the content and the first style."""
        return self.targets_from(content_features, styles_features[0])

    def layer_losses(self, features: dict, image, tensors: dict, targets: Any) -> list:
        """One loss value per layer (or [the term's value]) of the generated image's features."""
        raise NotImplementedError


@term
class ContentLoss(LossTerm):
    """The squared feature difference to the content image, per content layer."""

    name = "content"
    pixel_power = 1  # a sum over the layers' positions
    tiling = "positions"

    @property
    def layers(self) -> tuple[str, ...]:
        return self.spec.content_layers

    def targets_from(self, content_features: dict, style_features: dict) -> list:
        return [content_features[layer] for layer in self.layers]

    def layer_losses(self, features: dict, image, tensors: dict, targets: Any) -> list:
        return [losses.content_loss(features[layer], target) for layer, target in zip(self.layers, targets)]


@dataclass(frozen=True)
class Region:
    """A part of the image with its own style targets: per-layer masks (None: every position) and positions-over-area
    ratios (None: no rescaling), as numpy arrays or tensors."""

    masks: tuple | None = None
    ratios: tuple | None = None
    style: int | None = None  # the style image whose targets it takes; None: the blend of all


@dataclass(frozen=True)
class TilePart:
    """A tile of a larger image (run/tiling.py): the tile's positions at each style layer (masks (1, h, w, 1) over
    the tile's window), and, per statistics term by name, the statistics of the rest of the image at each style layer
    (as its statistics() gives them), so the term scores the whole image's statistics while only the tile changes."""

    masks: tuple
    rest: dict


class StyleTerm(LossTerm):
    """A style loss computed per style layer from statistics of the features that add up over positions (sums):
    run/tiling.py accumulates them block by block and adds a tile's to the rest of the image's, so every style loss
    tiles with its own term object. A subclass gives statistics(), loss_of_statistics() and
    targets_of_statistics(); its untiled loss (whole_layer_losses) may compute the same value another way."""

    name = "style"
    tiling = "statistics"

    def __init__(self, spec: LossSpec, image_size: tuple[int, int], regions: Sequence[Region] = (Region(),),
                 tile: TilePart | None = None) -> None:
        super().__init__(spec, image_size)
        self.regions = tuple(regions)
        self.tile = tile

    @property
    def layers(self) -> tuple[str, ...]:
        return self.spec.style_layers

    @property
    def key(self) -> tuple:
        return (self.name, self.layers, self.tile is not None)

    def positions(self) -> np.ndarray:
        """The image's feature positions at each style layer (of the whole image, for a tile)."""
        height, width = self.image_size
        return np.array([np.prod(feature_size(layer, height, width)) for layer in self.layers], dtype=np.float32)

    def tensors(self, targets: Any = None) -> dict[str, Any]:
        fixed = super().tensors(targets)
        fixed["layer_weights"] = ops.convert_to_tensor(np.array(self.spec.layer_weights, dtype=np.float32))
        fixed["positions"] = ops.convert_to_tensor(self.positions())
        if self.tile is not None:
            fixed["tile"] = {"masks": [ops.convert_to_tensor(mask) for mask in self.tile.masks],
                             "rest": [[ops.convert_to_tensor(value) for value in layer_statistics]
                                      for layer_statistics in self.tile.rest[self.name]]}
        return fixed

    def statistics(self, features) -> tuple:
        """A layer's statistics of features (1, h, w, C): tensors that are sums over the positions."""
        raise NotImplementedError

    def loss_of_statistics(self, position: int, statistics: Sequence, tensors: dict, targets: Any):
        """The layer's weighted loss from the whole image's statistics at layer `position`."""
        raise NotImplementedError

    def targets_of_statistics(self, per_position: Sequence[Sequence]) -> Any:
        """The term's targets from each layer's style statistics divided by the style's positions (blended by the
        styles' shares): what the image's own statistics per position should be."""
        raise NotImplementedError

    def layer_losses(self, features: dict, image, tensors: dict, targets: Any) -> list:
        if "tile" not in tensors:
            return self.whole_layer_losses(features, tensors, targets)
        # a tile: the whole image's statistics are the rest's plus those of the tile's positions
        tile = tensors["tile"]
        return [
            self.loss_of_statistics(position, [rest + mine for rest, mine in zip(
                tile["rest"][position], self.statistics(features[layer] * tile["masks"][position]))], tensors, targets)
            for position, layer in enumerate(self.layers)
        ]

    def whole_layer_losses(self, features: dict, tensors: dict, targets: Any) -> list:
        """One loss value per style layer of an untiled image."""
        return [self.loss_of_statistics(position, self.statistics(features[layer]), tensors, targets)
                for position, layer in enumerate(self.layers)]


@term
class GramStyleLoss(StyleTerm):
    """The scaled squared distance between Gram matrices, per style layer (weighted by its layer weight), summed
    over the term's regions: the whole image or a mask's region each."""

    regional = True

    @property
    def key(self) -> tuple:
        return (*super().key, tuple((r.masks is not None, r.ratios is not None) for r in self.regions))

    def scales(self) -> np.ndarray:
        """Each layer's factor in front of the squared Gram distance (losses.style_scale) at the image's size."""
        height, width = self.image_size
        scales = []
        for layer in self.layers:
            rows, columns = feature_size(layer, height, width)
            scales.append(losses.style_scale(self.spec.normalization, layer_channels(layer), rows * columns,
                                             height * width))
        return np.array(scales, dtype=np.float32)

    def tensors(self, targets: Any = None) -> dict[str, Any]:
        fixed = super().tensors(targets)
        fixed["scales"] = ops.convert_to_tensor(self.scales())
        fixed["regions"] = [
            {name: [ops.convert_to_tensor(value) for value in values]
             for name, values in (("masks", region.masks), ("ratios", region.ratios)) if values is not None}
            for region in self.regions
        ]
        return fixed

    def targets_from(self, content_features: dict, style_features: dict) -> list:
        """One region's targets: the style image's Gram matrices (the concat batch: style and image of one size)."""
        return [[losses.gram_matrix(style_features[layer]) for layer in self.layers]]

    def style_grams(self, style_features: dict, content_features: dict) -> list:
        """One style image's Gram matrix at each layer, rescaled to the generated image's positions: Gram sums grow
        with positions, so a style of another size asks for the same statistics (exactly 1 when the sizes match)."""
        grams = []
        for layer in self.layers:
            generated_positions = content_features[layer].shape[1] * content_features[layer].shape[2]
            style_positions = style_features[layer].shape[1] * style_features[layer].shape[2]
            grams.append(losses.gram_matrix(style_features[layer]) * (generated_positions / style_positions))
        return grams

    def cached_targets(self, content_features: dict, styles_features: Sequence[dict], shares: Sequence[float],
                       regions: Sequence = ()) -> list:
        """Per region, per layer: the blend of the styles' rescaled Gram matrices, or one style's for a region that
        names it."""
        grams = [self.style_grams(each, content_features) for each in styles_features]
        blended = grams[0] if len(grams) == 1 else [
            losses.summed([share * style_grams[position] for share, style_grams in zip(shares, grams)])
            for position in range(len(self.layers))
        ]
        return [blended if region.style is None else grams[region.style] for region in self.regions]

    def whole_layer_losses(self, features: dict, tensors: dict, targets: Any) -> list:
        return [
            self.layer_loss(position, lambda region, layer=layer, position=position: self._gram(
                features[layer], region, position), tensors, targets)
            for position, layer in enumerate(self.layers)
        ]

    def statistics(self, features) -> tuple:
        return (losses.gram_matrix(features),)

    def loss_of_statistics(self, position: int, statistics: Sequence, tensors: dict, targets: Any):
        return self.layer_loss(position, lambda region: statistics[0], tensors, targets, [{}])

    def targets_of_statistics(self, per_position: Sequence[Sequence]) -> list:
        """One region's targets: the Gram matrix per position times the image's positions, per layer."""
        return [[gram * positions for (gram,), positions in zip(per_position, self.positions())]]

    def layer_loss(self, position: int, gram_of: Callable[[dict], Any], tensors: dict, targets: Any,
                   regions: Sequence[dict] | None = None):
        """One layer's weighted loss, summed over the regions, from `gram_of(region)`: the generated image's Gram
        matrix over a region."""
        scale = tensors["scales"][position]
        per_region = [losses.style_loss(gram_of(region), region_targets[position], scale)
                      for region, region_targets in zip(tensors["regions"] if regions is None else regions, targets)]
        return tensors["layer_weights"][position] * (per_region[0] if len(per_region) == 1 else sum(per_region))

    @staticmethod
    def _gram(features, region: dict, position: int):
        """A region's Gram matrix: its positions only (mask), rescaled to the whole image's count (ratio)."""
        if "masks" in region:
            features = features * region["masks"][position]
        gram = losses.gram_matrix(features)
        return gram * region["ratios"][position] if "ratios" in region else gram


class WassersteinStyleLoss(StyleTerm):
    """The squared Wasserstein-2 distance between Gaussian fits (mean and covariance) of the generated image's and
    the style's features, per style layer, weighted by its layer weight (crowsonkb/style-transfer-pytorch, 2023).
    It takes the style slot with --style-loss w2; it paints the whole image (no masks) and tiles by its moments."""

    def targets_from(self, content_features: dict, style_features: dict) -> list:
        """Per layer: (mean, covariance, covariance's square root) of the style's features."""
        fits = [losses.mean_and_covariance(style_features[layer]) for layer in self.layers]
        return [(mean, covariance, losses.square_root(covariance)) for mean, covariance in fits]

    def cached_targets(self, content_features: dict, styles_features: Sequence[dict], shares: Sequence[float],
                       regions: Sequence = ()) -> list:
        """Several styles: the Gaussian fit of their mixture (each style's share of the positions)."""
        targets = []
        for layer in self.layers:
            fits = [losses.mean_and_covariance(each[layer]) for each in styles_features]
            mean = losses.summed([share * fit_mean for share, (fit_mean, _) in zip(shares, fits)])
            second = losses.summed([share * (covariance + ops.outer(fit_mean, fit_mean))
                                    for share, (fit_mean, covariance) in zip(shares, fits)])
            covariance = second - ops.outer(mean, mean)
            targets.append((mean, covariance, losses.square_root(covariance)))
        return targets

    def whole_layer_losses(self, features: dict, tensors: dict, targets: Any) -> list:
        values = []
        for position, (layer, (mean, covariance, root)) in enumerate(zip(self.layers, targets)):
            generated_mean, generated_covariance = losses.mean_and_covariance(features[layer])
            values.append(tensors["layer_weights"][position]
                          * losses.wasserstein_loss(generated_mean, generated_covariance, mean, covariance, root))
        return values

    def statistics(self, features) -> tuple:
        return losses.moments(features)

    def loss_of_statistics(self, position: int, statistics: Sequence, tensors: dict, targets: Any):
        positions = tensors["positions"][position]
        mean, covariance = losses.mean_and_covariance_of_moments(statistics[0] / positions, statistics[1] / positions)
        return tensors["layer_weights"][position] * losses.wasserstein_loss(mean, covariance, *targets[position])

    def targets_of_statistics(self, per_position: Sequence[Sequence]) -> list:
        targets = []
        for first, second in per_position:
            mean, covariance = losses.mean_and_covariance_of_moments(first, second)
            targets.append((mean, covariance, losses.square_root(covariance)))
        return targets


# The style term's class for each --style-loss (config/choices.py's STYLE_LOSSES).
STYLE_LOSSES: dict[str, type[LossTerm]] = {"gram": GramStyleLoss, "w2": WassersteinStyleLoss}


@term
class TotalVariationLoss(LossTerm):
    """Smoothness of the image (not of features): the articles' total variation, or the squared one (--tv-form)."""

    name = "tv"
    pixel_power = 1  # a sum over the image's neighbouring pixels

    @property
    def key(self) -> tuple:
        return (self.name, self.spec.tv_form)

    def layer_losses(self, features: dict, image, tensors: dict, targets: Any) -> list:
        return [losses.TV_FUNCTIONS[self.spec.tv_form](image)]


@dataclass(frozen=True)
class PreviousFrame:
    """The temporal term's target: the previous frame's output warped to this frame, as network input (1, H, W, 3),
    and where the warp can be trusted (1, H, W, 1): 0 at disoccluded pixels and motion boundaries (run/motion.py)."""

    warped: np.ndarray
    reliable: np.ndarray


@term
class TemporalLoss(LossTerm):
    """Ruder, Dosovitskiy and Brox's temporal term (2016): each frame of a video stays close to the previous frame's
    output carried along the optical flow, where the flow says the pixel stays visible. Its target is given by the
    video run (PreviousFrame), not computed from features; without one (a single image, a clip's first frame) the
    term is not made."""

    name = "temporal"
    tiling = None  # its target is the whole previous frame

    def __init__(self, spec: LossSpec, image_size: tuple[int, int], previous: PreviousFrame | None = None) -> None:
        super().__init__(spec, image_size)
        self.previous = previous

    def tensors(self, targets: Any = None) -> dict[str, Any]:
        fixed = super().tensors(targets)
        fixed["warped"] = ops.convert_to_tensor(self.previous.warped, dtype="float32")
        fixed["reliable"] = ops.convert_to_tensor(self.previous.reliable, dtype="float32")
        return fixed

    def layer_losses(self, features: dict, image, tensors: dict, targets: Any) -> list:
        return [losses.temporal_loss(image, tensors["warped"], tensors["reliable"])]


# Where a features dict (layer name -> features) holds the features of the image's octaves, when a term asks for them
# (OctaveStyleLoss): a dict, octave (1 = half size, 2 = a quarter, ...) -> such a dict. The target sources fill it
# (engine/targets.py).
OCTAVE_FEATURES = "octaves"


@term
class OctaveStyleLoss(LossTerm):
    """The style matched on octaves of the image too: each chosen octave of the generated image (a box-filtered
    pyramid, losses.octaves) against the same octave of each style image, by the Gram loss of the style layers.
    --stroke-octaves all matches every octave down to about --stroke-scale px (Snelgrove 2017, "High-resolution
    multi-scale neural texture synthesis"), coarsest only that one. At 2048 px with --stroke-scale 256 the 256-px
    octave carries a 256-px preview's strokes. Each octave is normalised by its own positions and weighed by the
    layer weights, the style's weight times --octave-weight shared among the octaves. Tiled, it is computed on the
    whole image at each tile's evaluation (tiling "whole": the canvas with the tile's window in place), its octaves
    being a quarter of the image's pixels or less (the memory guard counts them)."""

    name = "octave"
    tiling = "whole"

    def __init__(self, spec: LossSpec, image_size: tuple[int, int]) -> None:
        super().__init__(spec, image_size)
        self.levels = octave_levels(image_size, spec.stroke_scale, spec.stroke_octaves)

    @property
    def layers(self) -> tuple[str, ...]:
        return self.spec.style_layers

    @property
    def key(self) -> tuple:
        return (self.name, self.layers, self.levels)

    def octave_sizes(self) -> list[tuple[int, int]]:
        """(height, width) of each matched octave, largest first (each halving drops an odd last row or column)."""
        height, width = self.image_size
        return [(height >> level, width >> level) for level in self.levels]

    def tensors(self, targets: Any = None) -> dict[str, Any]:
        fixed = super().tensors(targets)
        fixed["layer_weights"] = ops.convert_to_tensor(np.array(self.spec.layer_weights, dtype=np.float32))
        # each octave's share of the weight is folded into its normalisation, once
        scales = [[losses.style_scale(self.spec.normalization, layer_channels(layer),
                                      int(np.prod(feature_size(layer, height, width))), height * width)
                   / len(self.levels) for layer in self.layers] for height, width in self.octave_sizes()]
        fixed["scales"] = ops.convert_to_tensor(np.array(scales, dtype=np.float32).reshape(len(self.levels),
                                                                                           len(self.layers)))
        return fixed

    def cached_targets(self, content_features: dict, styles_features: Sequence[dict], shares: Sequence[float],
                       regions: Sequence = ()) -> list:
        """Per octave, per layer: the styles' Gram matrices of that octave, blended by their shares, rescaled to the
        generated octave's positions (a style of another size asks for the same statistics)."""
        targets = []
        for level in self.levels:
            generated = content_features[OCTAVE_FEATURES][level]
            per_layer = []
            for layer in self.layers:
                positions = generated[layer].shape[1] * generated[layer].shape[2]
                grams = []
                for style in styles_features:
                    features = style[OCTAVE_FEATURES][level][layer]
                    grams.append(losses.gram_matrix(features) * (positions / (features.shape[1] * features.shape[2])))
                per_layer.append(losses.summed([share * gram for share, gram in zip(shares, grams)]))
            targets.append(per_layer)
        return targets

    def layer_losses(self, features: dict, image, tensors: dict, targets: Any) -> list:
        if not self.levels:
            return [ops.convert_to_tensor(np.float32(0.0)) for _ in self.layers]
        return [
            tensors["layer_weights"][position] * losses.summed([
                losses.style_loss(losses.gram_matrix(features[OCTAVE_FEATURES][level][layer]),
                                  targets[index][position], tensors["scales"][index][position])
                for index, level in enumerate(self.levels)])
            for position, layer in enumerate(self.layers)
        ]


def wanted_octaves(terms: Sequence[LossTerm]) -> tuple[int, ...]:
    """The octaves the terms need the features of (1 = half size, ...; empty: none)."""
    return tuple(sorted({level for each in terms for level in getattr(each, "levels", ())}))


def make_terms(spec: LossSpec, image_size: tuple[int, int], style_regions: Sequence[Region] = (Region(),),
               previous: PreviousFrame | None = None, tile: TilePart | None = None) -> list[LossTerm]:
    """The run's terms: the core ones, and every other registered term with a weight above 0 (the temporal term
    only with a previous frame to hold on to); with `tile`, the statistics terms score a tile of the image."""
    made = []
    for name, cls in TERMS.items():
        cls = STYLE_LOSSES[spec.style_loss] if name == "style" else cls
        if name not in CORE_TERMS and spec.weight(name) <= 0:
            continue
        if cls is TemporalLoss:
            if previous is not None:
                made.append(TemporalLoss(spec, image_size, previous))
            continue
        if issubclass(cls, StyleTerm):
            if not cls.regional and (len(style_regions) != 1 or style_regions[0].masks is not None):
                # Settings.validated refuses masks with such a loss before anything loads
                raise ValueError(f"the {spec.style_loss} style loss takes no regions")
            made.append(cls(spec, image_size, style_regions if cls.regional else (Region(),), tile))
        else:
            made.append(cls(spec, image_size))
    return made


def _made(spec: LossSpec, image_size: tuple[int, int], temporal: bool) -> list[LossTerm]:
    placeholder = PreviousFrame(np.zeros((1, 1, 1, 3), np.float32), np.zeros((1, 1, 1, 1), np.float32))
    return make_terms(spec, image_size, previous=placeholder if temporal else None)


def layout(spec: LossSpec, temporal: bool = False) -> list[tuple[str, tuple[str, ...]]]:
    """(term name, its per-layer names) of the terms `spec` makes (with a previous frame: `temporal`), in the order
    an Evaluator stacks their values."""
    return [(made.name, made.layers) for made in _made(spec, (1, 1), temporal)]


def weights_at(spec: LossSpec, image_size: tuple[int, int], temporal: bool = False) -> dict[str, float]:
    """Each term's weight in the total for an image of `image_size` (height, width): its balance at that size."""
    return {made.name: made.weight for made in _made(spec, image_size, temporal)}


def untileable(spec: LossSpec, temporal: bool = False) -> list[str]:
    """The names of the terms `spec` makes (with a previous frame: `temporal`) that run/tiling.py cannot compute."""
    return [made.name for made in _made(spec, (1, 1), temporal) if made.tiling is None]
