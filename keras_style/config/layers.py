"""Layer names: Keras names (block4_conv2) and paper/Torch names (conv4_2, relu4_2) for VGG16 and VGG19."""
from __future__ import annotations

import re
from collections.abc import Sequence

from keras_style.errors import UserError

# Convolutions per block; Keras's conv layers include the ReLU, so relu4_2 and conv4_2 are one layer.
CONVS_PER_BLOCK = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}

_PAPER_NAME = re.compile(r"^(?:conv|relu)(\d)_(\d)$")


def valid_layers(network: str) -> list[str]:
    """Keras names of the convolution layers of `network`, in network order."""
    if network not in CONVS_PER_BLOCK:
        raise UserError(f"unknown network {network!r}; choose from {', '.join(CONVS_PER_BLOCK)}")
    return [
        f"block{block}_conv{conv}"
        for block, count in enumerate(CONVS_PER_BLOCK[network], start=1)
        for conv in range(1, count + 1)
    ]


def resolve_layer(name: str, network: str) -> str:
    """Map a Keras or paper layer name to the Keras name, or raise UserError listing the valid names."""
    valid = valid_layers(network)
    text = name.strip().lower()
    match = _PAPER_NAME.match(text)
    keras_name = f"block{match.group(1)}_conv{match.group(2)}" if match else text
    if keras_name not in valid:
        raise UserError(
            f"unknown layer {name!r} for {network}; valid names: {', '.join(valid)} "
            "(or the paper's conv/relu names, e.g. conv4_2)"
        )
    return keras_name


def resolve_layers(names: Sequence[str], network: str) -> tuple[str, ...]:
    """Resolve several names; an empty list is an error because a loss needs at least one layer."""
    if not names:
        raise UserError("a layer list may not be empty")
    return tuple(resolve_layer(name, network) for name in names)


def layer_depth(name: str, network: str) -> int:
    """Position of a (Keras-named) layer among the network's convolutions, used to truncate the model."""
    return valid_layers(network).index(name)


def layer_stride(name: str) -> int:
    """Input pixels per position of a (Keras-named) layer: each block before it halves the size (2x2 pools)."""
    block = int(name.split("_")[0].removeprefix("block"))
    return 2 ** (block - 1)


def layer_channels(name: str) -> int:
    """Channels of a (Keras-named) VGG convolution: 64 in block 1, doubling per block up to 512."""
    block = int(name.split("_")[0].removeprefix("block"))
    return min(64 * 2 ** (block - 1), 512)


def feature_size(name: str, height: int, width: int) -> tuple[int, int]:
    """(height, width) of a layer's output for an input of height x width: VGG's pools floor odd sizes."""
    stride = layer_stride(name)
    return height // stride, width // stride


def feature_layers(content_layers: tuple[str, ...], style_layers: tuple[str, ...]) -> tuple[str, ...]:
    """Content and style layers without repeats, in the order the feature model returns them."""
    return tuple(dict.fromkeys(content_layers + style_layers))
