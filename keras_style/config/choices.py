"""The choices of the settings that name one of several ways to do a step, declared once: Settings validates against
them, --help and the README list them, and the layer that implements a choice maps each name to its code."""
from __future__ import annotations

from dataclasses import dataclass

POOLINGS = ("max", "avg")
RESIZE_MODES = ("longest", "height", "square")
INITS = ("content", "noise", "white", "style", "mean", "palette")
PRESERVE_COLORS = ("none", "luminance", "luminance-only", "histogram")
# the --preserve-colors modes that put the content's chrominance back after the run
CHROMINANCE_MODES = ("luminance", "luminance-only")
# Gram loss scales: the paper's 1/(4 N^2 M^2) per layer, the Keras example's N=3, M=input pixels, or
# jcjohnson/neural-style's 1/(N^4 M^2) (its Gram divided by N M, then the mean over N^2 entries).
NORMALIZATIONS = ("paper", "keras-example", "johnson")
# The style term: Gatys's squared Gram distance, or the Wasserstein-2 distance between Gaussian fits of the features.
STYLE_LOSSES = ("gram", "w2")
# The style losses that paint regions (--content-mask, --style-masks); the others match the whole image's statistics.
REGIONAL_STYLE_LOSSES = ("gram",)
# A mask region smaller than this (its weights' sum, in pixels at a scale's size) paints nothing and is dropped.
MIN_REGION_PIXELS = 1.0
# The smoothness term: the articles' sum of ((dx^2 + dy^2)^1.25), or the plain sum of squared neighbour differences
# (jcjohnson/neural-style, crowsonkb).
TV_FORMS = ("articles", "squared", "laplacian")
# --stroke-octaves: which octaves of the output carry the style (engine/terms.py octave_levels)
STROKE_OCTAVES = ("coarsest", "all")
# Padding of the first convolution: Keras VGG's zeros, or the edge pixels repeated (crowsonkb, against dark borders).
PADDINGS = ("zero", "replicate")
# How --scales shares the budget: coarse = each coarser size twice the next finer one's evaluations, the final size
# 40 %; equal = the same number of evaluations at every size (crowsonkb).
SCALE_BUDGETS = ("coarse", "equal")
# What a finer scale starts from besides the coarser result upsampled: nothing more, or the content's luminance detail
# that the upsampling lost (the photograph's fine edges, which the coarse scales could not hold).
SCALE_STARTS = ("upsampled", "detail")
# The loss terms every run makes and reports (with weight 0 too), in the order the total adds them; every other term
# registered in engine/terms.py takes part only with a weight above 0.
CORE_TERMS = ("content", "style", "tv")
# What a term's weight means (engine/terms.py: each term declares how its value grows with the image's pixels):
# output = the weight of the term's value at the output size, as the paper and the articles weigh their sums (a
# coarse scale of a multi-scale run is balanced as the output is); per-pixel = the weight at
# BALANCE_REFERENCE_PIXELS, carried to any other size by each term's own growth, so one set of weights gives the
# same balance at every --size and every scale.
BALANCES = ("output", "per-pixel")
# The image size at which per-pixel weights are the terms' own: 512 x 384 px, where painterly's weights were matched
# to jcjohnson/neural-style's balance (whose content loss is a mean, ours a sum).
BALANCE_REFERENCE_PIXELS = 512 * 384
OPTIMIZERS = ("auto", "lbfgs", "lbfgs-device", "gd", "adam")
# The optimisers whose budget can be the articles' restart loop (--outer-iterations x --maxfun): auto resolves to
# scipy's L-BFGS-B when the loop is asked for.
RESTARTING_OPTIMIZERS = ("auto", "lbfgs")


def evaluation_budget(optimizer: str, iterations: int, outer_iterations: int | None, maxfun: int | None) -> int:
    """Loss-and-gradient evaluations an optimiser is allowed (the progress bar's length): the articles' restart loop
    (--outer-iterations rounds of --maxfun, 20 by default) or --iterations."""
    if optimizer in RESTARTING_OPTIMIZERS and outer_iterations is not None:
        return outer_iterations * (maxfun or 20)
    return iterations
# The optimisers whose iterates --average-iterates averages (each step a small move of one image, as with crowsonkb's
# Adam; L-BFGS's iterates are not samples around a minimum).
AVERAGED_OPTIMIZERS = ("gd", "adam")
PRECISIONS = ("auto", "float32", "mixed")


@dataclass(frozen=True)
class Mode:
    """What a --mode means outside the engine (the engine's target provider is picked by name in run/assemble.py)."""

    images_per_evaluation: int  # images through the network per evaluation (the memory estimate)
    style_fit: str  # "stretch": the style is resized to the content's size; "own-aspect": it keeps its aspect ratio
    whole_images_only: bool  # no tiles, masks, several styles or --style-scale: the batch holds one of each image


MODES = {
    # the targets computed once; only the generated image goes through the network at each evaluation
    "cached": Mode(images_per_evaluation=1, style_fit="own-aspect", whole_images_only=False),
    # the articles' batch [content, style, generated] through the network at every evaluation
    "concat": Mode(images_per_evaluation=3, style_fit="stretch", whole_images_only=True),
}
