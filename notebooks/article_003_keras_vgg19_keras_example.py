# %% [markdown]
# # Article 003: Keras backend, VGG19, the Keras example step by step
#
# Article 003 walks through the official Keras neural-style example in eleven steps. Its settings are the
# example's: VGG19, content at `block5_conv2`, style at `block1_conv1` ... `block5_conv1`, weights content 0.025,
# style 1 and total variation 1 with the example's Gram scale, images 400 px high, content, style and generated image
# batched together, and `fmin_l_bfgs_b` called once per outer iteration with the picture saved each time. It ends by
# suggesting other networks and weight tuning.
#
# Preset `article-003` (identical to preset `keras-example`, the TF 2 Keras example itself): 10 restarts of
# `fmin_l_bfgs_b(maxfun=20)`, starting from the content.

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
iterations = 60  # evaluations of loss and gradient
outer_iterations = 3  # restart loop: outer_iterations x fmin_l_bfgs_b(maxfun=iterations // outer_iterations)
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
# ## Run with preset `article-003`

# %%
PRESET = "article-003"
# Keep the article's restart loop at a small budget (passing iterations= would replace the loop).
outer = max(1, min(outer_iterations, iterations))
budget = dict(outer_iterations=outer, maxfun=max(1, iterations // outer))
result = keras_style.stylize_result(
    content_path, style_path, preset=PRESET, size=size, weights=weights, seed=seed, **budget
)
SHOWN = (  # settings printed under the run
    'network', 'pooling', 'content_layers', 'style_layers', 'content_weight', 'style_weight',
    'tv_weight', 'normalization', 'optimizer', 'init', 'mode', 'resize', 'size', 'outer_iterations',
    'maxfun',
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
# * **Loop length.** The article does not state its loop; we use the Keras example's 10 x 20 evaluations. The
#   committed run keeps `maxfun=20` and does 3 restarts (60 evaluations) at 192 px.
# * **Loss scale quirk kept** (N = 3, M = image pixels for every layer), as in the example.
# * **TV exponent.** The total-variation term is the example's sum of squared neighbour differences raised to 1.25.
# * **Keras 3.** The article's `K.function`/`K.gradients` code no longer runs on Keras 3; we compute loss and
#   gradient in one traced TensorFlow function, with the same numbers. The example's own Keras 3 rewrite changed the
#   optimiser, see `keras_example_keras3_vgg19_sgd.ipynb`.
