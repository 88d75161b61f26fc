"""--stroke-scale: the style matched on the output's octaves (engine/terms.py OctaveStyleLoss, Snelgrove 2017)."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from keras_style.config.settings import Settings
from keras_style.engine import losses
from keras_style.engine.evaluator import Evaluator
from keras_style.engine.spec import octave_count, octave_levels
from keras_style.engine.targets import TileTargets, feature_step_for, make_terms
from keras_style.errors import UserError
from keras_style.files.images import preprocess
from keras_style.run import plan, tiling
from keras_style.run.assemble import loss_spec, settings_evaluator
from keras_style.run.loading import prepare

from .conftest import CONTENT, STYLE, build, make_picture


def test_the_octave_pyramid_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    image = rng.normal(size=(1, 9, 10, 3)).astype(np.float64)
    weights = rng.normal(size=(1, 2, 2, 3))  # the second octave of a 9x10 image: 2x2

    def loss(x):
        return tf.reduce_sum(losses.octaves(x, 2)[-1] ** 2 * weights)

    variable = tf.convert_to_tensor(image)
    with tf.GradientTape() as tape:
        tape.watch(variable)
        value = loss(variable)
    gradient = tape.gradient(value, variable).numpy()
    numeric = np.zeros_like(image)
    for index in np.ndindex(image.shape):
        step = np.zeros_like(image)
        step[index] = 1e-6
        numeric[index] = (loss(tf.convert_to_tensor(image + step)) - loss(tf.convert_to_tensor(image - step))) / 2e-6
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-8)
    assert np.all(np.abs(gradient) > 0)  # every pixel, the odd last row and column too, reaches the octave
    flat = tf.fill((1, 9, 10, 3), 5.0)  # the filter sums to 1 and mirrors the edges: a flat image stays flat
    assert [tuple(octave.shape) for octave in losses.octaves(flat, 2)] == [(1, 4, 5, 3), (1, 2, 2, 3)]
    np.testing.assert_allclose(losses.octaves(flat, 2)[-1].numpy(), 5.0, rtol=1e-6)


def test_octaves_reach_down_to_the_stroke_scale():
    assert octave_count((1536, 2048), 256) == 3 and octave_count((192, 256), 256) == 0
    assert octave_count((384, 512), 200) == 1 and octave_count((384, 512), None) == 0
    assert octave_levels((1536, 2048), 256, "all") == (1, 2, 3)
    assert octave_levels((1536, 2048), 256, "coarsest") == (3,)
    assert octave_levels((192, 256), 256, "coarsest") == ()


def test_the_octaves_share_the_octave_weight():
    """--stroke-octaves all at two octaves is the mean of each octave matched alone (the weight shared, each octave
    normalised by its own positions); coarsest is the octave nearest --stroke-scale alone."""
    settings, _, _, model = build(size=(256, 192), style_weight=1e3, content_weight=0.0, tv_weight=0.0,
                                  jit_compile=False)
    content, style = (make_picture(256, 192, seed=seed, kind=kind).astype(np.float32)[None] - 120.0
                      for seed, kind in ((3, "content"), (4, "style")))
    generated = style[:, ::-1].copy()

    def octave_term(stroke_scale: int, which: str) -> float:
        options = {**settings.as_dict(), "stroke_scale": stroke_scale, "stroke_octaves": which}
        evaluator = settings_evaluator(model, Settings.from_options(**options), content, style)
        return dict(zip(["total", *(name for name, _ in evaluator.layout)], evaluator.terms_at(generated)))["octave"]

    half, quarter = octave_term(128, "coarsest"), octave_term(64, "coarsest")
    assert half > 0 and quarter > 0 and abs(half - quarter) > 0.05 * half  # two different octaves
    assert octave_term(64, "all") == pytest.approx((half + quarter) / 2, rel=1e-4)


def test_an_octave_scores_as_the_style_of_the_picture_at_that_size():
    """The octave term of a 128-px image with --stroke-scale 64 is the style term of its 64-px octave: a pattern of
    fixed relative size scores alike at both sizes, the octave carrying the smaller picture's strokes."""
    settings, _, _, model = build(size=(128, 96), style_weight=1e3, content_weight=0.0, tv_weight=0.0)
    big = {kind: make_picture(128, 96, seed=3, kind=kind).astype(np.float32)[None] - 120.0
           for kind in ("content", "style")}
    small = {kind: np.asarray(losses.octave_down(tf.convert_to_tensor(image))) for kind, image in big.items()}
    with_octaves = Settings.from_options(**{**settings.as_dict(), "stroke_scale": 64})
    octave = settings_evaluator(model, with_octaves, big["content"], big["style"])
    plain = settings_evaluator(model, settings, small["content"], small["style"])
    generated = big["style"][:, ::-1].copy()  # another picture of the same strokes
    named = dict(zip(["total", *(name for name, _ in octave.layout)], octave.terms_at(generated)))
    at_64 = dict(zip(["total", *(name for name, _ in plain.layout)],
                     plain.terms_at(np.asarray(losses.octave_down(tf.convert_to_tensor(generated))))))
    assert named["octave"] == pytest.approx(at_64["style"], rel=1e-4) and named["octave"] > 0


