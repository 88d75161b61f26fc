"""The quality candidates as declared settings: --init mean and --lbfgs-memory behave and reach the sidecar."""
from __future__ import annotations

import numpy as np
import pytest

import keras_style
from keras_style.engine import optimize
from keras_style.errors import UserError
from keras_style.files.images import IMAGENET_MEAN_BGR, initial_image
from keras_style.files.outputs import sidecar

from .conftest import CONTENT, STYLE

RANDOM = dict(weights="none", precision="float32", size=48, iterations=4)


def test_mean_start_is_the_imagenet_mean_colour_with_tiny_noise():
    content = np.zeros((6, 5, 3), np.float32)
    start = initial_image("mean", content, lambda: content, np.random.default_rng(0))
    assert start.shape == content.shape
    np.testing.assert_allclose(start.mean(axis=(0, 1)), IMAGENET_MEAN_BGR[::-1], atol=1e-3)
    assert 0 < start.std(axis=(0, 1)).max() < 1e-2


def test_the_candidates_reach_the_sidecar_and_lbfgs_gets_its_memory(monkeypatch, tmp_path):
    seen = []

    def recording(*args, **kwargs):
        seen.append(kwargs["m"])
        return real(*args, **kwargs)

    real = optimize.fmin_l_bfgs_b
    monkeypatch.setattr(optimize, "fmin_l_bfgs_b", recording)
    result = keras_style.stylize_result(CONTENT, STYLE, init="mean", lbfgs_memory=37, seed=0, optimizer="lbfgs",
                                         **RANDOM)
    settings = sidecar(result, tmp_path / "out.png")["settings"]
    assert (settings["init"], settings["lbfgs_memory"]) == ("mean", 37)
    assert seen and set(seen) == {37}
    assert result.losses["final"]["total"] < result.losses["initial"]["total"]


def test_lbfgs_memory_must_be_a_positive_integer():
    with pytest.raises(UserError, match="--lbfgs-memory must be a positive integer"):
        keras_style.Settings.from_options(lbfgs_memory=0)


def test_palette_start_is_the_content_with_the_styles_colour_statistics():
    rng = np.random.default_rng(1)
    content = rng.uniform(40, 200, (12, 10, 3)).astype(np.float32)
    style = np.clip(rng.normal([200, 60, 30], [20, 10, 5], (9, 7, 3)), 0, 255).astype(np.float32)
    start = initial_image("palette", content, lambda: style, rng)
    np.testing.assert_allclose(start.reshape(-1, 3).mean(axis=0), style.reshape(-1, 3).mean(axis=0), atol=0.5)
    np.testing.assert_allclose(np.cov(start.reshape(-1, 3), rowvar=False), np.cov(style.reshape(-1, 3), rowvar=False),
                               rtol=0.05, atol=1.0)
    # the content's layout is kept: its pixels' order by brightness survives the affine colour map
    assert np.corrcoef(start.sum(axis=2).ravel(), content.sum(axis=2).ravel())[0, 1] > 0.9


def test_squared_total_variation_against_numpy():
    from keras_style.engine.losses import squared_total_variation

    image = np.random.default_rng(2).normal(size=(1, 5, 4, 3)).astype(np.float32)
    expected = np.sum(np.diff(image, axis=1) ** 2) + np.sum(np.diff(image, axis=2) ** 2)
    assert float(squared_total_variation(image)) == pytest.approx(expected, rel=1e-5)


def test_laplacian_smoothness_against_numpy_spares_shading_and_damps_grain_more_than_strokes():
    from scipy.ndimage import convolve

    from keras_style.engine.losses import laplacian_smoothness, squared_total_variation

    image = np.random.default_rng(4).normal(size=(1, 7, 6, 3)).astype(np.float32)
    stencil = np.array([[1, 4, 1], [4, -20, 4], [1, 4, 1]], np.float64) / 6.0
    expected = sum(np.sum(convolve(image[0, :, :, c].astype(np.float64), stencil)[1:-1, 1:-1] ** 2) for c in range(3))
    assert float(laplacian_smoothness(image)) == pytest.approx(expected, rel=1e-5)
    rows, columns = np.mgrid[0:16, 0:16].astype(np.float32)
    shading = np.repeat((3.0 * rows - 2.0 * columns)[None, :, :, None], 3, axis=3)
    assert float(laplacian_smoothness(shading)) == pytest.approx(0.0, abs=1e-3)
    # per unit of squared total variation, a one-pixel checkerboard costs more than 8-pixel-wavelength strokes
    grain = np.repeat(((rows + columns) % 2)[None, :, :, None], 3, axis=3)
    strokes = np.repeat(np.sin(2 * np.pi * columns / 8.0)[None, :, :, None], 3, axis=3)

    def relative(pattern):
        return float(laplacian_smoothness(pattern)) / float(squared_total_variation(pattern))

    assert relative(grain) > 4 * relative(strokes)  # 5.4x: k^4 against k^2


