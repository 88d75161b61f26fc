"""Loss terms own their targets and weights: a new term is one class plus its weight, reported by name; the total is
the weighted sum of the terms; the compile cache is bounded."""
from __future__ import annotations

import numpy as np
import pytest
from keras import ops

from keras_style.config.presets import PRESETS
from keras_style.config.settings import Settings
from keras_style.engine import backend
from keras_style.engine.terms import CORE_TERMS, TERMS, LossTerm, layout, make_terms
from keras_style.run.assemble import loss_spec, settings_evaluator
from keras_style.run.monitor import Monitor

from .conftest import build


class MeanActivation(LossTerm):
    """A test term: each style layer's mean activation against the style image's."""

    name = "mean_activation"

    @property
    def layers(self) -> tuple[str, ...]:
        return self.spec.style_layers

    def targets_from(self, content_features: dict, style_features: dict) -> list:
        return [ops.mean(style_features[layer], axis=(0, 1, 2)) for layer in self.layers]

    def layer_losses(self, features: dict, image, tensors: dict, targets) -> list:
        return [ops.sum(ops.square(ops.mean(features[layer], axis=(0, 1, 2)) - target))
                for layer, target in zip(self.layers, targets)]


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(TERMS, MeanActivation.name, MeanActivation)
    return MeanActivation


def test_the_core_terms_are_registered_in_the_order_the_total_adds_them():
    assert tuple(TERMS)[:3] == CORE_TERMS == ("content", "style", "tv")


@pytest.mark.parametrize("mode", ["cached", "concat"])
def test_a_new_term_takes_part_with_its_weight_and_reports_by_name(registered, mode):
    settings, content, style, model = build(mode=mode, tv_weight=1e-2)
    base = loss_spec(settings)
    assert [name for name, _ in layout(base)] == ["content", "style", "tv"]  # weight 0: not made
    assert dict(base.weights)["mean_activation"] == 0.0  # every registered term has a weight (its NAME_weight)
    spec = base.with_weights(mean_activation=2.5)
    monitor = Monitor(1)
    evaluator = settings_evaluator(model, settings, content, style, observer=monitor, spec=spec)
    assert evaluator.layout == layout(spec) == [
        ("content", settings.content_layers), ("style", settings.style_layers), ("tv", ()),
        ("mean_activation", settings.style_layers)]
    x = content + np.random.default_rng(3).normal(scale=20.0, size=content.shape).astype(np.float32)
    monitor.start_scale(0, (40, 32), evaluator.layout, dict(spec.weights))
    terms, gradient = evaluator.evaluate(x)
    named, layers = monitor.split(terms)
    assert set(named) == {"total", "content", "style", "tv", "mean_activation"}
    assert named["mean_activation"] > 0
    assert named["mean_activation"] == pytest.approx(sum(layers["mean_activation"].values()), rel=1e-5)
    weighted = sum(spec.weight(name) * named[name] for name in ("content", "style", "tv", "mean_activation"))
    assert named["total"] == pytest.approx(weighted, rel=1e-5)
    # the term changes the gradient: the same image without it
    without = settings_evaluator(model, settings, content, style).evaluate(x)[1]
    assert not np.allclose(gradient, without)


def test_a_term_of_weight_zero_is_not_made_but_core_terms_always_are(registered):
    settings, _, _, _ = build(tv_weight=0.0, content_weight=0.0)
    names = [term.name for term in make_terms(loss_spec(settings), (32, 40))]
    assert names == ["content", "style", "tv"]


def test_the_layer_losses_of_the_sidecar_name_every_term(registered):
    settings, content, style, model = build()
    spec = loss_spec(settings).with_weights(mean_activation=1.0)
    monitor = Monitor(1)
    evaluator = settings_evaluator(model, settings, content, style, observer=monitor, spec=spec)
    monitor.start_scale(0, (40, 32), evaluator.layout, dict(spec.weights))
    evaluator.evaluate(content + 3.0)
    losses = monitor.layer_losses()
    assert list(losses) == ["content", "style", "tv", "mean_activation"]
    assert list(losses["mean_activation"]) == list(settings.style_layers) and list(losses["tv"]) == ["image"]
    shares = sum(entry["share"] for term in losses.values() for entry in term.values())
    assert shares == pytest.approx(1.0, rel=1e-4)  # each layer's weighted share of the total


