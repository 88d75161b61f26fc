"""Work done once, not per evaluation; XLA and mixed precision give the same numbers as plain float32."""
import numpy as np
import pytest

from keras_style.config.settings import Settings
from keras_style.run.assemble import feature_model_for, settings_evaluator

from .conftest import build


def test_traced_once_over_20_evaluations_at_distinct_points():
    # a shape no other test uses, so this evaluator's first pass traces (exactly once) and the other 19 reuse it
    settings, content, style, model = build(size=(44, 28))
    evaluator = settings_evaluator(model, settings, content, style)
    x = content.astype(np.float64).ravel()
    evaluator.loss_and_grads(x)
    assert evaluator.traces == 1
    for step in range(1, 20):
        evaluator.loss_and_grads(x + step)
    assert evaluator.passes == 20 and evaluator.traces == 1


@pytest.mark.parametrize("mode", ["cached", "concat"])
def test_xla_gives_the_same_loss_and_gradient(mode):
    settings, content, style, model = build(mode=mode)
    x = content + np.random.default_rng(1).normal(scale=5.0, size=content.shape).astype(np.float32)
    plain = settings_evaluator(model, Settings.from_options(**{**settings.as_dict(), "jit_compile": False}), content,
                          style)
    compiled = settings_evaluator(model, Settings.from_options(**{**settings.as_dict(), "jit_compile": True}), content,
                             style)
    (terms_plain, grad_plain), (terms_xla, grad_xla) = plain.evaluate(x), compiled.evaluate(x)
    np.testing.assert_allclose(terms_xla, terms_plain, rtol=1e-4)
    np.testing.assert_allclose(grad_xla, grad_plain, rtol=1e-3, atol=1e-4 * np.abs(grad_plain).max())


def test_bfloat16_and_float32_give_the_same_loss_to_a_tolerance(real_weights):
    settings, content, style, _ = build(weights="imagenet", network="vgg16")
    x = content + np.random.default_rng(2).normal(scale=5.0, size=content.shape).astype(np.float32)
    results = {}
    for precision in ("float32", "mixed"):
        chosen = Settings.from_options(**{**settings.as_dict(), "precision": precision})
        results[precision], _ = settings_evaluator(feature_model_for(chosen), chosen, content, style).evaluate(x)
    assert np.isfinite(results["mixed"]).all()
    # total and style within 5 %; the content term is small here (x is near the content) and noisier in bfloat16
    np.testing.assert_allclose(results["mixed"][[0, 2]], results["float32"][[0, 2]], rtol=0.05)