def test_equal_scale_budget_gives_every_size_the_same_evaluations():
    from keras_style.run.plan import scale_plan

    equal = scale_plan(keras_style.Settings.from_options(scales=4, iterations=400, scale_budget="equal"))
    assert equal == [(181, 100), (256, 100), (362, 100), (512, 100)]
    coarse = scale_plan(keras_style.Settings.from_options(scales=4, iterations=400, scale_budget="coarse"))
    assert [count for _, count in coarse] == [137, 68, 34, 161]


def test_replicate_padding_is_the_valid_convolution_of_the_edge_padded_image():
    from keras_style.engine.network import feature_model

    image = np.random.default_rng(3).uniform(-100, 100, (1, 40, 36, 3)).astype(np.float32)
    zero = feature_model("vgg19", "none", "max", ["block1_conv1"], "float32")
    replicate = feature_model("vgg19", "none", "max", ["block1_conv1"], "float32", padding="replicate")
    inside_zero, inside_replicate = (np.asarray(model(image)[0] if isinstance(model(image), list) else model(image))
                                     for model in (zero, replicate))
    # the same weights: identical away from the border, different on it
    np.testing.assert_allclose(inside_zero[0, 1:-1, 1:-1], inside_replicate[0, 1:-1, 1:-1], rtol=1e-5, atol=1e-4)
    assert not np.allclose(inside_zero[0, 0], inside_replicate[0, 0])
    padded = np.pad(image, [(0, 0), (1, 1), (1, 1), (0, 0)], mode="edge")
    np.testing.assert_allclose(inside_replicate[0, 0], np.asarray(zero(padded))[0, 1, 1:-1], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("options", [
    dict(init="palette"), dict(tv_form="squared", tv_weight=1.0), dict(tv_form="laplacian", tv_weight=1.0),
    dict(padding="replicate"),
    dict(scales=2, scale_budget="equal", size=64),
])
def test_each_new_setting_reaches_the_sidecar(options, tmp_path):
    run = {**RANDOM, **options}
    result = keras_style.stylize_result(CONTENT, STYLE, seed=0, **run)
    settings = sidecar(result, tmp_path / "out.png")["settings"]
    for name, value in options.items():
        assert settings[name] == value
    assert np.isfinite(result.losses["final"]["total"])


def test_averaged_iterates_are_scored_by_the_last_evaluation_and_reach_the_sidecar(monkeypatch, tmp_path):
    from keras_style.engine import optimize

    seen = []
    real = optimize.minimize_averaged

    def recording(minimizer, evaluator, image, spec):
        result = real(minimizer, evaluator, image, spec)
        seen.append((spec.average_decay, evaluator.passes))
        return result

    monkeypatch.setattr(optimize, "minimize_averaged", recording)
    result = keras_style.stylize_result(CONTENT, STYLE, optimizer="adam", average_iterates=0.9, seed=0, **RANDOM)
    assert seen == [(0.9, RANDOM["iterations"])]  # the budget holds: its last evaluation scored the average
    assert result.evaluations == RANDOM["iterations"]
    assert sidecar(result, tmp_path / "out.png")["settings"]["average_iterates"] == 0.9


def test_average_iterates_needs_a_device_optimiser_and_a_decay_below_one():
    with pytest.raises(UserError, match="--average-iterates needs --optimizer gd or adam"):
        keras_style.Settings.from_options(average_iterates=0.99)
    with pytest.raises(UserError, match="--average-iterates must be a decay"):
        keras_style.Settings.from_options(average_iterates=1.0, optimizer="adam")
