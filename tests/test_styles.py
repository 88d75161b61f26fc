"""Several styles: blended Gram targets, each style at its own size, and bad blends refused."""
import json

import numpy as np
import pytest
from PIL import Image

from keras_style.config.settings import Settings
from keras_style.files.images import preprocess
from keras_style.run.assemble import feature_model_for, settings_evaluator
from keras_style.run.loading import prepare

from .conftest import CONTENT, STYLE, make_picture
from .test_budgets import run_main


@pytest.fixture(scope="module")
def second_style(tmp_path_factory):
    path = tmp_path_factory.mktemp("styles") / "stripes.png"
    Image.fromarray(make_picture(90, 60, seed=3, kind="style")).save(path)  # another aspect ratio than STYLE
    return path


def targets(settings, styles):
    images = prepare(CONTENT, styles, settings).final
    evaluator = settings_evaluator(feature_model_for(settings), settings, preprocess(images.content),
                          [preprocess(style) for style in images.styles])
    return [np.asarray(target) for target in evaluator.tensors_of("style")["targets"][0]]


def test_two_styles_at_weights_1_0_give_the_targets_of_that_style_alone(real_weights, second_style):
    settings = Settings.from_options(size=64)
    alone = targets(settings, STYLE)
    blended = targets(Settings.from_options(size=64, style_blend_weights=[1, 0]), [STYLE, second_style])
    for one, both in zip(alone, blended):
        np.testing.assert_array_equal(both, one)
    # and an equal blend is the mean of the two styles' targets
    other = targets(settings, second_style)
    half = targets(Settings.from_options(size=64, style_blend_weights=[2, 2]), [STYLE, second_style])
    for a, b, mixed in zip(alone, other, half):
        np.testing.assert_allclose(mixed, 0.5 * a + 0.5 * b, rtol=1e-5, atol=1e-6 * np.abs(a).max())


def test_each_style_keeps_its_own_size_and_aspect_ratio(second_style):
    images = prepare(CONTENT, [STYLE, second_style], Settings.from_options(size=64, weights="none")).final
    shapes = [style.shape[:2] for style in images.styles]
    assert shapes[1] == (43, 64) and shapes[0] != shapes[1]  # 90x60 keeps 3:2 at the output's longest side


def test_two_styles_from_the_command_line(tmp_path, second_style):
    output = tmp_path / "out.png"
    assert run_main(CONTENT, STYLE, second_style, output, "--weights", "none", "--size", "64", "--iterations", "2",
                    "--style-blend-weights", "3", "1", "--quiet") == 0
    report = json.loads(output.with_suffix(".json").read_text())
    assert len(report["sizes"]["styles"]) == 2 and report["settings"]["style_blend_weights"] == [3.0, 1.0]


@pytest.mark.parametrize("options, fragment", [
    (["--style-blend-weights", "-1", "1"], "--style-blend-weights must be a finite number >= 0"),
    (["--style-blend-weights", "0", "0"], "--style-blend-weights are all zero"),
    (["--style-blend-weights", "1", "2", "3"], "--style-blend-weights has 3 values for 2 style images"),
    (["--mode", "concat"], "several styles need --mode cached"),
])
def test_bad_blends_are_one_line_and_exit_2(options, fragment, tmp_path, capsys, second_style):
    output = tmp_path / "out.png"
    assert run_main(CONTENT, STYLE, second_style, output, "--weights", "none", "--size", "64", *options) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and fragment in error[0]
    assert not output.exists() and not output.with_suffix(".json").exists()
