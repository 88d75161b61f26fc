"""What the command line attaches to a run (stylize_result's callback): a progress bar, snapshots of the best image
so far, and stopping on Ctrl-C or SIGTERM. The library reports; these draw and listen."""
from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from keras_style.apps.options import PROGRAM
from keras_style.errors import first_line
from keras_style.run.monitor import Progress


class ProgressBar:
    """A tqdm bar over the evaluation budget, with the four loss terms: each Progress's evaluation of its total. It
    appears with the first evaluation's result, so a run that fails before then prints its one-line error alone."""

    def __init__(self, total: int, description: str = "stylizing") -> None:
        self.total = total
        self.description = description
        self.bar = None

    def __call__(self, event: Progress) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, desc=self.description, unit="eval", dynamic_ncols=True, leave=True)
        if event.total != self.bar.total:
            self.bar.total = event.total  # a scale that stopped early gave its unspent evaluations back
        # the run's count, not this bar's: no optimiser spends past its budget, so it never passes the total
        self.bar.update(event.evaluation - self.bar.n)
        # every term the run has, in the order it adds them (the total first)
        self.bar.set_postfix({name: f"{value:.4g}" if name == "total" else f"{value:.3g}"
                              for name, value in event.terms.items()}, refresh=False)

    def close(self, finished: bool = False) -> None:
        """`finished`: the run ended by itself (its budget, or its last scale stopped early), so the bar ends full."""
        if self.bar is not None:
            if finished and self.bar.n < self.bar.total:
                self.bar.total = self.bar.n
                self.bar.refresh()
            self.bar.close()


class Snapshots:
    """Saves the best image so far every `every` evaluations beside the output (out_0025.png).

    Snapshots are treated like OUTPUT: without `force` none replaces a file. check_output refuses, before the run,
    one whose snapshots already exist; a snapshot name taken during the run (another run aimed at the same OUTPUT)
    counts as a failed write. A failed write (disk full, folder removed, name taken) must not cost the run: it is
    reported once on stderr, no more snapshots are taken, and the run and its final save go on."""

    def __init__(self, output: Path, every: int, force: bool = False) -> None:
        self.output = output
        self.every = every
        self.force = force
        self.failed = False

    def __call__(self, event: Progress) -> None:
        from keras_style.files.outputs import save_image, snapshot_path

        if self.failed or event.evaluation % self.every:
            return
        path = snapshot_path(self.output, event.evaluation)
        try:
            save_image(event.best_image(), path, replace=self.force)
        except (OSError, ValueError) as error:
            self.failed = True
            reason = error.strerror if isinstance(error, OSError) and error.strerror else first_line(error)
            self.warn(f"could not save snapshot {path} ({reason}); no more snapshots in this run")

    @staticmethod
    def warn(message: str) -> None:
        """One line on stderr; tqdm.write clears the progress bar first and draws it again below the line."""
        from tqdm import tqdm

        tqdm.write(f"{PROGRAM}: warning: {message}", file=sys.stderr)


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
