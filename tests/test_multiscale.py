"""Multi-scale runs: the coarse-to-fine plan, the weights of each scale, runs from Python and the command line."""
import numpy as np
import pytest

import keras_style
from keras_style.apps import cli
from keras_style.config.settings import Settings
from keras_style.engine.terms import weights_at
from keras_style.run.assemble import loss_spec, optimizer_spec
from keras_style.run.plan import scale_optimizer, scale_plan

from .conftest import CONTENT, STYLE


def test_scale_plan_goes_coarse_to_fine_with_most_evaluations_cheap():
    plan = scale_plan(Settings.from_options(preset="gatys", size=512, iterations=350, scales=3))
    assert [size for size, _ in plan] == [256, 362, 512]  # sqrt(2) steps
    evaluations = [count for _, count in plan]
    assert evaluations == [140, 70, 140]  # coarse sizes 60 % (each twice the next), the final size 40 %
    two = scale_plan(Settings.from_options(preset="gatys", size=512, iterations=100, scales=2))
    assert [count for _, count in two] == [60, 40]
    assert scale_plan(Settings.from_options(preset="gatys", size=512, iterations=10)) == [(512, 10)]
    # a budget too small for every scale skips coarse ones, never the final size
    assert scale_plan(Settings.from_options(preset="gatys", size=512, iterations=3, scales=4)) == [(181, 1), (512, 2)]


def test_multiscale_run_from_python(fresh_compile_cache):
    result = keras_style.stylize_result(CONTENT, STYLE, weights="none", size=96, iterations=12, scales=2)
    assert [record["size"] for record in result.scales] == [[68, 51], [96, 72]]
    assert sum(record["evaluations"] for record in result.scales) == result.evaluations >= 12
    # the device L-BFGS (auto): its step, traced once per scale (its first evaluation is the step too)
    assert result.image.shape == (72, 96, 3) and result.traces == 2


def test_an_explicit_plan_replaces_the_default_schedule():
    result = keras_style.stylize_result(CONTENT, STYLE, weights="none", size=96, iterations=5,
                                        schedule=[(64, 3), (96, 2)])
    assert [record["size"] for record in result.scales] == [[64, 48], [96, 72]]
    assert [record["evaluations"] for record in result.scales][0] >= 3 and result.image.shape == (72, 96, 3)
    with pytest.raises(ValueError, match="must end at the output size 96"):
        keras_style.stylize_result(CONTENT, STYLE, weights="none", size=96, schedule=[(64, 3)])


def test_coarse_scales_weigh_content_and_tv_as_the_final_size_does():
    # --balance output (the paper's presets): content and TV losses are sums over positions, the style loss is
    # normalised, so a scale with 4x fewer pixels than the output multiplies the content and TV weights by 4 and
    # leaves the style weight alone; at the output size every weight is the setting itself
    settings = Settings.from_options(preset="gatys", size=512, content_weight=2.0, style_weight=1e3, tv_weight=0.5,
                                     outer_iterations=10, maxfun=20)
    spec = loss_spec(settings, 512 * 384)
    assert weights_at(spec, (192, 256)) == {"content": 8.0, "style": 1e3, "tv": 2.0}
    assert weights_at(spec, (384, 512)) == {"content": 2.0, "style": 1e3, "tv": 0.5}
    # one continuous L-BFGS run of the scale's share per scale
    coarse_optimizer = scale_optimizer(optimizer_spec(settings), 70, several=True)
    assert coarse_optimizer.outer_iterations is None and coarse_optimizer.maxfun is None
    assert coarse_optimizer.evaluation_budget == 70
    # a single scale runs the settings as they are (the articles' restart loop kept)
    assert scale_optimizer(optimizer_spec(settings), 200, several=False).outer_iterations == 10


def test_per_pixel_weights_hold_at_the_reference_size_whatever_the_output():
    # --balance per-pixel (painterly): the weights are the terms' own at 512 x 384 px, for any --size
    settings = Settings.from_options(preset="painterly", size=256)
    spec = loss_spec(settings, 256 * 192)
    at_reference = weights_at(spec, (384, 512))
    octave = settings.style_weight * settings.octave_weight  # --stroke-scale's, normalised as the style is
    assert at_reference == {"content": settings.content_weight, "style": settings.style_weight,
                            "tv": settings.tv_weight, "octave": octave}
    assert weights_at(spec, (192, 256)) == {"content": 4 * settings.content_weight, "style": settings.style_weight,
                                             "tv": 4 * settings.tv_weight, "octave": octave}
    assert weights_at(spec, (768, 1024))["content"] == settings.content_weight / 4


def test_multiscale_from_the_command_line(tmp_path, restore_signals):
    output = tmp_path / "out.png"
    assert cli.main([str(CONTENT), str(STYLE), str(output), "--weights", "none", "--size", "96", "--iterations",
                     "6", "--scales", "2", "--quiet"]) == 0
    import json

    report = json.loads(output.with_suffix(".json").read_text())
    assert report["settings"]["scales"] == 2 and [s["size"] for s in report["scales"]] == [[68, 51], [96, 72]]


def test_coarse_sizes_below_the_floor_are_left_out_and_their_budget_shared():
    plan = scale_plan(Settings.from_options(size=96, scales=5, scale_budget="equal", iterations=100))
    assert plan == [(68, 50), (96, 50)]  # 48, 34 and 24 px are below MIN_SCALE_SIZE (64)
    assert scale_plan(Settings.from_options(size=64, scales=5, iterations=100)) == [(64, 100)]


def test_scale_start_detail_adds_back_the_luminance_the_upsampling_lost():
    from PIL import Image

    from keras_style.files.colors import luminance
    from keras_style.files.images import to_array
    from keras_style.run.loading import lost_detail, prepare
    from keras_style.run.plan import upsampled

    photo = to_array(Image.open(CONTENT).resize((96, 72)))
    small = to_array(Image.open(CONTENT).resize((68, 51)))
    detail = lost_detail(small, photo)
    start = upsampled(small, photo, detail)
    # the coarse picture upsampled plus the detail has the photograph's luminance (up to uint8 rounding and clipping)
    assert np.abs(luminance(start) - luminance(photo)).mean() < 1.5
    assert np.abs(luminance(upsampled(small, photo)) - luminance(photo)).mean() > 3.0
    # a grey change: every channel moves by the same amount
    plain = upsampled(small, photo)
    unclipped = np.all((start > 0) & (start < 255), axis=-1)
    assert unclipped.any() and np.ptp((start - plain)[unclipped], axis=-1).max() < 1e-3
    settings = Settings.from_options(size=96, scales=2, scale_start="detail", weights="none")
    prepared = prepare(CONTENT, STYLE, settings)
    assert prepared.scales[0].detail is None and prepared.scales[1].detail.shape == (72, 96)
    assert prepare(CONTENT, STYLE, Settings.from_options(size=96, scales=2)).scales[1].detail is None
