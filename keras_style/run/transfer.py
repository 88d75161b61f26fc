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
from keras_style.errors import Interrupted
from keras_style.files.colors import keep_content_colors
from keras_style.files.images import ImageSource, deprocess
from keras_style.run.assemble import RunPlan, ScalePlan, assemble, build_feature_model
from keras_style.run.loading import Prepared, mask_weights, prepare
from keras_style.run.monitor import Callbacks, Monitor
from keras_style.run.plan import upsampled
from keras_style.run.scales import run_whole_scale
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
    # the evaluations the run was allowed: its plan's, every scale's (with tiles, every tile's) summed (0: unknown)
    evaluation_budget: int = 0
    # each term's weight as the loss used it (the plan's, --style-strength applied: the style's is --style-weight x
    # --style-strength), at the --balance reference size: the output's, or BALANCE_REFERENCE_PIXELS with per-pixel;
    # a coarser scale carries it to its own size (terms.LossTerm.balance_factor)
    term_weights: dict[str, float] = field(default_factory=dict)

    @property
    def seconds_per_evaluation(self) -> float:
        return self.seconds / max(1, self.evaluations)


def _terms_dict(names: Sequence[str], terms: np.ndarray) -> dict[str, float]:
    return {name: float(value) for name, value in zip(names, terms)}


def _build_model(plan: RunPlan) -> tuple[Any, dict[str, float]]:
    """The feature model, and the seconds spent importing the backend and building it (with its weights)."""
    startup = {"import_seconds": import_backend()}  # the first import's seconds, whoever imported it
    started = time.perf_counter()
    if plan.seed is not None:
        keras.utils.set_random_seed(plan.seed)
    model = build_feature_model(plan.network)
    startup["model_seconds"] = time.perf_counter() - started
    return model, startup


def _run_scales(model, plan: RunPlan, monitor: Monitor) -> tuple[list[dict], bool]:
    """Every scale, coarse to fine, each starting from the previous one's best image upsampled; (the scales'
    records, whether the run was interrupted)."""
    records: list[dict[str, Any]] = []
    try:
        for scale in plan.scales:
            if scale.index > 0:
                scale = replace(scale, images=scale.images._replace(
                    start=upsampled(monitor.best_rgb(), scale.images.content, scale.images.detail)))
            width, height = scale.size
            temporal = scale.images.previous is not None
            # a tiled scale's tiles each give back what they do not spend (Monitor.start_tile)
            monitor.start_scale(scale.index, scale.size, layout(scale.loss, temporal),
                                weights_at(scale.loss, (height, width), temporal),
                                budget=scale.budget if scale.tiles is None else None, cost=scale.cost)
            records.append({"size": [width, height]})
            runner = run_whole_scale if scale.tiles is None else run_tiled_scale
            runner(model, plan, scale, monitor, records[-1])
    except Interrupted:
        return records, True
    return records, False


def stylize_result(
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    *,
    callback: Callbacks = None,
    prepared: Prepared | None = None,
    schedule: Sequence[tuple[int, int]] | None = None,
    started_at: float | None = None,
    settings: Settings | None = None,
    **options: Any,
) -> StyleResult:
    """Paint `content` in the style of `style` (one image, or a list of them blended by style_blend_weights). Options
    are the command line's, e.g. network='vgg16'; or `settings`, a Settings, instead of them (not both).

    `callback` (one or several) gets a monitor.Progress after each evaluation; one that returns True stops the
    run, which then keeps the best image so far (result.interrupted is True). `prepared` passes inputs the caller
    already loaded and sized (loading.prepare), so nothing is read twice. Raises UserError for bad input, and
    Interrupted when stopped before any evaluation. With scales > 1 the run goes coarse to fine (plan.scale_plan);
    `schedule`, a list of (size, evaluations) ending at the output size, replaces that schedule (for benchmarks).
    `started_at` (a time.perf_counter() value, default now) is where result.startup's
    before_first_evaluation_seconds counts from: the command line passes its process's start.
    """
    if settings is not None and options:
        raise TypeError(f"stylize_result takes settings or options, not both (got settings and {sorted(options)})")
    if prepared is not None and schedule is not None:
        raise TypeError("stylize_result takes a schedule or prepared inputs (which hold theirs), not both")
    started_at = time.perf_counter() if started_at is None else started_at
    settings = settings or Settings.from_options(**options)
    prepared = prepared or prepare(content, style, settings, schedule)
    return run_plan(assemble(settings, prepared), callback, started_at)


