"""The loss functions of Gatys et al. as small pure functions on tensors (keras.ops); terms.py builds the loss terms
of a run from them."""
from __future__ import annotations

import functools
import operator

import numpy as np
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


def style_scale(normalization: str, channels: int, positions: int, input_positions: int) -> float:
    """The factor in front of sum((G_gen - G_style)^2).

    paper: 1 / (4 N^2 M^2) with this layer's N channels and M positions.
    keras-example: N = 3 and M = the input image's height*width for every layer (the articles' quirk).
    johnson: 1 / (N^4 M^2), jcjohnson/neural-style's (Gram / (N M), squared error averaged over the N^2 entries):
    against the paper's, a layer of fewer channels counts more, so the first layers (colour, fine strokes) lead.
    """
    if normalization == "paper":
        return 1.0 / (4.0 * channels**2 * positions**2)
    if normalization == "johnson":
        return 1.0 / (float(channels) ** 4 * float(positions) ** 2)
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


def squared_total_variation(image):
    """sum((x[i,j]-x[i+1,j])^2) + sum((x[i,j]-x[i,j+1])^2), per channel (jcjohnson/neural-style, crowsonkb)."""
    down = ops.square(image[:, 1:, :, :] - image[:, :-1, :, :])
    right = ops.square(image[:, :, 1:, :] - image[:, :, :-1, :])
    return ops.sum(down) + ops.sum(right)


# The isotropic nine-point Laplacian stencil as (row offset, column offset, weight): its weights sum to zero, so a
# flat or linearly shaded area costs nothing.
NINE_POINT_LAPLACIAN = (
    *((dy, dx, 4.0 / 6.0) for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))),
    *((dy, dx, 1.0 / 6.0) for dy, dx in ((-1, -1), (-1, 1), (1, -1), (1, 1))),
    (0, 0, -20.0 / 6.0),
)


def laplacian_smoothness(image):
    """sum((nine-point Laplacian of x)^2) over the interior pixels, per channel: a penalty that grows with the fourth
    power of the frequency where squared total variation grows with the second, so it damps a one-pixel grain as
    squared TV does while it costs a broad stroke far less."""
    height, width = image.shape[1], image.shape[2]
    laplacian = 0.0
    for dy, dx, weight in NINE_POINT_LAPLACIAN:
        laplacian = laplacian + weight * image[:, 1 + dy:height - 1 + dy, 1 + dx:width - 1 + dx, :]
    return ops.sum(ops.square(laplacian))


def temporal_loss(image, warped, reliable):
    """Ruder et al.'s short-term temporal loss: the squared difference to the previous output warped to this frame,
    where the flow can be trusted (`reliable` (1, H, W, 1), 1 or 0), averaged over every pixel and channel."""
    count = ops.cast(ops.size(image), "float32")
    return ops.sum(reliable * ops.square(image - warped)) / count


# The --tv-form choices (config/choices.py's TV_FORMS).
TV_FUNCTIONS = {"articles": total_variation_loss, "squared": squared_total_variation,
                "laplacian": laplacian_smoothness}


# Newton-Schulz iterations for a matrix square root (each two matmuls): enough for covariances of VGG features, whose
# square roots converge to float32 precision well before this (tests/test_w2.py).
NEWTON_SCHULZ_ITERATIONS = 15
# Added to a covariance's diagonal: a flat region's features have a singular covariance, whose square root has no
# gradient at 0.
COVARIANCE_EPSILON = 1e-3


def mean_and_covariance(features):
    """(mean (C,), covariance (C, C)) of features (1, H, W, C) over their positions, with COVARIANCE_EPSILON on the
    diagonal."""
    channels = ops.shape(features)[-1]
    flat = ops.reshape(features, (-1, channels))
    mean = ops.mean(flat, axis=0)
    centred = flat - mean
    covariance = ops.matmul(ops.transpose(centred), centred) / ops.cast(ops.shape(flat)[0], "float32")
    return mean, covariance + COVARIANCE_EPSILON * ops.eye(channels)


def moments(features):
    """(sum of the features (C,), sum of their outer products (C, C)) over the positions of features (1, H, W, C):
    the sums a Gaussian fit is made of, which add up over parts of an image."""
    channels = ops.shape(features)[-1]
    flat = ops.reshape(features, (-1, channels))
    return ops.sum(flat, axis=0), ops.matmul(ops.transpose(flat), flat)


def mean_and_covariance_of_moments(first, second):
    """(mean, covariance) from the moments per position (the sums of moments() over the positions' count), with
    COVARIANCE_EPSILON on the diagonal as mean_and_covariance has."""
    covariance = second - ops.outer(first, first)
    return first, covariance + COVARIANCE_EPSILON * ops.eye(ops.shape(first)[-1])


def square_root(matrix, iterations: int = NEWTON_SCHULZ_ITERATIONS):
    """The square root of a symmetric positive definite matrix by the coupled Newton-Schulz iteration (matmuls only,
    so its gradient is the iteration's own)."""
    eye = ops.eye(ops.shape(matrix)[-1])
    norm = ops.sqrt(ops.sum(ops.square(matrix)))
    estimate, inverse = matrix / norm, eye
    for _ in range(iterations):
        step = 0.5 * (3.0 * eye - ops.matmul(inverse, estimate))
        estimate, inverse = ops.matmul(estimate, step), ops.matmul(step, inverse)
    return estimate * ops.sqrt(norm)


def wasserstein_loss(mean, covariance, target_mean, target_covariance, target_root):
    """The squared Wasserstein-2 distance between two Gaussians: |m - m_t|^2 + tr(C) + tr(C_t)
    - 2 tr((C_t^1/2 C C_t^1/2)^1/2), with the target's square root C_t^1/2 computed once."""
    cross = square_root(ops.matmul(ops.matmul(target_root, covariance), target_root))
    return (ops.sum(ops.square(mean - target_mean)) + ops.trace(covariance) + ops.trace(target_covariance)
            - 2.0 * ops.trace(cross))


# The octaves' low-pass filter, applied along rows then columns: binomial (1, 3, 3, 1) / 8, the nearest to a Gaussian in
# four taps. A 2x2 box filter's adjoint (the gradient's way back) is a nearest-neighbour upsampling, which printed a
# 2-px chroma grain on the picture (benchmarks/RESULTS.md); this one's is smooth.
OCTAVE_TAPS = np.array([1.0, 3.0, 3.0, 1.0], dtype=np.float32) / 8.0


def octave_down(image):
    """The next octave of an image (1, H, W, C): low-passed by OCTAVE_TAPS (its edges mirrored), then every other
    pixel: (H // 2, W // 2)."""
    channels = image.shape[-1]
    kernel = np.outer(OCTAVE_TAPS, OCTAVE_TAPS)[:, :, None, None] * np.ones((1, 1, channels, 1), dtype=np.float32)
    padded = ops.pad(image, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="symmetric")
    return ops.depthwise_conv(padded, ops.convert_to_tensor(kernel, dtype=image.dtype), strides=2, padding="valid")


def octaves(image, count: int) -> list:
    """The image's first `count` octaves below it, largest first (a Gaussian pyramid: octave_down repeated)."""
    made = []
    for _ in range(count):
        image = octave_down(image)
        made.append(image)
    return made
