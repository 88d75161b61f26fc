"""Shared fixtures: small generated images, the real weights folder, and a CLI runner."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
SHARED_WEIGHTS = ROOT.parent / "shared" / "weights"


def make_picture(width: int, height: int, seed: int = 0, kind: str = "content") -> np.ndarray:
    """A deterministic synthetic picture: smooth shapes for content, stripes and blobs for style."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    if kind == "content":
        red = 200 * (x / width)
        green = 255 * ((x - width / 2) ** 2 + (y - height / 2) ** 2 < (min(width, height) / 3) ** 2)
        blue = 120 + 100 * np.sin(y / 6)
    else:
        red = 127 + 127 * np.sin(x / 3 + y / 5)
        green = 127 + 127 * np.cos(y / 2)
        blue = 255 * (rng.random((height, width)) > 0.7)
    return np.clip(np.stack([red, green, blue], axis=-1), 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    Image.fromarray(make_picture(80, 64, kind="content")).save(folder / "content.png")
    Image.fromarray(make_picture(72, 96, seed=1, kind="style")).save(folder / "style.png")
    return folder


@pytest.fixture(scope="session")
def content_path(image_dir) -> Path:
    return image_dir / "content.png"


@pytest.fixture(scope="session")
def style_path(image_dir) -> Path:
    return image_dir / "style.png"


@pytest.fixture(scope="session")
def real_weights() -> Path:
    """The folder with vgg16_*.h5 and vgg19_*.h5. In CI its absence fails the test instead of skipping it."""
    folder = Path(os.environ.get("KERAS_STYLE_WEIGHTS_DIR") or SHARED_WEIGHTS)
    found = folder.is_dir() and any(folder.glob("vgg16_*.h5")) and any(folder.glob("vgg19_*.h5"))
    if not found:
        message = f"real VGG weights not found in {folder} (set KERAS_STYLE_WEIGHTS_DIR)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    os.environ["KERAS_STYLE_WEIGHTS_DIR"] = str(folder)
    return folder


def run_cli(*args, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """`python -m keras_style ARGS` in a subprocess, as a user runs it."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.update(kwargs.pop("env", {}))
    return subprocess.run(
        [sys.executable, "-m", "keras_style", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=kwargs.pop("cwd", ROOT), **kwargs,
    )
