"""Optimisers over the image: scipy's L-BFGS-B on the host (continuous or the articles' restart loop), and the
device loops of optimize_device (gradient descent, Adam, L-BFGS)."""
from __future__ import annotations

import numpy as np
from scipy.optimize import fmin_l_bfgs_b

from keras_style.engine.evaluator import Evaluator
from keras_style.engine.optimize_device import (
    minimize_adam,
    minimize_averaged,
    minimize_gradient_descent,
    minimize_lbfgs_device,
)
from keras_style.engine.spec import OptimizerSpec
from keras_style.files.images import pixel_bounds

# L-BFGS-B's default tolerances stop early on the huge raw losses of style transfer; the budget decides instead.
LBFGS_FACTR = 0.0
LBFGS_PGTOL = 0.0
MAX_RESTARTS = 5


def _bounds(shape: tuple[int, ...]) -> np.ndarray:
    """(n, 2) per-pixel bounds: each preprocessed channel stays within 0..255 minus its mean."""
    low, high = pixel_bounds()
    return np.stack([np.broadcast_to(low, shape).ravel(), np.broadcast_to(high, shape).ravel()], axis=1)


class _BudgetSpent(Exception):
    """Raised by the budget guard at the call past the budget: it ends the scipy call."""


def _lbfgs_run(evaluator: Evaluator, x: np.ndarray, bounds: np.ndarray, budget: int, **options) -> np.ndarray:
    """One fmin_l_bfgs_b call from x that spends at most `budget` evaluations; returns its last iterate, or where the
    budget ended it, the best point it evaluated.

    scipy checks maxfun only between iterations, so its last line search would run past it: the guard ends the call
    at the evaluation past the budget instead, before the network pass. The run (the articles' next restart) goes on
    from the lowest loss this call saw, which may be a trial of that last search: with a few evaluations per restart
    (maxfun 2), restarting from scipy's last completed iterate would start every restart where the first began."""
    budget_end = evaluator.passes + budget
    best_point, best_loss = x.copy(), [np.inf]

    def loss_and_grads(point: np.ndarray) -> tuple[float, np.ndarray]:
        if evaluator.passes >= budget_end:
            raise _BudgetSpent
        loss, gradient = evaluator.loss_and_grads(point)
        if loss < best_loss[0]:
            best_loss[0] = loss
            np.copyto(best_point, point)  # scipy changes its points in place during its line search
        return loss, gradient

    try:
        x, _, _ = fmin_l_bfgs_b(loss_and_grads, x, bounds=bounds, maxfun=budget, **options)
    except _BudgetSpent:
        return best_point
    return x


def minimize_lbfgs(evaluator: Evaluator, image: np.ndarray, spec: OptimizerSpec) -> np.ndarray:
    """fmin_l_bfgs_b over the image, never past its budget (_lbfgs_run). One continuous run keeps its curvature
    history; with outer_iterations K it restarts K times with maxfun M evaluations at most each, as the articles do."""
    bounds = _bounds(image.shape)
    x = image.astype(np.float64).ravel()
    if spec.outer_iterations is not None:
        for _ in range(spec.outer_iterations):
            x = _lbfgs_run(evaluator, x, bounds, spec.maxfun or 20, m=spec.lbfgs_memory)
    else:
        budget_end = evaluator.passes + spec.iterations
        for _ in range(MAX_RESTARTS):
            remaining = budget_end - evaluator.passes
            if remaining <= 0:
                break
            # A line-search failure ends a run before its budget; restarting from there spends the rest.
            x = _lbfgs_run(evaluator, x, bounds, remaining, maxiter=remaining, factr=LBFGS_FACTR, pgtol=LBFGS_PGTOL,
                           m=spec.lbfgs_memory)
    return x.reshape(image.shape).astype(np.float32)


MINIMIZERS = {
    "lbfgs": minimize_lbfgs,  # scipy on the host: the articles' optimiser
    "lbfgs-device": minimize_lbfgs_device,
    "gd": minimize_gradient_descent,
    "adam": minimize_adam,
}


def minimize(evaluator: Evaluator, image: np.ndarray, spec: OptimizerSpec):
    """Run the optimiser `spec` names from `image` (network input, (1, H, W, 3)); returns the last iterate (or the
    iterates' average, spec.average_decay)."""
    if spec.average_decay > 0 and spec.iterations > 1:
        return minimize_averaged(MINIMIZERS[spec.optimizer], evaluator, image, spec)
    return MINIMIZERS[spec.optimizer](evaluator, image, spec)
