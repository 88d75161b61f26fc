"""Presets, option precedence, layer names and validation."""
import math

import pytest

from keras_style.config.layers import resolve_layer, valid_layers
from keras_style.config.presets import DEFAULT_PRESET, PRESETS
from keras_style.config.settings import Settings
from keras_style.errors import UserError

from .conftest import ROOT


def test_defaults_are_the_painterly_preset_on_the_papers_network_and_layers():
    settings = Settings.from_options()
    assert settings.preset == DEFAULT_PRESET == "painterly"
    assert settings.network == "vgg19" and settings.content_layers == ("block4_conv2",)
    assert settings.style_layers == tuple(f"block{i}_conv1" for i in range(1, 6))
    assert settings.normalization == "johnson" and settings.optimizer == "auto" and settings.mode == "cached"
    assert (settings.init, settings.scales, settings.lbfgs_memory) == ("palette", 5, 30)
    # it stops each size once it stops paying, the budget a ceiling (benchmarks/RESULTS.md, "A third of the time")
    assert (settings.iterations, settings.min_improvement, settings.patience) == (700, 0.03, 10)
    # the Settings fields' own defaults are the paper's: gatys changes nothing
    paper = Settings.from_options(preset="gatys")
    assert PRESETS["gatys"].values == {} and paper.normalization == "paper" and paper.scales == 1
    assert paper.optimizer == "lbfgs"  # scipy's L-BFGS-B, as the paper's and the articles' runs


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_resolves(name):
    settings = Settings.from_options(preset=name)
    for key, value in PRESETS[name].values.items():
        if key not in ("content_layers", "style_layers"):
            assert getattr(settings, key) == value, key
    assert settings.evaluation_budget > 0


def test_article_presets_match_the_articles_table():
    article_001 = Settings.from_options(preset="article-001")
    assert article_001.network == "vgg16" and article_001.content_layers == ("block2_conv2",)
    assert article_001.style_layers == ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3")
    assert (article_001.content_weight, article_001.style_weight, article_001.tv_weight) == (0.05, 5.0, 1.0)
    assert (article_001.outer_iterations, article_001.maxfun, article_001.resize) == (10, 20, "square")
    assert article_001.init == "noise" and article_001.evaluation_budget == 200
    article_002 = Settings.from_options(preset="article-002")
    assert (article_002.content_weight, article_002.style_weight, article_002.size) == (5.0, 2.0, 400)
    assert (article_002.outer_iterations, article_002.maxfun) == (20, 25)
    keras_example = Settings.from_options(preset="keras-example")
    assert keras_example.normalization == "keras-example" and keras_example.content_layers == ("block5_conv2",)
    assert Settings.from_options(preset="article-000").pooling == "avg"
    assert Settings.from_options(preset="article-004").optimizer == "gd"


def test_explicit_options_override_the_preset():
    settings = Settings.from_options(preset="article-001", content_weight=2.0, network="vgg19",
                                     style_layers=["conv1_1"])
    assert settings.content_weight == 2.0 and settings.network == "vgg19" and settings.style_layers == ("block1_conv1",)
    assert settings.style_weight == 5.0  # untouched preset value stays
    # an explicit --iterations replaces the articles' restart loop by one continuous run
    continuous = Settings.from_options(preset="article-001", iterations=30)
    assert continuous.outer_iterations is None and continuous.evaluation_budget == 30


def test_paper_and_keras_layer_names():
    assert resolve_layer("conv4_2", "vgg19") == "block4_conv2"
    assert resolve_layer("relu5_1", "vgg16") == "block5_conv1"
    assert resolve_layer("block5_conv4", "vgg19") == "block5_conv4"
    assert len(valid_layers("vgg16")) == 13 and len(valid_layers("vgg19")) == 16
    with pytest.raises(UserError, match="block5_conv3") as caught:  # the message lists the valid names
        resolve_layer("block5_conv4", "vgg16")
    assert "conv5_4" not in str(caught.value).split("valid names:")[1].split("(")[0]


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(preset="nope"), "unknown preset"),
        (dict(content_weight=-1.0), "content-weight"),
        (dict(style_weight=math.inf), "style-weight"),
        (dict(tv_weight=math.nan), "tv-weight"),
        (dict(size=0), "size"),
        (dict(iterations=-5), "iterations"),
        (dict(style_layers=["conv9_9"]), "unknown layer"),
        (dict(content_layers=[]), "empty"),
        (dict(style_layer_weights=[1.0]), "style-layer-weights"),
        (dict(style_layer_weights=["a"] * 5), "numbers"),
        (dict(init="no-such-file.png"), "--init"),
        (dict(mode="concat", style_scale=2.0), "style-scale"),
        (dict(optimizer="sgd"), "optimizer"),
        (dict(seed=-1), "seed"),
        (dict(style_strength=0.0), "style-strength must be a finite number > 0"),
        (dict(style_strength=math.inf), "style-strength must be a finite number > 0"),
        (dict(colour=3), "unknown setting"),
    ],
)
def test_invalid_settings(options, message):
    with pytest.raises(UserError, match=message):
        Settings.from_options(**options)


def test_layer_weights_default_to_equal_shares():
    settings = Settings.from_options(style_layers=["conv1_1", "conv2_1"])
    assert settings.layer_weights == (0.5, 0.5)
    assert Settings.from_options(style_layer_weights="1, 2, 3, 4, 5").layer_weights == (1, 2, 3, 4, 5)


def options_page_table() -> str:
    """The table in docs/options.md, between its markers (scripts/options_page.py writes it)."""
    text = (ROOT / "docs" / "options.md").read_text()
    start = text.index("<!-- options table:")
    start = text.index("\n", start) + 1
    return text[start:text.index("<!-- end of options table -->")].strip()


def test_options_page_matches_the_declarations():
    from dataclasses import fields

    from keras_style.apps.options import options_table

    assert options_page_table() == options_table(), \
        "docs/options.md's table is stale: regenerate it with python scripts/options_page.py"
    assert options_table().count("\n| `--") == len(fields(Settings))  # a row per setting


def test_every_setting_is_declared_once_and_reaches_the_parser():
    from dataclasses import fields

    from keras_style.apps.cli import build_parser
    from keras_style.apps.options import shown_default
    from keras_style.config.settings import declared_settings, flag

    declared = declared_settings()
    assert {d.name for d in declared} == {f.name for f in fields(Settings)}  # nothing undeclared
    help_text = build_parser().format_help()
    for setting in declared:
        assert flag(setting) in help_text
        if setting.metadata["option"].show_default:
            assert f"(default: {shown_default(setting)})" in " ".join(help_text.split()), setting.name
    # a default that the default preset changes is shown with the paper's value beside it
    style_weight = next(setting for setting in declared if setting.name == "style_weight")
    assert shown_default(style_weight) == "156000000.0; gatys: 1000.0"


def test_a_declared_choice_is_what_validation_accepts():
    from keras_style.config.choices import OPTIMIZERS, POOLINGS

    assert Settings.from_options(pooling=POOLINGS[-1]).pooling == POOLINGS[-1]
    for optimizer in OPTIMIZERS:
        assert Settings.from_options(optimizer=optimizer).optimizer == optimizer
    with pytest.raises(UserError, match=r"unknown optimizer 'sgd'; choose from auto, lbfgs, lbfgs-device, gd, adam"):
        Settings.from_options(optimizer="sgd")
