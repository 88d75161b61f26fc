#!/usr/bin/env python3
"""Write the article notebooks in notebooks/ from one template, so their structure stays identical.

Each notebook gets: the article's method and settings in prose, a papermill `parameters` cell, a setup cell, the
run through keras_style.stylize_result with the article's preset, content/style/result side by side, the loss
curve, the seconds per evaluation, and a closing cell on what differs from the article. The notebooks are written
without outputs; `scripts/run_notebooks.py --output-dir notebooks` executes them in place for the committed copies.
(notebooks/vgg16_vs_vgg19.ipynb is written by hand and is not touched here.)
"""
from __future__ import annotations

import argparse
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
# The committed outputs come from these defaults: the demo pair at a size and budget a 2-core CPU runs in minutes.
DEFAULT_SIZE = 192
SETTINGS_SHOWN = (
    "network", "pooling", "content_layers", "style_layers", "content_weight", "style_weight", "tv_weight",
    "normalization", "optimizer", "init", "mode", "resize", "size",
)
LOOP_SETTINGS = ("outer_iterations", "maxfun")
STEP_SETTINGS = ("iterations", "learning_rate", "lr_decay", "lr_decay_steps")


@dataclass(frozen=True)
class ArticleNotebook:
    file_name: str
    preset: str
    title: str
    method: str
    differences: str
    iterations: int
    # The articles' restart loop: outer_iterations x fmin_l_bfgs_b(maxfun). None for one continuous run.
    outer_iterations: Optional[int] = None
    budget_note: str = "evaluations of loss and gradient"
    size: int = DEFAULT_SIZE
    # Keras 3 example only: its SGD rate 100 is tuned to 400 px (see its `differences`).
    scaled_learning_rate: bool = False


