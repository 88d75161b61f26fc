"""The engine's narrow, typed inputs: what the loss is made of and how to optimise. run/assemble.py builds them from
the Settings; nothing in the engine reads the Settings themselves."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from keras_style.config.choices import evaluation_budget
from keras_style.config.layers import feature_layers


@dataclass(frozen=True)
class LossSpec:
    """Layers, per-layer weights, the Gram normalisation and each term's weight (terms.py)."""

    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    layer_weights: tuple[float, ...]
    normalization: str
    weights: tuple[tuple[str, float], ...]  # (term name, weight)
    style_loss: str = "gram"  # the style term's class (terms.STYLE_LOSSES)
    tv_form: str = "articles"  # the smoothness term's function (losses.TV_FUNCTIONS)
    # The pixels at which the weights are the terms' own (None: the image's own size, whatever it is); a term
    # seeing another size scales its weight by how its value grows with the pixels (terms.LossTerm.pixel_power)
    balance_pixels: int | None = None
    # --stroke-scale: the style is also matched on the image's octaves down to about this longest side (None: off)
    stroke_scale: int | None = None
    stroke_octaves: str = "coarsest"  # which octaves down to it carry the style (terms.octave_levels)

    @property
    def feature_layers(self) -> tuple[str, ...]:
        """Content and style layers without repeats, in the order the feature model returns them."""
        return feature_layers(self.content_layers, self.style_layers)

    def weight(self, name: str) -> float:
        return dict(self.weights).get(name, 0.0)

    def with_weights(self, **weights: float) -> LossSpec:
        """The same spec with some terms' weights replaced."""
        return replace(self, weights=tuple((name, weights.get(name, weight)) for name, weight in self.weights))


@dataclass(frozen=True)
class OptimizerSpec:
    """Which optimiser, its budget and its parameters."""

    optimizer: str  # a name of config/choices.py's OPTIMIZERS
    iterations: int  # evaluations (lbfgs) or steps (the device optimisers)
    outer_iterations: int | None = None  # lbfgs: the articles' restart loop, maxfun evaluations each
    maxfun: int | None = None
    learning_rate: float | None = None
    lr_decay: float = 1.0
    lr_decay_steps: int = 100
    lbfgs_memory: int = 10  # lbfgs: the curvature pairs it keeps (scipy's m)
    average_decay: float = 0.0  # gd, adam: the decay of the iterates' moving average (0: none)
    reason: str = ""  # why this optimiser: --optimizer auto's choice, or "as asked"

    @property
    def evaluation_budget(self) -> int:
        """Loss-and-gradient evaluations the optimiser is allowed."""
        return evaluation_budget(self.optimizer, self.iterations, self.outer_iterations, self.maxfun)

    def with_budget(self, evaluations: int) -> OptimizerSpec:
        """One continuous run of `evaluations` (a scale of a plan, a tile)."""
        return replace(self, iterations=evaluations, outer_iterations=None, maxfun=None)


@dataclass(frozen=True)
class NetworkSpec:
    """The feature model: network.feature_model's arguments, the precision resolved (float32 or mixed)."""

    network: str
    weights: str
    pooling: str
    layers: tuple[str, ...]
    precision: str
    padding: str


# --stroke-scale's octaves, here without TensorFlow: the memory guard counts their passes before anything loads.
def octave_count(image_size: tuple[int, int], stroke_scale: int | None) -> int:
    """How many octaves below an image of `image_size` (height, width) reach down to about `stroke_scale` px on the
    longest side (the nearest halving; 0 for an image no larger)."""
    if not stroke_scale:
        return 0
    return max(0, round(math.log2(max(image_size) / stroke_scale)))


def octave_levels(image_size: tuple[int, int], stroke_scale: int | None, which: str) -> tuple[int, ...]:
    """The octaves (1 = half size, 2 = a quarter, ...) whose style is matched: every one down to about
    `stroke_scale` px (which = "all"), or only that coarsest one ("coarsest"); none for an image no larger."""
    count = octave_count(image_size, stroke_scale)
    if not count:
        return ()
    return tuple(range(1, count + 1)) if which == "all" else (count,)
