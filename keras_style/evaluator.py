"""Loss and gradient of the generated image in one network pass, in the form scipy's L-BFGS-B wants.

Two paths with the same mathematics:
- concat: every evaluation pushes concat([content, style, generated]) through VGG, as the articles do;
- cached: content features and style Gram matrices are computed once; only the generated image is evaluated.

The loss is written with keras.ops; only the compiled loss-and-gradient step is backend-specific
(tf.function + GradientTape on TensorFlow, jax.jit + value_and_grad on JAX).
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from . import losses
from .network import use_xla
from .settings import Settings

# Called after each network pass with the four loss terms and the image that produced them.
Observer = Callable[[np.ndarray, np.ndarray], None]


def compile_value_and_grad(function: Callable, jit_compile: bool) -> Callable:
    """Wrap `function(image) -> (total, terms)` as a compiled `image -> (terms, d total / d image)`.

    Traced once per input shape by the backend; XLA when jit_compile (always, on JAX).
    """
    import keras

    if keras.backend.backend() == "jax":
        import jax

        gradient_of = jax.value_and_grad(function, has_aux=True)

        def jax_step(image):
            (_, terms), gradient = gradient_of(image)
            return terms, gradient

        return jax.jit(jax_step)

    import tensorflow as tf

    def tf_step(image):
        with tf.GradientTape() as tape:
            tape.watch(image)
            total, terms = function(image)
        return terms, tape.gradient(total, image)

    return tf.function(tf_step, jit_compile=jit_compile)


class Evaluator:
    """Computes (loss, gradient) once per point; `loss(x)` caches the gradient that `grads(x)` returns."""

    def __init__(
        self,
        model,
        settings: Settings,
        content: np.ndarray,
        style: np.ndarray,
        observer: Optional[Observer] = None,
    ) -> None:
        from keras import ops

        if settings.mode == "concat" and tuple(style.shape) != tuple(content.shape):
            raise ValueError(f"concat mode needs style and content of one shape, got {style.shape} and {content.shape}")
        self.settings = settings
        self.shape = tuple(content.shape)
        self.observer = observer
        self.passes = 0
        self.traces = 0
        layers = settings.feature_layers
        self._content_index = [layers.index(name) for name in settings.content_layers]
        self._style_index = [layers.index(name) for name in settings.style_layers]
        self._layer_weights = settings.layer_weights
        self._model = model
        self._content = ops.convert_to_tensor(content, dtype="float32")
        self._style = ops.convert_to_tensor(style, dtype="float32")

        # Targets (cached path) and Gram scales (both paths) are fixed for a run: compute them once here.
        content_features = self._features(self._content)
        self._style_scales = []
        for index in self._style_index:
            _, height, width, channels = content_features[index].shape
            self._style_scales.append(
                losses.style_scale(settings.normalization, channels, height * width, self.shape[1] * self.shape[2])
            )
        if settings.mode == "cached":
            self._content_targets = [content_features[i] for i in self._content_index]
            style_features = self._features(self._style)
            self._style_targets = []
            for index in self._style_index:
                # Gram sums grow with positions; rescale the style's to the generated image's size so a style
                # of another size asks for the same statistics (exactly 1 when the sizes match).
                generated_positions = content_features[index].shape[1] * content_features[index].shape[2]
                style_positions = style_features[index].shape[1] * style_features[index].shape[2]
                gram = losses.gram_matrix(style_features[index]) * (generated_positions / style_positions)
                self._style_targets.append(gram)
        self._step = compile_value_and_grad(self._traced_loss, use_xla(settings.jit_compile))
        self._last_x: Optional[np.ndarray] = None
        self._last_grad: Optional[np.ndarray] = None

    def _features(self, batch) -> list:
        from keras import ops

        outputs = self._model(batch, training=False)
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        # Mixed precision computes the network in 16 bits; Gram sums need float32 to stay finite.
        return [ops.cast(output, "float32") for output in outputs]

    def _traced_loss(self, image):
        self.traces += 1  # Python side effect: runs only when the backend traces, not on each call
        return self._loss(image)

    def _loss(self, image):
        """(total, stacked [total, content, style, tv]) for a generated image (1, H, W, 3)."""
        from keras import ops

        if self.settings.mode == "concat":
            features = self._features(ops.concatenate([self._content, self._style, image], axis=0))
            generated = [f[2:3] for f in features]
            content_targets = [features[i][0:1] for i in self._content_index]
            style_targets = [losses.gram_matrix(features[i][1:2]) for i in self._style_index]
        else:
            generated = self._features(image)
            content_targets = self._content_targets
            style_targets = self._style_targets
        content = sum(
            losses.content_loss(generated[i], target) for i, target in zip(self._content_index, content_targets)
        )
        style = sum(
            weight * losses.style_loss(losses.gram_matrix(generated[i]), target, scale)
            for i, target, scale, weight in zip(
                self._style_index, style_targets, self._style_scales, self._layer_weights
            )
        )
        tv = losses.total_variation_loss(image)
        settings = self.settings
        total = settings.content_weight * content + settings.style_weight * style + settings.tv_weight * tv
        return total, ops.stack([total, content, style, tv])

    def evaluate(self, image) -> tuple[np.ndarray, np.ndarray]:
        """One forward and backward pass: (terms [total, content, style, tv], float32 gradient of the image)."""
        from keras import ops

        terms, gradient = self._step(image)
        self.passes += 1
        terms = ops.convert_to_numpy(terms)
        if self.observer is not None:
            self.observer(terms, image)
        return terms, np.asarray(ops.convert_to_numpy(gradient))

    def terms(self, image) -> np.ndarray:
        """The four loss terms at one image, forward only and untraced: for scoring, not for optimising."""
        from keras import ops

        return ops.convert_to_numpy(self._loss(ops.convert_to_tensor(image, dtype="float32"))[1])

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
