"""The device L-BFGS: its line search keeps the Armijo decrease condition, on a quadratic and on a small VGG problem,
its loss and gradient are the host evaluator's, and its passes count against the budget; with active bounds its
projected steps never raise the loss; its ring buffer gives the textbook two-loop directions; it reads back to the
host once per iteration; a search that cannot descend ends the scale as stalled; the memory estimate counts its
history."""
from collections import OrderedDict

import numpy as np
import pytest
from keras import ops

from keras_style.config.settings import Settings
from keras_style.engine.backend import CompiledFunction, Device, history_ring, value_and_grad
from keras_style.engine.evaluator import Evaluator
from keras_style.engine.optimize import minimize
from keras_style.engine.optimize_device import (
    GD_FIRST_STEP_PIXELS,
    LBFGS_ARMIJO,
    LBFGS_MAX_TRIALS,
    _lbfgs_step,
    lbfgs_direction,
    minimize_lbfgs_device,
    report_rows,
)
from keras_style.engine.spec import OptimizerSpec
from keras_style.files.images import pixel_bounds
from keras_style.run.assemble import AUTO_CPU_OPTIMIZER, optimizer_spec, settings_evaluator
from keras_style.run.memory import SAFETY_MARGIN, estimate_bytes
from keras_style.run.monitor import Monitor

from .conftest import CONTENT, STYLE, build


def run_steps(step, x, fixed, iterations, memory=5, directions=False):
    """Iterate a device L-BFGS step from x; per iteration (x before, loss before, gradient before, the last pass's
    terms, the last trial, x after, passes, accepted, loss after, gradient after, whether the direction came from the
    history), and with `directions` the L-BFGS direction at the point each iteration ends at."""
    records, found = [], []
    s_ring, y_ring = (history_ring(memory, tuple(x.shape)) for _ in range(2))
    rho = ops.zeros((memory,), "float32")
    newest = ops.convert_to_tensor(memory - 1, "int32")
    gradient_step = ops.convert_to_tensor(GD_FIRST_STEP_PIXELS, "float32")
    loss, gradient = fixed["first"]
    for _ in range(iterations):
        before = (np.asarray(x), float(loss), np.asarray(gradient))
        report, trial, x, loss, gradient, gradient_step, s_ring, y_ring, rho, newest = step(
            x, loss, gradient, gradient_step, s_ring, y_ring, rho, newest,
            ops.convert_to_tensor(LBFGS_MAX_TRIALS, "int32"), fixed["fixed"])
        rows, passes, accepted, from_history = report_rows(np.asarray(report))
        records.append((*before, rows[-1], np.asarray(trial), np.asarray(x), passes, accepted, float(loss),
                        np.asarray(gradient), from_history))
        if directions:
            found.append(np.asarray(lbfgs_direction(gradient, s_ring, y_ring, rho, newest)[0]))
    return (records, found) if directions else records


def assert_armijo(records):
    """Every accepted step lowers the loss by at least c1 times the directional derivative along the step taken."""
    accepted = 0
    for x_before, loss_before, gradient, terms, trial, x_after, passes, was_accepted, *_ in records:
        assert 1 <= passes <= LBFGS_MAX_TRIALS
        if was_accepted:
            accepted += 1
            decrease = float(np.sum(gradient.astype(np.float64) * (trial - x_before)))
            assert decrease < 0
            assert terms[0] <= loss_before + LBFGS_ARMIJO * decrease + 1e-6 * abs(loss_before)
            assert terms[0] <= loss_before  # the accepted loss never rises
            np.testing.assert_array_equal(x_after, trial)
        else:
            np.testing.assert_array_equal(x_after, x_before)
    return accepted


QUADRATIC_SHAPE = (1, 6, 5, 3)


def quadratic_loss(image, fixed):
    """sum(curvature * (image - centre)^2), as a loss function of the device steps (total, stacked terms)."""
    total = ops.sum(fixed["curvature"] * ops.square(image - fixed["centre"]))
    return total, ops.stack([total, total])


def quadratic_problem(rng, lowest: float, highest: float):
    """(the compiled L-BFGS step on quadratic_loss, its fixed tensors): a random centre, and curvatures from
    10^lowest to 10^highest."""
    centre = ops.convert_to_tensor(rng.uniform(-50, 50, QUADRATIC_SHAPE), "float32")
    curvature = ops.convert_to_tensor(10 ** rng.uniform(lowest, highest, QUADRATIC_SHAPE), "float32")
    return CompiledFunction(_lbfgs_step(quadratic_loss), False), {"centre": centre, "curvature": curvature}


