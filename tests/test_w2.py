"""--style-loss w2: the Wasserstein-2 distance between Gaussian fits against numpy, its gradient against finite
differences, the same on both target sources, and the setting in the sidecar."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from keras import ops
from scipy.linalg import sqrtm

import keras_style
from keras_style.config.settings import Settings
from keras_style.engine import losses
from keras_style.errors import UserError
from keras_style.files.outputs import sidecar
from keras_style.run.assemble import settings_evaluator

from .conftest import CONTENT, STYLE, build


def numpy_w2(features: np.ndarray, target: np.ndarray) -> float:
    """Squared W2 between Gaussian fits, in float64 with scipy's sqrtm, the same epsilon on the diagonals."""
    def fit(values):
        flat = values.reshape(-1, values.shape[-1]).astype(np.float64)
        mean = flat.mean(axis=0)
        covariance = (flat - mean).T @ (flat - mean) / flat.shape[0]
        return mean, covariance + losses.COVARIANCE_EPSILON * np.eye(flat.shape[1])

    (mean, covariance), (target_mean, target_covariance) = fit(features), fit(target)
    root = np.real(sqrtm(target_covariance))
    cross = np.real(sqrtm(root @ covariance @ root))
    return float(np.sum((mean - target_mean) ** 2) + np.trace(covariance + target_covariance - 2 * cross))


def tf_w2(features, target: np.ndarray):
    target_mean, target_covariance = losses.mean_and_covariance(ops.convert_to_tensor(target))
    mean, covariance = losses.mean_and_covariance(features)
    return losses.wasserstein_loss(mean, covariance, target_mean, target_covariance,
                                   losses.square_root(target_covariance))


def random_features(seed: int, height: int, width: int, channels: int = 6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(channels, channels))  # correlated channels, as features are
    return (rng.normal(size=(1, height, width, channels)) @ mixing + rng.normal(size=channels)).astype(np.float32)


def test_square_root_matches_scipy():
    matrix = np.cov(random_features(1, 9, 8).reshape(-1, 6), rowvar=False).astype(np.float32) + 0.1 * np.eye(6)
    root = np.asarray(losses.square_root(ops.convert_to_tensor(matrix.astype(np.float32))))
    np.testing.assert_allclose(root, np.real(sqrtm(matrix.astype(np.float64))), rtol=1e-3, atol=1e-4)


def test_w2_matches_a_numpy_reference_and_is_zero_for_the_same_statistics():
    features, target = random_features(2, 7, 6), random_features(3, 9, 5)
    assert float(tf_w2(ops.convert_to_tensor(features), target)) == pytest.approx(numpy_w2(features, target),
                                                                                  rel=2e-3)
    # the same Gaussian fit at another size: (near) zero
    tiled = np.tile(features, (1, 2, 3, 1))
    assert abs(float(tf_w2(ops.convert_to_tensor(tiled), features))) < 1e-3 * numpy_w2(features, target)


def test_w2_gradient_matches_finite_differences():
    features, target = random_features(4, 6, 5), random_features(5, 8, 7)
    variable = tf.convert_to_tensor(features)
    with tf.GradientTape() as tape:
        tape.watch(variable)
        value = tf_w2(variable, target)
    gradient = tape.gradient(value, variable).numpy().astype(np.float64)
    rng = np.random.default_rng(6)
    for _ in range(3):
        direction = rng.normal(size=features.shape)
        step = 1e-2
        plus = numpy_w2(features + step * direction, target)
        minus = numpy_w2(features - step * direction, target)
        numeric = (plus - minus) / (2 * step)
        assert float(np.sum(gradient * direction)) == pytest.approx(numeric, rel=2e-2, abs=1e-3 * abs(numeric) + 1e-4)


def test_cached_and_concat_give_the_same_w2_loss_and_gradient():
    # two small layers: the loss's structure is what is compared (tracing Newton-Schulz for wide layers is slow)
    settings, content, style, model = build(style_loss="w2", style_weight=1.0, style_layers=["conv1_1", "conv2_1"])
    x = content + np.random.default_rng(7).normal(scale=10.0, size=content.shape).astype(np.float32)
    results = {mode: settings_evaluator(model, Settings.from_options(**{**settings.as_dict(), "mode": mode}), content,
                                   style).evaluate(x) for mode in ("cached", "concat")}
    (cached_terms, cached_gradient), (concat_terms, concat_gradient) = results["cached"], results["concat"]
    np.testing.assert_allclose(cached_terms, concat_terms, rtol=1e-3)
    np.testing.assert_allclose(cached_gradient, concat_gradient, rtol=1e-3, atol=1e-3 * np.abs(concat_gradient).max())


def test_the_style_loss_reaches_the_sidecar_and_w2_refuses_masks(tmp_path):
    result = keras_style.stylize_result(CONTENT, STYLE, preset="gatys", size=48, iterations=3, weights="none",
                                        precision="float32", style_loss="w2", style_weight=1.0,
                                        style_layers=["conv1_1", "conv2_1"], content_layers=["conv2_2"])
    report = sidecar(result, tmp_path / "out.png")
    assert report["settings"]["style_loss"] == "w2"
    assert result.losses["final"]["style"] < result.losses["initial"]["style"]
    mask = tmp_path / "mask.png"
    from PIL import Image

    Image.new("L", (8, 8), 255).save(mask)
    with pytest.raises(UserError, match="masks need --style-loss gram"):
        keras_style.stylize_result(CONTENT, STYLE, size=48, iterations=2, weights="none", style_loss="w2",
                                   content_mask=str(mask))
