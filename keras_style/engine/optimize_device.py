"""Optimisers whose whole step runs on the device as one compiled call: gradient descent, Adam and L-BFGS.

Each step computes the loss and gradient and updates the image inside one tf.function; the image
never goes to the host during the loop. Only the four loss terms come back per step, for the progress bar and the
history. The image the Monitor keeps as the best is a reference to an immutable device tensor, fetched only when a
snapshot or the result needs it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import keras
import numpy as np
from keras import ops

from keras_style.engine.backend import CompiledFunction, value_and_grad
from keras_style.engine.evaluator import Evaluator
from keras_style.engine.spec import OptimizerSpec
from keras_style.files.images import pixel_bounds

# Without --learning-rate, gd picks the constant rate that moves pixels this far on average at its first step:
# raw gradients span orders of magnitude with the loss weights and image size, so no fixed default fits all.
GD_FIRST_STEP_PIXELS = 5.0
# Adam's steps are about lr pixel levels whatever the loss scale; 10 is anishathalye/neural-style's default.
ADAM_LEARNING_RATE = 10.0
# A curvature pair whose s.y is not above torch's threshold is skipped (it would break the positive definiteness of
# the approximation).
LBFGS_MIN_CURVATURE = 1e-10
# The line search's sufficient-decrease constant (Nocedal & Wright's usual c1), its most passes per iteration (a
# search that fails that far restarts from a gradient step), and the range each failed trial shrinks the step by.
LBFGS_ARMIJO = 1e-4
LBFGS_MAX_TRIALS = 5
LBFGS_SHRINK = (0.1, 0.5)


def _bounds():
    low, high = pixel_bounds()
    return ops.convert_to_tensor(low, "float32"), ops.convert_to_tensor(high, "float32")


def _gd_step(loss_function: Callable) -> Callable:
    gradient_of = value_and_grad(loss_function)
    low, high = _bounds()

    def step(image, fixed, rate):
        """x <- clip(x - rate * grad); rate < 0 asks for the rate that moves pixels GD_FIRST_STEP_PIXELS on average."""
        terms, gradient = gradient_of(image, fixed)
        first_rate = GD_FIRST_STEP_PIXELS / ops.maximum(ops.mean(ops.abs(gradient)), 1e-30)
        rate = ops.where(rate < 0, first_rate, rate)
        return terms, ops.clip(image - rate * gradient, low, high), rate

    return step


def minimize_gradient_descent(evaluator: Evaluator, image: np.ndarray, spec: OptimizerSpec):
    """Article 004: x <- x - lr * grad, with an optional step decay (the Keras 3 example), clipped to pixel range."""
    step = evaluator.compiled_step("gd", lambda: _gd_step(evaluator.loss_function_for_steps()))
    x = ops.convert_to_tensor(image, "float32")
    base_rate = spec.learning_rate
    for index in range(spec.iterations):
        # The decayed rate is computed in float64 on the host and passed as a tensor (no retrace per value).
        rate = -1.0 if base_rate is None else base_rate * spec.lr_decay ** (index // spec.lr_decay_steps)
        terms, new_x, used_rate = evaluator.call(step, x, evaluator.fixed, ops.convert_to_tensor(rate, "float32"))
        if base_rate is None:
            base_rate = float(ops.convert_to_numpy(used_rate))  # read once, at the first step
        evaluator.observe(terms, x)
        x = new_x
    return x


def minimize_adam(evaluator: Evaluator, image: np.ndarray, spec: OptimizerSpec):
    """Keras's Adam on the image (anishathalye's choice), projected back into pixel range after each step."""
    low, high = _bounds()
    optimizer = keras.optimizers.Adam(
        learning_rate=keras.optimizers.schedules.ExponentialDecay(
            spec.learning_rate or ADAM_LEARNING_RATE, spec.lr_decay_steps, spec.lr_decay, staircase=True
        )
    )
    gradient_of = value_and_grad(evaluator.loss_function_for_steps())
    # The image is a variable that the compiled step reads, updates and projects in place.
    variable = keras.Variable(image, dtype="float32", name="generated")
    optimizer.build([variable])

    def step_once(fixed):
        current = ops.convert_to_tensor(variable.value)  # the image this step evaluates, kept by the Monitor
        terms, gradient = gradient_of(current, fixed)
        optimizer.apply_gradients([(gradient, variable)])
        variable.assign(ops.clip(variable.value, low, high))
        return terms, current

    step = CompiledFunction(step_once, evaluator.jit_compile)
    for _ in range(spec.iterations):
        terms, current = evaluator.call(step, evaluator.fixed)
        evaluator.observe(terms, current)
    return ops.convert_to_tensor(variable.value)


def lbfgs_direction(gradient, s_history, y_history, rho):
    """-H g by the two-loop recursion over the history (newest pair last; empty slots have rho = 0 and change
    nothing), and whether there is any history to scale by. The loops are loops in the graph, not unrolled: a
    history of 100 pairs would otherwise trace 400 vector operations at every scale's first call."""
    def dot(a, b):
        return ops.sum(a * b)

    count = s_history.shape[0]

    def newest_first(index, state):
        q, alphas = state
        slot = count - 1 - index
        alpha = ops.take(rho, slot) * dot(ops.take(s_history, slot, axis=0), q)
        q = q - alpha * ops.take(y_history, slot, axis=0)
        return q, ops.scatter_update(alphas, ops.reshape(slot, (1, 1)), ops.reshape(alpha, (1,)))

    q, alphas = ops.fori_loop(0, count, newest_first, (gradient, ops.zeros((count,), gradient.dtype)))
    newest_y = y_history[count - 1]
    has_history = rho[count - 1] > 0
    gamma = ops.where(has_history, dot(s_history[count - 1], newest_y) / ops.maximum(dot(newest_y, newest_y), 1e-30),
                      1.0)

    def oldest_first(slot, r):
        beta = ops.take(rho, slot) * dot(ops.take(y_history, slot, axis=0), r)
        return r + ops.take(s_history, slot, axis=0) * (ops.take(alphas, slot) - beta)

    r = ops.fori_loop(0, count, oldest_first, gamma * q)
    return -r, has_history