def test_the_line_search_keeps_the_decrease_condition_on_a_quadratic_and_falls_to_its_minimum():
    rng = np.random.default_rng(0)
    low, high = pixel_bounds()
    # badly conditioned: curvatures from 0.01 to 10, so unit steps along the gradient overshoot
    step, fixed = quadratic_problem(rng, -2, 1)
    x = ops.convert_to_tensor(np.clip(rng.uniform(-100, 100, QUADRATIC_SHAPE), low, high), "float32")
    loss = quadratic_loss(x, fixed)[0]
    gradient = 2.0 * fixed["curvature"] * (x - fixed["centre"])
    records = run_steps(step, x, {"first": (loss, gradient), "fixed": fixed}, iterations=60)
    assert assert_armijo(records) >= 40
    final = records[-1][5]
    assert float(ops.convert_to_numpy(quadratic_loss(ops.convert_to_tensor(final), fixed)[0])) < 1e-4 * float(loss)


def test_a_warm_start_near_its_minimum_still_descends():
    """A start 0.01 levels from the minimum (a video frame's, a later scale's): the first gradient step of
    GD_FIRST_STEP_PIXELS overshoots by 500x, and halving alone would fail every search (5/32 levels is still too far)
    and restart from the same step forever; the interpolating search cuts it to size within the first iteration."""
    rng = np.random.default_rng(3)
    step, fixed = quadratic_problem(rng, -1, 1)
    centre, curvature = fixed["centre"], fixed["curvature"]
    x = centre + ops.convert_to_tensor(rng.uniform(-0.01, 0.01, QUADRATIC_SHAPE), "float32")
    loss = quadratic_loss(x, fixed)[0]
    records = run_steps(step, x, {"first": (loss, 2.0 * curvature * (x - centre)), "fixed": fixed}, iterations=4)
    assert records[0][7], "the first search found no decrease"
    assert assert_armijo(records) == 4
    assert records[-1][8] < 0.1 * float(loss)


def test_on_a_small_vgg_problem_each_step_keeps_the_decrease_condition_and_matches_the_host_evaluator():
    settings, content, style, model = build(size=(48, 40), init="noise", style_weight=1e3)
    evaluator = settings_evaluator(model, settings, content, style)
    step = evaluator.compiled_step("lbfgs", lambda: _lbfgs_step(evaluator.loss_function_for_steps()))
    start = np.random.default_rng(1).uniform(-60, 60, size=content.shape).astype(np.float32)
    x = ops.convert_to_tensor(start)
    terms, gradient = evaluator.call(evaluator.value_and_grad_step, x, evaluator.fixed)
    records = run_steps(step, x, {"first": (terms[0], gradient), "fixed": evaluator.fixed}, iterations=12)
    assert assert_armijo(records) >= 8
    losses = [record[1] for record in records]
    assert losses[-1] < 0.5 * losses[0]
    # the device step's loss and gradient at the point it ends at are the host evaluator's, to 1e-4
    x_after, device_loss, device_gradient = records[-1][5], records[-1][8], records[-1][9]
    host_loss, host_gradient = evaluator.loss_and_grads(x_after.astype(np.float64).ravel())
    assert device_loss == pytest.approx(host_loss, rel=1e-4)
    np.testing.assert_allclose(device_gradient.ravel(), host_gradient, atol=1e-4 * np.abs(host_gradient).max())


def test_the_line_search_passes_count_against_the_budget():
    settings, content, style, model = build(size=(40, 40), init="noise", style_weight=1e3)
    settings = Settings.from_options(**{**settings.as_dict(), "optimizer": "lbfgs-device", "iterations": 23})
    monitor = Monitor(settings.evaluation_budget)
    evaluator = settings_evaluator(model, settings, content, style, observer=monitor)
    start = np.random.default_rng(2).uniform(-100, 100, size=content.shape).astype(np.float32)
    minimize(evaluator, start, optimizer_spec(settings))
    assert evaluator.passes == monitor.evaluations == 23
    history = np.array(monitor.history)
    assert history[-1, 0] < 0.5 * history[0, 0]


