"""The feature extractor: a Keras VGG16/VGG19 cut after the deepest layer any loss needs."""
from __future__ import annotations

import functools
from collections.abc import Sequence

import keras
from keras import ops

from keras_style.config.choices import PADDINGS, POOLINGS
from keras_style.config.layers import layer_depth, valid_layers
from keras_style.engine.backend import mixed_policy, resolved_precision
from keras_style.errors import UserError, first_line
from keras_style.files.weights import download_failed_message, keras_cache_file, resolve_weights


def load_vgg(network: str, weights: str | None):
    """keras.applications VGG16/VGG19 without the classifier, accepting any image size."""
    constructor = {"vgg16": keras.applications.VGG16, "vgg19": keras.applications.VGG19}[network]
    try:
        return constructor(include_top=False, weights=weights, input_shape=(None, None, 3))
    except Exception as error:  # Keras raises bare Exceptions for failed downloads
        if weights == "imagenet":
            raise UserError(download_failed_message(network, error)) from None
        if weights is not None:
            raise UserError(f"could not load {network} weights from {weights!r}: {first_line(error)}") from None
        raise


@functools.lru_cache(maxsize=8)
def _feature_model(network: str, weights: str | None, pooling: str, layers: tuple[str, ...], precision: str,
                   padding: str):
    if pooling not in POOLINGS:
        raise UserError(f"unknown pooling {pooling!r}; choose from {', '.join(POOLINGS)}")
    if padding not in PADDINGS:
        raise UserError(f"unknown padding {padding!r}; choose from {', '.join(PADDINGS)}")
    previous_policy = keras.config.dtype_policy()
    if precision == "mixed":
        keras.config.set_dtype_policy(mixed_policy())  # layers take the policy in force when they are built
    try:
        return _build_feature_model(_vgg(network, weights, precision), network, pooling, layers, padding)
    finally:
        keras.config.set_dtype_policy(previous_policy)


# Random weights (--weights none, for tests) are drawn from this seed, so every process gets the same network.
RANDOM_WEIGHTS_SEED = 0


@functools.lru_cache(maxsize=4)
def _vgg(network: str, weights: str | None, precision: str):
    """The whole VGG with its weights, loaded once per process: feature models for other layer lists or poolings
    share its layers (built under the dtype policy `_feature_model` sets for `precision`)."""
    if weights is None:
        keras.utils.set_random_seed(RANDOM_WEIGHTS_SEED)
    return load_vgg(network, weights)


def _replicate_padded(conv):
    """The first convolution with the image's edge pixels repeated around it instead of Keras's zeros: zeros are
    black-ish after the mean subtraction, which the style loss then paints over at the borders."""
    valid = keras.layers.Conv2D(conv.filters, conv.kernel_size, padding="valid", activation=conv.activation,
                                name=conv.name)
    rows, columns = (size // 2 for size in conv.kernel_size)

    def layer(tensor):
        # "symmetric" mirrors from the edge pixel itself: for one pixel of padding it repeats the edge
        padded = ops.pad(tensor, [[0, 0], [rows, rows], [columns, columns], [0, 0]], mode="symmetric")
        output = valid(padded)
        valid.set_weights(conv.get_weights())
        return output

    return layer


def _build_feature_model(vgg, network: str, pooling: str, layers: tuple[str, ...], padding: str = "zero"):
    deepest = max(layer_depth(name, network) for name in layers)
    last_needed = valid_layers(network)[deepest]
    inputs = keras.Input(shape=(None, None, 3), name="image")
    tensor = inputs
    outputs = {}
    for layer in vgg.layers[1:]:
        if isinstance(layer, keras.layers.MaxPooling2D) and pooling == "avg":
            # Article 000 / the paper: average pooling with the same weights improves gradient flow.
            layer = keras.layers.AveragePooling2D(layer.pool_size, layer.strides, padding=layer.padding,
                                                  name=layer.name)
        if padding == "replicate" and layer is vgg.layers[1]:
            tensor = _replicate_padded(layer)(tensor)
        else:
            tensor = layer(tensor)
        if layer.name in layers:
            outputs[layer.name] = tensor
        if layer.name == last_needed:
            break
    model = keras.Model(inputs, [outputs[name] for name in layers], name=f"{network}_{pooling}_features")
    model.trainable = False
    return model


def feature_model(network: str, weights: str, pooling: str, layers: Sequence[str], precision: str = "auto",
                  padding: str = "zero"):
    """Model mapping a preprocessed batch (B, H, W, 3) to the features of `layers`, in that order.

    Built once per (network, weights, pooling, layers, precision) in a process; the weights file is resolved here,
    and precision 'auto' becomes the device's choice.
    """
    resolved = resolve_weights(network, weights)
    return _feature_model(network, resolved, pooling, tuple(layers), resolved_precision(precision), padding)


def weights_description(network: str, weights: str) -> str | None:
    """What the sidecar records as the weights source: a file path, Keras's download, or None (random)."""
    resolved = resolve_weights(network, weights)
    if resolved == "imagenet":
        return f"imagenet via Keras download ({keras_cache_file(network)})"
    return resolved