def _shrunk(scale, loss, slope, trial_loss):
    """The next trial's scale after a failed one at `scale`: the minimiser of the quadratic through the loss, its
    `slope` along the step tried and the trial's loss, kept within LBFGS_SHRINK of `scale`."""
    curvature = trial_loss - loss - slope
    ratio = -slope / ops.maximum(2.0 * curvature, 1e-30)
    usable = ops.logical_and(ops.isfinite(ratio), curvature > 0)
    return scale * ops.where(usable, ops.clip(ratio, LBFGS_SHRINK[0], LBFGS_SHRINK[1]), LBFGS_SHRINK[1])


def _lbfgs_step(loss_function: Callable) -> Callable:
    """One projected L-BFGS iteration with a backtracking line search, all on the device.

    The direction comes from the two-loop recursion (without history: a gradient step that moves pixels
    `gradient_step` levels on average). Trial points x_t = clip(x + t d) start at t = 1 and shrink until the Armijo
    condition f(x_t) <= f(x) + c1 g.(x_t - x) holds (the projected form: the step actually taken, not t d), at most
    `max_trials` network passes; each shrink goes to the minimum of the quadratic through f(x), its slope and
    f(x_t), kept within [0.1, 0.5] of t (Nocedal & Wright's safeguarded backtracking), so a first step far too long
    (a warm start near its optimum: a video frame, a scale after the first) is cut to size in a pass or two. An
    accepted trial moves x and adds its curvature pair; if every trial fails, x stays and the history is cleared, so
    the next iteration starts again from a gradient step, and a failed gradient step makes the next one as short as
    the search had got. Returns the passes it spent, which count against the budget."""
    gradient_of = value_and_grad(loss_function)
    low, high = _bounds()

    def step(x, loss, gradient, gradient_step, s_history, y_history, rho, max_trials, fixed):
        direction, has_history = lbfgs_direction(gradient, s_history, y_history, rho)
        first_scale = gradient_step / ops.maximum(ops.mean(ops.abs(gradient)), 1e-30)
        direction = ops.where(has_history, direction, -first_scale * gradient)

        def trial_at(scale):
            trial = ops.clip(x + scale * direction, low, high)
            terms, trial_gradient = gradient_of(trial, fixed)
            bound = loss + LBFGS_ARMIJO * ops.sum(gradient * (trial - x))
            accepted = ops.logical_and(ops.isfinite(terms[0]), terms[0] <= bound)
            return trial, terms, trial_gradient, accepted

        def shrunk(scale, trial, terms):
            return _shrunk(scale, loss, ops.sum(gradient * (trial - x)), terms[0])

        def searching(scale, passes, trial, terms, trial_gradient, accepted):
            return ops.logical_and(ops.logical_not(accepted), passes < max_trials)

        def shrink(scale, passes, trial, terms, trial_gradient, accepted):
            scale = shrunk(scale, trial, terms)
            return (scale, passes + 1, *trial_at(scale))

        one = ops.convert_to_tensor(1.0, "float32")
        scale, passes, trial, terms, trial_gradient, accepted = ops.while_loop(
            searching, shrink, (one, ops.convert_to_tensor(1, "int32"), *trial_at(one)))
        s = (trial - x)[None]
        y = (trial_gradient - gradient)[None]
        curvature = ops.sum(s * y)
        keep = ops.logical_and(accepted, curvature > LBFGS_MIN_CURVATURE)
        s_history = ops.where(keep, ops.concatenate([s_history[1:], s], axis=0), s_history)
        y_history = ops.where(keep, ops.concatenate([y_history[1:], y], axis=0), y_history)
        newest_rho = ops.reshape(1.0 / ops.maximum(curvature, 1e-30), (1,))
        rho = ops.where(keep, ops.concatenate([rho[1:], newest_rho], axis=0), rho)
        rho = ops.where(accepted, rho, ops.zeros_like(rho))  # a failed search: start over from a gradient step
        # a gradient step's search sets the next gradient step's length: the accepted one, or shorter than any tried
        next_scale = ops.where(accepted, scale, shrunk(scale, trial, terms))
        gradient_step = ops.where(has_history, gradient_step, gradient_step * next_scale)
        x = ops.where(accepted, trial, x)
        loss = ops.where(accepted, terms[0], loss)
        gradient = ops.where(accepted, trial_gradient, gradient)
        return terms, trial, x, loss, gradient, gradient_step, s_history, y_history, rho, passes, accepted

    return step


