"""--preserve-colors: the colour functions on arrays, the setting, and the luminance mode end to end."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import keras_style
from keras_style.config.choices import PRESERVE_COLORS
from keras_style.config.settings import Settings
from keras_style.errors import UserError
from keras_style.files.colors import (
    keep_content_colors,
    luminance,
    luminance_only,
    match_color_statistics,
)
from keras_style.files.images import load_image, resize, to_array
from keras_style.run.loading import prepare

from .conftest import CONTENT, STYLE, make_picture
from .test_budgets import run_main


def _statistics(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pixels = np.asarray(rgb, dtype=np.float64).reshape(-1, 3)
    return pixels.mean(axis=0), np.cov(pixels, rowvar=False)


def _correlated_colours(seed: int, mean, mix, shape=(60, 50)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(*shape, 3)) @ np.asarray(mix, dtype=np.float64).T + mean).astype(np.float32)


def _photo(path, width: int, height: int) -> np.ndarray:
    """One of the example photographs at a small size, as RGB floats 0..255."""
    return to_array(resize(load_image(path), width, height))


def _cbcr(rgb: np.ndarray) -> np.ndarray:
    """Cb and Cr as Pillow (JPEG, full range 0..255) computes them: a ruler independent of the implementation."""
    return np.asarray(Image.fromarray(np.asarray(rgb, dtype=np.uint8)).convert("YCbCr"), dtype=np.float64)[..., 1:]


def test_histogram_mode_moves_the_styles_colour_mean_and_covariance_to_the_contents():
    # A bluish style with correlated channels and a warm content, both inside 0..255 so clipping plays no part.
    style = _correlated_colours(0, [70, 90, 170], [[12, 3, 0], [4, 10, 2], [0, 5, 15]])
    content = _correlated_colours(1, [160, 120, 80], [[20, 0, 0], [8, 10, 0], [-4, 2, 6]], shape=(40, 70))
    matched = match_color_statistics(style, content)
    assert matched.shape == style.shape and matched.dtype == np.float32
    mean, covariance = _statistics(matched)
    content_mean, content_covariance = _statistics(content)
    np.testing.assert_allclose(mean, content_mean, atol=0.05)  # levels
    assert np.abs(covariance - content_covariance).max() < 1e-3 * np.abs(content_covariance).max()
    # ... and it is the symmetric (eigen) transfer: independent of the order of the channels, unlike Cholesky.
    permuted = match_color_statistics(style[..., ::-1], content[..., ::-1])[..., ::-1]
    np.testing.assert_allclose(permuted, matched, atol=1e-3)


def test_histogram_mode_on_the_example_photographs_lands_close_despite_clipping():
    content, style = _photo(CONTENT, 64, 48), _photo(STYLE, 50, 70)
    matched = match_color_statistics(style, content)
    # this pair does push some pixels out of gamut (2.9 % land on 0 or 255): the clip is exercised, and the
    # statistics still land close
    clipped = np.mean((matched == 0) | (matched == 255))
    assert 0.005 < clipped < 0.1 and matched.min() >= 0 and matched.max() <= 255
    mean, covariance = _statistics(matched)
    content_mean, content_covariance = _statistics(content)
    assert np.abs(mean - content_mean).max() < 3  # levels, after clipping to 0..255
    assert np.linalg.norm(covariance - content_covariance) < 0.1 * np.linalg.norm(content_covariance)


def test_histogram_mode_survives_a_greyscale_style():
    content = make_picture(40, 40).astype(np.float32)
    grey_style = np.repeat(make_picture(40, 40, seed=2, kind="style")[..., :1], 3, axis=2).astype(np.float32)
    matched = match_color_statistics(grey_style, content)
    assert np.isfinite(matched).all()
    np.testing.assert_allclose(matched.reshape(-1, 3).mean(axis=0), content.reshape(-1, 3).mean(axis=0), atol=8)


def test_keep_content_colors_takes_luminance_from_the_result_and_chrominance_from_the_content():
    content, result = _photo(CONTENT, 48, 40), _photo(STYLE, 48, 40)
    kept = keep_content_colors(result, content)
    assert kept.dtype == np.uint8 and kept.shape == content.shape
    assert np.abs(luminance(kept) - luminance(result)).mean() < 2
    assert np.abs(_cbcr(kept) - _cbcr(content)).mean() < 2


def test_luminance_only_gives_grey_images_with_the_styles_luminance_matched():
    content, style = _photo(CONTENT, 48, 40), _photo(STYLE, 36, 60)
    grey_content, grey_style, start = luminance_only(content, style, content)
    for picture in (grey_content, grey_style, start):
        assert np.array_equal(picture[..., 0], picture[..., 1]) and np.array_equal(picture[..., 1], picture[..., 2])
    assert grey_style.shape == style.shape
    np.testing.assert_allclose(luminance(grey_content), luminance(content), atol=0.01)  # same Y, colour gone
    assert abs(grey_style[..., 0].mean() - grey_content[..., 0].mean()) < 1
    assert abs(grey_style[..., 0].std() - grey_content[..., 0].std()) < 1


def test_the_setting_is_declared_validated_and_off_by_default():
    assert Settings().preserve_colors == "none"
    for mode in PRESERVE_COLORS:
        assert Settings.from_options(preserve_colors=mode).preserve_colors == mode
    with pytest.raises(UserError, match="preserve-colors"):
        Settings.from_options(preserve_colors="lab")
    for preset in keras_style.PRESETS:
        assert Settings.from_options(preset=preset).preserve_colors == "none"


def test_histogram_and_luminance_only_change_what_the_network_sees():
    plain = prepare(CONTENT, STYLE, Settings.from_options(size=64)).final
    histogram = prepare(CONTENT, STYLE, Settings.from_options(size=64, preserve_colors="histogram")).final
    np.testing.assert_array_equal(histogram.content, plain.content)
    np.testing.assert_allclose(_statistics(histogram.style)[0], _statistics(plain.content)[0], atol=8)
    grey = prepare(CONTENT, STYLE, Settings.from_options(size=64, preserve_colors="luminance-only")).final
    for picture in (grey.content, *grey.styles, grey.start):
        assert np.array_equal(picture[..., 0], picture[..., 2])


@pytest.mark.parametrize("mode", ["luminance", "luminance-only"])
def test_luminance_mode_keeps_the_contents_chrominance(real_weights, mode):
    image = keras_style.stylize(CONTENT, STYLE, size=64, iterations=10, seed=0, preserve_colors=mode)
    height, width = image.shape[:2]
    content = to_array(resize(load_image(CONTENT), width, height))
    assert np.abs(_cbcr(image) - _cbcr(content)).mean() < 2  # levels of 0..255
    if mode == "luminance":  # the style's colours are gone, its texture is not: the luminance changed
        assert np.abs(luminance(image) - luminance(content)).mean() > 2


def test_the_command_line_records_the_choice_in_the_sidecar(tmp_path, capsys):
    # cli.main in this process: the option's path from the command line to the sidecar, not a new process's start-up
    output = tmp_path / "out.png"
    assert run_main(CONTENT, STYLE, output, "--size", 64, "--iterations", 2, "--preserve-colors", "histogram",
                    "--weights", "none", "--quiet") == 0, capsys.readouterr().err
    assert json.loads(output.with_suffix(".json").read_text())["settings"]["preserve_colors"] == "histogram"
