"""The Evaluator on random weights: gradient against finite differences, concat == cached, caching, tracing."""
import numpy as np
import pytest

from keras_style.config.settings import Settings
from keras_style.files.images import preprocess
from keras_style.run.assemble import settings_evaluator

from .conftest import build, make_picture


def test_gradient_matches_finite_differences():
    settings, content, style, model = build(content_weight=1.0, style_weight=1e3, tv_weight=1e-2)
    evaluator = settings_evaluator(model, settings, content, style)
    rng = np.random.default_rng(0)
    x = (content + rng.normal(scale=20.0, size=content.shape)).astype(np.float64).ravel()
    _, gradient = evaluator.loss_and_grads(x)
    # Along the gradient (a large, well-resolved change) and along two random directions, each with unit variance
    # per pixel. The step is small against ReLU kinks and large against the float32 loss's rounding.
    directions = [gradient / np.linalg.norm(gradient) * np.sqrt(x.size)] + [rng.normal(size=x.shape) for _ in range(2)]
    for direction, tolerance in zip(directions, (1e-2, 5e-2, 5e-2)):
        step = 0.05
        plus, _ = evaluator.loss_and_grads(x + step * direction)
        minus, _ = evaluator.loss_and_grads(x - step * direction)
        numeric = (plus - minus) / (2 * step)
        analytic = float(gradient @ direction)
        assert analytic == pytest.approx(numeric, rel=tolerance), (analytic, numeric)


@pytest.mark.parametrize("normalization", ["paper", "keras-example"])
def test_concat_and_cached_give_the_same_loss_and_gradient(normalization):
    settings, content, style, model = build(normalization=normalization, style_weight=1e2)
    x = content + np.random.default_rng(5).normal(scale=10.0, size=content.shape).astype(np.float32)
    results = {}
    for mode in ("cached", "concat"):
        chosen = Settings.from_options(**{**settings.as_dict(), "mode": mode})
        evaluator = settings_evaluator(model, chosen, content, style)
        results[mode] = evaluator.evaluate(x)
    (terms_cached, grad_cached), (terms_concat, grad_concat) = results["cached"], results["concat"]
    np.testing.assert_allclose(terms_cached, terms_concat, rtol=1e-4)
    scale = np.abs(grad_concat).max()
    np.testing.assert_allclose(grad_cached, grad_concat, rtol=1e-4, atol=1e-4 * scale)


def test_cached_path_accepts_a_style_of_another_size():
    settings, content, style, model = build(style_size=(56, 72))
    evaluator = settings_evaluator(model, settings, content, style)
    terms, gradient = evaluator.evaluate(content)
    assert gradient.shape == content.shape and np.isfinite(terms).all() and terms[2] > 0
    with pytest.raises(ValueError, match="one shape"):
        settings_evaluator(model, Settings.from_options(**{**settings.as_dict(), "mode": "concat"}), content, style)


def test_style_of_same_texture_at_another_size_has_near_zero_style_loss():
    # Gram statistics are rescaled by positions, so the same texture at twice the size matches itself.
    settings, content, _, model = build()
    texture = np.tile(make_picture(20, 16, seed=4, kind="style"), (2, 2, 1)).astype(np.float32)
    big = np.tile(texture, (2, 2, 1))
    small_input, big_input = preprocess(texture), preprocess(big)
    evaluator = settings_evaluator(model, settings, small_input, big_input)
    self_terms, _ = evaluator.evaluate(small_input)
    other = settings_evaluator(model, settings, small_input, preprocess(make_picture(40, 32, seed=9, kind="content")))
    other_terms, _ = other.evaluate(small_input)
    assert self_terms[2] < 0.2 * other_terms[2]


def test_one_network_pass_per_distinct_point_and_one_trace_per_shape(fresh_compile_cache):
    settings, content, style, model = build()
    evaluator = settings_evaluator(model, settings, content, style)
    x = content.astype(np.float64).ravel()
    loss = evaluator.loss(x)
    gradient = evaluator.grads(x)  # cached: no second pass
    assert evaluator.passes == 1
    again = evaluator.grads(x)
    assert evaluator.passes == 1 and again is gradient
    evaluator.grads(x + 1.0)  # a new point costs a pass
    assert evaluator.passes == 2
    for step in range(20):
        evaluator.loss(x + step)
    assert evaluator.traces == 1  # traced once, on the first pass
    assert isinstance(loss, float) and gradient.dtype == np.float64 and gradient.shape == x.shape


def test_observer_sees_every_pass():
    settings, content, style, model = build()
    seen = []
    evaluator = settings_evaluator(model, settings, content, style,
                                   observer=lambda terms, image: seen.append(terms.copy()))
    evaluator.evaluate(content)
    evaluator.evaluate(content + 1)
    assert len(seen) == 2 and seen[0][1] == 0.0  # content loss is zero at the content itself
    total, content_term, style_term, tv = seen[1][:4]  # then one value per style layer
    assert total == pytest.approx(content_term * settings.content_weight + style_term * settings.style_weight
                                  + tv * settings.tv_weight, rel=1e-5)
