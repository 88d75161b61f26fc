"""Optimisers whose whole step runs on the device as one compiled call: gradient descent, Adam and L-BFGS.

Each step computes the loss and gradient and updates the image inside one tf.function; the image
never goes to the host during the loop. Only the loss terms come back per step, for the progress bar and the
history (the L-BFGS step packs its search's outcome into the same vector: one read per iteration). The image the
Monitor keeps as the best is a reference to an immutable device tensor, fetched only when a snapshot or the result
needs it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import keras
import numpy as np
from keras import ops

from keras_style.engine.backend import CompiledFunction, history_ring, ring_read, ring_write, value_and_grad
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
# search that fails that far restarts from a gradient step; one that started from a gradient step stalls the run),
# and the range each failed trial shrinks the step by.
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
        # the image this step evaluates, kept by the Monitor: a copy read before the update (on TensorFlow
        # convert_to_tensor returns the variable itself, which the step would hand back after its update)
        current = ops.copy(variable.value)
        terms, gradient = gradient_of(current, fixed)
        optimizer.apply_gradients([(gradient, variable)])
        variable.assign(ops.clip(variable.value, low, high))
        return terms, current

    step = CompiledFunction(step_once, evaluator.jit_compile)
    for _ in range(spec.iterations):
        terms, current = evaluator.call(step, evaluator.fixed)
        evaluator.observe(terms, current)
    return ops.convert_to_tensor(variable.value)


def _dot(a, b):
    """a.b over every element, as one matrix product: no temporary of the images' size (the two-loop recursion
    makes four of these per pair, and memory traffic is its whole cost)."""
    return ops.tensordot(ops.reshape(a, (-1,)), ops.reshape(b, (-1,)), axes=1)


def lbfgs_direction(gradient, s_ring, y_ring, rho, newest):
    """-H g by the two-loop recursion over the history rings of curvature pairs (backend.history_ring), and whether
    there is any history.

    Slot `newest` holds the newest pair; the pairs are the slots with rho > 0 (a reset zeroes rho), walked newest to
    oldest modulo m and back. The loops are loops in the graph, not unrolled: a history of 100 pairs would otherwise
    trace 400 vector operations at every scale's first call."""
    memory, shape = rho.shape[0], tuple(gradient.shape)
    count = ops.sum(ops.cast(rho > 0, "int32"))
    slots = ops.arange(memory, dtype="int32")

    def pair(slot):
        return ring_read(s_ring, slot, shape), ring_read(y_ring, slot, shape)

    def newest_first(age, state):
        q, alphas = state
        slot = (newest - age) % memory
        s, y = pair(slot)
        alpha = rho[slot] * _dot(s, q)
        return q - alpha * y, ops.where(slots == slot, alpha, alphas)

    q, alphas = ops.fori_loop(0, count, newest_first, (gradient, ops.zeros_like(rho)))
    newest_s, newest_y = pair(newest)
    has_history = count > 0
    gamma = ops.where(has_history, _dot(newest_s, newest_y) / ops.maximum(_dot(newest_y, newest_y), 1e-30), 1.0)

    def oldest_first(index, r):
        slot = (newest - (count - 1 - index)) % memory
        s, y = pair(slot)
        beta = rho[slot] * _dot(y, r)
        return r + s * (alphas[slot] - beta)

    r = ops.fori_loop(0, count, oldest_first, gamma * q)
    return -r, has_history


def projected(direction, x, low, high):
    """The direction without the components that would push a pixel already at a bound further out: the step then
    moves only pixels that can move, so the decrease its Armijo check predicts is the one the clipped step makes."""
    blocked = ops.logical_or(ops.logical_and(x <= low, direction < 0), ops.logical_and(x >= high, direction > 0))
    return ops.where(blocked, ops.zeros_like(direction), direction)


def _search_direction(low, high) -> Callable:
    """The direction of an iteration, projected on the active bounds: L-BFGS's where there is history and it
    descends, else the projected gradient scaled to move pixels `gradient_step` levels on average."""
    def direction_at(x, gradient, gradient_step, s_ring, y_ring, rho, newest):
        direction, has_history = lbfgs_direction(gradient, s_ring, y_ring, rho, newest)
        direction = projected(direction, x, low, high)
        from_history = ops.logical_and(has_history, _dot(gradient, direction) < 0)
        steepest = projected(-gradient, x, low, high)
        first_scale = gradient_step / ops.maximum(ops.mean(ops.abs(steepest)), 1e-30)
        return ops.where(from_history, direction, first_scale * steepest), from_history

    return direction_at


