"""Loss and gradient of the generated image in one network pass, in the form scipy's L-BFGS-B wants.

Two paths with the same mathematics:
- concat: every evaluation pushes concat([content, style, generated]) through VGG, as the articles do;
- cached: content features and style Gram matrices are computed once; only the generated image is evaluated.

The loss is written with keras.ops as a function of the image and of the run's fixed tensors (targets, scales,
weights), so one compiled step serves every Evaluator of the same model, layers, path and shape in a process
(multi-scale runs, judges, tests): each shape is traced and compiled once. Only the compilation itself is
backend-specific (tf.function + GradientTape on TensorFlow, jax.jit + value_and_grad on JAX).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from keras_style.config.layers import feature_size, layer_channels, layer_stride
from keras_style.engine import losses
from keras_style.errors import UserError

if TYPE_CHECKING:  # settings imports this module for its choices
    from keras_style.config.settings import Settings

# Called after each network pass with the loss terms (the four, then one per style layer and one per content layer)
# and the image that produced them (a numpy array, or a device tensor that nothing modifies afterwards).
Observer = Callable[[np.ndarray, Any], None]


@dataclass(frozen=True)
class LossStructure:
    """What the traced loss depends on besides tensor values: the path and which model outputs feed which loss."""

    mode: str
    content_index: tuple[int, ...]
    style_index: tuple[int, ...]
    regions: int = 0  # masked regions, each with its own style targets (0: the whole image, one set of targets)
    # A tile (tiling.py) with some of the canvas around it: only the tile's pixels get a gradient, and the style
    # Gram matrices read the tile's positions only (masks in `fixed`, so every tile of one window shape shares a
    # trace). The content and tv losses read the whole window: their gradient on the tile is the whole image's.
    tile: bool = False


@dataclass(frozen=True)
class TileTargets:
    """One tile of a larger image (tiling.py), optimised for the whole image's loss with only the tile free to
    change. The Evaluator's image is the tile with canvas around it (a window); `content` holds the content
    image's features over that window, per content layer; `style`, per style layer, the Gram matrix the tile's
    positions must supply for the whole image's to match the style targets (those, less the rest of the image's);
    `crop` is where the tile lies in the window, and `image_size` the whole image's, which scales the style loss."""

    content: list
    style: list
    crop: tuple[int, int, int, int]  # (top, left, height, width)
    image_size: tuple[int, int]  # the whole image's (height, width)


class CompiledFunction:
    """A backend-compiled function with a count of its traces (one per new input shape)."""

    def __init__(self, function: Callable, jit_compile: bool) -> None:
        self.traces = 0

        def traced(*args):
            self.traces += 1  # Python side effect: runs only when the backend traces, not on each call
            return function(*args)

        import keras

        if keras.backend.backend() == "jax":
            import jax

            self._call = jax.jit(traced)
        else:
            import tensorflow as tf

            self._call = tf.function(traced, jit_compile=jit_compile)

    def __call__(self, *args):
        return self._call(*args)


# One compiled function per (model, loss structure, purpose, XLA): shared by every Evaluator in the process. The
# model object is kept in the value so its id is never reused while the entry lives.
_COMPILED: dict[tuple, tuple[Any, CompiledFunction]] = {}


def compiled(model, key: tuple, jit_compile: bool, build: Callable[[], Callable]) -> CompiledFunction:
    """The process-wide compiled function for (model, key, jit_compile), built by `build()` on first use."""
    full_key = (id(model), key, bool(jit_compile))
    entry = _COMPILED.get(full_key)
    if entry is None:
        entry = (model, CompiledFunction(build(), jit_compile))
        _COMPILED[full_key] = entry
    return entry[1]


def feature_step_for(model, jit_compile: bool) -> CompiledFunction:
    """The process-wide compiled forward pass of `model` (its outputs as float32 tensors), for targets."""
    return compiled(model, ("features",), jit_compile, lambda: lambda batch: features(model, batch))


def value_and_grad(function: Callable) -> Callable:
    """`function(image, *rest) -> (total, terms)` as an uncompiled `(image, *rest) -> (terms, d total / d image)`,
    for use inside a compiled step."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        gradient_of = jax.value_and_grad(function, has_aux=True)

        def jax_value_and_grad(image, *rest):
            (_, terms), gradient = gradient_of(image, *rest)
            return terms, gradient

        return jax_value_and_grad

    import tensorflow as tf

    def tf_value_and_grad(image, *rest):
        with tf.GradientTape() as tape:
            tape.watch(image)
            total, terms = function(image, *rest)
        return terms, tape.gradient(total, image)

    return tf_value_and_grad


def features(model, batch) -> list:
    """The model's outputs as a list of float32 tensors."""
    from keras import ops

    outputs = model(batch, training=False)
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    # Mixed precision computes the network in 16 bits; Gram sums need float32 to stay finite.
    return [ops.cast(output, "float32") for output in outputs]


