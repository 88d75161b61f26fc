"""Fixed judges: score any finished image with one unchanging loss, so runs with different settings compare.

A run's own loss depends on its network, layers, weights and normalisation; a judge re-measures every result with
the same network and layers (and unit loss weights reported per term).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from keras_style.config.presets import JOHNSON_STYLE_LAYERS_VGG16, PAPER_STYLE_LAYERS
from keras_style.config.settings import Settings
from keras_style.engine.network import feature_model
from keras_style.files.images import ImageSource, load_image, preprocess, resize, style_size, to_array
from keras_style.run.assemble import feature_model_for, settings_evaluator
from keras_style.run.monitor import TERMS

# Every judge weighs the sums at the size it judges (--balance output), as the paper does.
JUDGE_BALANCE = "output"
JUDGES: dict[str, dict[str, Any]] = {
    # The paper's measure: VGG19, content conv4_2, style conv1_1..conv5_1, 1/(4N^2M^2), alpha/beta 1e-3.
    "vgg19-paper": dict(network="vgg19", content_layers=("block4_conv2",), style_layers=PAPER_STYLE_LAYERS,
                        normalization="paper", content_weight=1.0, style_weight=1e3, tv_weight=0.0,
                        balance=JUDGE_BALANCE),
    # Johnson et al.'s layers on VGG16 (article 001), with the paper's normalisation so the scale is sane.
    "vgg16-johnson": dict(network="vgg16", content_layers=("block2_conv2",), style_layers=JOHNSON_STYLE_LAYERS_VGG16,
                          normalization="paper", content_weight=1.0, style_weight=1e3, tv_weight=0.0,
                          balance=JUDGE_BALANCE),
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
    evaluator = settings_evaluator(model, settings, preprocess(content_rgb), preprocess(style_rgb))
    terms = evaluator.terms_at(preprocess(np.asarray(image, dtype=np.float32)))
    return {term: float(value) for term, value in zip(TERMS, terms)}


# --- The quality measures of benchmarks/quality.py: each compares a result with the painting or the photograph the
# same way for every run, so rows of settings and a reference implementation's results can be ranked.

# (network, content layer, style layers) of the two feature judges.
QUALITY_NETWORKS = {
    "vgg19": ("block4_conv2", PAPER_STYLE_LAYERS),
    "vgg16": ("block2_conv2", JOHNSON_STYLE_LAYERS_VGG16),
}
NOISE_SIGMA = 1.0  # px: fine noise is what a Gaussian blur of this width removes


def _features(network: str, rgb: np.ndarray, layers: tuple[str, ...], weights: str) -> dict[str, np.ndarray]:
    """Float32 features (H, W, C) of a uint8 or float RGB image at `layers`, caffe-preprocessed 0..255 pixels."""
    model = feature_model(network, weights, "max", layers, "float32")
    outputs = model(preprocess(np.asarray(rgb, dtype=np.float32)), training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return {layer: np.asarray(output, dtype=np.float32)[0] for layer, output in zip(layers, outputs)}


def _normalised_gram(features: np.ndarray) -> np.ndarray:
    flat = features.reshape(-1, features.shape[-1]).astype(np.float64)
    return flat.T @ flat / flat.shape[0]


def feature_distances(image: np.ndarray, content: np.ndarray, painting: np.ndarray, network: str,
                      weights: str = "imagenet") -> dict[str, float]:
    """{content, style} of `image` under `network`'s judge: the mean squared feature difference to the content at the
    content layer, and the sum over the style layers of the mean squared difference of the Gram matrices
    (F^T F / positions) to the painting's (the mean over C x C entries: each layer divided by its channels squared).
    `content` must have the image's size; the painting may have any."""
    content_layer, style_layers = QUALITY_NETWORKS[network]
    layers = (content_layer, *style_layers)
    mine, theirs, style = (_features(network, each, layers, weights) for each in (image, content, painting))
    return {
        "content": float(np.mean(np.square(mine[content_layer] - theirs[content_layer]))),
        "style": float(sum(np.mean(np.square(_normalised_gram(mine[layer]) - _normalised_gram(style[layer])))
                           for layer in style_layers)),
    }


def colour_distance(image: np.ndarray, painting: np.ndarray) -> float:
    """The W2 distance between Gaussian fits (mean, covariance) of the two images' RGB pixels (0..255 units)."""
    def sqrt_psd(matrix: np.ndarray) -> np.ndarray:
        """The square root of a symmetric positive semi-definite matrix (a flat image's covariance is singular)."""
        values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
        return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T

    def fit(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pixels = np.asarray(rgb, dtype=np.float64).reshape(-1, 3)
        return pixels.mean(axis=0), np.cov(pixels, rowvar=False)

    (mean_a, cov_a), (mean_b, cov_b) = fit(image), fit(painting)
    root_a = sqrt_psd(cov_a)
    cross = sqrt_psd(root_a @ cov_b @ root_a)
    squared = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2.0 * cross)
    return float(np.sqrt(max(squared, 0.0)))


def fine_noise(image: np.ndarray) -> dict[str, float]:
    """{luma, chroma}: the RMS of each Pillow YCbCr channel minus its Gaussian blur (sigma NOISE_SIGMA px); chroma
    combines Cb's and Cr's as a hypotenuse."""
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    ycbcr = np.asarray(Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("YCbCr"), dtype=np.float64)
    rms = [float(np.sqrt(np.mean(np.square(channel - gaussian_filter(channel, NOISE_SIGMA)))))
           for channel in np.moveaxis(ycbcr, -1, 0)]
    return {"luma": rms[0], "chroma": float(np.hypot(rms[1], rms[2]))}


def half_size(rgb: np.ndarray) -> np.ndarray:
    """An RGB image at half its size (Lanczos): its strokes at twice their scale for the feature judges."""
    from PIL import Image

    picture = Image.fromarray(np.asarray(rgb, dtype=np.uint8))
    return np.asarray(picture.resize((max(1, picture.width // 2), max(1, picture.height // 2)),
                                     Image.Resampling.LANCZOS))


def quality(image: np.ndarray, content: ImageSource, painting: ImageSource, weights: str = "imagenet"
            ) -> dict[str, float]:
    """Every quality measure of a uint8 RGB result (lower is better): both judges' content and style, the VGG16 style
    at half size, the colour distance to the painting, and luma and chroma fine noise. The content is resized to
    the image's size, the painting to the image's longest side."""
    height, width = image.shape[:2]
    content_rgb = to_array(resize(load_image(content, "content image"), width, height, "content image"))
    painting_image = load_image(painting, "style image")
    painting_rgb = to_array(resize(painting_image, *style_size(painting_image, (width, height), 1.0), "style image"))
    measures: dict[str, float] = {}
    for network in QUALITY_NETWORKS:
        for name, value in feature_distances(image, content_rgb, painting_rgb, network, weights).items():
            measures[f"{network}_{name}"] = value
    halves = [half_size(each) for each in (image, content_rgb, painting_rgb)]
    measures["vgg16_half_style"] = feature_distances(*halves, "vgg16", weights)["style"]
    measures["colours"] = colour_distance(image, painting_rgb)
    measures.update({f"{name}_noise": value for name, value in fine_noise(image).items()})
    return measures
