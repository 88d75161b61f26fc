"""Fixed judges: score any finished image with one unchanging loss, so runs with different settings compare.

A run's own loss depends on its network, layers, weights and normalisation; a judge re-measures every result with
the same network and layers (and unit loss weights reported per term).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from keras_style.config.presets import JOHNSON_STYLE_LAYERS_VGG16, PAPER_STYLE_LAYERS
from keras_style.config.settings import Settings
from keras_style.files.images import ImageSource, load_image, preprocess, resize, style_size, to_array
from keras_style.run.assemble import evaluator_for, feature_model_for
from keras_style.run.monitor import TERMS

JUDGES: dict[str, dict[str, Any]] = {
    # The paper's measure: VGG19, content conv4_2, style conv1_1..conv5_1, 1/(4N^2M^2), alpha/beta 1e-3.
    "vgg19-paper": dict(network="vgg19", content_layers=("block4_conv2",), style_layers=PAPER_STYLE_LAYERS,
                        normalization="paper", content_weight=1.0, style_weight=1e3, tv_weight=0.0),
    # Johnson et al.'s layers on VGG16 (article 001), with the paper's normalisation so the scale is sane.
    "vgg16-johnson": dict(network="vgg16", content_layers=("block2_conv2",), style_layers=JOHNSON_STYLE_LAYERS_VGG16,
                          normalization="paper", content_weight=1.0, style_weight=1e3, tv_weight=0.0),
}


def judge(image: np.ndarray, content: ImageSource, style: ImageSource, name: str = "vgg19-paper",
          weights: str = "imagenet") -> dict[str, float]:
    """Loss terms (total, content, style, tv) of a uint8 RGB `image` under judge `name`.

    The content is resized to the image's size and the style keeps its aspect with the same longest side,
    so the judge sees every candidate exactly as a cached-mode run of that size would.
    """
    # float32 and no XLA whatever the device: one ruler for every run, and no compilation for a single pass
    settings = Settings.from_options(weights=weights, mode="cached", precision="float32", jit_compile=False,
                                     **JUDGES[name])
    height, width = image.shape[:2]
    content_rgb = to_array(resize(load_image(content, "content image"), width, height, "content image"))
    style_image = load_image(style, "style image")
    style_rgb = to_array(resize(style_image, *style_size(style_image, (width, height), 1.0), "style image"))
    model = feature_model_for(settings)
    evaluator = evaluator_for(model, settings, preprocess(content_rgb), preprocess(style_rgb))
    terms = evaluator.terms_at(preprocess(np.asarray(image, dtype=np.float32)))
    return {term: float(value) for term, value in zip(TERMS, terms)}
