"""The device L-BFGS: its line search keeps the Armijo decrease condition, on a quadratic and on a small VGG problem,
its loss and gradient are the host evaluator's, and its passes count against the budget."""
import numpy as np
import pytest
from keras import ops

from keras_style.config.settings import Settings
from keras_style.engine.backend import CompiledFunction, Device
from keras_style.engine.optimize import minimize
from keras_style.engine.optimize_device import GD_FIRST_STEP_PIXELS, LBFGS_ARMIJO, LBFGS_MAX_TRIALS, _lbfgs_step
from keras_style.files.images import pixel_bounds
from keras_style.run.assemble import AUTO_CPU_OPTIMIZER, evaluator_for, optimizer_spec
from keras_style.run.monitor import Monitor

from .conftest import build


def run_steps(step, x, fixed, iterations, memory=5):
    """Iterate a device L-BFGS step from x; per iteration (x before, loss before, gradient before, the last pass's
    terms, the last trial, x after, passes, accepted, loss after, gradient after)."""
    records = []
    s_history = ops.zeros((memory, *x.shape), "float32")
    y_history = ops.zeros((memory, *x.shape), "float32")
    rho = ops.zeros((memory,), "float32")
    gradient_step = ops.convert_to_tensor(GD_FIRST_STEP_PIXELS, "float32")
    loss, gradient = fixed["first"]
    for _ in range(iterations):
        before = (np.asarray(x), float(loss), np.asarray(gradient))
        terms, trial, x, loss, gradient, gradient_step, s_history, y_history, rho, passes, accepted = step(
            x, loss, gradient, gradient_step, s_history, y_history, rho,
            ops.convert_to_tensor(LBFGS_MAX_TRIALS, "int32"), fixed["fixed"])
        records.append((*before, np.asarray(terms), np.asarray(trial), np.asarray(x), int(passes), bool(accepted),
                        float(loss), np.asarray(gradient)))
    return records


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
    evaluator = evaluator_for(model, settings, content, style)
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
    evaluator = evaluator_for(model, settings, content, style, observer=monitor)
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