ARTICLES = (
    ArticleNotebook(
        file_name="article_000_pytorch_vgg19_avgpool_lbfgs.ipynb",
        preset="article-000",
        title="Article 000: the paper's recipe in PyTorch (VGG19, average pooling, L-BFGS)",
        method="""\
Article 000 follows the paper closely. The feature network is VGG19 with its max-pooling layers swapped for
average pooling, which the paper says gives smoother gradients. Content is matched at a single layer, `conv4_2`;
style is matched through the Gram matrices of `conv1_1`, `conv2_1`, `conv3_1`, `conv4_1` and `conv5_1`, each
normalised by 1/(4 N² M²) as in the paper. The paper quotes a content-to-style ratio alpha/beta of 1e-3 or 1e-4;
the article actually uses 1e-6, i.e. content weight 1 and style weight 1e6. There is no total-variation term.
L-BFGS optimises the pixels of the image directly, starting from white noise or from the content photograph.

Preset `article-000`: VGG19 with `pooling="avg"`, content `block4_conv2`, style `block1..5_conv1`, weights 1 / 1e6 / 0,
paper normalisation, continuous L-BFGS from the content, 512 px on the longest side by default.""",
        differences="""\
* **Preprocessing.** The article normalises with PyTorch's ImageNet mean and standard deviation on 0-1 pixels. Keras's
  VGG weights were trained with caffe preprocessing (BGR, mean subtracted, 0-255), so we use that; the features
  the losses see are therefore on a different scale, and weight 1e6 does not give the identical balance. On this
  pair the style term dominates: the content loss jumps to a plateau in the first evaluations and stays there while
  the style loss falls by three orders of magnitude, and the houses are mostly painted over. The `gatys`
  preset (style weight 1e3) keeps far more of the photograph.
* **Size and budget.** The preset's defaults are 512 px and 500 L-BFGS evaluations; this notebook's committed run
  uses the small demo pair at 192 px and a budget of 60 evaluations so that it finishes in about a minute on 2 CPU
  cores.
* **Start.** We start from the content (the preset's default); the article also shows white-noise starts
  (`init="noise"`), which need far more evaluations.
* **Optimiser.** One continuous scipy L-BFGS-B run with pixel bounds, instead of PyTorch's `optim.LBFGS` with its
  own line search and clamping; both keep the curvature history for the whole run.""",
        iterations=60,
    ),
    ArticleNotebook(
        file_name="article_001_keras_vgg16_johnson_layers.ipynb",
        preset="article-001",
        title="Article 001: Keras backend, VGG16 with Johnson et al.'s layers",
        method="""\
Article 001 writes the algorithm with the Keras backend API on VGG16. It takes its style layers from Johnson et
al.: `block1_conv2`, `block2_conv2`, `block3_conv3`, `block4_conv3` and `block5_conv3`, and matches content at
`block2_conv2` (its text says `block1_conv2`, its code uses `block2_conv2`). The loss weights are content 0.05,
style 5 and total variation 1. The Gram loss uses the Keras example's scale (N = 3 channels and M = the input's
pixel count for every layer) rather than the paper's per-layer 1/(4 N² M²). Content, style and the generated image
are concatenated into one batch of three and pushed through VGG16 at every evaluation; an `Evaluator` class caches
the gradient for scipy. Images are resized to a 512 x 512 square, the start is random noise, and the optimiser is
`fmin_l_bfgs_b(maxfun=20)` restarted 10 times.

Preset `article-001`: exactly those settings (`mode="concat"`, `resize="square"`, `init="noise"`,
`outer_iterations=10`, `maxfun=20`).""",
        differences="""\
* **Loss scale quirk kept.** The Keras-example normalisation (N = 3, M = image pixels) is reproduced on purpose; it
  makes the style weight's meaning depend on the image size. Use `normalization="paper"` for the paper's scale.
* **Square resize kept.** Both images are stretched to a square as in the article, which distorts non-square
  photographs; `resize="longest"` keeps the aspect ratio.
* **Budget.** The article runs 10 restarts x 20 evaluations at 512 px. The committed run keeps the restart loop and
  `maxfun=20` but stops after 3 restarts (60 evaluations) at 192 px. From the noise start the houses are already
  clear, but the flat sky still carries grain that more restarts (or one continuous run, `iterations=N`) would
  smooth. Each restart throws L-BFGS's curvature history away: the loss curve jumps at the start of every restart
  (around evaluations 22 and 44) before it settles lower.
* **Content layer.** We follow the article's code (`block2_conv2`), not its text (`block1_conv2`).""",
        iterations=60,
        outer_iterations=3,
    ),
    ArticleNotebook(
        file_name="article_002_keras_vgg19_block5_content.ipynb",
        preset="article-002",
        title="Article 002: Keras backend, VGG19 with the highest content layer",
        method="""\
Article 002 also uses the Keras backend, now on VGG19 (it mentions VGG16 as an alternative). Content is matched at
the highest layer the Keras example uses, `block5_conv2`, so only the coarse arrangement of the photograph has to
survive; style uses `block1_conv1` ... `block5_conv1`. The weights are content 5, style 2 and total variation 1, with
the Keras example's Gram scale. The output is 400 px high, the three images go through the network as one batch,
and the optimiser is 20 restarts of `fmin_l_bfgs_b(maxfun=25)`, saving the picture after every restart.

Preset `article-002`: those settings (`mode="concat"`, `resize="height"`, `outer_iterations=20`, `maxfun=25`,
start from the content).""",
        differences="""\
* **Budget.** 20 x 25 evaluations at 400 px in the article; the committed run keeps `maxfun=25` but does
  3 restarts (75 evaluations) at 192 px.
* **Saving each iteration.** The article writes an image after each restart; from the command line,
  `--save-every 25` does the same. The notebook shows only the final (best) picture.
* **Loss scale quirk kept.** As in articles 001 and 003 the Gram loss is scaled with N = 3 and the image's pixel
  count, not the paper's per-layer constants, so these weights do not transfer to other sizes.
* **Style size.** The style is stretched to the content's size as in the article (`mode="concat"` requires it);
  our `cached` mode keeps the style's aspect instead and is about three times cheaper per evaluation.""",
        iterations=75,
        outer_iterations=3,
    ),
    ArticleNotebook(
        file_name="article_003_keras_vgg19_keras_example.ipynb",
        preset="article-003",
        title="Article 003: Keras backend, VGG19, the Keras example step by step",
        method="""\
Article 003 walks through the official Keras neural-style example in eleven steps. Its settings are the
example's: VGG19, content at `block5_conv2`, style at `block1_conv1` ... `block5_conv1`, weights content 0.025,
style 1 and total variation 1 with the example's Gram scale, images 400 px high, content, style and generated image
batched together, and `fmin_l_bfgs_b` called once per outer iteration with the picture saved each time. It ends by
suggesting other networks and weight tuning.

Preset `article-003` (identical to preset `keras-example`, the TF 2 Keras example itself): 10 restarts of
`fmin_l_bfgs_b(maxfun=20)`, starting from the content.""",
        differences="""\
* **Loop length.** The article does not state its loop; we use the Keras example's 10 x 20 evaluations. The
  committed run keeps `maxfun=20` and does 3 restarts (60 evaluations) at 192 px.
* **Loss scale quirk kept** (N = 3, M = image pixels for every layer), as in the example.
* **TV exponent.** The total-variation term is the example's sum of squared neighbour differences raised to 1.25.
* **Keras 3.** The article's `K.function`/`K.gradients` code no longer runs on Keras 3; we compute loss and
  gradient in one traced TensorFlow function, with the same numbers. The example's own Keras 3 rewrite changed the
  optimiser, see `keras_example_keras3_vgg19_sgd.ipynb`.""",
        iterations=60,
        outer_iterations=3,
    ),
    ArticleNotebook(
        file_name="article_004_pytorch_vgg19_gradient_descent.ipynb",
        preset="article-004",
        title="Article 004: PyTorch, VGG19 and plain gradient descent on the image",
        method="""\
Article 004 explains the algorithm with PyTorch's VGG19 (16 convolutions and 5 pooling layers) and updates the
image with plain gradient descent, x <- x - a * grad, instead of L-BFGS. Its repository weights style 1000 and
content 1. It leaves the choice of layers to the reader, lets the style image keep its own size (Gram matrices do
not depend on spatial size), and warns that the CPU is really slow.

Preset `article-004`: VGG19, content `conv4_2`, style `conv1_1` ... `conv5_1` (the paper's choice), weights 1 / 1000 / 0
with the paper's normalisation, `optimizer="gd"`, style kept at its own aspect ratio (`mode="cached"`).""",
        differences="""\
* **Layers.** The article does not fix them; we take the paper's.
* **Step size.** The article's rate is tuned to its PyTorch loss scale. Without `learning_rate` we choose the
  constant rate that moves pixels by about 5 levels on average at the first step, because raw gradients span
  orders of magnitude with the image size and weights; pass `learning_rate=` to set it.
* **Preprocessing.** Caffe (BGR, mean subtracted) instead of PyTorch's mean/std normalisation, because Keras's VGG
  weights expect it.
* **Budget.** 60 steps at 192 px in the committed run. Gradient descent needs many more steps than L-BFGS for the
  same loss: with exactly these settings (the `paper` / `vgg19` cell of `vgg16_vs_vgg19.ipynb`, same size and seed)
  L-BFGS reaches a total of about 4e11 after 40 evaluations, while the 60 steps here end near 1.3e12.""",
        iterations=60,
        budget_note="gradient-descent steps (one evaluation each)",
    ),
    ArticleNotebook(
        file_name="keras_example_keras3_vgg19_sgd.ipynb",
        preset="keras3-example",
        title="The Keras example, Keras 3 version: VGG19 with SGD",
        method="""\
The Keras neural-style example was rewritten for Keras 3. Network and layers did not change (VGG19, content
`block5_conv2`, style `block1_conv1` ... `block5_conv1`, the example's Gram scale), but the optimiser did: instead of
scipy's L-BFGS it runs Keras's SGD with learning rate 100, multiplied by 0.96 every 100 steps, for 4000 steps, and
the weights became content 2.5e-8, style 1e-6 and total variation 1e-6. The image is 400 px high and the three
images are still batched.

Preset `keras3-example`. It differs from all five articles (article 004 also descends the gradient, but with the
paper's layers, weights and normalisation and a constant rate), which is why it has its own notebook. The TF 2 version of the example, preset `keras-example`, has exactly the settings of article 003, so it
is covered by `article_003_keras_vgg19_keras_example.ipynb`.""",
        differences="""\
* **Steps and size.** The example runs 4000 SGD steps at 400 px; the committed run does 200 steps at 128 px high
  (about five minutes on 2 shared CPU cores: the three-image batch costs about three times a cached-mode step), so
  the learning-rate decay (every 100 steps) has barely started and the picture is less stylised than the
  example's. Raise `iterations` and `size` to see the full run.
* **Learning rate scaled to the size.** The example's rate 100 belongs to its 400 px image. With the example's Gram
  scale (M = the image's pixel count) the gradient on each pixel grows as the image shrinks, about as
  (400 / size)². Unscaled, rate 100 diverged at 128 px in our check (the total loss rose from 6.6e5 to 1.0e8 within
  15 steps) while at 256 px it fell steadily (5.1e5 to 5.1e4), so by default the notebook uses
  100 x (size / 400)², 10.24 at 128 px; set `learning_rate = 100` to use the example's value.
* **Optimiser.** Keras's SGD step is x <- x - lr * grad; we apply that step ourselves (`optimizer="gd"` with
  `learning_rate=100`, `lr_decay=0.96`, `lr_decay_steps=100`) and clip pixels to the valid range after each step.
* **Loss scale quirk kept** (N = 3, M = image pixels for every layer); the tiny weights compensate for it.""",
        iterations=200,
        budget_note="SGD steps (one evaluation each)",
        size=128,
        scaled_learning_rate=True,
    ),
)