def loss_terms(model, structure: LossStructure, image, fixed: dict):
    """(total, stacked [total, content, style, tv, each style layer's weighted loss, each content layer's loss]) for
    a generated image (1, H, W, 3).

    `fixed` holds the run's tensors: the targets (cached path) or the content and style images (concat path), the
    per-layer Gram scales and weights, and the three loss weights.
    """
    from keras import ops

    if structure.mode == "concat":
        outputs = features(model, ops.concatenate([fixed["content"], fixed["style"], image], axis=0))
        generated = [output[2:3] for output in outputs]
        content_targets = [outputs[i][0:1] for i in structure.content_index]
        style_targets = [losses.gram_matrix(outputs[i][1:2]) for i in structure.style_index]
    elif structure.tile:  # a tile in its context: the context is read, never changed
        image = image * fixed["tile_mask"] + ops.stop_gradient(image) * (1.0 - fixed["tile_mask"])
        generated = features(model, image)
        content_targets = fixed["content_targets"]
        style_targets = fixed["style_targets"]
    else:
        generated = features(model, image)
        content_targets = fixed["content_targets"]
        style_targets = fixed["style_targets"]
    content_layers = [
        losses.content_loss(generated[i], target) for i, target in zip(structure.content_index, content_targets)
    ]
    content = sum(content_layers)
    if structure.regions:  # each region's masked Gram matrices against its own targets
        style_layers = [
            fixed["layer_weights"][position] * sum(
                losses.style_loss(
                    losses.masked_gram_matrix(generated[i], fixed["region_masks"][region][position],
                                              fixed["region_ratios"][region][position]),
                    fixed["region_targets"][region][position], fixed["style_scales"][position])
                for region in range(structure.regions)
            )
            for position, i in enumerate(structure.style_index)
        ]
    else:
        style_features = [generated[i] for i in structure.style_index]
        if structure.tile:
            style_features = [each * mask for each, mask in zip(style_features, fixed["tile_style_masks"])]
        style_layers = [
            fixed["layer_weights"][position]
            * losses.style_loss(losses.gram_matrix(each), target, fixed["style_scales"][position])
            for position, (each, target) in enumerate(zip(style_features, style_targets))
        ]
    style = sum(style_layers)
    tv = losses.total_variation_loss(image)
    content_weight, style_weight, tv_weight = (fixed["loss_weights"][i] for i in range(3))
    total = content_weight * content + style_weight * style + tv_weight * tv
    return total, ops.stack([total, content, style, tv, *style_layers, *content_layers])


