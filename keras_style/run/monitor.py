"""Watches each evaluation: the loss history, the best image so far and stop requests, and reports a Progress
event to the caller's callbacks. Drawing (a progress bar, snapshots, a web page) is the callbacks' business."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from keras_style.config.choices import CORE_TERMS
from keras_style.errors import Converged, Interrupted, UserError
from keras_style.files.images import deprocess

# The terms every run reports, after the total; a run may add other registered terms (engine/terms.py).
TERMS = ("total", *CORE_TERMS)
# (term name, its per-layer names), in the order the Evaluator stacks them (Evaluator.layout)
Layout = Sequence[tuple[str, Sequence[str]]]


@dataclass(frozen=True)
class Progress:
    """What a run reports after each evaluation (immutable: a callback may keep it)."""

    evaluation: int  # 1-based, counted over every scale
    total: int  # the evaluation budget
    scale: int  # index of the scale in the plan, 0-based
    size: tuple[int, int]  # (width, height) of this scale
    terms: dict[str, float]  # total, content, style, tv (and any other term the run has)
    style_layers: dict[str, float]  # each style layer's weighted loss (they sum to terms["style"])
    content_layers: dict[str, float]  # each content layer's loss (they sum to terms["content"])
    elapsed: float  # seconds since the optimisation started
    best_image: Callable[[], np.ndarray] = field(repr=False, compare=False)  # uint8 RGB, fetched on request


# A callback gets each Progress; a true return value asks the run to stop (it keeps the best image so far).
Callback = Callable[[Progress], bool | None]
Callbacks = Callback | Sequence[Callback] | None


def as_callbacks(callback: Callbacks) -> tuple[Callback, ...]:
    if callback is None:
        return ()
    return (callback,) if callable(callback) else tuple(callback)


class Monitor:
    """An Evaluator observer: history, the best image (copied only when it improves, a device tensor kept by
    reference) and stop requests; after each evaluation it reports a Progress to the callbacks."""

    def __init__(self, total: int, callback: Callbacks = None, min_improvement: float | None = None,
                 patience: int = 50) -> None:
        self.total = total
        self.min_improvement = min_improvement
        self.patience = patience
        self._scale_best: list[float] = []  # the best loss after each evaluation of the current scale
        self.callbacks = as_callbacks(callback)
        self.history: list[np.ndarray] = []
        self.best_loss = np.inf
        self.best_terms: np.ndarray | None = None
        # the run's starting loss over the whole image: its first evaluation's, or a tiled first scale's whole terms
        self.initial_terms: np.ndarray | None = None
        self._best_image = None  # a host copy, or a reference to an immutable device tensor
        self.first_evaluation_at: float | None = None  # time.perf_counter() of the first evaluation's end
        self.started = time.perf_counter()
        self.stop_requested = False
        self.scale = 0
        self.size: tuple[int, int] = (0, 0)
        self.layout: list[tuple[str, tuple[str, ...]]] = [(name, ()) for name in TERMS[1:]]
        self.loss_weights: dict[str, float] = {}
        self._cost = 1.0  # the current scale's evaluation cost against the output size's (start_scale)
        self._segment: tuple[int, int | None] = (0, None)  # (evaluations before the scale or tile, its budget)
        self.non_finite = 0  # evaluations whose loss was not finite (the best image is always a finite one)
        # A tiled scale: the whole canvas with the current tile's best image blended in (for previews)
        self._compose: Callable[[np.ndarray], np.ndarray] | None = None

    @property
    def evaluations(self) -> int:
        return len(self.history)

    @property
    def best_image(self) -> np.ndarray | None:
        """The best image so far as network input, fetched from the device only when asked for."""
        if self._best_image is not None and not isinstance(self._best_image, np.ndarray):
            self._best_image = np.array(self._best_image, dtype=np.float32)
        return self._best_image

    def best_rgb(self) -> np.ndarray:
        """The best image so far as uint8 RGB (H, W, 3); during a tiled scale, the whole canvas with the current
        tile's best image blended in."""
        best = self.best_image
        return deprocess(best if self._compose is None or best is None else self._compose(best))

    def start_scale(self, index: int, size: tuple[int, int], layout: Layout, loss_weights: dict[str, float],
                    budget: int | None = None, cost: float = 1.0) -> None:
        """A (new) scale begins: losses at a finer size are not comparable with the coarser ones. `layout` names the
        terms and their layers as the evaluations stack them (empty: the core terms without layers); `budget` is the
        scale's share of the total (None: unknown), which an early stop gives back; `cost` is what one of its
        evaluations costs against one at the output size (its share of the pixels): the early stop asks a cheaper
        scale for a fall in proportion, so the coarse scales, which set the layout and the colours for little time,
        run on where the output size would stop."""
        self.scale, self.size = index, tuple(size)
        self._cost = cost
        self._segment = (self.evaluations, budget)
        self.layout = [(name, tuple(layers)) for name, layers in layout] or [(name, ()) for name in TERMS[1:]]
        self.loss_weights = dict(loss_weights)
        self._scale_best = []
        self.best_loss = np.inf
        self.best_terms = None
        self._best_image = None

    def start_tile(self, compose: Callable[[np.ndarray], np.ndarray], budget: int | None = None) -> None:
        """A tile of a tiled scale begins: its losses are not comparable with another tile's, so the best image and
        the early-stop window start again; `compose(best tile)` gives the whole canvas for previews; `budget` is
        the tile's share of the total."""
        self._segment = (self.evaluations, budget)
        self._scale_best = []
        self.best_loss = np.inf
        self.best_terms = None
        self._best_image = None
        self._compose = compose

    def finish_tiles(self, canvas: np.ndarray, terms: np.ndarray) -> None:
        """A tiled scale ends: its canvas is the best image, with the whole image's terms (computed block by block:
        tiling.whole_terms)."""
        self._compose = None
        self._best_image = canvas
        self.best_terms = terms
        self.best_loss = float(terms[0])

    def start_whole(self, terms: np.ndarray) -> None:
        """A tiled scale begins with the whole image's terms (tiling.whole_terms), which no tile's evaluation sees:
        when it is the run's first scale, they are the run's initial loss."""
        if self.initial_terms is None:
            self.initial_terms = terms

    def __call__(self, terms: np.ndarray, image) -> None:
        if self.first_evaluation_at is None:
            self.first_evaluation_at = time.perf_counter()
        self.history.append(terms)
        if self.initial_terms is None:
            self.initial_terms = terms
        if not np.isfinite(terms[0]):
            self.non_finite += 1
            if self.evaluations == 1:
                raise UserError(non_finite_message(terms, self.term_names, self.loss_weights))
        # image None: a line search's earlier trial, whose image stayed on the device; it counts, it cannot be kept
        if image is not None and np.isfinite(terms[0]) and terms[0] < self.best_loss:
            self.best_loss = float(terms[0])
            self.best_terms = terms
            if not isinstance(image, np.ndarray):
                self._best_image = image  # device steps hand over a fresh tensor that nothing changes: no copy
            elif isinstance(self._best_image, np.ndarray):
                np.copyto(self._best_image, image)  # scipy reuses its buffer: copy into ours
            else:
                self._best_image = np.array(image, dtype=np.float32, copy=True)
        self._scale_best.append(self.best_loss)
        if self.callbacks:
            named, layers = self.split(terms)
            event = Progress(
                evaluation=self.evaluations, total=self.total, scale=self.scale, size=self.size, terms=named,
                style_layers=layers.get("style", {}), content_layers=layers.get("content", {}),
                elapsed=time.perf_counter() - self.started, best_image=self.best_rgb,
            )
            for callback in self.callbacks:
                if callback(event):
                    self.stop_requested = True
        if self.stop_requested:
            if self.evaluations == 1:
                # The first evaluation is of the starting image: a stop asked for by then (Ctrl-C during start-up)
                # leaves nothing worth keeping, rather than the unstylized picture.
                self._best_image = None
            raise Interrupted()
        if self.converged():
            self._give_back_unspent()
            raise Converged()

    def converged(self) -> bool:
        """--min-improvement (None or 0: never): has this scale's best loss fallen by less than that fraction over
        --patience evaluations? (The best so far, not the last loss: L-BFGS's line search tries worse points on its
        way.)"""
        return bool(self.min_improvement) and flattened(self._scale_best, self.patience,
                                                        self.min_improvement * self._cost)

    def _give_back_unspent(self) -> None:
        """A scale (or tile) stopped early: the total no longer counts the evaluations it will not spend, so the
        next Progress's total is what the run can still reach."""
        started, budget = self._segment
        if budget is not None:
            self.total -= max(0, budget - (self.evaluations - started))

    @property
    def term_names(self) -> tuple[str, ...]:
        """"total" and each term's name, as the stacked terms begin."""
        return ("total", *(name for name, _ in self.layout))

    def split(self, terms: np.ndarray) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
        """Stacked terms as ({total and each term: value}, {term: {layer: value}} for the terms with layers)."""
        names = self.term_names
        named = {name: float(value) for name, value in zip(names, terms)}
        layers, position = {}, len(names)
        for name, layer_names in self.layout:
            if layer_names:
                layers[name] = {layer: float(value) for layer, value in
                                zip(layer_names, terms[position:position + len(layer_names)])}
                position += len(layer_names)
        return named, layers

    def layer_losses(self) -> dict[str, dict[str, dict[str, float]]]:
        """The best evaluation's loss per layer of each term (a term without layers: "image"), each with its share
        of the weighted total, as jcjohnson/neural-style prints them."""
        named, layers = self.split(self.best_terms)
        total = named["total"]

        def entry(value: float, weight: float) -> dict[str, float]:
            return {"loss": float(value), "share": float(weight * value / total) if total else 0.0}

        return {
            name: {layer: entry(value, self.loss_weights.get(name, 0.0))
                   for layer, value in layers.get(name, {"image": named[name]}).items()}
            for name, _ in self.layout
        }