def markdown(text: str):
    return new_markdown_cell(text.strip())


LEARNING_RATE_PARAMETER = (
    "learning_rate = None  # None means 100 (the Keras 3 example) times (size / 400) ** 2, see below\n"
)


def parameters_cell(article: ArticleNotebook):
    loop_lines = ""
    if article.outer_iterations is not None:
        loop_lines = (
            f"outer_iterations = {article.outer_iterations}  # restart loop of the article: "
            "outer_iterations x fmin_l_bfgs_b(maxfun=iterations // outer_iterations)\n"
        )
    source = (
        "# Parameters (papermill overrides these). Paths: absolute, or relative to this folder or the repo root.\n"
        'content = "../examples/content.jpg"\n'
        'style = "../examples/style.jpg"\n'
        f"size = {article.size}  # pixels; what the preset measures (longest side, height or square side)\n"
        f"iterations = {article.iterations}  # {article.budget_note}\n"
        f"{loop_lines}"
        f"{LEARNING_RATE_PARAMETER if article.scaled_learning_rate else ''}"
        'weights = "imagenet"  # Keras ImageNet weights ($KERAS_STYLE_WEIGHTS_DIR when set), or a .h5 path\n'
        "seed = 0  # makes the run repeatable"
    )
    cell = new_code_cell(source)
    cell.metadata["tags"] = ["parameters"]
    return cell


