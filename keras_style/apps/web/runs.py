"""One run of the web page, without Gradio: its uploads checked, its settings built from the page's fields, the
optimisation in a worker thread, and what the page draws of it (a Snapshot).

Data flows one way: the library reports each evaluation to Run.on_progress (a stylize_result callback), the run
keeps the latest state under a lock, and the page polls Run.snapshot(). Each run has its own folder, stop flag and
state; the only thing runs share is the cached feature model (engine/network.py builds it once per process)."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from keras_style.apps.options import SERVE_PROGRAM
from keras_style.config.settings import Settings
from keras_style.errors import Interrupted, UserError, first_line
from keras_style.files.images import load_image
from keras_style.run.loading import Prepared
from keras_style.run.monitor import Progress

# The settings the page offers (besides the preset): the ones a person adjusts most. This is the page's one list of
# them: page.py has a field for each, and the stylize API takes them in this order after content, style and preset.
PAGE_SETTINGS = ("size", "iterations", "style_weight", "network", "preserve_colors", "seed")
# The fields that show a preset's values when it is picked: all but the seed, whose blank means a random start.
PRESET_SETTINGS = tuple(name for name in PAGE_SETTINGS if name != "seed")
RESULT_NAME = "stylized.png"
MEGABYTE = 1024 * 1024
# The best image is fetched for the preview at most this often: at large sizes a fetch costs a device copy, and each
# preview the page shows is a file in Gradio's cache.
PREVIEW_SECONDS = 1.0
# A finished run's folder (its result and sidecar, for download) is kept this long after its last change, then
# removed when a later run begins: a server that runs for days keeps a bounded temporary folder.
RUN_KEEP_SECONDS = 30 * 60
# On shutdown, how long the server waits for the runs to stop (each stops at its next evaluation, which at the
# largest sizes on a CPU takes tens of seconds) before it leaves their folders behind rather than pull them away.
STOP_SECONDS = 120.0


@dataclass(frozen=True)
class Limits:
    """What the server accepts from a page (keras-style serve --max-upload-mb, --max-size)."""

    max_upload_bytes: int = 20 * MEGABYTE
    max_size: int = 1024
    # one run holds the only run slot: without a cap, one client could hold it for good
    max_iterations: int = 2000
    # runs waiting for the slot; more are refused by the queue (Gradio says it is full)
    max_queue: int = 20
    # Decoded, an image takes far more than its file (a 31 KB 16-bit PNG of 16 megapixels took 429 MB): its header
    # is read first, and more pixels than this are refused before anything is decoded.
    max_upload_pixels: int = 4096 * 4096

    @property
    def max_upload_mb(self) -> float:
        return self.max_upload_bytes / MEGABYTE


def preset_values(preset: str) -> dict[str, Any]:
    """The value of each setting the page offers under `preset` (what the page shows when it is picked)."""
    settings = Settings.from_options(preset=preset)
    return {name: getattr(settings, name) for name in PAGE_SETTINGS}


def _whole(value: Any) -> Any:
    """A number field's 64.0 as 64: Settings wants integers for sizes, counts and seeds."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def parse_seed(text: str | int | None) -> int | None:
    """The seed field: blank for a random start, else a whole number (Settings checks its range)."""
    if text is None or isinstance(text, int):
        return text
    text = str(text).strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise UserError(f"seed must be a whole number, or blank for a random one; got {text[:40]!r}") from None


def run_settings(preset: str, chosen: Mapping[str, Any], weights: str, limits: Limits) -> Settings:
    """Settings from the page: the preset, then each field whose value differs from the preset's (so a preset's
    outer L-BFGS loop survives an untouched iteration count), then the server's weights. UserError if invalid or
    above the server's size limit."""
    shown = preset_values(preset)  # UserError for an unknown preset
    unknown = sorted(set(chosen) - set(PAGE_SETTINGS))
    if unknown:
        raise UserError(f"the page has no setting {', '.join(unknown)}")
    changed = {name: _whole(value) for name, value in chosen.items() if value is not None and value != shown[name]}
    settings = Settings.from_options(preset=preset, weights=weights, **changed)
    if settings.size > limits.max_size:
        raise UserError(f"size {settings.size} px is above this server's limit of {limits.max_size} px "
                        "(keras-style serve --max-size)")
    if settings.evaluation_budget > limits.max_iterations:
        raise UserError(f"{settings.evaluation_budget} iterations are above this server's limit of "
                        f"{limits.max_iterations} (keras-style serve --max-iterations)")
    return settings


