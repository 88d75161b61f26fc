"""The quality candidates as declared settings: --init mean and --lbfgs-memory behave and reach the sidecar."""
from __future__ import annotations

import numpy as np
import pytest

import keras_style
from keras_style.engine import optimize
from keras_style.errors import UserError
from keras_style.files.images import IMAGENET_MEAN_BGR, initial_image
from keras_style.files.outputs import sidecar

from .conftest import CONTENT, STYLE

RANDOM = dict(weights="none", precision="float32", size=48, iterations=4)


def test_mean_start_is_the_imagenet_mean_colour_with_tiny_noise():
    content = np.zeros((6, 5, 3), np.float32)
    start = initial_image("mean", content, lambda: content, np.random.default_rng(0))
    assert start.shape == content.shape
    np.testing.assert_allclose(start.mean(axis=(0, 1)), IMAGENET_MEAN_BGR[::-1], atol=1e-3)
    assert 0 < start.std(axis=(0, 1)).max() < 1e-2


def test_the_candidates_reach_the_sidecar_and_lbfgs_gets_its_memory(monkeypatch, tmp_path):
    seen = []

    def recording(*args, **kwargs):
        seen.append(kwargs["m"])
        return real(*args, **kwargs)

    real = optimize.fmin_l_bfgs_b
    monkeypatch.setattr(optimize, "fmin_l_bfgs_b", recording)
    result = keras_style.stylize_result(CONTENT, STYLE, init="mean", lbfgs_memory=37, seed=0, **RANDOM)
    settings = sidecar(result, tmp_path / "out.png")["settings"]
    assert (settings["init"], settings["lbfgs_memory"]) == ("mean", 37)
    assert seen and set(seen) == {37}
    assert result.losses["final"]["total"] < result.losses["initial"]["total"]


def test_lbfgs_memory_must_be_a_positive_integer():
    with pytest.raises(UserError, match="--lbfgs-memory must be a positive integer"):
        keras_style.Settings.from_options(lbfgs_memory=0)
