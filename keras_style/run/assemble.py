"""A run assembled from its Settings and its prepared images, once: the frozen RunPlan (per scale the loss and
optimiser specs, the precision/XLA choice, the tiles and the budget; the network, the target source, the monitor's
rule). Nothing after assembly reads the Settings. --mode picks its target source here (TARGET_SOURCES).

`settings_evaluator` assembles a single Evaluator straight from Settings, for judges, notebooks and tests.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from keras_style.config.choices import BALANCE_REFERENCE_PIXELS
from keras_style.config.settings import TERM_WEIGHT_SUFFIX, Settings
from keras_style.engine.backend import Compute, choose_compute, detect_device
from keras_style.engine.evaluator import Evaluator, Observer
from keras_style.engine.network import feature_model
from keras_style.engine.spec import LossSpec, NetworkSpec, OptimizerSpec, octave_levels
from keras_style.engine.targets import CachedTargets, ConcatBatch, TargetSource, feature_step_for
from keras_style.engine.terms import TERMS, PreviousFrame, untileable
from keras_style.errors import UserError
from keras_style.run.loading import Inputs, Prepared, SizedImages
from keras_style.run.plan import Tile, evaluations_per_tile, scale_optimizer, tile_passes


def loss_spec(settings: Settings, output_pixels: int | None = None) -> LossSpec:
    """The loss a Settings asks for, for an output of `output_pixels` (None: whatever size each image is); each
    registered term's weight is its NAME_weight setting (0 when undeclared), the style's times --style-strength.
    --balance says at which size the weights hold: the output's, or BALANCE_REFERENCE_PIXELS (per-pixel)."""
    weights = {name: float(getattr(settings, name + TERM_WEIGHT_SUFFIX, 0.0)) for name in TERMS}
    # the one place the strength meets the weight: the plan, the run and the sidecar's term_weights see the product
    weights["style"] *= settings.style_strength
    # the octaves' style is weighed against the full size's (--octave-weight is relative); --stroke-scale turns it on
    weights["octave"] = weights["style"] * settings.octave_weight if settings.stroke_scale else 0.0
    return LossSpec(
        content_layers=settings.content_layers, style_layers=settings.style_layers,
        layer_weights=settings.layer_weights, normalization=settings.normalization,
        weights=tuple(weights.items()),
        style_loss=settings.style_loss, tv_form=settings.tv_form,
        balance_pixels=BALANCE_REFERENCE_PIXELS if settings.balance == "per-pixel" else output_pixels,
        stroke_scale=settings.stroke_scale, stroke_octaves=settings.stroke_octaves,
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


def network_spec(settings: Settings, precision: str | None = None) -> NetworkSpec:
    """The feature model a Settings asks for; `precision` the run's resolved one (None: the settings', which
    network.feature_model resolves for this device)."""
    return NetworkSpec(settings.network, settings.weights, settings.pooling, settings.feature_layers,
                       precision or settings.precision, settings.padding)


def feature_model_for(settings: Settings):
    """The feature model a Settings asks for: its network, weights, pooling, layers and precision."""
    return build_feature_model(network_spec(settings))


def build_feature_model(spec: NetworkSpec):
    return feature_model(spec.network, spec.weights, spec.pooling, spec.layers, spec.precision, spec.padding)


def compute_for(settings: Settings, pixels: int, evaluations: int) -> Compute:
    """Precision and XLA for `evaluations` at `pixels` (compute.choose_compute's rule; explicit settings win)."""
    return choose_compute(detect_device(), settings.precision, settings.jit_compile, pixels, evaluations)


def _cached(spec: LossSpec, feature_step, content: np.ndarray, styles: Sequence[np.ndarray], shares: Sequence[float],
            masks: Sequence[np.ndarray], per_style_masks: bool, previous: PreviousFrame | None) -> TargetSource:
    return CachedTargets(spec, feature_step, content, styles, shares, masks, per_style_masks=per_style_masks,
                         previous=previous)


def _concat(spec: LossSpec, feature_step, content: np.ndarray, styles: Sequence[np.ndarray], shares: Sequence[float],
            masks: Sequence[np.ndarray], per_style_masks: bool, previous: PreviousFrame | None) -> TargetSource:
    return ConcatBatch(spec, content, styles[0], previous)  # Settings.blend_weights allows concat one style


# --mode: the one place it picks code (config/choices.py's MODES says what it means for sizes and memory).
TARGET_SOURCES = {"cached": _cached, "concat": _concat}


def evaluator_for(
    model,
    loss: LossSpec,
    compute: Compute,
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    *,
    mode: str = "cached",
    shares: Sequence[float] = (1.0,),
    masks: Sequence[np.ndarray] = (),
    per_style_masks: bool = False,
    observer: Observer | None = None,
    previous: PreviousFrame | None = None,
) -> Evaluator:
    """The Evaluator of network-input content (1, H, W, 3) and styles under a loss, a compute choice and a target
    source (`mode`, with each style's share and the style term's masks); `previous` a video's previous frame (the
    temporal term's target)."""
    feature_step = feature_step_for(model, compute.xla)
    source = TARGET_SOURCES[mode](loss, feature_step, content, list(styles), shares, masks, per_style_masks, previous)
    return Evaluator(model, source, compute, content.shape, observer)


def settings_evaluator(
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
    """An Evaluator assembled straight from Settings, outside a run (judges, notebooks, tests): `spec` replaces the
    settings' loss, `evaluations` their budget for the precision/XLA choice, `compute` that choice itself."""
    styles = [style] if isinstance(style, np.ndarray) else list(style)
    budget = settings.evaluation_budget if evaluations is None else evaluations
    compute = compute or compute_for(settings, content.shape[1] * content.shape[2], budget)
    return evaluator_for(
        model, spec or loss_spec(settings), compute, content, styles, mode=settings.mode,
        shares=settings.blend_weights(len(styles)), masks=masks,
        per_style_masks=settings.style_masks is not None, observer=observer, previous=previous)


@dataclass(frozen=True)
class TileGrid:
    """A scale optimised in tiles (tiling.py): the tiles of each pass, in order, and each tile's optimiser."""

    size: int  # the tile's side in pixels (--tile-size, or memory.tile_size_for's choice)
    passes: tuple[tuple[Tile, ...], ...]
    optimizer: OptimizerSpec  # one tile's run: its share of the scale's evaluations

    @property
    def budget(self) -> int:
        """The scale's evaluations: every tile's."""
        return sum(len(tiles) for tiles in self.passes) * self.optimizer.evaluation_budget


@dataclass(frozen=True)
class ScalePlan:
    """One scale of a run: its images, its loss (balanced for its size), its optimiser (its share of the budget), its
    precision and XLA, its tiles (None: the whole image at once) and what one evaluation costs against one at the
    output size (its share of the pixels: the early stop asks a cheaper scale for a fall in proportion)."""

    index: int
    images: SizedImages
    loss: LossSpec
    optimizer: OptimizerSpec
    compute: Compute
    tiles: TileGrid | None
    cost: float

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        height, width = self.images.content.shape[:2]
        return width, height

    @property
    def budget(self) -> int:
        """The evaluations this scale may spend."""
        return self.optimizer.evaluation_budget if self.tiles is None else self.tiles.budget


@dataclass(frozen=True)
class RunPlan:
    """A run, assembled once from its Settings and its prepared images, then executed as it is (transfer.run_plan):
    nothing after assembly reads the Settings."""

    inputs: Inputs  # as loaded (the content mask's blend reads the content mask)
    scales: tuple[ScalePlan, ...]  # coarse to fine, the last at the output size
    network: NetworkSpec
    mode: str  # the target source (TARGET_SOURCES)
    shares: tuple[float, ...]  # each style's share of the style targets
    per_style_masks: bool  # masks name one style each (--style-masks), or the content's region (--content-mask)
    min_improvement: float | None  # the early stop (monitor.Monitor)
    patience: int
    preserve_colors: str  # the result's colours (transfer._original_colors)
    seed: int | None
    settings: Settings  # what was asked, carried for the sidecar's record only

    @property
    def output_size(self) -> tuple[int, int]:
        """(width, height) of the result."""
        return self.scales[-1].size

    @property
    def evaluation_budget(self) -> int:
        """The evaluations the run may spend: every scale's (with tiles, every tile's)."""
        return sum(scale.budget for scale in self.scales)


def assemble(settings: Settings, prepared: Prepared) -> RunPlan:
    """The run's plan: per scale the loss, the optimiser, the compute choice and the tiles; the network, the target
    source and the monitor's rule. (Asks for the device: TensorFlow loads here, after prepare's checks.)"""
    device = detect_device()
    output_pixels = prepared.final.content.shape[0] * prepared.final.content.shape[1]
    # every scale's terms balance themselves for their size against the output's (or the per-pixel reference)
    loss, optimizer = loss_spec(settings, output_pixels), optimizer_spec(settings)
    if not octave_levels(prepared.final.content.shape[:2], loss.stroke_scale, loss.stroke_octaves):
        loss = loss.with_weights(octave=0.0)  # no octave below the output: the term is not made (nor shown)
    several = len(prepared.scales) > 1
    scales = []
    for index, (images, evaluations) in enumerate(zip(prepared.scales, prepared.evaluations)):
        scale_optimizer_spec = scale_optimizer(optimizer, evaluations, several)
        height, width = images.content.shape[:2]
        tiles, pixels, budget = None, height * width, scale_optimizer_spec.evaluation_budget
        if images.tile is not None:
            check_tileable(loss)
            tile_optimizer = scale_optimizer_spec.with_budget(evaluations_per_tile(budget))
            tiles = TileGrid(images.tile, tuple(tuple(tiles) for tiles in tile_passes(width, height, images.tile)),
                             tile_optimizer)
            pixels, budget = images.tile * images.tile, tile_optimizer.iterations
        compute = choose_compute(device, settings.precision, settings.jit_compile, pixels, budget)
        scales.append(ScalePlan(index, images, loss, scale_optimizer_spec, compute, tiles,
                                cost=height * width / output_pixels))
    return RunPlan(
        inputs=prepared.inputs, scales=tuple(scales),
        # the precision depends on the device and the setting, not on a scale's size: one model serves every scale
        network=network_spec(settings, scales[-1].compute.precision),
        mode=settings.mode, shares=prepared.shares, per_style_masks=settings.style_masks is not None,
        min_improvement=settings.min_improvement, patience=settings.patience,
        preserve_colors=settings.preserve_colors, seed=settings.seed, settings=settings,
    )


def check_tileable(loss: LossSpec) -> None:
    """Tiles serve every term whose value adds up over parts of the image; a video frame's temporal term does not,
    and loading.prepare refuses tiles for a frame before anything loads."""
    refused = untileable(loss)
    if refused:
        raise UserError(f"tiling cannot compute the {', '.join(refused)} term: use --tile-size off")