def load_upload(path: str | os.PathLike | None, what: str, uploads: Path, limits: Limits) -> Image.Image:
    """An uploaded image, checked: it must be a file the server received (in `uploads`), within the size limit, and
    an image Pillow opens safely (images.load_image refuses decompression bombs). One-line UserError otherwise,
    naming the file as the person called it rather than by its temporary path."""
    if not path:
        raise UserError(f"no {what} yet: upload one, or pick the demo pair")
    file = Path(path).resolve()
    if not file.is_relative_to(uploads.resolve()):  # only the server's own uploads: no path from a browser is read
        raise UserError(f"the {what} is not an upload to this server")
    name = file.name
    try:
        size = file.stat().st_size
    except OSError:
        raise UserError(f"{what} {name!r} is gone; upload it again") from None
    if size > limits.max_upload_bytes:
        raise UserError(f"{what} {name!r} is {size / MEGABYTE:.1f} MB, above this server's limit of "
                        f"{limits.max_upload_mb:g} MB")
    try:
        with Image.open(file) as header:  # the header only: nothing is decoded yet
            width, height = header.size
    except Exception:  # not an image, or damaged: load_image says which, in one line
        width = height = 0
    if width * height > limits.max_upload_pixels:
        raise UserError(f"{what} {name!r} is {width}x{height} px, above this server's limit of "
                        f"{limits.max_upload_pixels / 1e6:.1f} megapixels")
    try:
        return load_image(file, what)
    except UserError as error:
        raise UserError(str(error).replace(repr(str(file)), repr(name))) from None


def check_output_size(prepared: Prepared, limits: Limits) -> None:
    """The output's longest side within the size limit too: --resize height makes a wide image wider than --size."""
    height, width = prepared.final.content.shape[:2]
    if max(width, height) > limits.max_size:
        raise UserError(f"the result would be {width}x{height} px, above this server's limit of {limits.max_size} px "
                        "on its longest side; lower the size")


# What a run is doing: waiting for its turn, building the model, optimising, or finished one of three ways.
QUEUED, STARTING, RUNNING, DONE, STOPPED, FAILED = "queued", "starting", "running", "done", "stopped", "failed"
FINISHED = (DONE, STOPPED, FAILED)


@dataclass(frozen=True)
class Snapshot:
    """A run at one moment, as the page draws it (a copy: the run goes on changing)."""

    state: str
    evaluation: int = 0
    total: int = 0
    terms: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0
    seconds_left: float | None = None
    totals: tuple[float, ...] = ()  # the total loss after each evaluation
    preview: np.ndarray | None = field(default=None, repr=False)  # the best image so far, uint8 RGB
    message: str = ""
    files: tuple[Path, ...] = ()  # the PNG and its JSON sidecar, once written

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


