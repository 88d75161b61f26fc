"""The loss functions of Gatys et al. as small pure functions on tensors (keras.ops); terms.py builds the loss terms
of a run from them."""
from __future__ import annotations

import functools
import operator

from keras import ops

TV_EXPONENT = 1.25


def summed(values):
    """The sum of a non-empty sequence of tensors, added left to right (one value is returned as it is)."""
    return functools.reduce(operator.add, values)


def content_loss(generated, target):
    """Sum over positions and channels of the squared feature difference."""
    return ops.sum(ops.square(generated - target))


def gram_matrix(features):
    """G[k, m] = sum over positions of F[k] * F[m], for features (H, W, C) or (1, H, W, C)."""
    channels = ops.shape(features)[-1]
    flat = ops.reshape(features, (-1, channels))
    return ops.matmul(ops.transpose(flat), flat)


def masked_gram_matrix(features, mask, positions_per_area):
    """The Gram matrix of one region: features weighted by a mask (1, h, w, 1) at their resolution, scaled by the
    layer's positions over the mask's area so that a region asks for the same per-position statistics as the
    whole image does."""
    return gram_matrix(features * mask) * positions_per_area


def style_scale(normalization: str, channels: int, positions: int, input_positions: int) -> float:
    """The factor in front of sum((G_gen - G_style)^2).

    paper: 1 / (4 N^2 M^2) with this layer's N channels and M positions.
    keras-example: N = 3 and M = the input image's height*width for every layer (the articles' quirk).
    """
    if normalization == "paper":
        return 1.0 / (4.0 * channels**2 * positions**2)
    if normalization == "keras-example":
        return 1.0 / (4.0 * 3**2 * input_positions**2)
    raise ValueError(f"unknown normalization {normalization!r}")


def style_loss(gram_generated, gram_target, scale: float):
    """Scaled squared distance between two Gram matrices."""
    return scale * ops.sum(ops.square(gram_generated - gram_target))


def total_variation_loss(image):
    """sum(((x[i,j]-x[i+1,j])^2 + (x[i,j]-x[i,j+1])^2)^1.25), per channel, as in articles 001-003."""
    down = ops.square(image[:, :-1, :-1, :] - image[:, 1:, :-1, :])
    right = ops.square(image[:, :-1, :-1, :] - image[:, :-1, 1:, :])
    return ops.sum(ops.power(down + right, TV_EXPONENT))