SETUP = """\
import sys
from pathlib import Path

# Find the repository from wherever the notebook runs, so the helper module and relative paths resolve.
ROOT = next((p for p in (Path.cwd(), *Path.cwd().parents) if (p / "keras_style" / "__init__.py").exists()), None)
if ROOT is None:
    raise RuntimeError("run this notebook from inside the keras-style repository")
sys.path.insert(0, str(ROOT / "notebooks"))

import matplotlib.pyplot as plt
import keras_style
import notebook_support as support

content_path = support.resolve_input(content)
style_path = support.resolve_input(style)
print("content:", content_path.relative_to(ROOT) if content_path.is_relative_to(ROOT) else content_path)
print("style:  ", style_path.relative_to(ROOT) if style_path.is_relative_to(ROOT) else style_path)"""


def shown_settings(article: ArticleNotebook) -> tuple[str, ...]:
    """The settings printed under a run: the common ones plus those of its optimiser's loop."""
    if article.outer_iterations is not None:
        return SETTINGS_SHOWN + LOOP_SETTINGS
    if article.budget_note.startswith(("gradient", "SGD")):
        return SETTINGS_SHOWN + STEP_SETTINGS
    return SETTINGS_SHOWN + ("iterations",)


def shown_settings_source(article: ArticleNotebook) -> str:
    """`SHOWN = (...)` wrapped to readable lines."""
    items = textwrap.fill(", ".join(repr(key) for key in shown_settings(article)), 100, break_on_hyphens=False)
    return "SHOWN = (  # settings printed under the run\n" + textwrap.indent(items, "    ") + ",\n)"