def flattened(best_losses: Sequence[float], window: int, min_fall: float) -> bool:
    """The stopping rule: has the best loss (one value per evaluation, never rising) fallen by less than `min_fall`
    of its value over the last `window` evaluations? False until the window is full."""
    if len(best_losses) <= window:
        return False
    before, now = best_losses[-window - 1], best_losses[-1]
    return bool(np.isfinite(before)) and before - now < min_fall * abs(before)


def non_finite_message(terms: np.ndarray, names: Sequence[str], loss_weights: dict[str, float]) -> str:
    """Why the first evaluation's loss is not finite: the term whose weighted value overflows, and what to change.
    `names` are the stacked terms' ("total" first), `loss_weights` each term's weight in the total."""
    for name, value in zip(names[1:], terms[1:len(names)]):
        weight = loss_weights.get(name, 1.0)
        with np.errstate(over="ignore", invalid="ignore"):
            weighted = np.float32(value) * np.float32(weight)
        if not np.isfinite(weighted):
            return (f"the loss is not finite at the first evaluation: the {name} loss ({float(value):.3g}) times "
                    f"--{name}-weight ({weight:g}) overflows float32; lower --{name}-weight")
    return (f"the loss is not finite at the first evaluation ({float(terms[0])}); the loss weights are too large for "
            "float32 together: lower --style-weight or --content-weight")