def run_plan(plan: RunPlan, callback: Callbacks = None, started_at: float | None = None) -> StyleResult:
    """Execute an assembled run (assemble.assemble): the model, every scale, the result."""
    started_at = time.perf_counter() if started_at is None else started_at
    model, startup = _build_model(plan)
    monitor = Monitor(plan.evaluation_budget, callback, plan.min_improvement, plan.patience)
    records, interrupted = _run_scales(model, plan, monitor)
    if monitor.best_image is None:
        raise Interrupted()
    return _result(plan, monitor, records, interrupted, startup, started_at)


def _result(plan: RunPlan, monitor: Monitor, records: list[dict], interrupted: bool, startup: dict[str, float],
            started_at: float) -> StyleResult:
    """The StyleResult of a finished (or interrupted) run."""
    first = records[0]
    startup["targets_seconds"] = first["targets_seconds"]
    startup["before_first_evaluation_seconds"] = first["optimisation_started"] - started_at
    if monitor.first_evaluation_at is not None:  # tracing (and XLA compilation) happen in the first evaluation
        startup["first_evaluation_seconds"] = monitor.first_evaluation_at - first["optimisation_started"]
    names = monitor.term_names
    history = np.array(monitor.history, dtype=np.float64)
    # the scale the best image belongs to: the last one started (an interrupted run may end at a coarse one)
    ended = plan.scales[monitor.scale]
    output_size = list(ended.size)
    final = plan.scales[-1].images
    return StyleResult(
        image=_content_kept(_original_colors(deprocess(monitor.best_image), ended, plan), ended, plan),
        settings=plan.settings,
        weights_file=weights_description(plan.network.network, plan.network.weights),
        sizes={"content": output_size, "style": [final.style.shape[1], final.style.shape[0]],
               "styles": [[style.shape[1], style.shape[0]] for style in final.styles], "output": output_size},
        evaluations=monitor.evaluations,
        seconds=time.perf_counter() - first["optimisation_started"] + first["targets_seconds"],
        losses={"initial": _terms_dict(names, monitor.initial_terms), "final": _terms_dict(names, monitor.best_terms)},
        history=history[:, : len(names)],
        traces=sum(record.get("traces", 0) for record in records),
        interrupted=interrupted,
        non_finite_evaluations=monitor.non_finite,
        stopped="interrupted" if interrupted else records[-1].get("stopped", "budget"),
        layer_losses=monitor.layer_losses(),
        scales=[_scale_record(record) for record in records],
        compute=records[-1].get("compute", {}),
        startup={name: round(seconds, 3) for name, seconds in startup.items()},
        evaluation_budget=plan.evaluation_budget,
        term_weights=dict(plan.scales[-1].loss.weights),
    )


def _original_colors(image: np.ndarray, scale: ScalePlan, plan: RunPlan) -> np.ndarray:
    """--preserve-colors luminance and luminance-only: the result's luminance with the content's chrominance, the
    content at the scale the result belongs to."""
    if plan.preserve_colors not in CHROMINANCE_MODES:
        return image
    return keep_content_colors(image, scale.images.photo)


def _content_kept(image: np.ndarray, scale: ScalePlan, plan: RunPlan) -> np.ndarray:
    """--content-mask: the result where the mask is white, the content where it is black, in proportion between
    (the style's receptive fields reach a little past a region's edge; the black part keeps the photograph)."""
    if plan.inputs.content_mask is None:
        return image
    width, height = scale.size
    weight = mask_weights(plan.inputs.content_mask, width, height)[:, :, None]
    return np.clip(weight * image + (1.0 - weight) * scale.images.photo, 0, 255).round().astype(np.uint8)


def _scale_record(record: dict[str, Any]) -> dict[str, Any]:
    return {key: record[key] for key in ("size", "evaluations", "seconds", "network_seconds", "first_pass_seconds",
                                             "compute", "tiles", "stopped") if key in record}


def stylize(content: ImageSource, style: ImageSource | Sequence[ImageSource], **options: Any) -> np.ndarray:
    """`stylize_result(...).image`: the stylized picture as a (H, W, 3) uint8 RGB array."""
    return stylize_result(content, style, **options).image
