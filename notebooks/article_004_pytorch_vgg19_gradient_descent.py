# %% [markdown]
# # Article 004: PyTorch, VGG19 and plain gradient descent on the image
#
# Article 004 explains the algorithm with PyTorch's VGG19 (16 convolutions and 5 pooling layers) and updates the
# image with plain gradient descent, x <- x - a * grad, instead of L-BFGS. Its repository weights style 1000 and
# content 1. It leaves the choice of layers to the reader, lets the style image keep its own size (Gram matrices do
# not depend on spatial size), and warns that the CPU is really slow.
#
# Preset `article-004`: VGG19, content `conv4_2`, style `conv1_1` ... `conv5_1` (the paper's choice),
# weights 1 / 1000 / 0 with the paper's normalisation, `optimizer="gd"`, style kept at its own aspect ratio
# (`mode="cached"`).

# %% [markdown]
# ## Parameters
#
# The defaults reproduce the committed outputs: the project's demo pair at 192 px. `scripts/run_notebooks.py` overrides
# them (papermill), e.g. with your own photograph and painting, a larger `size` or the article's full budget.

# %% tags=["parameters"]
# Parameters (papermill overrides these). Paths: absolute, or relative to this folder or the repo root.
content = "../examples/content.jpg"
style = "../examples/style.jpg"
size = 192  # pixels; what the preset measures (longest side, height or square side)
iterations = 60  # gradient-descent steps (one evaluation each)
weights = "imagenet"  # Keras ImageNet weights ($KERAS_STYLE_WEIGHTS_DIR when set), or a .h5 path
seed = 0  # makes the run repeatable

# %%
import sys
from pathlib import Path

# Find the repository from wherever the notebook runs, so the helper module and relative paths resolve.
ROOT = next((p for p in (Path.cwd(), *Path.cwd().parents) if (p / "keras_style" / "__init__.py").exists()), None)
if ROOT is None:
    raise RuntimeError("run this notebook from inside the keras-style repository")
sys.path.insert(0, str(ROOT / "notebooks"))

import matplotlib.pyplot as plt
import notebook_support as support

import keras_style

content_path, style_path = support.input_pair(content, style)

# %% [markdown]
# ## Run with preset `article-004`

# %%
PRESET = "article-004"
budget = dict(iterations=iterations)
result = keras_style.stylize_result(
    content_path, style_path, preset=PRESET, size=size, weights=weights, seed=seed, **budget
)
SHOWN = (  # settings printed under the run
    'network', 'pooling', 'content_layers', 'style_layers', 'content_weight', 'style_weight',
    'tv_weight', 'normalization', 'optimizer', 'init', 'mode', 'resize', 'size', 'iterations',
    'learning_rate', 'lr_decay', 'lr_decay_steps',
)
print(support.settings_table(result.settings, SHOWN))
print()
print(support.run_summary(result))

# %% [markdown]
# ## Content, style and result

# %%
support.display_pictures({"content": content_path, "style": style_path, f"result ({PRESET})": result.image})

# %% [markdown]
# ## Loss curve
#
# Each term against the evaluation number, on a log scale. The content, style and tv curves are the unweighted terms;
# the total is the weighted sum the optimiser minimises.

# %%
figure = support.plot_run_losses(result, f"{PRESET}: losses per evaluation")
plt.show()

# %% [markdown]
# ## What differs from the article, and why
#
# * **Layers.** The article does not fix them; we take the paper's.
# * **Step size.** The article's rate is tuned to its PyTorch loss scale. Without `learning_rate` we choose the
#   constant rate that moves pixels by about 5 levels on average at the first step, because raw gradients span
#   orders of magnitude with the image size and weights; pass `learning_rate=` to set it.
# * **Preprocessing.** Caffe (BGR, mean subtracted) instead of PyTorch's mean/std normalisation, because Keras's VGG
#   weights expect it.
# * **Budget.** 60 steps at 192 px in the committed run. Gradient descent needs many more steps than L-BFGS for the
#   same loss: with exactly these settings (the `paper` / `vgg19` cell of `vgg16_vs_vgg19.ipynb`, same size and seed)
#   L-BFGS reaches a total of about 4e11 after 40 evaluations, while the 60 steps here end near 1.3e12.