def _remember(s_ring, y_ring, slot, s, y, keep):
    """The rings with a curvature pair in slot `slot` when `keep` (else the slot keeps its pair: with a full ring it
    holds the oldest pair still in use)."""
    shape = tuple(s.shape)
    return [ring_write(ring, slot, ops.where(keep, value, ring_read(ring, slot, shape)))
            for ring, value in ((s_ring, s), (y_ring, y))]


def _shrunk(scale, loss, slope, trial_loss):
    """The next trial's scale after a failed one at `scale`: the minimiser of the quadratic through the loss, its
    `slope` along the step tried and the trial's loss, kept within LBFGS_SHRINK of `scale`."""
    curvature = trial_loss - loss - slope
    ratio = -slope / ops.maximum(2.0 * curvature, 1e-30)
    usable = ops.logical_and(ops.isfinite(ratio), curvature > 0)
    return scale * ops.where(usable, ops.clip(ratio, LBFGS_SHRINK[0], LBFGS_SHRINK[1]), LBFGS_SHRINK[1])


def _line_search(gradient_of: Callable, low, high) -> Callable:
    """Backtracking from x along a direction: trials x_t = clip(x + t d) from t = 1, each shrink to the minimum of
    the quadratic through f(x), its slope and f(x_t) within LBFGS_SHRINK of t, until the Armijo condition on the
    step actually taken, f(x_t) <= f(x) + c1 min(g.(x_t - x), 0), holds or `max_trials` passes are spent (the min:
    the accepted loss never rises). (scale, passes, trial, terms, trial gradient, accepted)."""
    def search(x, loss, gradient, direction, max_trials, fixed):
        def trial_at(scale):
            trial = ops.clip(x + scale * direction, low, high)
            terms, trial_gradient = gradient_of(trial, fixed)
            bound = loss + LBFGS_ARMIJO * ops.minimum(_dot(gradient, trial - x), 0.0)
            accepted = ops.logical_and(ops.isfinite(terms[0]), terms[0] <= bound)
            return trial, terms, trial_gradient, accepted

        def searching(scale, passes, trial, terms, trial_gradient, accepted):
            return ops.logical_and(ops.logical_not(accepted), passes < max_trials)

        def shrink(scale, passes, trial, terms, trial_gradient, accepted):
            scale = _shrunk(scale, loss, _dot(gradient, trial - x), terms[0])
            return (scale, passes + 1, *trial_at(scale))

        one = ops.convert_to_tensor(1.0, "float32")
        return ops.while_loop(searching, shrink, (one, ops.convert_to_tensor(1, "int32"), *trial_at(one)))

    return search