class Run:
    """One run: its folder, its stop flag, the optimisation in a worker thread and the latest state.

    The page calls request_stop() (Stop, a closed tab); the next evaluation's callback returns True, so the run
    keeps its best image as Ctrl-C does on the command line."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._stop = threading.Event()
        self._changed = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._state = QUEUED
        self._progress: Progress | None = None
        self._first_elapsed: float | None = None
        self._totals: list[float] = []
        self._preview: np.ndarray | None = None
        self._preview_at = 0.0
        self._message = ""
        self._files: tuple[Path, ...] = ()

    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        self._stop.set()
        self._changed.set()

    def fail(self, message: str, state: str = FAILED) -> None:
        """End the run before it started (bad input, stopped while waiting) with a one-line message."""
        self._finish(state, message)

    def start(self, content: Image.Image, style: Image.Image, settings: Settings, prepared: Prepared) -> None:
        """Optimise in a worker thread (a daemon: a server that exits does not wait for a run)."""
        with self._lock:
            self._state = STARTING
        self._thread = threading.Thread(target=self._work, args=(content, style, settings, prepared),
                                        name="keras-style-run", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """Whether its optimisation thread still runs."""
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float) -> None:
        """Until the run reports something new or finishes, or `timeout` seconds pass."""
        self._changed.wait(timeout)
        self._changed.clear()

    def on_progress(self, event: Progress) -> bool:
        """The stylize_result callback: keep the event (and now and then the best image); True asks to stop."""
        now = time.monotonic()
        preview = None
        if event.evaluation == 1 or now - self._preview_at >= PREVIEW_SECONDS:
            preview = event.best_image()
            self._preview_at = now
        with self._lock:
            self._state = RUNNING
            self._progress = event
            self._totals.append(event.terms["total"])
            if self._first_elapsed is None:
                self._first_elapsed = event.elapsed
            if preview is not None:
                self._preview = preview
        self._changed.set()
        return self._stop.is_set()

    def snapshot(self) -> Snapshot:
        with self._lock:
            event = self._progress
            if event is None:
                return Snapshot(self._state, preview=self._preview, message=self._message, files=self._files)
            return Snapshot(
                state=self._state, evaluation=event.evaluation, total=event.total, terms=dict(event.terms),
                elapsed=event.elapsed, seconds_left=self._seconds_left(event), totals=tuple(self._totals),
                preview=self._preview, message=self._message, files=self._files,
            )

    def _seconds_left(self, event: Progress) -> float | None:
        """From the pace since the first evaluation (which also traces the step, so it is slower than the rest)."""
        if self._state in FINISHED:
            return 0.0
        if event.evaluation < 2 or self._first_elapsed is None:
            return None
        pace = (event.elapsed - self._first_elapsed) / (event.evaluation - 1)
        return pace * max(0, event.total - event.evaluation)

    def _finish(self, state: str, message: str, files: tuple[Path, ...] = (), image: np.ndarray | None = None) -> None:
        with self._lock:
            self._state, self._message, self._files = state, message, files
            if image is not None:  # the result, with the colour and mask steps a preview lacks
                self._preview = image
        self._changed.set()

    def _work(self, content: Image.Image, style: Image.Image, settings: Settings, prepared: Prepared) -> None:
        from keras_style.files.outputs import save_result, sidecar, sidecar_path
        from keras_style.run.transfer import stylize_result

        try:
            if "keras" not in sys.modules:
                # The first run loads TensorFlow, with stderr closed as the command line does: its start-up chatter
                # would fill the server's log. Runs take turns, so no other run's message is lost meanwhile.
                from keras_style.engine.backend import import_backend_quietly

                import_backend_quietly()
            result = stylize_result(content, style, settings=settings, prepared=prepared, callback=self.on_progress)
            output = save_result(result.image, lambda path: sidecar(result, path), self.folder / RESULT_NAME,
                                 force=False)
        except Interrupted:
            self._finish(STOPPED, "stopped before the first evaluation: nothing to keep")
        except UserError as error:
            self._finish(FAILED, first_line(error))
        except MemoryError:
            self._finish(FAILED, "out of memory: try a smaller size")
        except Exception as error:  # the page shows one line; the server goes on serving
            message = f"internal error: {type(error).__name__}: {first_line(error)}"
            print(f"{SERVE_PROGRAM}: {message}", file=sys.stderr)
            self._finish(FAILED, message)
        else:
            files = (output, sidecar_path(output))
            if result.interrupted:
                message = f"stopped after {result.evaluations} evaluations: the best image so far is kept"
                self._finish(STOPPED, message, files, result.image)
            else:
                message = (f"done: {result.evaluations} evaluations in {result.seconds:.1f} s, final loss "
                           f"{result.losses['final']['total']:.4g}")
                self._finish(DONE, message, files, result.image)


class Runs:
    """Each browser session's current run: Stop and a closed tab reach their own session's run and no other."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._by_session: dict[str, Run] = {}

    def begin(self, session: str) -> Run:
        """A fresh run for the session (Start was pressed: it waits in the queue until its turn)."""
        self.prune()
        folder = Path(tempfile.mkdtemp(prefix="run-", dir=self.folder))
        run = Run(folder)
        with self._lock:
            previous = self._by_session.get(session)
            self._by_session[session] = run
        if previous is not None and not previous.started:
            previous.fail("replaced by a newer start", STOPPED)
        return run

    def prune(self, now: float | None = None) -> list[Path]:
        """Remove the folders of runs that no session holds any more and that have not changed for RUN_KEEP_SECONDS;
        the folders removed."""
        now = time.time() if now is None else now
        with self._lock:
            held = {run.folder.resolve() for run in self._by_session.values()}
        removed = []
        for folder in self.folder.glob("run-*"):
            try:
                changed = max([folder.stat().st_mtime] + [item.stat().st_mtime for item in folder.iterdir()])
            except OSError:
                continue
            if folder.resolve() not in held and now - changed > RUN_KEEP_SECONDS:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        return removed

    def take(self, session: str) -> Run:
        """The session's run that has not started yet (from begin), else a fresh one (a client of the API)."""
        with self._lock:
            run = self._by_session.get(session)
        if run is None or run.started or run.snapshot().finished:
            run = self.begin(session)
        return run

    def end(self, session: str, run: Run) -> None:
        with self._lock:
            if self._by_session.get(session) is run:
                del self._by_session[session]

    def stop(self, session: str) -> bool:
        """Ask the session's run to stop; False when it has none."""
        with self._lock:
            run = self._by_session.get(session)
        if run is None:
            return False
        run.request_stop()
        return True

    def stop_all(self, timeout: float = STOP_SECONDS) -> bool:
        """Ask every run to stop and wait for their threads (a run stops at its next evaluation); False when one
        is still running after `timeout` seconds, so that its folder must not be removed under it."""
        with self._lock:
            runs = list(self._by_session.values())
        for run in runs:
            run.request_stop()
        deadline = time.monotonic() + timeout
        for run in runs:
            run.join(timeout=max(0.0, deadline - time.monotonic()))
        return not any(run.alive for run in runs)
