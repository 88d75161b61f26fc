"""The whole run from Python: images in, stylized uint8 image out (`keras_style.stylize`)."""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import keras
import numpy as np

from keras_style.config.choices import CHROMINANCE_MODES
from keras_style.config.settings import Settings
from keras_style.engine.backend import import_backend
from keras_style.engine.network import weights_description
from keras_style.engine.terms import layout, weights_at
from keras_style.errors import Interrupted, UserError
from keras_style.files.colors import keep_content_colors
from keras_style.files.images import ImageSource, deprocess, resize, to_array
from keras_style.run.assemble import feature_model_for, loss_spec, optimizer_spec
from keras_style.run.loading import Prepared, mask_weights, prepare, sized_images
from keras_style.run.monitor import Callbacks, Monitor
from keras_style.run.plan import checked_plan, scale_optimizer, scale_plan, tiled_evaluations, upsampled
from keras_style.run.scales import ScaleRun, run_whole_scale
from keras_style.run.tiling import run_tiled_scale


@dataclass
class StyleResult:
    """The image and everything the sidecar JSON reports about how it was made."""

    image: np.ndarray
    settings: Settings
    weights_file: str | None
    sizes: dict[str, list[int]]
    evaluations: int
    seconds: float
    losses: dict[str, dict[str, float]]
    history: np.ndarray = field(repr=False)
    traces: int = 0
    interrupted: bool = False
    non_finite_evaluations: int = 0  # evaluations whose loss overflowed; the image is the best finite one
    # why the run ended: budget, converged (--min-improvement), interrupted, or stalled (the optimiser could go no
    # further before the budget: L-BFGS's line search failed, restarts included)
    stopped: str = "budget"
    # the best evaluation's loss per content and style layer (and tv), with each one's share of the weighted total
    layer_losses: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    scales: list[dict[str, Any]] = field(default_factory=list)
    # The precision and XLA the run used and why (compute.choose_compute), and where its start-up time went.
    compute: dict[str, Any] = field(default_factory=dict)
    startup: dict[str, float] = field(default_factory=dict)
    # the evaluations the run was allowed: the settings' budget, or with tiles each tile's share summed (0: unknown)
    evaluation_budget: int = 0

    @property
    def seconds_per_evaluation(self) -> float:
        return self.seconds / max(1, self.evaluations)


def _terms_dict(names: Sequence[str], terms: np.ndarray) -> dict[str, float]:
    return {name: float(value) for name, value in zip(names, terms)}


def _build_model(settings: Settings) -> tuple[Any, dict[str, float]]:
    """The feature model, and the seconds spent importing the backend and building it (with its weights)."""
    startup = {"import_seconds": import_backend()}  # the first import's seconds, whoever imported it
    started = time.perf_counter()
    if settings.seed is not None:
        keras.utils.set_random_seed(settings.seed)
    model = feature_model_for(settings)
    startup["model_seconds"] = time.perf_counter() - started
    return model, startup


def _scale_runs(settings: Settings, prepared: Prepared, plan: list[tuple[int, int]]) -> list[ScaleRun]:
    """Each scale of the plan with its images (the start image of all but the first is set when it begins), its
    balanced loss and its share of the budget."""
    final_pixels = prepared.final.content.shape[0] * prepared.final.content.shape[1]
    # every scale's terms balance themselves for their size against the output's (or the per-pixel reference)
    loss, optimizer = loss_spec(settings, final_pixels), optimizer_spec(settings)
    scale_images = [sized_images(prepared.inputs, settings, size) for size, _ in plan[:-1]] + [prepared.final]
    return [ScaleRun(index, images, loss, scale_optimizer(optimizer, evaluations, several=len(plan) > 1))
            for index, ((_, evaluations), images) in enumerate(zip(plan, scale_images))]


def _run_scales(model, settings: Settings, runs: list[ScaleRun], monitor: Monitor) -> tuple[list[dict], bool]:
    """Every scale, coarse to fine, each starting from the previous one's best image upsampled; (the scales'
    records, whether the run was interrupted)."""
    records: list[dict[str, Any]] = []
    output_pixels = runs[-1].images.content.shape[0] * runs[-1].images.content.shape[1]
    try:
        for scale in runs:
            if scale.index > 0:
                scale = replace(scale, images=scale.images._replace(
                    start=upsampled(monitor.best_rgb(), scale.images.content)))
            height, width = scale.images.content.shape[:2]
            if scale.images.previous is not None and scale.images.tile is not None:
                raise UserError("a video frame is optimised whole: give --tile-size off or a smaller --size")
            temporal = scale.images.previous is not None
            monitor.start_scale(scale.index, (width, height), layout(scale.loss, temporal),
                                weights_at(scale.loss, (height, width), temporal),
                                budget=scale.optimizer.evaluation_budget if scale.images.tile is None else None,
                                cost=height * width / output_pixels)
            records.append({"size": [width, height]})
            runner = run_whole_scale if scale.images.tile is None else run_tiled_scale
            runner(model, settings, scale, monitor, records[-1])
    except Interrupted:
        return records, True
    return records, False


