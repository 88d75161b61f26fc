"""Each optimiser lowers the loss and keeps pixels in range (random weights, tiny image)."""
import numpy as np
import pytest

from keras_style.config.settings import Settings
from keras_style.engine.optimize import minimize
from keras_style.files.images import pixel_bounds
from keras_style.run.assemble import optimizer_spec, settings_evaluator
from keras_style.run.monitor import Monitor

from .conftest import build


@pytest.mark.parametrize(
    "options",
    [
        dict(optimizer="lbfgs", iterations=15),
        dict(optimizer="lbfgs", outer_iterations=3, maxfun=5, iterations=None),
        dict(optimizer="gd", iterations=15, learning_rate=None),
        dict(optimizer="adam", iterations=15),
    ],
    ids=["lbfgs", "lbfgs-restarts", "gd", "adam"],
)
def test_optimiser_lowers_the_loss(options):
    settings, content, style, model = build(init="noise", style_weight=1e3)
    settings = Settings.from_options(**{**settings.as_dict(), **options})
    monitor = Monitor(settings.evaluation_budget)
    evaluator = settings_evaluator(model, settings, content, style, observer=monitor)
    start = np.random.default_rng(0).uniform(-100, 100, size=content.shape).astype(np.float32)
    result = minimize(evaluator, start, optimizer_spec(settings))
    history = np.array(monitor.history)
    assert history[:, 0].min() < 0.6 * history[0, 0]
    assert monitor.evaluations >= settings.evaluation_budget * 0.9
    low, high = pixel_bounds()
    result = np.asarray(result)  # device optimisers return a tensor
    assert (result >= low - 1e-3).all() and (result <= high + 1e-3).all()


def test_adam_step_is_keras_adam_with_its_decay_and_the_projection():
    import keras
    from keras import ops

    from keras_style.engine.backend import value_and_grad
    from keras_style.engine.spec import OptimizerSpec

    settings, content, style, model = build(init="noise", style_weight=1e3)
    evaluator = settings_evaluator(model, settings, content, style)
    spec = OptimizerSpec("adam", iterations=5, learning_rate=20.0, lr_decay=0.5, lr_decay_steps=2)
    start = np.random.default_rng(5).uniform(-100, 100, size=content.shape).astype(np.float32)
    result = np.asarray(minimize(evaluator, start, spec))
    # the reference: Keras's own Adam and ExponentialDecay on a variable, eagerly
    optimizer = keras.optimizers.Adam(learning_rate=keras.optimizers.schedules.ExponentialDecay(
        20.0, 2, 0.5, staircase=True))
    variable = keras.Variable(start, dtype="float32")
    low, high = pixel_bounds()
    gradient_of = value_and_grad(evaluator.loss_function_for_steps())
    for _ in range(spec.iterations):
        _, gradient = gradient_of(ops.convert_to_tensor(variable.value), evaluator.fixed)
        optimizer.apply_gradients([(gradient, variable)])
        variable.assign(ops.clip(variable.value, low, high))
    reference = np.asarray(variable.value)
    assert np.abs(reference - start).max() > 10.0  # the steps moved the image
    # to the rounding of compiled against eager gradients (m / sqrt(v) takes a near-zero gradient's sign)
    np.testing.assert_allclose(result, reference, rtol=1e-4, atol=1e-2)