def run_cell(article: ArticleNotebook) -> str:
    if article.outer_iterations is not None:
        budget = (
            "# Keep the article's restart loop at a small budget (passing iterations= would replace the loop).\n"
            "outer = max(1, min(outer_iterations, iterations))\n"
            "budget = dict(outer_iterations=outer, maxfun=max(1, iterations // outer))\n"
        )
    elif article.scaled_learning_rate:
        budget = (
            "# The example's rate suits 400 px; its loss scale makes pixel gradients grow as the pixel count falls.\n"
            "rate = learning_rate if learning_rate is not None else 100.0 * (size / 400) ** 2\n"
            "budget = dict(iterations=iterations, learning_rate=rate)\n"
        )
    else:
        budget = "budget = dict(iterations=iterations)\n"
    return (
        f'PRESET = "{article.preset}"\n'
        f"{budget}"
        "result = keras_style.stylize_result(\n"
        "    content_path, style_path, preset=PRESET, size=size, weights=weights, seed=seed, **budget\n"
        ")\n"
        f"{shown_settings_source(article)}\n"
        "print(support.settings_table(result.settings, SHOWN))\n"
        "print()\n"
        "print(support.run_summary(result))"
    )


PICTURES = """\
support.display_pictures({"content": content_path, "style": style_path, f"result ({PRESET})": result.image})"""

LOSSES = """\
loss_weights = {term: getattr(result.settings, f"{term}_weight") for term in ("content", "style", "tv")}
figure = support.plot_loss_history(result.history, f"{PRESET}: losses per evaluation", loss_weights)
plt.show()
print(f"seconds per evaluation: {result.seconds_per_evaluation:.3f} "
      f"({result.evaluations} evaluations, {result.seconds:.1f} s)")"""


def build_article_notebook(article: ArticleNotebook):
    """The notebook for one article, without outputs."""
    cells = [
        markdown(f"# {article.title}\n\n{article.method}"),
        markdown(
            "## Parameters\n\nThe defaults reproduce the committed outputs: the project's demo pair at "
            f"{article.size} px. `scripts/run_notebooks.py` overrides them (papermill), e.g. with "
            "your own photograph and painting, a larger `size` or the article's full budget."
        ),
        parameters_cell(article),
        SETUP,
        markdown(f"## Run with preset `{article.preset}`"),
        run_cell(article),
        markdown("## Content, style and result"),
        PICTURES,
        markdown(
            "## Loss curve\n\nEach term against the evaluation number, on a log scale. The content, style and tv "
            "curves are the unweighted terms; the total is the weighted sum the optimiser minimises."
        ),
        LOSSES,
        markdown(f"## What differs from the article, and why\n\n{article.differences}"),
    ]
    return _notebook([cell if not isinstance(cell, str) else new_code_cell(cell) for cell in cells])


COMPARISON_FILE = "vgg16_vs_vgg19.ipynb"

COMPARISON_INTRO = """\
# VGG16 vs VGG19, and which layers to use

The articles disagree on the network (VGG16 in article 001, VGG19 elsewhere) and on the layers (the paper's
`conv4_2` / `conv1_1..conv5_1`, Johnson et al.'s set, the Keras example's `conv5_2` content layer). This notebook runs
`scripts/compare_layers.py`: a grid of layer sets x networks, each mapped to that network's own layer names, on the
same content/style pair, size, evaluation budget and seed, and with the same loss settings everywhere (the paper's
normalisation, content weight 1, style weight 1e3, no total variation, L-BFGS from the content). Only the network and
the layers vary. Each cell runs in its own process so its peak memory is its own.

A run's own final loss cannot be compared across cells: it is measured with that cell's network and layers. So every
result is also scored by two fixed judges (`keras_style.judge`): `vgg19-paper` (the paper's measure) and
`vgg16-johnson` (article 001's layers on VGG16, paper normalisation). Lower is better for both.

| layer set | content | style |
| --- | --- | --- |
| paper | conv4_2 | conv1_1, conv2_1, conv3_1, conv4_1, conv5_1 |
| johnson | conv2_2 | conv1_2, conv2_2, conv3_3, conv4_3, conv5_3 (article 001) |
| keras-example | conv5_2 | conv1_1 ... conv5_1 |
| deepest | conv4_3 (VGG16) / conv4_4 (VGG19) | the last conv of every block: conv1_2, conv2_2, conv3_3/3_4, conv4_3/4_4, conv5_3/5_4 |
| shallow-content | conv2_2 | conv1_1 ... conv5_1 (the paper's style layers) |

The committed outputs come from the project's demo pair at 192 px with 40 evaluations per cell;
[docs/comparison.md](../docs/comparison.md) has the same grid at 256 px on a photograph and a painting."""