def stylize_result(
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    *,
    callback: Callbacks = None,
    prepared: Prepared | None = None,
    plan: list[tuple[int, int]] | None = None,
    started_at: float | None = None,
    **options: Any,
) -> StyleResult:
    """Paint `content` in the style of `style` (one image, or a list of them blended by style_blend_weights). Options
    are the command line's, e.g. network='vgg16'.

    `callback` (one or several) gets a monitor.Progress after each evaluation; one that returns True stops the
    run, which then keeps the best image so far (result.interrupted is True). `prepared` passes inputs the caller
    already loaded and sized (loading.prepare), so nothing is read twice. Raises UserError for bad input, and
    Interrupted when stopped before any evaluation. With scales > 1 the run goes coarse to fine (plan.scale_plan);
    `plan`, a list of (size, evaluations) ending at the output size, replaces that schedule (for benchmarks).
    `started_at` (a time.perf_counter() value, default now) is where result.startup's
    before_first_evaluation_seconds counts from: the command line passes its process's start.
    """
    started_at = time.perf_counter() if started_at is None else started_at
    settings = options.pop("settings", None) or Settings.from_options(**options)
    prepared = prepared or prepare(content, style, settings)
    plan = scale_plan(settings) if plan is None else checked_plan(plan, settings)
    runs = _scale_runs(settings, prepared, plan)
    model, startup = _build_model(settings)
    total = sum(_scale_evaluations(scale) for scale in runs)
    monitor = Monitor(total, callback, settings.min_improvement, settings.patience)
    records, interrupted = _run_scales(model, settings, runs, monitor)
    if monitor.best_image is None:
        raise Interrupted()
    return _result(settings, prepared, monitor, records, interrupted, startup, started_at, total)


def _result(settings: Settings, prepared: Prepared, monitor: Monitor, records: list[dict], interrupted: bool,
            startup: dict[str, float], started_at: float, total: int) -> StyleResult:
    """The StyleResult of a finished (or interrupted) run."""
    first = records[0]
    startup["targets_seconds"] = first["targets_seconds"]
    startup["before_first_evaluation_seconds"] = first["optimisation_started"] - started_at
    if monitor.first_evaluation_at is not None:  # tracing (and XLA compilation) happen in the first evaluation
        startup["first_evaluation_seconds"] = monitor.first_evaluation_at - first["optimisation_started"]
    names = monitor.term_names
    history = np.array(monitor.history, dtype=np.float64)
    output_size = [monitor.best_image.shape[2], monitor.best_image.shape[1]]
    style_shape = prepared.final.style.shape
    styles_sizes = [[style.shape[1], style.shape[0]] for style in prepared.final.styles]
    return StyleResult(
        image=_content_kept(_original_colors(deprocess(monitor.best_image), prepared, settings), prepared),
        settings=settings,
        weights_file=weights_description(settings.network, settings.weights),
        sizes={"content": output_size, "style": [style_shape[1], style_shape[0]], "styles": styles_sizes,
               "output": output_size},
        evaluations=monitor.evaluations,
        seconds=time.perf_counter() - first["optimisation_started"] + first["targets_seconds"],
        losses={"initial": _terms_dict(names, history[0]), "final": _terms_dict(names, monitor.best_terms)},
        history=history[:, : len(names)],
        traces=sum(record.get("traces", 0) for record in records),
        interrupted=interrupted,
        non_finite_evaluations=monitor.non_finite,
        stopped="interrupted" if interrupted else records[-1].get("stopped", "budget"),
        layer_losses=monitor.layer_losses(),
        scales=[_scale_record(record) for record in records],
        compute=records[-1].get("compute", {}),
        startup={name: round(seconds, 3) for name, seconds in startup.items()},
        evaluation_budget=total,
    )


def _original_colors(image: np.ndarray, prepared: Prepared, settings: Settings) -> np.ndarray:
    """--preserve-colors luminance and luminance-only: the result's luminance with the content's chrominance. The
    content is taken at the result's size (an interrupted multi-scale run ends at a coarser one)."""
    if settings.preserve_colors not in CHROMINANCE_MODES:
        return image
    height, width = image.shape[:2]
    return keep_content_colors(image, to_array(resize(prepared.inputs.content, width, height, "content image")))


def _content_kept(image: np.ndarray, prepared: Prepared) -> np.ndarray:
    """--content-mask: the result where the mask is white, the content where it is black, in proportion between
    (the style's receptive fields reach a little past a region's edge; the black part keeps the photograph)."""
    if prepared.inputs.content_mask is None:
        return image
    height, width = image.shape[:2]
    weight = mask_weights(prepared.inputs.content_mask, width, height)[:, :, None]
    content = to_array(resize(prepared.inputs.content, width, height, "content image"))
    return np.clip(weight * image + (1.0 - weight) * content, 0, 255).round().astype(np.uint8)


def _scale_evaluations(scale: ScaleRun) -> int:
    """A scale's share of the progress bar: its evaluations, or each tile's (tiling.py)."""
    evaluations = scale.optimizer.evaluation_budget
    if scale.images.tile is None:
        return evaluations
    height, width = scale.images.content.shape[:2]
    return tiled_evaluations(width, height, scale.images.tile, evaluations)


def _scale_record(record: dict[str, Any]) -> dict[str, Any]:
    return {key: record[key] for key in ("size", "evaluations", "seconds", "network_seconds", "first_pass_seconds",
                                             "compute", "tiles", "stopped") if key in record}


def stylize(content: ImageSource, style: ImageSource | Sequence[ImageSource], **options: Any) -> np.ndarray:
    """`stylize_result(...).image`: the stylized picture as a (H, W, 3) uint8 RGB array."""
    return stylize_result(content, style, **options).image
