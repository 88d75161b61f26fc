"""Where the VGG ImageNet weights come from: a file, KERAS_STYLE_WEIGHTS_DIR, Keras's cache, or Keras's download."""
from __future__ import annotations

import os
from pathlib import Path

from keras_style.errors import UserError, first_line

WEIGHTS_DIR_VARIABLE = "KERAS_STYLE_WEIGHTS_DIR"
# Keras's own cache names, checked so that an offline machine with a filled cache never tries the network.
KERAS_CACHE_NAMES = {
    "vgg16": "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "vgg19": "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
}


def weights_from_directory(network: str, directory: os.PathLike | str) -> Path | None:
    """The '<network>_*.h5' file in `directory`, or None if there is none.

    The feature extractor has no classifier, so a no-top file (name containing 'notop') is preferred over a
    full-model one (Keras's '..._kernels.h5', which sorts first and would not load). A single candidate is used
    whatever its name; several with no single no-top one among them are ambiguous, a UserError naming them all.
    """
    folder = Path(directory)
    if not folder.is_dir():
        return None
    candidates = sorted(p for p in folder.iterdir() if p.name.startswith(f"{network}_") and p.suffix == ".h5")
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    no_top = [p for p in candidates if "notop" in p.name]
    if len(no_top) == 1:
        return no_top[0]
    names = ", ".join(p.name for p in candidates)
    raise UserError(
        f"{WEIGHTS_DIR_VARIABLE}={folder} holds several {network} weights files and no single no-top one among "
        f"them ({names}): keep one no-top file there or pass --weights PATH"
    )


def keras_cache_file(network: str) -> Path:
    """Where Keras keeps the downloaded no-top weights: $KERAS_HOME/models, else ~/.keras/models (as Keras does)."""
    home = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    return Path(home).expanduser() / "models" / KERAS_CACHE_NAMES[network]


def resolve_weights(network: str, weights: str) -> str | None:
    """Turn the `weights` setting into what keras.applications expects: a file path, 'imagenet', or None.

    'none' gives None (random weights); a path is used as it is. 'imagenet' is looked up in this order:
    1. $KERAS_STYLE_WEIGHTS_DIR (see weights_from_directory),
    2. the file in Keras's cache (keras_cache_file),
    3. 'imagenet': Keras downloads the file.
    """
    text = str(weights)
    if text.lower() == "none":
        return None
    if text.lower() == "imagenet":
        directory = os.environ.get(WEIGHTS_DIR_VARIABLE)
        found = weights_from_directory(network, directory) if directory else None
        if found is None and keras_cache_file(network).is_file():
            found = keras_cache_file(network)
        return str(found) if found is not None else "imagenet"
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
        f"could not get the {network} ImageNet weights: {where}, Keras's cache has no {keras_cache_file(network)}, "
        f"and Keras could not download them ({reason}); "
        f"pass --weights PATH/TO/{KERAS_CACHE_NAMES[network]} or set {WEIGHTS_DIR_VARIABLE} to a folder holding it"
    )
