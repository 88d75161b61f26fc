#!/usr/bin/env python3
"""Which style layer dominates the vgg19-paper judge, and how much of it a blur (a 2x down-and-up resize, what an
upsampled coarse scale looks like) costs.

    python benchmarks/style_layers.py --content ../shared/images/tubingen.jpg \
        --style ../shared/images/starry_night.jpg --size 256

Prints, per style layer, the judge's per-layer style loss 1/(4 N^2 M^2) sum (G - A)^2 (before the 1/5 layer weight)
of the content photograph, the photograph blurred, the style painting blurred, and uniform noise, each at --size.
"""
from __future__ import annotations

import argparse
import os
import sys

from arguments import add_image_arguments  # benchmarks/, the script's own folder

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def blurred(rgb, factor: int = 2):
    """Downsample by `factor` and back up (Lanczos), as a coarse scale's result is upsampled."""
    import numpy as np
    from PIL import Image

    height, width = rgb.shape[:2]
    picture = Image.fromarray(rgb.astype(np.uint8))
    small = picture.resize((width // factor, height // factor), Image.Resampling.LANCZOS)
    return np.asarray(small.resize((width, height), Image.Resampling.LANCZOS), dtype=np.float32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_image_arguments(parser, size=256, size_help="longest side in px")
    args = parser.parse_args()

    import numpy as np
    from keras import ops

    from keras_style.config.settings import Settings
    from keras_style.engine import losses
    from keras_style.files.images import preprocess
    from keras_style.run.assemble import feature_model_for
    from keras_style.run.judge import JUDGES
    from keras_style.run.loading import prepare

    settings = Settings.from_options(size=args.size, mode="cached", precision="float32", **JUDGES["vgg19-paper"])
    images = prepare(args.content, args.style, settings).final
    content, style = images.content, images.style
    model = feature_model_for(settings)
    indices = [settings.feature_layers.index(name) for name in settings.style_layers]

    def grams(rgb):
        features = model(preprocess(rgb), training=False)
        return [(losses.gram_matrix(features[i]), features[i].shape) for i in indices]

    style_grams = grams(style)
    candidates = {
        "photograph": content,
        "photograph blurred": blurred(content),
        "painting blurred": blurred(style),
        "uniform noise": np.random.default_rng(0).uniform(0, 255, content.shape).astype(np.float32),
    }
    weights = settings.layer_weights
    print(f"| image ({content.shape[1]}x{content.shape[0]} px) | " + " | ".join(settings.style_layers)
          + " | judged style (layer-weighted sum) |")
    print("| --- |" + " ---: |" * (len(indices) + 1))
    for label, rgb in candidates.items():
        cells, judged = [], 0.0
        for (gram, shape), (target, target_shape), weight in zip(grams(rgb), style_grams, weights):
            positions, channels = shape[1] * shape[2], shape[3]
            target = target * (positions / (target_shape[1] * target_shape[2]))  # as the cached path rescales
            scale = losses.style_scale("paper", channels, positions, content.shape[0] * content.shape[1])
            loss = float(ops.convert_to_numpy(losses.style_loss(gram, target, scale)))
            cells.append(f"{loss:.3g}")
            judged += weight * loss
        print(f"| {label} | " + " | ".join(cells) + f" | {judged:.3g} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
