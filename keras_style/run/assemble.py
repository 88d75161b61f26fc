"""A run's engine assembled from its Settings: the loss and optimiser specs, the feature model, the precision/XLA
choice, and the target source. This is where --mode is decided (TARGET_SOURCES), once for the whole run.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from keras_style.config.choices import BALANCE_REFERENCE_PIXELS
from keras_style.config.settings import TERM_WEIGHT_SUFFIX, Settings
from keras_style.engine.backend import Compute, choose_compute, detect_device
from keras_style.engine.evaluator import Evaluator, Observer
from keras_style.engine.network import feature_model
from keras_style.engine.spec import LossSpec, OptimizerSpec
from keras_style.engine.targets import CachedTargets, ConcatBatch, TargetSource, feature_step_for
from keras_style.engine.terms import TERMS, PreviousFrame


def loss_spec(settings: Settings, output_pixels: int | None = None) -> LossSpec:
    """The loss a Settings asks for, for an output of `output_pixels` (None: whatever size each image is); each
    registered term's weight is its NAME_weight setting (0 when undeclared). --balance says at which size the
    weights hold: the output's, or BALANCE_REFERENCE_PIXELS (per-pixel)."""
    return LossSpec(
        content_layers=settings.content_layers, style_layers=settings.style_layers,
        layer_weights=settings.layer_weights, normalization=settings.normalization,
        weights=tuple((name, float(getattr(settings, name + TERM_WEIGHT_SUFFIX, 0.0))) for name in TERMS),
        style_loss=settings.style_loss, tv_form=settings.tv_form,
        balance_pixels=BALANCE_REFERENCE_PIXELS if settings.balance == "per-pixel" else output_pixels,
    )


# --optimizer auto on a CPU, decided by the time-to-quality curve (benchmarks/time_to_quality.py, RESULTS.md): at
# painterly's 700 evaluations on Tübingen x The Starry Night at 256 px the device L-BFGS judged within 2 % of scipy's
# on every measure (colours 14 % better) in 0.83x the time; scipy's L-BFGS-B with 100 pairs spent 27 % of the run on
# the host (36 % at 512 px).
AUTO_CPU_OPTIMIZER = "lbfgs-device"


def optimizer_choice(settings: Settings) -> tuple[str, str]:
    """(optimizer, why): --optimizer auto resolved for this run's device, or the one asked for."""
    if settings.optimizer != "auto":
        return settings.optimizer, f"{settings.optimizer} as asked"
    if settings.outer_iterations is not None:
        return "lbfgs", "auto: the articles' restart loop (--outer-iterations) is scipy's L-BFGS-B"
    if detect_device().kind == "gpu":
        return "lbfgs-device", ("auto: GPU: L-BFGS with its line search on the device (scipy's L-BFGS-B would leave "
                                "the GPU waiting for the host at every iteration)")
    return AUTO_CPU_OPTIMIZER, f"auto: CPU: {AUTO_CPU_OPTIMIZER_REASON}"


AUTO_CPU_OPTIMIZER_REASON = ("L-BFGS with its line search as one compiled step: the judged quality of scipy's "
                             "L-BFGS-B at the same evaluations, without its host work per iteration")


def optimizer_spec(settings: Settings) -> OptimizerSpec:
    optimizer, reason = optimizer_choice(settings)
    return OptimizerSpec(
        optimizer=optimizer, reason=reason, iterations=settings.iterations, outer_iterations=settings.outer_iterations,
        maxfun=settings.maxfun, learning_rate=settings.learning_rate, lr_decay=settings.lr_decay,
        lr_decay_steps=settings.lr_decay_steps, lbfgs_memory=settings.lbfgs_memory,
        average_decay=settings.average_iterates,
    )


def feature_model_for(settings: Settings):
    """The feature model a Settings asks for: its network, weights, pooling, layers and precision."""
    return feature_model(settings.network, settings.weights, settings.pooling, settings.feature_layers,
                         settings.precision, settings.padding)


def compute_for(settings: Settings, pixels: int, evaluations: int) -> Compute:
    """Precision and XLA for `evaluations` at `pixels` (compute.choose_compute's rule; explicit settings win)."""
    return choose_compute(detect_device(), settings.precision, settings.jit_compile, pixels, evaluations)


def _cached(settings: Settings, spec: LossSpec, feature_step, content: np.ndarray, styles: Sequence[np.ndarray],
            masks: Sequence[np.ndarray], previous: PreviousFrame | None) -> TargetSource:
    return CachedTargets(spec, feature_step, content, styles, settings.blend_weights(len(styles)), masks,
                         per_style_masks=settings.style_masks is not None, previous=previous)


def _concat(settings: Settings, spec: LossSpec, feature_step, content: np.ndarray, styles: Sequence[np.ndarray],
            masks: Sequence[np.ndarray], previous: PreviousFrame | None) -> TargetSource:
    settings.blend_weights(len(styles))  # one style: the batch has room for one
    return ConcatBatch(spec, content, styles[0], previous)


# --mode: the one place it picks code (config/choices.py's MODES says what it means for sizes and memory).
TARGET_SOURCES = {"cached": _cached, "concat": _concat}


def evaluator_for(
    model,
    settings: Settings,
    content: np.ndarray,
    style: np.ndarray | Sequence[np.ndarray],
    observer: Observer | None = None,
    masks: Sequence[np.ndarray] = (),
    compute: Compute | None = None,
    spec: LossSpec | None = None,
    evaluations: int | None = None,
    previous: PreviousFrame | None = None,
) -> Evaluator:
    """The Evaluator of a network-input content (1, H, W, 3) and style(s) under `settings`; `spec` replaces the
    settings' loss (a scale's balance), `evaluations` their budget for the precision/XLA choice, `compute` that
    choice itself, `previous` a video's previous frame (the temporal term's target)."""
    styles = [style] if isinstance(style, np.ndarray) else list(style)
    spec = spec or loss_spec(settings)
    budget = settings.evaluation_budget if evaluations is None else evaluations
    compute = compute or compute_for(settings, content.shape[1] * content.shape[2], budget)
    feature_step = feature_step_for(model, compute.xla)
    source = TARGET_SOURCES[settings.mode](settings, spec, feature_step, content, styles, masks, previous)
    return Evaluator(model, source, compute, content.shape, observer)