@pytest.mark.parametrize("options, device, chosen, reason", [
    ({"optimizer": "auto"}, "gpu", "lbfgs-device", "auto: GPU"),
    ({"optimizer": "auto"}, "cpu", AUTO_CPU_OPTIMIZER, "auto: CPU"),
    ({"optimizer": "auto", "outer_iterations": 3, "maxfun": 5}, "gpu", "lbfgs", "restart loop"),
    ({}, "gpu", "lbfgs", "as asked"),  # the paper's preset keeps scipy's L-BFGS-B everywhere
    ({"optimizer": "adam"}, "gpu", "adam", "as asked"),
])
def test_auto_picks_the_device_lbfgs_on_a_gpu_and_says_why(monkeypatch, options, device, chosen, reason):
    import keras_style.run.assemble as assemble

    monkeypatch.setattr(assemble, "detect_device", lambda: Device(device, "test device"))
    spec = optimizer_spec(Settings.from_options(preset="gatys", **options))
    assert spec.optimizer == chosen and reason in spec.reason


def test_with_active_bounds_the_accepted_loss_never_rises_and_reaches_the_clipped_minimum():
    """A quadratic whose centre lies mostly outside the pixel bounds: most pixels end at a bound. The direction is
    projected on the active bounds (no component pushes a pixel at its bound further out), so the Armijo check is
    on the step actually taken, and the loss after each iteration is never above the loss before."""
    rng = np.random.default_rng(5)
    low, high = pixel_bounds()
    step, fixed = quadratic_problem(rng, -1, 1)
    fixed["centre"] = ops.convert_to_tensor(rng.uniform(-400, 400, QUADRATIC_SHAPE), "float32")
    x = ops.convert_to_tensor(np.clip(rng.uniform(-100, 100, QUADRATIC_SHAPE), low, high), "float32")
    loss = quadratic_loss(x, fixed)[0]
    gradient = 2.0 * fixed["curvature"] * (x - fixed["centre"])
    records = run_steps(step, x, {"first": (loss, gradient), "fixed": fixed}, iterations=40)
    losses = [float(loss)] + [record[8] for record in records]
    assert all(after <= before for before, after in zip(losses, losses[1:]))
    assert assert_armijo(records) >= 10
    final = records[-1][5]
    at_bounds = np.mean((final <= low) | (final >= high))
    assert at_bounds > 0.5  # the bounds are active
    best = np.clip(np.asarray(fixed["centre"]), low, high)  # the minimum within the bounds (the loss is separable)
    lowest = float(quadratic_loss(ops.convert_to_tensor(best), fixed)[0])
    assert losses[-1] <= lowest + 1e-3 * (losses[0] - lowest)


def test_a_direction_that_descends_only_through_pixels_at_their_bounds_is_not_taken_uphill(monkeypatch):
    """A history direction that pushes every pixel up: all but one sit at the upper bound, where their gradient
    (-10) makes it a descent direction on paper; clipped, the step only moves the free pixel, uphill (its gradient
    is +1), and a loss concave along it rises by less than c1 times that slope, which the unprojected Armijo check
    accepted. Projected, the direction is not a descent direction, and the projected gradient step goes down."""
    from keras_style.engine import optimize_device

    low, high = pixel_bounds()
    free = np.zeros(QUADRATIC_SHAPE, np.float32)
    free[0, 0, 0, 0] = 1.0
    fixed = {"free": ops.convert_to_tensor(free), "high": ops.convert_to_tensor(np.broadcast_to(high, free.shape))}

    def loss(image, fixed):  # 0 at the start; along the free pixel x - 1.9999 x^2 / 2, rising 5e-5 at x = 1
        at_bound = ops.sum((1.0 - fixed["free"]) * -10.0 * (image - fixed["high"]))
        total = at_bound + ops.sum(fixed["free"] * (image - 0.99995 * ops.square(image)))
        return total, ops.stack([total, total])

    monkeypatch.setattr(optimize_device, "lbfgs_direction", lambda gradient, *history: (ops.ones_like(gradient),
                                                                                         ops.convert_to_tensor(True)))
    step = CompiledFunction(_lbfgs_step(loss), False)
    x = ops.convert_to_tensor(np.where(free > 0, 0.0, np.broadcast_to(high, free.shape)).astype(np.float32))
    first = value_and_grad(loss)(x, fixed)
    records = run_steps(step, x, {"first": (first[0][0], first[1]), "fixed": fixed}, iterations=3)
    for record in records:
        assert record[8] <= record[1]  # never uphill (the free pixel then rests at its lower bound: no move left)
        np.testing.assert_array_equal(record[5][free == 0], np.broadcast_to(high, free.shape)[free == 0])
    assert records[0][8] < records[0][1] and records[0][7] and not records[0][10]  # down, by the projected gradient


