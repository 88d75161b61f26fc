"""The whole run from Python: images in, stylized uint8 image out (`keras_style.stylize`)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Optional

import numpy as np
from PIL import Image

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
from .memory import check_memory
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
    scales: list[dict[str, Any]] = field(default_factory=list)
    # The precision and XLA the run used and why (compute.choose_compute), and where its start-up time went.
    compute: dict[str, Any] = field(default_factory=dict)
    startup: dict[str, float] = field(default_factory=dict)

    @property
    def seconds_per_evaluation(self) -> float:
        return self.seconds / max(1, self.evaluations)


def _terms_dict(terms: np.ndarray) -> dict[str, float]:
    return {name: float(value) for name, value in zip(TERMS, terms)}


@dataclass
class Inputs:
    """The content and style as loaded, before any resizing (loaded once, sized once per scale)."""

    content: Image.Image
    style: Image.Image


def load_inputs(content: ImageSource, style: ImageSource) -> Inputs:
    return Inputs(load_image(content, "content image"), load_image(style, "style image"))


def sized_images(inputs: Inputs, settings: Settings, size: Optional[int] = None):
    """Content, style and initial image as RGB float arrays at `size` (default settings.size).

    The memory estimate is checked before any large array exists.
    """
    content_image, style_image = inputs.content, inputs.style
    width, height = target_size(content_image.width, content_image.height, size or settings.size, settings.resize)
    check_memory(settings, width, height)
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


def prepare_images(content: ImageSource, style: ImageSource, settings: Settings):
    """Load and size the content, style and initial image (fails on bad input before TensorFlow loads)."""
    return sized_images(load_inputs(content, style), settings)


SCALE_STEP = 2 ** 0.5
# The final size does work no coarse size can do for it (the finest texture, which upsampling blurs away), so it
# keeps this share of the budget; the coarser sizes share the rest, each twice the next finer one's.
FINAL_SCALE_SHARE = 0.4


def scale_plan(settings: Settings) -> list[tuple[int, int]]:
    """(size, evaluations) per scale, coarse to fine: sizes shrink by sqrt(2) per step down from --size (a gentler
    upsampling than 2x keeps more of the coarse result); most of the budget goes to the cheaper coarse sizes,
    FINAL_SCALE_SHARE to the final one."""
    count = settings.scales
    budget = settings.evaluation_budget
    if count == 1:
        return [(settings.size, budget)]
    sizes = [max(1, round(settings.size / SCALE_STEP ** (count - 1 - i))) for i in range(count)]
    coarse_shares = [2.0 ** (count - 2 - i) for i in range(count - 1)]
    shares = [(1 - FINAL_SCALE_SHARE) * share / sum(coarse_shares) for share in coarse_shares] + [FINAL_SCALE_SHARE]
    evaluations = [int(budget * share) for share in shares[:-1]]
    evaluations.append(budget - sum(evaluations))  # the final size gets the rounding leftovers, so at least one
    return [(size, count) for size, count in zip(sizes, evaluations) if count > 0]


def _pixels(image_rgb: np.ndarray) -> int:
    return image_rgb.shape[0] * image_rgb.shape[1]


def balanced_for_scale(settings: Settings, pixel_ratio: float) -> Settings:
    """Settings for a coarse scale with `pixel_ratio` times fewer pixels than the final size.

    The content and total-variation losses are sums over positions, so they shrink with the image, while the
    style loss is normalised by the positions and does not: without compensation a coarse scale would weigh style
    `pixel_ratio` times more than the final size and its result would drift from the content the final scale
    then has to recover. One continuous L-BFGS run per scale (no restart loop).
    """
    return replace(
        settings,
        content_weight=settings.content_weight * pixel_ratio,
        tv_weight=settings.tv_weight * pixel_ratio,
        outer_iterations=None,
        maxfun=None,
    )


def _upsample(image_rgb: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A coarse result resized to the next scale, as that scale's starting image."""
    height, width = like.shape[:2]
    picture = Image.fromarray(np.clip(image_rgb, 0, 255).round().astype(np.uint8))
    return to_array(picture.resize((width, height), Image.Resampling.LANCZOS))


