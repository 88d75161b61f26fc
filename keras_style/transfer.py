"""The whole run from Python: images in, stylized uint8 image out (`keras_style.stylize`)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from .errors import Interrupted
from .images import (
    ImageSource,
    deprocess,
    initial_image,
    load_image,
    preprocess,
    resize,
    style_size,
    target_size,
    to_array,
)
from .monitor import TERMS, Monitor, Snapshot
from .settings import Settings


@dataclass
class StyleResult:
    """The image and everything the sidecar JSON reports about how it was made."""

    image: np.ndarray
    settings: Settings
    weights_file: Optional[str]
    sizes: dict[str, list[int]]
    evaluations: int
    seconds: float
    losses: dict[str, dict[str, float]]
    history: np.ndarray = field(repr=False)
    traces: int = 0
    interrupted: bool = False

    @property
    def seconds_per_evaluation(self) -> float:
        return self.seconds / max(1, self.evaluations)


def _terms_dict(terms: np.ndarray) -> dict[str, float]:
    return {name: float(value) for name, value in zip(TERMS, terms)}


def prepare_images(content: ImageSource, style: ImageSource, settings: Settings):
    """Load and size the content, style and initial image as RGB float arrays (fails before TensorFlow loads)."""
    content_image = load_image(content, "content image")
    style_image = load_image(style, "style image")
    width, height = target_size(content_image.width, content_image.height, settings.size, settings.resize)
    content_rgb = to_array(resize(content_image, width, height, "content image"))
    if settings.mode == "concat":
        style_width, style_height = width, height  # the articles stretch the style to the content's size
    else:
        style_width, style_height = style_size(style_image, (width, height), settings.style_scale)
    style_rgb = to_array(resize(style_image, style_width, style_height, "style image"))
    rng = np.random.default_rng(settings.seed)
    start_rgb = initial_image(
        settings.init, content_rgb, lambda: to_array(resize(style_image, width, height, "style image")), rng
    )
    return content_rgb, style_rgb, start_rgb


def stylize_result(
    content: ImageSource,
    style: ImageSource,
    *,
    progress: bool = False,
    stop_event: Optional[threading.Event] = None,
    snapshot: Optional[Snapshot] = None,
    snapshot_every: int = 0,
    **options: Any,
) -> StyleResult:
    """Paint `content` in the style of `style`. Options are the command line's, e.g. network='vgg16'.

    Raises UserError for bad input. A set `stop_event` ends the run early with the best image so far
    (result.interrupted is then True).
    """
    settings = options.pop("settings", None) or Settings.from_options(**options)
    content_rgb, style_rgb, start_rgb = prepare_images(content, style, settings)

    from .evaluator import Evaluator
    from .network import feature_model, weights_description

    if settings.seed is not None:
        import keras

        keras.utils.set_random_seed(settings.seed)
    model = feature_model(settings.network, settings.weights, settings.pooling, settings.feature_layers)
    monitor = Monitor(
        settings.evaluation_budget, progress=progress, stop_event=stop_event, snapshot=snapshot,
        snapshot_every=snapshot_every,
    )
    evaluator = Evaluator(model, settings, preprocess(content_rgb), preprocess(style_rgb), observer=monitor)
    from .optimize import minimize

    started = time.perf_counter()
    interrupted = False
    try:
        minimize(evaluator, preprocess(start_rgb), settings)
    except Interrupted:
        interrupted = True
    finally:
        monitor.close()
    seconds = time.perf_counter() - started
    if monitor.best_image is None:
        raise Interrupted()
    history = np.array(monitor.history, dtype=np.float64)
    return StyleResult(
        image=deprocess(monitor.best_image),
        settings=settings,
        weights_file=weights_description(settings.network, settings.weights),
        sizes={
            "content": [content_rgb.shape[1], content_rgb.shape[0]],
            "style": [style_rgb.shape[1], style_rgb.shape[0]],
            "output": [content_rgb.shape[1], content_rgb.shape[0]],
        },
        evaluations=monitor.evaluations,
        seconds=seconds,
        losses={"initial": _terms_dict(history[0]), "final": _terms_dict(monitor.best_terms)},
        history=history,
        traces=evaluator.traces,
        interrupted=interrupted,
    )


def stylize(content: ImageSource, style: ImageSource, **options: Any) -> np.ndarray:
    """`stylize_result(...).image`: the stylized picture as a (H, W, 3) uint8 RGB array."""
    return stylize_result(content, style, **options).image