def two_loop_reference(gradient, pairs):
    """The textbook two-loop recursion in float64 over (s, y) pairs, newest last: -H g."""
    q = gradient.astype(np.float64).ravel()
    pairs = [(s.astype(np.float64).ravel(), y.astype(np.float64).ravel()) for s, y in pairs]
    alphas = []
    for s, y in reversed(pairs):
        alpha = (s @ q) / (s @ y)
        alphas.append(alpha)
        q = q - alpha * y
    if pairs:
        s, y = pairs[-1]
        q = q * (s @ y) / (y @ y)
    for (s, y), alpha in zip(pairs, reversed(alphas)):
        q = q + s * (alpha - (y @ q) / (s @ y))
    return -q.reshape(gradient.shape)


def test_the_ring_buffer_gives_the_two_loop_directions_of_the_newest_pairs():
    """Past the buffer's length the newest pair overwrites the oldest in place; the directions it gives are the
    textbook two-loop recursion's over the last m accepted pairs, newest last."""
    rng = np.random.default_rng(7)
    memory = 3
    step, fixed = quadratic_problem(rng, -1, 0.5)
    fixed["centre"] = ops.convert_to_tensor(rng.uniform(-40, 40, QUADRATIC_SHAPE), "float32")
    x = ops.convert_to_tensor(rng.uniform(-60, 60, QUADRATIC_SHAPE), "float32")
    loss = quadratic_loss(x, fixed)[0]
    gradient = 2.0 * fixed["curvature"] * (x - fixed["centre"])
    records, directions = run_steps(step, x, {"first": (loss, gradient), "fixed": fixed}, iterations=9,
                                    memory=memory, directions=True)
    pairs, compared = [], 0
    for record, direction in zip(records, directions):
        x_before, _, gradient_before, *_, x_after, _, accepted, _, gradient_after, _ = record
        s, y = x_after - x_before, gradient_after - gradient_before
        if accepted and float(np.sum(s.astype(np.float64) * y)) > 1e-10:
            pairs = (pairs + [(s, y)])[-memory:]
        expected = two_loop_reference(gradient_after, pairs)
        np.testing.assert_allclose(direction, expected, rtol=0, atol=1e-4 * np.abs(expected).max())
        compared += len(pairs) == memory
    assert compared >= 4  # the buffer wrapped round more than once


class QuadraticEvaluator:
    """What minimize_lbfgs_device needs of an Evaluator, on quadratic_loss: its compiled steps, calls, and
    Evaluator.observe itself."""

    observe = Evaluator.observe
    _add_compiled_seconds = Evaluator._add_compiled_seconds

    def __init__(self, fixed):
        self.fixed, self.passes, self.stalled, self.observer, self.steps = fixed, 0, False, None, 0
        self.first_pass_seconds, self.network_seconds, self._compiled_calls, self._step_started = 0.0, 0.0, 0, None
        self.value_and_grad_step = CompiledFunction(value_and_grad(quadratic_loss), False)

    def compiled_step(self, purpose, build):
        return CompiledFunction(build(), False)

    def loss_function_for_steps(self):
        return quadratic_loss

    def call(self, function, *args):
        self.steps += function is not self.value_and_grad_step
        return function(*args)


def test_one_read_back_to_the_host_per_iteration(monkeypatch):
    rng = np.random.default_rng(9)
    _, fixed = quadratic_problem(rng, -1, 1)
    evaluator = QuadraticEvaluator(fixed)
    reads = []
    convert = ops.convert_to_numpy
    monkeypatch.setattr(ops, "convert_to_numpy", lambda value: reads.append(1) or convert(value))
    start = rng.uniform(-60, 60, QUADRATIC_SHAPE).astype(np.float32)
    minimize_lbfgs_device(evaluator, start, OptimizerSpec("lbfgs-device", iterations=25, lbfgs_memory=4))
    assert evaluator.passes == 25 and evaluator.steps >= 10
    # one vector per step: the first evaluation's (a step from a zero direction), then one per iteration
    assert len(reads) == evaluator.steps


