"""Where the VGG ImageNet weights come from: a file, KERAS_STYLE_WEIGHTS_DIR, or Keras's download and cache."""
from __future__ import annotations

import os
from pathlib import Path

from .errors import UserError, first_line

WEIGHTS_DIR_VARIABLE = "KERAS_STYLE_WEIGHTS_DIR"
# Keras's own cache names, checked so that an offline machine with a filled cache never tries the network.
KERAS_CACHE_NAMES = {
    "vgg16": "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "vgg19": "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
}


def weights_from_directory(network: str, directory: os.PathLike | str) -> Path | None:
    """The .h5 file in `directory` whose name starts with '<network>_', if there is exactly one candidate."""
    folder = Path(directory)
    if not folder.is_dir():
        return None
    candidates = sorted(p for p in folder.iterdir() if p.name.startswith(f"{network}_") and p.suffix == ".h5")
    return candidates[0] if candidates else None


def resolve_weights(network: str, weights: str) -> str | None:
    """Turn the `weights` setting into what keras.applications expects: a file path, 'imagenet', or None.

    'imagenet' looks in $KERAS_STYLE_WEIGHTS_DIR first, then lets Keras download or reuse its cache.
    """
    text = str(weights)
    if text.lower() == "none":
        return None
    if text.lower() == "imagenet":
        directory = os.environ.get(WEIGHTS_DIR_VARIABLE)
        if directory:
            found = weights_from_directory(network, directory)
            if found is not None:
                return str(found)
        return "imagenet"
    path = Path(text).expanduser()
    if not path.is_file():
        raise UserError(f"weights file {text!r} does not exist (use 'imagenet', 'none' or a path to an .h5 file)")
    return str(path)


def download_failed_message(network: str, error: BaseException) -> str:
    directory = os.environ.get(WEIGHTS_DIR_VARIABLE)
    if directory:
        where = f"{WEIGHTS_DIR_VARIABLE}={directory} has no {network}_*.h5 file"
    else:
        where = f"{WEIGHTS_DIR_VARIABLE} is not set"
    reason = first_line(error)
    return (
        f"could not get the {network} ImageNet weights: {where}, and Keras could not download them ({reason}); "
        f"pass --weights PATH/TO/{KERAS_CACHE_NAMES[network]} or set {WEIGHTS_DIR_VARIABLE} to a folder holding it"
    )
