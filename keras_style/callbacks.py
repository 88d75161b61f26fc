"""What the command line attaches to a run (stylize_result's callback): a progress bar, snapshots of the best image
so far, and stopping on Ctrl-C or SIGTERM. The library reports; these draw and listen."""
from __future__ import annotations

import signal
import threading
from pathlib import Path

from .monitor import Progress


class ProgressBar:
    """A tqdm bar over the evaluation budget, with the four loss terms."""

    def __init__(self, total: int, description: str = "stylizing") -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=description, unit="eval", dynamic_ncols=True, leave=True)

    def __call__(self, event: Progress) -> None:
        if self.bar.n >= self.bar.total:
            self.bar.total = self.bar.n + 1  # L-BFGS may finish its line search a few evaluations past maxfun
        self.bar.update(1)
        terms = event.terms
        self.bar.set_postfix(total=f"{terms['total']:.4g}", content=f"{terms['content']:.3g}",
                             style=f"{terms['style']:.3g}", tv=f"{terms['tv']:.3g}", refresh=False)

    def close(self) -> None:
        self.bar.close()


class Snapshots:
    """Saves the best image so far every `every` evaluations beside the output (out_0025.png)."""

    def __init__(self, output: Path, every: int) -> None:
        self.output = output
        self.every = every

    def __call__(self, event: Progress) -> None:
        from .outputs import save_image, snapshot_path

        if event.evaluation % self.every == 0:
            save_image(event.best_image(), snapshot_path(self.output, event.evaluation))


class StopOnSignal:
    """SIGINT and SIGTERM ask the run to stop (it keeps the best image so far); a second signal stops at once.

    Install it before the long start-up (imports, model, compilation): a signal then stops the run before its first
    evaluation is reported."""

    def __init__(self) -> None:
        self.received = threading.Event()
        self.previous: dict[int, object] = {}

    def install(self) -> StopOnSignal:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: object | None) -> None:
        if self.received.is_set():
            raise KeyboardInterrupt  # a second signal stops at once
        self.received.set()

    def __call__(self, event: Progress) -> bool:
        return self.received.is_set()
