"""Named settings that reproduce the paper, the five tutorial articles and the Keras example.

Each preset lists what it changes from the Settings defaults (the gatys preset); explicit options given with it
override both.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PAPER_STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
JOHNSON_STYLE_LAYERS_VGG16 = ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3")


@dataclass(frozen=True)
class Preset:
    name: str
    reproduces: str
    values: dict[str, Any] = field(default_factory=dict)
    differences: str = ""


# The paper's preset: the Settings defaults are its values, and every other preset lists what it changes from them.
PAPER_PRESET = "gatys"
DEFAULT_PRESET = "painterly"
# The Keras example's settings, shared by the two presets that reproduce it (article 003 follows the example).
KERAS_EXAMPLE = dict(
    content_layers=("block5_conv2",), normalization="keras-example", content_weight=0.025, style_weight=1.0,
    tv_weight=1.0, size=400, resize="height", iterations=200, outer_iterations=10, maxfun=20, mode="concat",
)

# Each preset overrides the Settings defaults, which are the gatys preset (the paper): only what differs is listed.
PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "gatys",
            "Gatys, Ecker & Bethge 2015 (arXiv 1508.06576): VGG19, content conv4_2, style conv1_1..conv5_1, "
            "the paper's 1/(4N^2M^2) style normalisation, L-BFGS",
            {},
            "max pooling (the paper prefers average: add --pooling avg); starts from the content as Gatys's own "
            "notebook does, not from noise",
        ),
        Preset(
            "painterly",
            "keras-style's default, chosen by benchmarks/quality.py and time_to_quality.py against "
            "jcjohnson/neural-style's results: the paper's network and layers, coarse to fine over 5 sizes (128 to "
            "512 px, steps of sqrt(2), the style resized at each, up to the same evaluations at each, each size "
            "stopped once its loss falls less than 3 % over 10 evaluations, in proportion to its pixels), starting "
            "from the content recoloured to the painting's palette, jcjohnson/neural-style's style-layer balance and "
            "squared total variation, L-BFGS memory 30, on the device where it pays (--optimizer auto), the style also "
            "matched on a 256-px copy of a larger picture (--stroke-scale 256: a 256-px preview's strokes)",
            dict(
                # jcjohnson/neural-style's weights 10 / 100 / 1e-3 (its default content weight doubled: a clearer
                # photograph at the same style scores) in this package's units at 512 x 384 px, where its content
                # loss is a mean over the 1.57M features of block4_conv2 and ours is their sum
                content_weight=2.0, normalization="johnson", style_weight=1.56e8, tv_weight=157.0, tv_form="squared",
                init="palette", scales=5, scale_budget="equal", iterations=700, optimizer="auto",
                # spend evaluations while they pay: each size stops once its best loss falls less than 3 % (times
                # its share of the output's pixels) over 10 evaluations, the 700 a ceiling (an easy pair stops near
                # a third, a painting of long strokes runs on); benchmarks/RESULTS.md, "A third of the time"
                min_improvement=0.03, patience=10,
                # 30 curvature pairs judged as 100 did (256 px, four pairs); with a full history their recursion costs
                # 5 % of an evaluation at 512 px, where 100 pairs cost 20 % (benchmarks/RESULTS.md)
                lbfgs_memory=30,
                # the same balance at every --size and at every scale of the run (the weights above hold at
                # 512 x 384 px)
                balance="per-pixel",
                # the preview is the print: above 362 px the style is also matched on a 256-px copy of the picture
                # (--stroke-octaves coarsest, --octave-weight 0.15), so that a large output keeps a 256-px preview's
                # strokes; benchmarks/RESULTS.md, "The preview is the print"
                stroke_scale=256,
            ),
            "not a reproduction: the settings that judged best against jcjohnson/neural-style within a third of "
            "its evaluations",
        ),
        Preset(
            "article-000",
            "Article 000 (PyTorch): VGG19 with average pooling, content conv4_2, style conv1_1..conv5_1, "
            "alpha/beta = 1e-6, L-BFGS on the image",
            dict(pooling="avg", style_weight=1e6),
            "caffe BGR mean preprocessing instead of PyTorch's mean/std normalisation (the Keras weights need it)",
        ),
        Preset(
            "article-001",
            "Article 001 (Keras backend): VGG16, content block2_conv2, Johnson et al. style layers, weights "
            "0.05/5/1, 10 x fmin_l_bfgs_b(maxfun=20), 512x512 square, noise start, concatenated batch",
            dict(
                network="vgg16", content_layers=("block2_conv2",), style_layers=JOHNSON_STYLE_LAYERS_VGG16,
                normalization="keras-example", content_weight=0.05, style_weight=5.0, tv_weight=1.0,
                resize="square", iterations=200, outer_iterations=10, maxfun=20, init="noise", mode="concat",
            ),
            "the article's text names block1_conv2 for content; its code uses block2_conv2, which we follow",
        ),
        Preset(
            "article-002",
            "Article 002 (Keras backend): VGG19, content block5_conv2, style block1..5_conv1, weights 5/2/1, "
            "400 px high, 20 x fmin_l_bfgs_b(maxfun=25), concatenated batch",
            dict(KERAS_EXAMPLE, content_weight=5.0, style_weight=2.0, iterations=500, outer_iterations=20, maxfun=25),
            "the article saves every outer iteration: add --save-every 25",
        ),
        Preset(
            "article-003",
            "Article 003 (Keras backend): VGG19, content block5_conv2, style block1..5_conv1, the Keras "
            "example's weights 0.025/1/1, fmin_l_bfgs_b restarted each iteration, concatenated batch",
            KERAS_EXAMPLE,
            "the article gives no loop length; we use the Keras example's 10 x 20 evaluations",
        ),
        Preset(
            "article-004",
            "Article 004 (PyTorch): VGG19, content conv4_2, style conv1_1..conv5_1, style 1000 / content 1, "
            "plain gradient descent x <- x - lr * grad, style image at its own size",
            dict(optimizer="gd"),
            "the article leaves its layers to the reader; we take the paper's",
        ),
        Preset(
            "keras-example",
            "The Keras neural style example (TF 2 version): VGG19, content block5_conv2, style block1..5_conv1, "
            "weights 0.025/1/1, 400 px high, 10 x fmin_l_bfgs_b(maxfun=20), start from the content",
            KERAS_EXAMPLE,
            "same settings as article-003, which follows it",
        ),
        Preset(
            "keras3-example",
            "The Keras 3 version of the example: same network and layers, SGD lr 100 decayed x0.96 every 100 "
            "steps for 4000 steps, weights 2.5e-8 / 1e-6 / 1e-6",
            dict(
                KERAS_EXAMPLE, content_weight=2.5e-8, style_weight=1e-6, tv_weight=1e-6, iterations=4000,
                outer_iterations=None, maxfun=None, optimizer="gd", learning_rate=100.0, lr_decay=0.96,
                lr_decay_steps=100,
            ),
            "none in the mathematics; Keras's SGD is the same x <- x - lr * grad step",
        ),
    )
}
