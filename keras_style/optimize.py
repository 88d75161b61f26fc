"""Optimisers over the image: scipy's L-BFGS-B (continuous or the articles' restart loop), gradient descent, Adam."""
from __future__ import annotations

import numpy as np

from .evaluator import Evaluator
from .images import pixel_bounds
from .settings import Settings

# L-BFGS-B's default tolerances stop early on the huge raw losses of style transfer; the budget decides instead.
LBFGS_FACTR = 0.0
LBFGS_PGTOL = 0.0
MAX_RESTARTS = 5
# Without --learning-rate, gd picks the constant rate that moves pixels this far on average at its first step:
# raw gradients span orders of magnitude with the loss weights and image size, so no fixed default fits all.
GD_FIRST_STEP_PIXELS = 5.0
# Adam's steps are about lr pixel levels whatever the loss scale; 10 is anishathalye/neural-style's default.
ADAM_LEARNING_RATE = 10.0


def _bounds(shape: tuple[int, ...]) -> np.ndarray:
    """(n, 2) per-pixel bounds: each preprocessed channel stays within 0..255 minus its mean."""
    low, high = pixel_bounds()
    return np.stack([np.broadcast_to(low, shape).ravel(), np.broadcast_to(high, shape).ravel()], axis=1)


def minimize_lbfgs(evaluator: Evaluator, image: np.ndarray, settings: Settings) -> np.ndarray:
    """fmin_l_bfgs_b over the image. One continuous run keeps its curvature history; with outer_iterations K it
    restarts K times with maxfun M each, as the articles do."""
    from scipy.optimize import fmin_l_bfgs_b

    bounds = _bounds(image.shape)
    x = image.astype(np.float64).ravel()
    if settings.outer_iterations is not None:
        for _ in range(settings.outer_iterations):
            x, _, _ = fmin_l_bfgs_b(
                evaluator.loss, x, fprime=evaluator.grads, bounds=bounds, maxfun=settings.maxfun or 20
            )
    else:
        budget_end = evaluator.passes + settings.iterations
        for _ in range(MAX_RESTARTS):
            remaining = budget_end - evaluator.passes
            if remaining <= 0:
                break
            # A line-search failure ends a run before its budget; restarting from there spends the rest.
            x, _, _ = fmin_l_bfgs_b(
                evaluator.loss, x, fprime=evaluator.grads, bounds=bounds, maxfun=remaining,
                maxiter=remaining, factr=LBFGS_FACTR, pgtol=LBFGS_PGTOL,
            )
    return x.reshape(image.shape).astype(np.float32)


def minimize_gradient_descent(evaluator: Evaluator, image: np.ndarray, settings: Settings) -> np.ndarray:
    """Article 004: x <- x - lr * grad, with an optional step decay (the Keras 3 example), clipped to pixel range."""
    low, high = pixel_bounds()
    x = np.array(image, dtype=np.float32, copy=True)
    step_buffer = np.empty_like(x)  # reused: the loop allocates nothing per step
    base_rate = settings.learning_rate
    for step in range(settings.iterations):
        _, gradient = evaluator.evaluate(x)
        if base_rate is None:
            base_rate = GD_FIRST_STEP_PIXELS / max(float(np.mean(np.abs(gradient))), 1e-30)
        np.multiply(gradient, -base_rate * settings.lr_decay ** (step // settings.lr_decay_steps), out=step_buffer)
        x += step_buffer
        np.clip(x, low, high, out=x)
    return x


def minimize_adam(evaluator: Evaluator, image: np.ndarray, settings: Settings) -> np.ndarray:
    """Keras's Adam on the image (anishathalye's choice), projected back into pixel range after each step."""
    import keras

    low, high = pixel_bounds()
    variable = keras.Variable(image, dtype="float32", name="generated")
    optimizer = keras.optimizers.Adam(
        learning_rate=keras.optimizers.schedules.ExponentialDecay(
            settings.learning_rate or ADAM_LEARNING_RATE, settings.lr_decay_steps, settings.lr_decay, staircase=True
        )
    )
    for _ in range(settings.iterations):
        _, gradient = evaluator.evaluate(variable.value)
        optimizer.apply_gradients([(gradient, variable)])
        variable.assign(keras.ops.clip(variable.value, low, high))
    return np.asarray(variable.value)


OPTIMIZERS = {"lbfgs": minimize_lbfgs, "gd": minimize_gradient_descent, "adam": minimize_adam}


def minimize(evaluator: Evaluator, image: np.ndarray, settings: Settings) -> np.ndarray:
    """Run the configured optimiser from `image` (network input, (1, H, W, 3)); returns the last iterate."""
    return OPTIMIZERS[settings.optimizer](evaluator, image, settings)