def _lbfgs_step(loss_function: Callable) -> Callable:
    """One projected L-BFGS iteration with a backtracking line search (_line_search), all on the device.

    The history is two rings of m images (s_ring, y_ring: backend.history_ring, the steps and the gradient changes,
    written one slot at a time, the others never copied), `rho` their 1 / s.y (0: empty) and `newest` the newest
    pair's slot. An accepted trial moves x and writes its pair in the next slot (when s.y > LBFGS_MIN_CURVATURE). If
    every trial fails, x stays and the history is cleared, so the next iteration starts from a gradient step; a
    gradient step's search sets the next one's length (the accepted step, or shorter than any it tried). Returns
    the host's report, one vector read once per iteration: the last pass's terms, then the passes spent (they count
    against the budget), whether the search was accepted and whether its direction came from the history; then the
    trial, the new state and the rings."""
    gradient_of = value_and_grad(loss_function)
    low, high = _bounds()
    direction_at = _search_direction(low, high)
    search = _line_search(gradient_of, low, high)

    def step(x, loss, gradient, gradient_step, s_ring, y_ring, rho, newest, max_trials, fixed):
        direction, from_history = direction_at(x, gradient, gradient_step, s_ring, y_ring, rho, newest)
        scale, passes, trial, terms, trial_gradient, accepted = search(x, loss, gradient, direction, max_trials,
                                                                       fixed)
        s, y = trial - x, trial_gradient - gradient
        curvature = _dot(s, y)
        keep = ops.logical_and(accepted, curvature > LBFGS_MIN_CURVATURE)
        slot = (newest + 1) % rho.shape[0]
        s_ring, y_ring = _remember(s_ring, y_ring, slot, s, y, keep)
        written = ops.logical_and(keep, ops.arange(rho.shape[0], dtype="int32") == slot)
        rho = ops.where(written, 1.0 / ops.maximum(curvature, 1e-30), rho)
        rho = ops.where(accepted, rho, ops.zeros_like(rho))  # a failed search: start over from a gradient step
        newest = ops.where(keep, slot, newest)
        # a gradient step's search sets the next gradient step's length: the accepted one, or shorter than any tried
        next_scale = ops.where(accepted, scale, _shrunk(scale, loss, _dot(gradient, s), terms[0]))
        gradient_step = ops.where(from_history, gradient_step, gradient_step * next_scale)
        flags = ops.cast(ops.stack([passes, ops.cast(accepted, "int32"), ops.cast(from_history, "int32")]), "float32")
        report = ops.concatenate([ops.cast(terms, "float32"), flags])
        state = [ops.where(accepted, new, old) for new, old in ((trial, x), (terms[0], loss),
                                                                (trial_gradient, gradient))]
        return report, trial, *state, gradient_step, s_ring, y_ring, rho, newest

    return step


def minimize_lbfgs_device(evaluator: Evaluator, image: np.ndarray, spec: OptimizerSpec):
    """L-BFGS with the whole iteration, line search included, on the device: each compiled call is one iteration
    of one or more network passes (_lbfgs_step), pixel bounds kept by projection, the history two rings of
    spec.lbfgs_memory images. The host reads back one vector per iteration (the terms, the passes, the search's
    outcome); the last iteration's search is cut to the passes left, so the budget is never overspent.

    A stall ends the run before its budget and sets evaluator.stalled: two searches in a row that failed all their
    LBFGS_MAX_TRIALS trials, the second from a plain gradient step (after the history's reset, or after a failed
    gradient step, starting shorter than any step that one tried). The optimiser cannot descend from there: the loss
    is not finite, or not lower along the gradient within float32's resolution (the second search's last trial is
    1/256 of the first's step or shorter)."""
    step = evaluator.compiled_step("lbfgs", lambda: _lbfgs_step(evaluator.loss_function_for_steps()))
    x = ops.convert_to_tensor(image, "float32")
    terms, gradient = evaluator.call(evaluator.value_and_grad_step, x, evaluator.fixed)
    evaluator.observe(terms, x)
    loss = terms[0]
    # s and y: the last m steps and gradient changes
    s_ring, y_ring = (history_ring(spec.lbfgs_memory, tuple(x.shape)) for _ in range(2))
    rho = ops.zeros((spec.lbfgs_memory,), "float32")
    newest = ops.convert_to_tensor(spec.lbfgs_memory - 1, "int32")
    # Without history, a gradient step that moves pixels GD_FIRST_STEP_PIXELS levels on average, as gd's first
    # step does (torch's min(1, 1/|g|_1) barely moves the image at style transfer's gradient scale).
    gradient_step = ops.convert_to_tensor(GD_FIRST_STEP_PIXELS, "float32")
    remaining, failed = spec.iterations - 1, False
    while remaining > 0:
        max_trials = min(LBFGS_MAX_TRIALS, remaining)
        report, trial, x, loss, gradient, gradient_step, s_ring, y_ring, rho, newest = evaluator.call(
            step, x, loss, gradient, gradient_step, s_ring, y_ring, rho, newest,
            ops.convert_to_tensor(max_trials, "int32"), evaluator.fixed)
        report = ops.convert_to_numpy(report)  # the iteration's one read back to the host
        passes, accepted, from_history = (int(value) for value in report[-3:])
        evaluator.observe(report[:-3], trial, passes=passes)
        remaining -= passes
        if not (accepted or from_history) and passes == LBFGS_MAX_TRIALS and failed:
            evaluator.stalled = True
            break
        failed = not accepted
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