class Evaluator:
    """Computes (loss, gradient) once per point; `loss(x)` caches the gradient that `grads(x)` returns."""

    def __init__(
        self,
        model,
        settings: Settings,
        content: np.ndarray,
        style: np.ndarray,
        observer: Observer | None = None,
        masks: tuple[np.ndarray, ...] = (),
        targets: TileTargets | None = None,
        compute: Any = None,
    ) -> None:
        """`targets` replace the ones computed from `content` and `style` (a tile of a larger image: its targets
        come from the whole image; `style` is then unused); `compute` (a compute.Compute) replaces the choice made
        for this image's size and budget (the tiles of a run share one)."""
        from keras import ops

        from keras_style.engine.backend import choose_compute, detect_device

        styles = [style] if isinstance(style, np.ndarray) else list(style)
        blend = settings.blend_weights(len(styles))  # each style's share of the targets
        style = styles[0]
        if settings.mode == "concat" and tuple(style.shape) != tuple(content.shape):
            raise ValueError(f"concat mode needs style and content of one shape, got {style.shape} and {content.shape}")
        self.settings = settings
        self.shape = tuple(content.shape)
        self.observer = observer
        self.passes = 0
        self.traces = 0  # traces of the optimisation steps during this Evaluator's calls (0: compiled before)
        # XLA is decided with the precision, for this image size and budget (compute.choose_compute).
        self.compute = compute or choose_compute(
            detect_device(), settings.precision, settings.jit_compile, self.shape[1] * self.shape[2],
            settings.evaluation_budget,
        )
        self.jit_compile = self.compute.xla
        layers = settings.feature_layers
        self.model = model
        # Masked regions: (mask, the style whose targets it takes, or None for the blend of all); empty ones dropped.
        per_style = settings.style_masks is not None
        regions = [(mask, index if per_style else None) for index, mask in enumerate(masks) if mask.sum() >= 1.0]
        if masks and not regions:
            raise UserError("the masks leave no region for the style to paint (they are black everywhere)")
        self.structure = LossStructure(
            settings.mode,
            tuple(layers.index(name) for name in settings.content_layers),
            tuple(layers.index(name) for name in settings.style_layers),
            len(regions),
            tile=targets is not None,
        )
        content_tensor = ops.convert_to_tensor(content, dtype="float32")

        # Targets (cached path) and Gram scales (both paths) are fixed for a run: compute them once here, with the
        # same precision and compiled path as the loss.
        feature_step = feature_step_for(model, self.jit_compile)
        content_features = None if targets is not None else feature_step(content_tensor)
        # the generated image's size, or the whole image's for a tile of it
        image_height, image_width = (self.shape[1], self.shape[2]) if targets is None else targets.image_size
        style_scales = []
        for name in settings.style_layers:
            height, width = feature_size(name, image_height, image_width)
            style_scales.append(losses.style_scale(settings.normalization, layer_channels(name), height * width,
                                                   image_height * image_width))
        self.fixed: dict[str, Any] = {
            "style_scales": ops.convert_to_tensor(np.array(style_scales, dtype=np.float32)),
            "layer_weights": ops.convert_to_tensor(np.array(settings.layer_weights, dtype=np.float32)),
            "loss_weights": ops.convert_to_tensor(
                np.array([settings.content_weight, settings.style_weight, settings.tv_weight], dtype=np.float32)
            ),
        }
        if targets is not None:
            if settings.mode != "cached" or masks:
                raise ValueError("tile targets need the cached path and no masks")
            self.fixed["content_targets"] = list(targets.content)
            self.fixed["style_targets"] = list(targets.style)
            top, left, height, width = targets.crop
            tile_mask = np.zeros((1, *self.shape[1:3], 1), dtype=np.float32)
            tile_mask[:, top:top + height, left:left + width] = 1.0
            self.fixed["tile_mask"] = ops.convert_to_tensor(tile_mask)
            style_masks = []
            for name in settings.style_layers:  # the tile's positions at each style layer (its edges are aligned)
                stride = layer_stride(name)
                rows, columns = feature_size(name, self.shape[1], self.shape[2])
                mask = np.zeros((1, rows, columns, 1), dtype=np.float32)
                mask[:, top // stride:(top + height) // stride, left // stride:(left + width) // stride] = 1.0
                style_masks.append(ops.convert_to_tensor(mask))
            self.fixed["tile_style_masks"] = style_masks
        elif settings.mode == "cached":
            self.fixed["content_targets"] = [content_features[i] for i in self.structure.content_index]
            grams = [self._style_grams(feature_step, each, content_features) for each in styles]
            # several styles: the targets are the blend of their Gram matrices, layer by layer
            style_targets = grams[0] if len(styles) == 1 else [
                sum(share * style_grams[position] for share, style_grams in zip(blend, grams))
                for position in range(len(self.structure.style_index))
            ]
            self.fixed["style_targets"] = style_targets
            if regions:
                self._add_regions(regions, grams, style_targets, content_features)
        else:
            self.fixed["content"] = content_tensor
            self.fixed["style"] = ops.convert_to_tensor(style, dtype="float32")  # the concat path only
        self.value_and_grad_step = self.compiled_step(
            "value_and_grad", lambda: value_and_grad(self.loss_function_for_steps())
        )
        self._last_x: np.ndarray | None = None
        self._last_grad: np.ndarray | None = None

    def _style_grams(self, feature_step: CompiledFunction, style: np.ndarray, content_features: list) -> list:
        """One style image's Gram matrix at each style layer, rescaled to the generated image's positions: Gram
        sums grow with positions, so a style of another size asks for the same statistics (exactly 1 when the
        sizes match)."""
        from keras import ops

        style_features = feature_step(ops.convert_to_tensor(style, dtype="float32"))
        grams = []
        for index in self.structure.style_index:
            generated_positions = content_features[index].shape[1] * content_features[index].shape[2]
            style_positions = style_features[index].shape[1] * style_features[index].shape[2]
            grams.append(losses.gram_matrix(style_features[index]) * (generated_positions / style_positions))
        return grams

    def _add_regions(self, regions: list, grams: list, blended: list, content_features: list) -> None:
        """Each region's mask at every style layer's resolution, its positions-over-area scale, and its targets."""
        from keras import ops
        from PIL import Image

        masks, ratios, targets = [], [], []
        for mask, style_index in regions:
            picture = Image.fromarray(mask.astype(np.float32), mode="F")
            layer_masks, layer_ratios = [], []
            for index in self.structure.style_index:
                _, height, width, _ = content_features[index].shape
                resized = np.asarray(picture.resize((width, height), Image.Resampling.BOX), dtype=np.float32)
                layer_masks.append(ops.convert_to_tensor(resized[None, :, :, None]))
                # a region smaller than one position at a coarse layer counts as one position
                layer_ratios.append(ops.convert_to_tensor(np.float32(height * width / max(resized.sum(), 1.0))))
            masks.append(layer_masks)
            ratios.append(layer_ratios)
            targets.append(blended if style_index is None else grams[style_index])
        self.fixed.update(region_masks=masks, region_ratios=ratios, region_targets=targets)

    def loss_function(self, image, fixed: dict):
        """The loss `(image, fixed) -> (total, terms)` of this Evaluator's model and structure."""
        return loss_terms(self.model, self.structure, image, fixed)

    def loss_function_for_steps(self) -> Callable:
        """The same loss for a shared compiled step: it closes over the model and structure, not over this
        Evaluator, so a cached step keeps no run's tensors alive."""
        return functools.partial(loss_terms, self.model, self.structure)

    def compiled_step(self, purpose: str, build: Callable[[], Callable]) -> CompiledFunction:
        """The process-wide compiled function for `purpose` on this model, loss structure and XLA choice."""
        return compiled(self.model, (purpose, self.structure), self.jit_compile, build)

    def _counted(self, function: CompiledFunction, *args):
        before = function.traces
        result = function(*args)
        self.traces += function.traces - before
        return result

    def call(self, function: CompiledFunction, *args):
        """Call a compiled step, counting its traces as this Evaluator's."""
        return self._counted(function, *args)

    def evaluate(self, image) -> tuple[np.ndarray, np.ndarray]:
        """One forward and backward pass: (terms [total, content, style, tv, style per layer], float32 gradient)."""
        from keras import ops

        image_tensor = ops.convert_to_tensor(image, dtype="float32")
        terms, gradient = self._counted(self.value_and_grad_step, image_tensor, self.fixed)
        self.passes += 1
        terms = ops.convert_to_numpy(terms)
        if self.observer is not None:
            self.observer(terms, image)
        return terms, np.asarray(ops.convert_to_numpy(gradient))

    def observe(self, terms, image) -> None:
        """Record one network pass made by a device step (optimize_device): terms to host, image stays on device."""
        from keras import ops

        self.passes += 1
        if self.observer is not None:
            self.observer(ops.convert_to_numpy(terms), image)

    def terms(self, image) -> np.ndarray:
        """The four loss terms at one image, forward only and untraced: for scoring, not for optimising."""
        from keras import ops

        return ops.convert_to_numpy(self.loss_function(ops.convert_to_tensor(image, dtype="float32"), self.fixed)[1])

    def loss_and_grads(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """scipy's combined form: float64 flat x in, (loss, float64 flat gradient) out."""
        terms, gradient = self.evaluate(self._as_image(x))
        return float(terms[0]), gradient.reshape(-1).astype(np.float64)

    def loss(self, x: np.ndarray) -> float:
        """The articles' Evaluator.loss: computes loss and gradient, keeps the gradient for grads(x)."""
        value, gradient = self.loss_and_grads(x)
        if self._last_x is None:
            self._last_x = np.empty_like(x)
        np.copyto(self._last_x, x)  # reuse one buffer: this runs at every evaluation
        self._last_grad = gradient
        return value

    def grads(self, x: np.ndarray) -> np.ndarray:
        """The gradient at x: the cached one if loss(x) was just called at this point, else a new pass."""
        if self._last_grad is None or self._last_x is None or not np.array_equal(x, self._last_x):
            self.loss(x)
        return self._last_grad

    def _as_image(self, x: np.ndarray) -> np.ndarray:
        # The one float64 -> float32 conversion scipy's float64 iterate needs.
        return np.asarray(x, dtype=np.float32).reshape(self.shape)
