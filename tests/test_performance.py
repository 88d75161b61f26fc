"""Work done once, not per evaluation; XLA and mixed precision give the same numbers; multi-scale; memory checks."""
import numpy as np
import pytest

import keras_style
from keras_style import cli
from keras_style.errors import UserError
from keras_style.evaluator import Evaluator
from keras_style.memory import MEMORY_LIMIT_VARIABLE, activation_floats_per_pixel, check_memory, estimate_bytes
from keras_style.network import feature_model_for
from keras_style.settings import Settings
from keras_style.transfer import balanced_for_scale, scale_plan

from .conftest import run_cli
from .test_evaluator import build
from .test_stylize import CONTENT, STYLE, restore_signals  # noqa: F401 - fixture


def test_traced_once_over_20_evaluations_at_distinct_points():
    settings, content, style, model = build()
    evaluator = Evaluator(model, settings, content, style)
    x = content.astype(np.float64).ravel()
    for step in range(20):
        evaluator.loss_and_grads(x + step)
    assert evaluator.passes == 20 and evaluator.traces <= 1  # 0 when an earlier test compiled this shape


@pytest.mark.parametrize("mode", ["cached", "concat"])
def test_xla_gives_the_same_loss_and_gradient(mode):
    settings, content, style, model = build(mode=mode)
    x = content + np.random.default_rng(1).normal(scale=5.0, size=content.shape).astype(np.float32)
    plain = Evaluator(model, Settings.from_options(**{**settings.as_dict(), "jit_compile": False}), content, style)
    compiled = Evaluator(model, Settings.from_options(**{**settings.as_dict(), "jit_compile": True}), content, style)
    (terms_plain, grad_plain), (terms_xla, grad_xla) = plain.evaluate(x), compiled.evaluate(x)
    np.testing.assert_allclose(terms_xla, terms_plain, rtol=1e-4)
    np.testing.assert_allclose(grad_xla, grad_plain, rtol=1e-3, atol=1e-4 * np.abs(grad_plain).max())


def test_bfloat16_and_float32_give_the_same_loss_to_a_tolerance(real_weights):
    settings, content, style, _ = build(weights="imagenet", network="vgg16")
    x = content + np.random.default_rng(2).normal(scale=5.0, size=content.shape).astype(np.float32)
    results = {}
    for precision in ("float32", "mixed"):
        chosen = Settings.from_options(**{**settings.as_dict(), "precision": precision})
        results[precision], _ = Evaluator(feature_model_for(chosen), chosen, content, style).evaluate(x)
    assert np.isfinite(results["mixed"]).all()
    # total and style within 5 %; the content term is small here (x is near the content) and noisier in bfloat16
    np.testing.assert_allclose(results["mixed"][[0, 2]], results["float32"][[0, 2]], rtol=0.05)


def test_scale_plan_goes_coarse_to_fine_with_most_evaluations_cheap():
    plan = scale_plan(Settings.from_options(size=512, iterations=350, scales=3))
    assert [size for size, _ in plan] == [256, 362, 512]  # sqrt(2) steps
    evaluations = [count for _, count in plan]
    assert evaluations == [140, 70, 140]  # coarse sizes 60 % (each twice the next), the final size 40 %
    assert [count for _, count in scale_plan(Settings.from_options(size=512, iterations=100, scales=2))] == [60, 40]
    assert scale_plan(Settings.from_options(size=512, iterations=10)) == [(512, 10)]
    # a budget too small for every scale skips coarse ones, never the final size
    assert scale_plan(Settings.from_options(size=512, iterations=3, scales=4)) == [(181, 1), (512, 2)]


def test_multiscale_run_from_python():
    result = keras_style.stylize_result(CONTENT, STYLE, weights="none", size=96, iterations=12, scales=2)
    assert [record["size"] for record in result.scales] == [[68, 51], [96, 72]]
    assert sum(record["evaluations"] for record in result.scales) == result.evaluations >= 12
    assert result.image.shape == (72, 96, 3) and result.traces <= 2  # one per scale, unless compiled earlier


def test_an_explicit_plan_replaces_the_default_schedule():
    result = keras_style.stylize_result(CONTENT, STYLE, weights="none", size=96, iterations=5,
                                        plan=[(64, 3), (96, 2)])
    assert [record["size"] for record in result.scales] == [[64, 48], [96, 72]]
    assert [record["evaluations"] for record in result.scales][0] >= 3 and result.image.shape == (72, 96, 3)
    with pytest.raises(ValueError, match="must end at the output size 96"):
        keras_style.stylize_result(CONTENT, STYLE, weights="none", size=96, plan=[(64, 3)])


def test_coarse_scales_weigh_content_and_tv_as_the_final_size_does():
    # content and TV losses are sums over positions, the style loss is normalised: a scale with 4x fewer pixels
    # multiplies the content and TV weights by 4 and leaves the style weight alone
    settings = Settings.from_options(size=512, content_weight=2.0, style_weight=1e3, tv_weight=0.5,
                                     outer_iterations=10, maxfun=20)
    coarse = balanced_for_scale(settings, 4.0)
    assert (coarse.content_weight, coarse.style_weight, coarse.tv_weight) == (8.0, 1e3, 2.0)
    assert coarse.outer_iterations is None and coarse.maxfun is None  # one continuous L-BFGS run per scale


def test_multiscale_from_the_command_line(tmp_path, restore_signals):  # noqa: F811 - fixture
    output = tmp_path / "out.png"
    assert cli.main([str(CONTENT), str(STYLE), str(output), "--weights", "none", "--size", "96", "--iterations",
                     "6", "--scales", "2", "--quiet"]) == 0
    import json

    report = json.loads(output.with_suffix(".json").read_text())
    assert report["settings"]["scales"] == 2 and [s["size"] for s in report["scales"]] == [[68, 51], [96, 72]]


def test_memory_estimate_grows_linearly_with_pixels():
    settings = Settings.from_options()
    small, large = estimate_bytes(settings, 512, 384), estimate_bytes(settings, 1024, 768)
    huge = estimate_bytes(settings, 2048, 1536)
    assert (huge - large) == pytest.approx(4 * (large - small), rel=1e-9)
    concat = estimate_bytes(Settings.from_options(mode="concat"), 1024, 768)
    assert concat > 2.5 * (large - estimate_bytes(settings, 1, 1))
    # VGG19 up to conv5_1: 64*2 + 64/4 + 128*2/4 + 128/16 + 256*4/16 + 256/64 + 512*4/64 + 512/256 + 512/256
    assert activation_floats_per_pixel("vgg19", "block5_conv1") == pytest.approx(320.0)
    # above the peak RSS of the whole 2048 px command-line run measured for benchmarks/RESULTS.md (14,895,012 KB)
    assert huge > 14_895_012 * 1024


def test_oversize_request_fails_early(monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_VARIABLE, "2000")
    with pytest.raises(UserError, match=r"needs about \d+\.\d GB but 2\.0 GB is available"):
        check_memory(Settings.from_options(), 2048, 1536)
    check_memory(Settings.from_options(), 256, 192)  # fits


def test_oversize_request_from_the_command_line(tmp_path):
    output = tmp_path / "out.png"
    result = run_cli(CONTENT, STYLE, output, "--size", "40000")
    assert result.returncode == 2 and "needs about" in result.stderr and "GB" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not output.exists()
