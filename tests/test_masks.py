"""Masks: --content-mask keeps the content where it is black, --style-masks give each style its region."""
import numpy as np
import pytest
from PIL import Image

import keras_style
from keras_style.config.settings import Settings
from keras_style.files.images import load_image, resize, to_array
from keras_style.run.assemble import settings_evaluator
from keras_style.run.judge import judge

from .conftest import CONTENT, STYLE, build
from .test_budgets import run_main


@pytest.fixture(scope="module")
def half_masks(tmp_path_factory):
    """Left half black / right half white, and its inverse."""
    folder = tmp_path_factory.mktemp("masks")
    mask = np.zeros((48, 64), np.uint8)
    mask[:, 32:] = 255
    Image.fromarray(mask).save(folder / "right.png")
    Image.fromarray(255 - mask).save(folder / "left.png")
    return folder / "right.png", folder / "left.png"


def test_style_paints_where_the_content_mask_is_white_and_the_content_stays_where_it_is_black(
        real_weights, half_masks):
    # 12 iterations: on a 2-core AMD EPYC the white half's style loss ends at 9 % of the content's (40: 11 %)
    image = keras_style.stylize(CONTENT, STYLE, size=96, iterations=12, seed=0, content_mask=str(half_masks[0]))
    height, width = image.shape[:2]
    content = to_array(resize(load_image(CONTENT), width, height)).round().astype(np.uint8)
    half = width // 2
    # the left half is black, the right half white; keep away from the soft edge the resize gives the mask
    regions = {"black": slice(0, half - 8), "white": slice(half + 8, width)}
    style = {}
    for name, columns in regions.items():
        result_part, content_part = image[:, columns], content[:, columns]
        style[name] = (judge(result_part, content_part, STYLE)["style"],
                       judge(content_part, content_part, STYLE)["style"])
    assert style["black"][0] == pytest.approx(style["black"][1], rel=0.01)  # the content image's level
    assert style["white"][0] < 0.5 * style["white"][1]  # where the mask is white the style loss falls


def test_an_all_white_mask_is_the_same_as_no_mask():
    settings, content, style, model = build(style_weight=1e3)
    everywhere = np.ones(content.shape[1:3], np.float32)
    plain = settings_evaluator(model, settings, content, style)
    masked = settings_evaluator(model, Settings.from_options(**{**settings.as_dict(), "content_mask": "white.png"}),
                                content, style, masks=(everywhere,))
    x = content + 3.0
    np.testing.assert_allclose(masked.evaluate(x)[0][:4], plain.evaluate(x)[0][:4], rtol=1e-4)


def test_each_style_paints_its_own_region_from_the_command_line(tmp_path, half_masks):
    output = tmp_path / "out.png"
    assert run_main(CONTENT, STYLE, CONTENT, output, "--weights", "none", "--size", "64", "--iterations", "3",
                    "--style-masks", *half_masks, "--quiet") == 0
    assert output.exists()


@pytest.mark.parametrize("options, fragment", [
    (["--style-masks", "RIGHT", "LEFT"], "--style-masks has 2 masks for 1 style images"),
    (["--content-mask", "MISSING"], "content mask"),
    (["--content-mask", "BROKEN"], "content mask"),
    (["--content-mask", "RIGHT", "--mode", "concat"], "masks need --mode cached"),
])
def test_bad_masks_are_one_line_and_exit_2(options, fragment, tmp_path, capsys, half_masks):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    names = {"RIGHT": half_masks[0], "LEFT": half_masks[1], "MISSING": tmp_path / "missing.png", "BROKEN": broken}
    output = tmp_path / "out.png"
    arguments = [names.get(option, option) for option in options]
    assert run_main(CONTENT, STYLE, output, "--weights", "none", "--size", "64", *arguments) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and fragment in error[0]
    assert not output.exists() and not output.with_suffix(".json").exists()