def _tile_evaluator(model, settings, content, style, canvas, region):
    """An Evaluator of one tile of `canvas` in its window, as run/tiling.py builds it."""
    step, spec = feature_step_for(model, False), loss_spec(settings)
    height, width = canvas.shape[1:3]
    whole_terms = make_terms(spec, (height, width))
    targets = tiling.style_targets(step, [style], [1.0], spec, 64, height, width)
    targets.update(tiling.octave_targets(step, spec, content, [style], [1.0], whole_terms))
    _, statistics = tiling.whole_terms(step, canvas, content, spec, targets, 64)
    part = tiling.tile_statistics(step, canvas, spec, tiling.statistics_terms(spec, (height, width)), region)
    window = region.around(plan.TILE_CONTEXT, height, width)
    content_features = dict(zip(spec.feature_layers, step(ops.convert_to_tensor(window.crop(content)))))
    source = TileTargets(
        spec, window.crop(content).shape,
        targets={"content": [content_features[layer] for layer in spec.content_layers], **targets},
        rest={"style": tiling._subtracted(statistics["style"], part["style"])}, crop=region.within(window),
        image_size=(height, width), canvas=canvas, origin=(window.top, window.left))
    return Evaluator(model, source, settings_evaluator(model, settings, content, style).compute,
                     window.crop(content).shape), window


def test_the_octave_term_tiles_as_the_whole_images():
    """In a tile's window (which leaves pixels out on every side), the octave term is the whole image's, and so is
    its gradient on the tile's pixels: the coarse octave is computed on the canvas with the window in place. The
    tiled run's reported terms include it, computed whole. (The style's weight is 1e-12 of the octaves': the
    gradient is the octave term's.)"""
    settings, content, style, model = build(size=(240, 208), style_weight=1e-9, content_weight=0.0, tv_weight=0.0,
                                            stroke_scale=64, stroke_octaves="coarsest", octave_weight=1e12,
                                            jit_compile=False)  # two evaluations: no XLA compile
    canvas = preprocess(make_picture(240, 208, seed=7, kind="style").astype(np.float32))
    region = plan.Tile(96, 112, 16, 32)
    evaluator, window = _tile_evaluator(model, settings, content, style, canvas, region)
    assert window.top > 0 and window.left > 0 and window.bottom < 208 and window.right < 240  # pixels left out
    terms, gradient = evaluator.evaluate(window.crop(canvas))
    tiled = dict(zip(["total", *(name for name, _ in evaluator.layout)], terms))
    whole = settings_evaluator(model, settings, content, style)
    whole_terms, whole_gradient = whole.evaluate(canvas)
    named = dict(zip(["total", *(name for name, _ in whole.layout)], whole_terms))
    assert tiled["octave"] == pytest.approx(named["octave"], rel=1e-4)
    assert 0 < named["style"] < 1e3 * named["octave"]  # weighed 1e12 apart: the gradient is the octave term's
    inside = (slice(None), slice(region.top - window.top, region.bottom - window.top),
              slice(region.left - window.left, region.right - window.left))
    area = (slice(None), slice(region.top, region.bottom), slice(region.left, region.right))
    np.testing.assert_allclose(gradient[inside], whole_gradient[area], rtol=1e-3,
                               atol=1e-3 * np.abs(whole_gradient[area]).max())
    assert np.abs(whole_gradient[area]).max() > 0
    spec, step = loss_spec(settings), feature_step_for(model, False)
    targets = tiling.style_targets(step, [style], [1.0], spec, 64, 208, 240)
    targets.update(tiling.octave_targets(step, spec, content, [style], [1.0], make_terms(spec, (208, 240))))
    reported, _ = tiling.whole_terms(step, canvas, content, spec, targets, 64)
    np.testing.assert_allclose(reported, whole_terms, rtol=1e-3)  # block sums against one sum, in float32


def test_stroke_scale_is_refused_on_the_concat_path_where_it_has_an_octave():
    with pytest.raises(UserError, match="--stroke-scale needs --mode cached: --mode concat .* give --stroke-scale off"):
        prepare(CONTENT, STYLE, Settings.from_options(preset="article-001", stroke_scale=64, size=128, weights="none"))
    # an output no larger than the stroke scale has no octave: the concat path runs (painterly's 256 at 96 px)
    assert prepare(CONTENT, STYLE, Settings.from_options(mode="concat", size=96, weights="none")).final is not None
    for wrong in (16, "16.5", "big", True):
        with pytest.raises(UserError, match="--stroke-scale must be a whole number of pixels >= 64 or off"):
            Settings.from_options(stroke_scale=wrong)
    off = Settings.from_options(stroke_scale="off")
    assert off.stroke_scale == 0 and Settings.from_options(stroke_scale=0).stroke_scale == 0
    # a recorded run rebuilt from its settings keeps it off (None would take the preset's 256)
    assert Settings.from_options(**off.as_dict()).stroke_scale == 0 and loss_spec(off).weight("octave") == 0.0
    assert Settings.from_options().stroke_scale == 256 and loss_spec(Settings.from_options()).weight("octave") > 0
    assert Settings.from_options(stroke_scale="96").stroke_scale == 96