def test_a_search_that_fails_from_a_gradient_step_stops_the_scale_as_stalled(monkeypatch):
    """A gradient of the wrong sign: every step after the first goes uphill, so the searches fail, from a plain
    gradient step and again from a shorter one. The scale ends there and its record says stalled."""
    import keras_style
    from keras_style.engine import backend, optimize_device

    def uphill(function):
        gradient_of = value_and_grad(function)

        def wrong_sign(image, *rest):
            terms, gradient = gradient_of(image, *rest)
            return terms, -gradient

        return wrong_sign

    monkeypatch.setattr(backend, "_COMPILED", OrderedDict())  # the step is built (traced) with the patch
    monkeypatch.setattr(optimize_device, "value_and_grad", uphill)
    # the preset's early stop off: a loss that never falls would otherwise end the scale as converged first
    result = keras_style.stylize_result(CONTENT, STYLE, size=48, iterations=30, weights="none", precision="float32",
                                        optimizer="lbfgs-device", min_improvement=0)
    assert result.stopped == "stalled" and result.scales[-1]["stopped"] == "stalled"
    assert 2 * LBFGS_MAX_TRIALS < result.evaluations < 30


def test_the_memory_estimate_counts_the_device_lbfgs_history():
    pixels = 512 * 384
    device = Settings.from_options(preset="painterly", optimizer="lbfgs-device", lbfgs_memory=100)
    small = Settings.from_options(preset="painterly", optimizer="lbfgs-device", lbfgs_memory=10)
    history = estimate_bytes(device, 512, 384) - estimate_bytes(small, 512, 384)
    assert history == pytest.approx(SAFETY_MARGIN * 2 * 90 * 3 * pixels * 4)  # 2 * m float32 images
    auto = Settings.from_options(preset="painterly", optimizer="auto", lbfgs_memory=100)
    adam = Settings.from_options(preset="painterly", optimizer="adam", lbfgs_memory=100)
    assert estimate_bytes(auto, 512, 384) >= estimate_bytes(device, 512, 384) > estimate_bytes(adam, 512, 384)


def test_each_pass_of_a_line_search_is_recorded_with_its_own_trial_loss():
    """The first search (from a gradient step) on a steep quadratic overshoots and backtracks: each of its passes is
    in the history with its own trial's loss, the ones rebuilt on the host from the search's rule, and only the
    last pass hands over an image."""
    from keras_style.engine.optimize_device import _shrunk, projected

    rng = np.random.default_rng(4)
    _, fixed = quadratic_problem(rng, 1, 2)
    evaluator = QuadraticEvaluator(fixed)
    seen = []
    evaluator.observer = lambda terms, image: seen.append((terms, image))
    # within a pixel level of the minimum: the first gradient step, GD_FIRST_STEP_PIXELS levels, overshoots
    start = (np.asarray(fixed["centre"]) + rng.uniform(-1, 1, QUADRATIC_SHAPE)).astype(np.float32)
    minimize_lbfgs_device(evaluator, start, OptimizerSpec("lbfgs-device", iterations=12, lbfgs_memory=4))
    assert len(seen) == evaluator.passes == 12
    first = [terms for terms, image in seen[1:]]
    searched = next(index for index, (_, image) in enumerate(seen[1:]) if image is not None) + 1
    assert searched >= 2, "the first search took one pass: no backtracking to check"
    assert all(image is None for _, image in seen[1:searched]) and seen[searched][1] is not None
    losses = [float(terms[0]) for terms in first[:searched]]
    assert len(set(losses)) == searched  # each pass its own loss, not the last one repeated
    # rebuild the search's trials: x_t = clip(x + t d), d the projected gradient step, t shrunk after each failure
    low, high = (np.asarray(bound, np.float32) for bound in pixel_bounds())
    x, loss = start, float(ops.convert_to_numpy(quadratic_loss(ops.convert_to_tensor(start), fixed)[0]))
    gradient = 2.0 * np.asarray(fixed["curvature"]) * (x - np.asarray(fixed["centre"]))
    steepest = np.asarray(projected(ops.convert_to_tensor(-gradient), ops.convert_to_tensor(x), low, high))
    direction = GD_FIRST_STEP_PIXELS / np.abs(steepest).mean() * steepest
    scale = 1.0
    for recorded in losses:
        trial = np.clip(x + scale * direction, low, high)
        expected = float(ops.convert_to_numpy(quadratic_loss(ops.convert_to_tensor(trial), fixed)[0]))
        assert recorded == pytest.approx(expected, rel=1e-5)
        scale = float(_shrunk(scale, loss, float(np.sum(gradient * (trial - x))), expected))
    # the last pass's image is its trial's: its recorded loss is an independent evaluation of that image
    last_terms, last_image = seen[searched]
    assert float(last_terms[0]) == pytest.approx(
        float(ops.convert_to_numpy(quadratic_loss(ops.convert_to_tensor(np.asarray(last_image)), fixed)[0])),
        rel=1e-6)