def minimize_lbfgs_device(evaluator: Evaluator, image: np.ndarray, spec: OptimizerSpec):
    """L-BFGS with the whole iteration, line search included, on the device: each compiled call is one iteration
    of one or more network passes (the backtracking of _lbfgs_step), pixel bounds kept by projection, the
    history spec.lbfgs_memory pairs long. The host reads back the loss terms and the pass count per iteration; the
    last iteration's search is cut to the passes left, so the budget is never overspent."""
    step = evaluator.compiled_step("lbfgs", lambda: _lbfgs_step(evaluator.loss_function_for_steps()))
    x = ops.convert_to_tensor(image, "float32")
    terms, gradient = evaluator.call(evaluator.value_and_grad_step, x, evaluator.fixed)
    evaluator.observe(terms, x)
    loss = terms[0]
    memory = spec.lbfgs_memory
    # History of the last `memory` steps s and gradient changes y, each of the image's shape, newest last.
    s_history = ops.zeros((memory, *x.shape), "float32")
    y_history = ops.zeros((memory, *x.shape), "float32")
    rho = ops.zeros((memory,), "float32")
    # Without history, a gradient step that moves pixels GD_FIRST_STEP_PIXELS levels on average, as gd's first
    # step does (torch's min(1, 1/|g|_1) barely moves the image at style transfer's gradient scale).
    gradient_step = ops.convert_to_tensor(GD_FIRST_STEP_PIXELS, "float32")
    remaining = spec.iterations - 1
    while remaining > 0:
        max_trials = ops.convert_to_tensor(min(LBFGS_MAX_TRIALS, remaining), "int32")
        terms, trial, x, loss, gradient, gradient_step, s_history, y_history, rho, passes, _ = evaluator.call(
            step, x, loss, gradient, gradient_step, s_history, y_history, rho, max_trials, evaluator.fixed
        )
        passes = int(ops.convert_to_numpy(passes))
        evaluator.observe(terms, trial, passes=passes)
        remaining -= passes
    return x


def minimize_averaged(minimizer: Callable, evaluator: Evaluator, image: np.ndarray, spec: OptimizerSpec):
    """Run `minimizer` for all but the budget's last evaluation while keeping an exponential moving average of the
    images it evaluates (on the device: one multiply-add per step), then spend the last evaluation on the average,
    so the Monitor keeps it when its loss is the lowest (crowsonkb's EMA of Adam's iterates)."""
    decay = spec.average_decay
    observer = evaluator.observer
    average = []

    def observing(terms, current) -> None:
        current = ops.convert_to_tensor(current, "float32")
        average[:] = [current if not average else decay * average[0] + (1.0 - decay) * current]
        if observer is not None:
            observer(terms, current)

    evaluator.observer = observing
    try:
        minimizer(evaluator, image, replace(spec, iterations=spec.iterations - 1))
    finally:
        evaluator.observer = observer
    evaluator.evaluate(average[0])
    return average[0]