def test_the_compile_cache_is_bounded_and_keeps_the_most_recent(monkeypatch):
    monkeypatch.setattr(backend, "_COMPILED", type(backend._COMPILED)())
    model = object()
    first = backend.compiled(model, ("first",), False, lambda: lambda x: x)
    for index in range(backend.COMPILED_CACHE_SIZE - 1):
        backend.compiled(model, ("other", index), False, lambda: lambda x: x)
    assert backend.compiled(model, ("first",), False, lambda: lambda x: x) is first  # used again: now the newest
    backend.compiled(model, ("one more",), False, lambda: lambda x: x)
    assert len(backend._COMPILED) == backend.COMPILED_CACHE_SIZE
    assert backend.compiled(model, ("first",), False, lambda: lambda x: x) is first  # kept: recently used
    assert (id(model), ("other", 0), False) not in backend._COMPILED  # the least recently used went out


def _weighted_content_over_style(balance: str, scale: int) -> float:
    """The weighted content term over the weighted style term for one synthetic picture pair, repeated scale x scale
    times (the features repeat, so a sum over positions grows with the pixels and a normalised statistic does
    not): the balance a run paints with."""
    from keras_style.engine.terms import weights_at
    from keras_style.files.images import preprocess

    from .conftest import make_picture

    settings, _, _, model = build(balance=balance)
    pictures = [np.tile(make_picture(40, 32, seed=seed, kind=kind), (scale, scale, 1)).astype(np.float32)
                for seed, kind in ((0, "content"), (2, "style"), (5, "style"))]
    content, style, generated = (preprocess(picture) for picture in pictures)
    spec = loss_spec(settings, content.shape[1] * content.shape[2])
    weights = weights_at(spec, content.shape[1:3])
    named, _ = Monitor(1).split(settings_evaluator(model, settings, content, style, spec=spec).evaluate(generated)[0])
    return weights["content"] * named["content"] / (weights["style"] * named["style"])


def test_per_pixel_weights_keep_the_balance_at_two_sizes_and_output_weights_do_not():
    # the content term is a sum over positions (4x the value at 2x the size), the style term a normalised Gram
    # distance (about the same): per-pixel weights carry the content weight to the size, output weights do not
    per_pixel = [_weighted_content_over_style("per-pixel", scale) for scale in (1, 2)]
    assert per_pixel[1] / per_pixel[0] == pytest.approx(1.0, abs=0.15)
    output = [_weighted_content_over_style("output", scale) for scale in (1, 2)]
    assert output[1] / output[0] == pytest.approx(4.0, rel=0.15)


def test_every_registered_term_has_a_weight_setting_and_every_weight_setting_a_term():
    from keras_style.config.settings import TERM_WEIGHT_SUFFIX, term_weight_settings

    assert sorted(term_weight_settings()) == sorted(name + TERM_WEIGHT_SUFFIX for name in TERMS)


def test_the_style_loss_choices_are_the_style_terms_and_each_tiles():
    """--style-loss offers exactly the registered style terms, each a StyleTerm (so tiling can sum its statistics)."""
    from keras_style.config.choices import STYLE_LOSSES as CHOICES
    from keras_style.engine.terms import STYLE_LOSSES, StyleTerm

    assert tuple(STYLE_LOSSES) == CHOICES
    assert all(issubclass(cls, StyleTerm) and cls.tiling == "statistics" for cls in STYLE_LOSSES.values())


def test_style_strength_multiplies_the_style_weight_once():
    """The strength meets the weight in the loss (loss_spec), not in the Settings: a Settings rebuilt from its record
    (the batch runner's resume, a sidecar's settings) keeps strength and weight apart and weighs the style as the
    original did."""
    settings = Settings.from_options(preset="painterly", style_strength=2.5)
    assert settings.style_weight == PRESETS["painterly"].values["style_weight"]
    assert loss_spec(settings).weight("style") == 2.5 * settings.style_weight
    assert loss_spec(settings).weight("content") == settings.content_weight  # the other terms as they were
    rebuilt = Settings.from_options(**settings.as_dict())
    assert rebuilt == settings
    assert loss_spec(rebuilt).weights == loss_spec(settings).weights
