"""Watches each evaluation: loss history, the best image so far, the progress bar, and stop requests."""
from __future__ import annotations

import threading
import time
from typing import Callable, Optional

import numpy as np

from .errors import Interrupted

TERMS = ("total", "content", "style", "tv")
# Called every `every` evaluations with (evaluation number, best image so far as network input).
Snapshot = Callable[[int, np.ndarray], None]


class Monitor:
    """An Evaluator observer. Copies an image only when it improves on the best loss."""

    def __init__(
        self,
        total: int,
        progress: bool = False,
        stop_event: Optional[threading.Event] = None,
        snapshot: Optional[Snapshot] = None,
        snapshot_every: int = 0,
        description: str = "stylizing",
    ) -> None:
        self.history: list[np.ndarray] = []
        self.best_loss = np.inf
        self.best_terms: Optional[np.ndarray] = None
        self._best_image = None  # a host copy, or a reference to an immutable device tensor
        self.first_evaluation_at: Optional[float] = None  # time.perf_counter() of the first evaluation's end
        self.stop_event = stop_event or threading.Event()
        self.snapshot = snapshot
        self.snapshot_every = snapshot_every
        self.bar = None
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=description, unit="eval", dynamic_ncols=True, leave=True)

    @property
    def evaluations(self) -> int:
        return len(self.history)

    @property
    def best_image(self) -> Optional[np.ndarray]:
        """The best image so far as network input, fetched from the device only when asked for."""
        if self._best_image is not None and not isinstance(self._best_image, np.ndarray):
            self._best_image = np.array(self._best_image, dtype=np.float32)
        return self._best_image

    def __call__(self, terms: np.ndarray, image) -> None:
        if self.first_evaluation_at is None:
            self.first_evaluation_at = time.perf_counter()
        self.history.append(terms)
        if np.isfinite(terms[0]) and terms[0] < self.best_loss:
            self.best_loss = float(terms[0])
            self.best_terms = terms
            if not isinstance(image, np.ndarray):
                self._best_image = image  # device steps hand over a fresh tensor that nothing changes: no copy
            elif isinstance(self._best_image, np.ndarray):
                np.copyto(self._best_image, image)  # scipy reuses its buffer: copy into ours
            else:
                self._best_image = np.array(image, dtype=np.float32, copy=True)
        if self.bar is not None:
            if self.bar.n >= self.bar.total:
                self.bar.total = self.bar.n + 1  # L-BFGS may finish its line search a few evaluations past maxfun
            self.bar.update(1)
            self.bar.set_postfix(
                total=f"{terms[0]:.4g}", content=f"{terms[1]:.3g}", style=f"{terms[2]:.3g}", tv=f"{terms[3]:.3g}",
                refresh=False,
            )
        if self.snapshot is not None and self.snapshot_every and self.evaluations % self.snapshot_every == 0:
            self.snapshot(self.evaluations, self.best_image)
        if self.stop_event.is_set():
            raise Interrupted()

    def new_scale(self) -> None:
        """A multi-scale run moved to a finer size: losses there are not comparable with the coarser ones."""
        self.best_loss = np.inf
        self.best_terms = None
        self._best_image = None

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