def stylize_result(
    content: ImageSource,
    style: ImageSource,
    *,
    progress: bool = False,
    stop_event: Optional[threading.Event] = None,
    snapshot: Optional[Snapshot] = None,
    snapshot_every: int = 0,
    plan: Optional[list[tuple[int, int]]] = None,
    started_at: Optional[float] = None,
    **options: Any,
) -> StyleResult:
    """Paint `content` in the style of `style`. Options are the command line's, e.g. network='vgg16'.

    Raises UserError for bad input. A set `stop_event` ends the run early with the best image so far
    (result.interrupted is then True). With scales > 1 the run goes coarse to fine (see scale_plan); `plan`, a list
    of (size, evaluations) ending at the output size, replaces that schedule (for benchmarks of other schedules).
    `started_at` (a time.perf_counter() value, default now) is where result.startup's
    before_first_evaluation_seconds counts from: the command line passes its process's start.
    """
    started_at = time.perf_counter() if started_at is None else started_at
    settings = options.pop("settings", None) or Settings.from_options(**options)
    inputs = load_inputs(content, style)
    plan = list(plan) if plan else scale_plan(settings)
    if plan[-1][0] != settings.size:
        raise ValueError(f"a plan must end at the output size {settings.size}, got {plan}")
    content_rgb, style_rgb, start_rgb = sized_images(inputs, settings, plan[0][0])
    # The final size's images (and its checks: too small, memory) before any work, kept for the final scale.
    final_images = sized_images(inputs, settings) if len(plan) > 1 else (content_rgb, style_rgb, start_rgb)
    final_pixels = _pixels(final_images[0])

    from .network import feature_model_for, import_backend, weights_description

    startup = {"import_seconds": import_backend()}  # TensorFlow loads here unless the caller loaded it already
    import keras

    from .evaluator import Evaluator
    from .optimize import minimize

    clock = time.perf_counter()
    if settings.seed is not None:
        keras.utils.set_random_seed(settings.seed)
    model = feature_model_for(settings)
    startup["model_seconds"] = time.perf_counter() - clock
    monitor = Monitor(
        settings.evaluation_budget, progress=progress, stop_event=stop_event, snapshot=snapshot,
        snapshot_every=snapshot_every,
    )
    started = time.perf_counter()
    interrupted = False
    traces = 0
    scale_records = []
    compute: dict[str, Any] = {}
    try:
        for index, (size, evaluations) in enumerate(plan):
            if index > 0:
                content_rgb, style_rgb, _ = (
                    final_images if index == len(plan) - 1 else sized_images(inputs, settings, size)
                )
                start_rgb = _upsample(deprocess(monitor.best_image).astype(np.float32), content_rgb)
                monitor.new_scale()
            scale_settings = replace(settings, size=size, iterations=evaluations)
            if len(plan) > 1:
                scale_settings = balanced_for_scale(scale_settings, final_pixels / _pixels(content_rgb))
            clock = time.perf_counter()
            evaluator = Evaluator(model, scale_settings, preprocess(content_rgb), preprocess(style_rgb),
                                  observer=monitor)
            compute = evaluator.compute.as_dict()
            scale_started = time.perf_counter()
            if index == 0:
                startup["targets_seconds"] = scale_started - clock
                startup["before_first_evaluation_seconds"] = scale_started - started_at
            try:
                minimize(evaluator, preprocess(start_rgb), scale_settings)
            finally:
                traces += evaluator.traces
                scale_records.append({
                    "size": [content_rgb.shape[1], content_rgb.shape[0]], "evaluations": evaluator.passes,
                    "seconds": round(time.perf_counter() - scale_started, 3), "compute": compute,
                })
                if index == 0 and monitor.first_evaluation_at is not None:
                    # tracing (and XLA compilation) happen in the first evaluation
                    startup["first_evaluation_seconds"] = monitor.first_evaluation_at - scale_started
    except Interrupted:
        interrupted = True
    finally:
        monitor.close()
    seconds = time.perf_counter() - started
    if monitor.best_image is None:
        raise Interrupted()
    history = np.array(monitor.history, dtype=np.float64)
    output_size = [monitor.best_image.shape[2], monitor.best_image.shape[1]]
    return StyleResult(
        image=deprocess(monitor.best_image),
        settings=settings,
        weights_file=weights_description(settings.network, settings.weights),
        sizes={
            "content": output_size,
            "style": [style_rgb.shape[1], style_rgb.shape[0]],
            "output": output_size,
        },
        evaluations=monitor.evaluations,
        seconds=seconds,
        losses={"initial": _terms_dict(history[0]), "final": _terms_dict(monitor.best_terms)},
        history=history,
        traces=traces,
        interrupted=interrupted,
        scales=scale_records,
        compute=compute,
        startup={name: round(seconds, 3) for name, seconds in startup.items()},
    )


def stylize(content: ImageSource, style: ImageSource, **options: Any) -> np.ndarray:
    """`stylize_result(...).image`: the stylized picture as a (H, W, 3) uint8 RGB array."""
    return stylize_result(content, style, **options).image
