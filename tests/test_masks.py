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


@pytest.fixture(scope="module")
def red_and_blue(tmp_path_factory):
    """Two styles of clearly different colours, a red and a blue one, with the same grain (a flat colour's Gram
    matrix would be of rank one)."""
    folder = tmp_path_factory.mktemp("colours")
    grain = np.random.default_rng(0).integers(-20, 20, (64, 64, 1))
    red = np.clip(np.array([220, 30, 30]) + grain, 0, 255).astype(np.uint8)
    Image.fromarray(red).save(folder / "red.png")
    Image.fromarray(red[..., ::-1].copy()).save(folder / "blue.png")
    return folder / "red.png", folder / "blue.png"


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
    # the content image's level: transfer's compositing (_content_kept) puts the content back where the mask is black,
    # so this holds whatever the loss does there; test_the_style_loss_ignores_the_pixels_under_a_black_content_mask
    # checks the masked loss itself
    assert style["black"][0] == pytest.approx(style["black"][1], rel=0.01)
    assert style["white"][0] < 0.5 * style["white"][1]  # where the mask is white the style loss falls


def test_an_all_white_mask_is_the_same_as_no_mask():
    settings, content, style, model = build(style_weight=1e3)
    everywhere = np.ones(content.shape[1:3], np.float32)
    plain = settings_evaluator(model, settings, content, style)
    masked = settings_evaluator(model, Settings.from_options(**{**settings.as_dict(), "content_mask": "white.png"}),
                                content, style, masks=(everywhere,))
    x = content + 3.0
    np.testing.assert_allclose(masked.evaluate(x)[0][:4], plain.evaluate(x)[0][:4], rtol=1e-4)


def test_each_style_paints_its_own_region_from_the_command_line(tmp_path, half_masks, red_and_blue):
    output = tmp_path / "out.png"
    right, left = half_masks
    # the red style on the left half, the blue one on the right; from noise (the default start, palette, takes the
    # first style's colours everywhere) with the paper's loss: 10 evaluations paint both halves (random weights)
    assert run_main(CONTENT, *red_and_blue, output, "--weights", "none", "--preset", "gatys", "--init", "noise",
                    "--seed", "0", "--size", "64", "--iterations", "10", "--style-masks", left, right,
                    "--quiet") == 0
    image = np.asarray(Image.open(output).convert("RGB"), dtype=np.float64)
    half = image.shape[1] // 2
    # away from the seam, where the deeper layers' receptive fields see both regions
    left_mean, right_mean = image[:, :half - 4].mean(axis=(0, 1)), image[:, half + 4:].mean(axis=(0, 1))
    red_minus_blue = left_mean[0] - left_mean[2], right_mean[0] - right_mean[2]
    # each half is far nearer its own style's colour than the other's (the styles: 190 apart)
    assert red_minus_blue[0] > 100 and red_minus_blue[1] < -100, (left_mean, right_mean)


def masked_evaluator(model, settings, content, style, mask):
    """The Evaluator of a run with a content mask (the style term's one region): the one place this file builds a
    masked Evaluator, should settings_evaluator's signature change."""
    with_mask = Settings.from_options(**{**settings.as_dict(), "content_mask": "mask.png"})
    return settings_evaluator(model, with_mask, content, style, masks=(mask,))


def test_the_style_loss_ignores_the_pixels_under_a_black_content_mask():
    """The masked loss itself, before transfer's compositing puts the content back where the mask is black: the
    style term does not depend on the pixels in the black region (beyond the deepest style layer's reach from its
    edge), and gives them no gradient."""
    # the style term alone in the gradient
    settings, content, style, model = build(size=(64, 48), style_weight=1e3, content_weight=0.0, tv_weight=0.0)
    mask = np.ones(content.shape[1:3], np.float32)
    mask[:, :32] = 0.0  # the left half black
    masked = masked_evaluator(model, settings, content, style, mask)
    plain = settings_evaluator(model, settings, content, style)
    rng = np.random.default_rng(0)
    x = content + rng.normal(0, 10, content.shape).astype(np.float32)
    far_left, far_right = np.zeros_like(x), np.zeros_like(x)
    # block3_conv1 sees 24 px: 16 px from the seam is out of reach of the white half's positions
    far_left[:, :, :16] = rng.normal(0, 40, far_left[:, :, :16].shape)
    far_right[:, :, 48:] = rng.normal(0, 40, far_right[:, :, 48:].shape)
    style_term = 2  # the stacked terms: total, content, style, tv
    terms, gradient = masked.evaluate(x)
    assert masked.terms_at(x + far_left)[style_term] == pytest.approx(terms[style_term], rel=1e-6)
    assert np.abs(gradient[:, :, :16]).max() == 0.0
    # the same changes do move it where the mask is white, and without a mask anywhere
    assert masked.terms_at(x + far_right)[style_term] != pytest.approx(terms[style_term], rel=1e-3)
    assert np.abs(gradient[:, :, 48:]).max() > 0
    assert plain.terms_at(x + far_left)[style_term] != pytest.approx(plain.terms_at(x)[style_term], rel=1e-3)


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