COMPARISON_PARAMETERS = """\
# Parameters (papermill overrides these). Paths: absolute, or relative to this folder or the repo root.
content = "../examples/content.jpg"
style = "../examples/style.jpg"
size = 192  # longest side in pixels
iterations = 40  # L-BFGS evaluations per grid cell
seed = 0
weights = "imagenet"  # or "none" (random weights, only to check that the notebook runs)
networks = "vgg16,vgg19"
layer_sets = "paper,johnson,keras-example,deepest,shallow-content"
output_dir = "outputs/notebooks/vgg16_vs_vgg19"  # relative to the repo root (ignored by git)"""

COMPARISON_RUN = """\
import subprocess

output = support.output_folder(output_dir)
command = [
    sys.executable, str(ROOT / "scripts" / "compare_layers.py"),
    "--content", str(content_path), "--style", str(style_path), "--size", str(size),
    "--iterations", str(iterations), "--seed", str(seed), "--weights", weights,
    "--networks", networks, "--layer-sets", layer_sets, "--output-dir", str(output),
]
completed = subprocess.run(command, capture_output=True, text=True)
print(completed.stdout)
if completed.returncode != 0:
    raise RuntimeError(f"compare_layers.py failed:\\n{completed.stderr[-3000:]}")"""

COMPARISON_SHEET = """\
from IPython.display import Image, Markdown, display
from PIL import Image as PILImage
import io

# The sheet is a PNG on disk; embed it as a JPEG so the notebook file stays small.
buffer = io.BytesIO()
PILImage.open(output / "sheet.png").convert("RGB").save(buffer, format="JPEG", quality=85)
display(Image(data=buffer.getvalue(), format="jpeg"))"""

COMPARISON_TABLE = """\
display(Markdown((output / "results.md").read_text()))"""

COMPARISON_CHARTS = """\
import csv

import numpy as np

rows = list(csv.DictReader(open(output / "results.csv")))
labels = [f"{row['layer_set']}\\n{row['network']}" for row in rows]
figure, axes = plt.subplots(1, 3, figsize=(13, 3.6), dpi=support.FIGURE_DPI)
for axis, column, title in zip(
    axes,
    ("vgg19-paper_total", "vgg16-johnson_total", "seconds_per_evaluation"),
    ("judge vgg19-paper (lower is better)", "judge vgg16-johnson (lower is better)", "seconds per evaluation"),
):
    values = np.array([float(row[column]) for row in rows])
    colors = ["tab:blue" if row["network"] == "vgg16" else "tab:orange" for row in rows]
    axis.bar(np.arange(len(rows)), values, color=colors)
    axis.set_xticks(np.arange(len(rows)), labels, rotation=90, fontsize=7)
    axis.set_title(title, fontsize=10)
    if column != "seconds_per_evaluation":
        axis.set_yscale("log")
figure.tight_layout()
plt.show()"""


