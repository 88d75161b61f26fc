"""Shared test helpers: small generated images, the example photographs, the real weights folder, a CLI runner,
a tiny random-weights Evaluator set-up, and the `weights` marker put on every test that uses the real weights.

Plain helpers and constants are imported with `from .conftest import build, CONTENT, ...`; fixtures are found by
name and need no import.
"""
from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_style.config.settings import Settings
from keras_style.files.images import preprocess
from keras_style.run.assemble import feature_model_for

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
SHARED_WEIGHTS = ROOT.parent / "shared" / "weights"

# The example photographs the end-to-end tests stylise.
CONTENT = ROOT / "examples" / "content.jpg"
STYLE = ROOT / "examples" / "style.jpg"
# Small budgets that keep each preset's structure (outer loop or not) while staying fast.
TINY = dict(size=48, iterations=3)
TINY_OUTER = dict(size=48, outer_iterations=2, maxfun=3)  # scipy makes its first step in 3 evaluations


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


def build(size=(40, 32), style_size=None, **options):
    """Settings, preprocessed content and style pictures, and a feature model: random weights and float32 unless
    `options` say otherwise. Returns (settings, content, style, model)."""
    options.setdefault("preset", "gatys")  # the mechanics are tested on the paper's settings
    options.setdefault("weights", "none")
    options.setdefault("style_layers", ["conv1_1", "conv2_1", "conv3_1"])
    options.setdefault("content_layers", ["conv2_2"])
    options.setdefault("tv_weight", 1e-3)
    options.setdefault("precision", "float32")  # these tests compare numbers to tight tolerances
    settings = Settings.from_options(**options)
    width, height = size
    content = preprocess(make_picture(width, height).astype(np.float32))
    sw, sh = style_size or size
    style = preprocess(make_picture(sw, sh, seed=2, kind="style").astype(np.float32))
    model = feature_model_for(settings)
    return settings, content, style, model


def run_cli(*args, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """`python -m keras_style ARGS` in a subprocess, as a user runs it."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.update(kwargs.pop("env", {}))
    return subprocess.run(
        [sys.executable, "-m", "keras_style", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=kwargs.pop("cwd", ROOT), **kwargs,
    )


@pytest.fixture
def fresh_compile_cache(monkeypatch):
    """An empty process-wide compile cache for one test (the process's own comes back after it): every step the test
    uses traces, so it can count traces exactly whatever ran before it."""
    from collections import OrderedDict

    from keras_style.engine import backend

    monkeypatch.setattr(backend, "_COMPILED", OrderedDict())


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


def require(module: str, reason: str):
    """pytest.importorskip, except in CI (CI set), where a missing extra fails: CI installs every extra the tests
    need, so a skip there would hide tests that never ran."""
    if os.environ.get("CI"):
        try:
            return importlib.import_module(module)
        except ImportError:
            pytest.fail(f"{reason}: {module} is not installed (CI must run these tests)", pytrace=False)
    return pytest.importorskip(module, reason=reason)


@pytest.fixture(scope="session")
def real_weights() -> Path:
    """The folder with vgg16_*.h5 and vgg19_*.h5. In CI its absence fails the test instead of skipping it.

    Every test that uses this fixture, directly or through another fixture, is marked `weights` (see
    pytest_collection_modifyitems below): `pytest -m "not weights"` leaves them out.
    """
    folder = Path(os.environ.get("KERAS_STYLE_WEIGHTS_DIR") or SHARED_WEIGHTS)
    found = folder.is_dir() and any(folder.glob("vgg16_*.h5")) and any(folder.glob("vgg19_*.h5"))
    if not found:
        message = f"real VGG weights not found in {folder} (set KERAS_STYLE_WEIGHTS_DIR)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    os.environ["KERAS_STYLE_WEIGHTS_DIR"] = str(folder)
    return folder


@pytest.fixture
def restore_signals():
    """cli.main installs SIGINT/SIGTERM handlers; put pytest's back afterwards."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


# Modules whose tests start other processes as their subject (Ray workers, a web server and a browser, notebook
# kernels, benchmark and comparison scripts): the full suite runs them, `make test-fast` leaves them out (as it does
# the signal tests, marked `processes` one by one).
PROCESS_MODULES = ("test_batch", "test_cluster", "test_benchmarks", "test_web_server", "test_web_browser",
                   "test_notebooks", "test_compare_layers")


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config, items):
    """Mark `weights` every test whose fixture closure includes `real_weights`, and `processes` every test of
    PROCESS_MODULES."""
    for item in items:
        if "real_weights" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.weights)
        if item.module.__name__.rsplit(".", 1)[-1] in PROCESS_MODULES:
            item.add_marker(pytest.mark.processes)
