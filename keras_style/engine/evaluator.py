"""Loss and gradient of the generated image in one network pass, in the form scipy's L-BFGS-B wants.

The loss is the weighted sum of the run's terms (terms.py), fed by its target source (targets.py: cached targets,
the articles' concatenated batch, or a tile). It is written with keras.ops as a function of the image and of the
run's fixed tensors (`fixed`: each term's targets and weights, the source's images), so one compiled step serves
every Evaluator of the same model, source and term structure in a process (multi-scale runs, judges, tests): each
shape is traced and compiled once.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from keras import ops

from keras_style.engine.backend import CompiledFunction, Compute, compiled, value_and_grad
from keras_style.engine.terms import LossTerm, combine

# Called after each network pass with the loss terms (Evaluator.layout names them) and the image that produced them
# (a numpy array, or a device tensor that nothing modifies afterwards; None for a line search's trial that the
# device step did not hand over: its terms count, its image cannot be kept).
Observer = Callable[[np.ndarray, Any], None]


def loss_terms(model, source, terms: Sequence[LossTerm], image, fixed: dict):
    """(total, stacked [total, each term's value, then each term's per-layer values]) for a generated image
    (1, H, W, 3)."""
    features, seen, given = source.generated(model, image, fixed["source"], terms)
    per_layer = [
        term.layer_losses(features, seen, tensors, tensors.get("targets") if targets is None else targets)
        for term, tensors, targets in zip(terms, fixed["terms"], given)
    ]
    return combine(terms, [tensors["weight"] for tensors in fixed["terms"]], per_layer)


class Evaluator:
    """Computes (loss, gradient) once per point; `loss(x)` caches the gradient that `grads(x)` returns.

    `source` is a target source of targets.py (it holds the terms); `compute` the precision and XLA choice;
    `shape` the generated image's (1, H, W, 3)."""

    def __init__(self, model, source, compute: Compute, shape: tuple[int, ...], observer: Observer | None = None
                 ) -> None:
        self.model = model
        self.terms: list[LossTerm] = list(source.terms)
        self.compute = compute
        self.jit_compile = compute.xla
        self.shape = tuple(shape)
        self.observer = observer
        self.passes = 0
        # Seconds spent in the network passes (the host's waiting included: the terms, and for evaluate() the
        # gradient, come back at the end of each), the first compiled call apart: it traces and compiles the step.
        # A device step (call, then observe) counts from its call to its terms' read back, all its passes together.
        self.network_seconds = 0.0
        self.first_pass_seconds = 0.0
        self._compiled_calls = 0
        self._step_started: float | None = None  # when the device step that observe() will record was called
        self.traces = 0  # traces of the optimisation steps during this Evaluator's calls (0: compiled before)
        # set by an optimiser that ended before its budget because it could not descend (optimize_device's L-BFGS)
        self.stalled = False
        self.fixed: dict[str, Any] = source.fixed
        self._static_source = source.static()
        self.structure = (source.key, tuple(term.key for term in self.terms))
        self.value_and_grad_step = self.compiled_step(
            "value_and_grad", lambda: value_and_grad(self.loss_function_for_steps())
        )
        self._last_x: np.ndarray | None = None
        self._last_grad: np.ndarray | None = None

    @property
    def layout(self) -> list[tuple[str, tuple[str, ...]]]:
        """(term name, its per-layer names) in the order the stacked terms hold them."""
        return [(term.name, term.layers) for term in self.terms]

    def tensors_of(self, name: str) -> dict:
        """The fixed tensors of the term called `name` (its weight, targets, ...)."""
        return self.fixed["terms"][[term.name for term in self.terms].index(name)]

    def loss_function(self, image, fixed: dict):
        """The loss `(image, fixed) -> (total, terms)` of this Evaluator's model, source and terms."""
        return loss_terms(self.model, self._static_source, self.terms, image, fixed)

    def loss_function_for_steps(self) -> Callable:
        """The same loss for a shared compiled step (the tensors come in `fixed`, never from this Evaluator)."""
        return functools.partial(loss_terms, self.model, self._static_source, self.terms)

    def compiled_step(self, purpose: str, build: Callable[[], Callable]) -> CompiledFunction:
        """The process-wide compiled function for `purpose` on this model, structure and XLA choice."""
        return compiled(self.model, (purpose, self.structure), self.jit_compile, build)

    def call(self, function: CompiledFunction, *args):
        """Call a compiled step, counting its traces as this Evaluator's; its time runs until observe() has its terms
        on the host."""
        self._step_started = time.perf_counter()
        before = function.traces
        result = function(*args)
        self.traces += function.traces - before
        return result

    def evaluate(self, image) -> tuple[np.ndarray, np.ndarray]:
        """One forward and backward pass: (stacked terms, float32 gradient)."""
        started = time.perf_counter()
        image_tensor = ops.convert_to_tensor(image, dtype="float32")
        terms, gradient = self.call(self.value_and_grad_step, image_tensor, self.fixed)
        terms = ops.convert_to_numpy(terms)
        gradient = np.asarray(ops.convert_to_numpy(gradient))
        self._step_started = None
        self._add_compiled_seconds(time.perf_counter() - started)
        self.passes += 1
        if self.observer is not None:
            self.observer(terms, image)
        return terms, gradient

    def observe(self, terms, image) -> None:
        """Record the network passes of one device step (optimize_device): terms to the host, the image stays on the
        device. `terms` holds one pass's terms, or one row per pass (a line search's trials, in order), the image
        being the last pass's point: the observer sees each pass with its own terms, the earlier trials with the
        image None (only the point the search ends at comes back), so the history, the progress bar and the budget
        count passes. Terms already on the host (a numpy array) are taken as they are."""
        if not isinstance(terms, np.ndarray):
            terms = ops.convert_to_numpy(terms)
        if self._step_started is not None:  # the step's time: from its call to its terms here
            self._add_compiled_seconds(time.perf_counter() - self._step_started)
            self._step_started = None
        rows = terms if terms.ndim == 2 else terms[None]
        for index, row in enumerate(rows):
            self.passes += 1
            if self.observer is not None:
                self.observer(row, image if index == len(rows) - 1 else None)

    def evaluate_terms(self, image) -> np.ndarray:
        """One forward pass, untraced, observed like any other: for a single evaluation at a shape (the average's
        in optimize_device.minimize_averaged), where tracing a compiled step would cost more than the call."""
        started = time.perf_counter()
        terms = self.terms_at(image)
        self.network_seconds += time.perf_counter() - started
        self.passes += 1
        if self.observer is not None:
            self.observer(terms, image)
        return terms

    def _add_compiled_seconds(self, seconds: float) -> None:
        if self._compiled_calls == 0:
            self.first_pass_seconds = seconds
        else:
            self.network_seconds += seconds
        self._compiled_calls += 1

    def terms_at(self, image) -> np.ndarray:
        """The stacked terms at one image, forward only and untraced: for scoring, not for optimising."""
        return ops.convert_to_numpy(self.loss_function(ops.convert_to_tensor(image, dtype="float32"), self.fixed)[1])

    def loss_and_grads(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """scipy's combined form: float64 flat x in, (loss, float64 flat gradient) out."""
        terms, gradient = self.evaluate(self._as_image(x))
        return float(terms[0]), gradient.reshape(-1).astype(np.float64)

    def loss(self, x: np.ndarray) -> float:
        """The articles' Evaluator.loss: computes loss and gradient, keeps the gradient for grads(x)."""
        value, gradient = self.loss_and_grads(x)
        if self._last_x is None:
            self._last_x = np.empty_like(x)
        np.copyto(self._last_x, x)  # reuse one buffer: this runs at every evaluation
        self._last_grad = gradient
        return value

    def grads(self, x: np.ndarray) -> np.ndarray:
        """The gradient at x: the cached one if loss(x) was just called at this point, else a new pass."""
        if self._last_grad is None or self._last_x is None or not np.array_equal(x, self._last_x):
            self.loss(x)
        return self._last_grad

    def _as_image(self, x: np.ndarray) -> np.ndarray:
        # The one float64 -> float32 conversion scipy's float64 iterate needs.
        return np.asarray(x, dtype=np.float32).reshape(self.shape)