COMPARISON_FINDINGS = """\
## What the numbers show

Written from the committed run (demo pair, 192 px, 40 evaluations per cell, 2 shared CPU cores); the 256 px run on
a photograph and a painting in [docs/comparison.md](../docs/comparison.md) tells the same story.

* **Each judge prefers its own network.** In all five rows the VGG19 picture scores better under `vgg19-paper`
  (paper layers: 4.23e11 against 8.89e11 for VGG16) and the VGG16 picture better under `vgg16-johnson`
  (6.61e11 against 9.10e11). A VGG judge is not a neutral referee between the two networks: neither "wins", the
  pictures differ in how the same loss weights balance content and style.
* **Same weights, different balance.** With the paper's settings VGG16 leaves a much larger style error as VGG19
  measures it (`vgg19-paper` style 5.97e8 against 1.25e8) at the same content error (2.93e11 against 2.98e11), and
  the own totals of the two networks differ by up to 9.4x for the same layers (paper: 4.52e10 against 4.23e11).
  Weights tuned on one network do not carry over to the other.
* **Shallow against deep content layers.** Content at conv2_2 (rows `johnson` and `shallow-content`) keeps the
  houses' outlines: on VGG16 these rows have the lowest `vgg19-paper` content terms (2.20e11 and 2.40e11, against
  2.93e11 at conv4_2 and 3.13e11 at conv5_2), and `vgg16-johnson`, whose own content layer is conv2_2, ranks them
  best (4.05e11 and 4.91e11). With content at conv5_2 (`keras-example`) only the layout survives: the houses
  dissolve into brush strokes on the sheet, and both networks have their highest `vgg19-paper` content terms there.
* **Deepest convolution of each block** behaves much like the paper's first-of-block layers on VGG16, and on VGG19
  gives a clearly weaker style match under `vgg19-paper` (style 5.14e8 against 1.25e8).
* **Cost.** VGG19 took 15-18% longer per evaluation than VGG16 in every row (paper layers: 0.887 s against
  0.770 s) and its process peaked 34-68 MiB higher, at about 0.9-1.0 GiB either way: at this size the TensorFlow
  runtime, not the activations, dominates memory."""


def build_comparison_notebook(findings: str):
    """notebooks/vgg16_vs_vgg19.ipynb, without outputs; `findings` is the closing markdown."""
    parameters = new_code_cell(COMPARISON_PARAMETERS)
    parameters.metadata["tags"] = ["parameters"]
    cells = [
        markdown(COMPARISON_INTRO),
        parameters,
        new_code_cell(SETUP),
        markdown("## Run the grid\n\nOne fresh process per cell (about 10 s of start-up each, plus the run)."),
        new_code_cell(COMPARISON_RUN),
        markdown("## Contact sheet\n\nRows are layer sets, columns networks; under each picture its judge score."),
        new_code_cell(COMPARISON_SHEET),
        markdown("## Numbers\n\nOwn total: the run's final loss in its own terms. Judges: total, content and style "
                 "of the finished picture under each fixed measure. Peak RSS: the cell's process, before judging."),
        new_code_cell(COMPARISON_TABLE),
        new_code_cell(COMPARISON_CHARTS),
        markdown(findings),
    ]
    return _notebook(cells)


def _notebook(cells):
    notebook = new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
    )
    nbformat.validate(notebook)
    return notebook


def update_markdown(path: Path, fresh) -> bool:
    """Copy `fresh`'s markdown into the notebook at `path`, keeping its outputs; False if the code cells differ."""
    existing = nbformat.read(path, as_version=4)
    code = [cell.source for cell in existing.cells if cell.cell_type == "code" and "injected-parameters"
            not in cell.metadata.get("tags", [])]
    if code != [cell.source for cell in fresh.cells if cell.cell_type == "code"]:
        return False
    markdown_cells = iter(cell.source for cell in fresh.cells if cell.cell_type == "markdown")
    for cell in existing.cells:
        if cell.cell_type == "markdown":
            cell.source = next(markdown_cells)
    nbformat.write(existing, path)
    return True


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", type=Path, default=NOTEBOOKS_DIR, help="where to write (default notebooks/)")
    parser.add_argument("--force", action="store_true", help="overwrite existing notebooks (drops their outputs)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only notebooks whose file name contains NAME")
    parser.add_argument("--update-text", action="store_true",
                        help="only refresh the markdown cells of existing notebooks, keeping their outputs")
    args = parser.parse_args(argv)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    notebooks = {article.file_name: build_article_notebook(article) for article in ARTICLES}
    notebooks[COMPARISON_FILE] = build_comparison_notebook(COMPARISON_FINDINGS)
    for file_name, notebook in notebooks.items():
        if args.only and not any(text in file_name for text in args.only):
            continue
        path = args.output_dir / file_name
        if path.exists() and args.update_text:
            print(f"{'updated text of' if update_markdown(path, notebook) else 'code differs, kept'} {path}")
        elif path.exists() and not args.force:
            print(f"kept {path} (use --force to overwrite)")
        else:
            nbformat.write(notebook, path)
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
