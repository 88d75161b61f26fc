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
