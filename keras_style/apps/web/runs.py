"""One run of the web page, without Gradio: its uploads checked, its settings built from the page's fields, the
optimisation in a worker thread, and what the page draws of it (a Snapshot).

Data flows one way: the library reports each evaluation to Run.on_progress (a stylize_result callback), the run
keeps the latest state under a lock, and the page polls Run.snapshot(). Each run has its own folder, stop flag and
state; the only thing runs share is the cached feature model (engine/network.py builds it once per process).

A run outlives the Gradio event that shows it: Gradio ends an event whenever its page's connection drops (a closed
tab, a reload, a network blip), so a started run goes on with no page following it for DETACHED_SECONDS, long enough
for a reloaded tab of the same browser to find it again (Runs.attach), and then stops itself, keeping its best image
for RUN_KEEP_SECONDS. Runs still take turns: the next run waits for such a run's thread (Runs.claim)."""
from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from keras_style.apps.options import SERVE_PROGRAM
from keras_style.config.settings import Settings
from keras_style.errors import Interrupted, UserError, first_line
from keras_style.files.images import load_image
from keras_style.run.estimate import (
    EARLY_STOP_SHARE,
    Estimate,
    estimate_run,
    fit_pace,
    measure_pace,
    record_points,
    stop_share,
)
from keras_style.run.loading import Prepared
from keras_style.run.monitor import Progress

# The fields the page offers (besides the preset): the settings a person adjusts most, in words a person uses. This is
# the page's one list of them: page.py has a field for each, and the stylize API takes them in this order after
# content, style and preset. Two are the page's own, not settings: `quality` (QUALITY_LEVELS) and `style_strength` in
# doublings of the preset's style weight (the slider's scale: +1 is twice the style, -1 half), which become the
# settings' budget, early stop and --style-strength.
PAGE_SETTINGS = ("size", "iterations", "quality", "style_strength", "network", "preserve_colors", "seed")
# The fields that show a preset's values when it is picked: all but the seed, whose blank means a random start, and
# the quality, which stays as the person chose it.
PRESET_SETTINGS = tuple(name for name in PAGE_SETTINGS if name not in ("seed", "quality"))
# (share of the budget, factor on the early stop's threshold) per quality level: a draft shows the picture's layout and
# colours in about a third of the time, the final run is the preset's.
QUALITY_LEVELS = {"draft": (0.4, 2.0), "final": (1.0, 1.0)}
DEFAULT_QUALITY = "final"
# the slider's range in doublings: 2^3.3 is about 10x the preset's style, 2^-3.3 a tenth
STRENGTH_DOUBLINGS = 3.3
# The paces a server keeps per network and optimiser: the measuring run's and the latest runs' scales.
LEARNED_POINTS = 60
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
# A started run whose page went away (Gradio ended its event: the tab closed, reloaded or lost its connection) goes on
# this long with no page following it, so that a short network drop or a reload finds it running, then stops itself.
DETACHED_SECONDS = 60.0


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
    """The value of each field the page offers under `preset` (what the page shows when it is picked)."""
    settings = Settings.from_options(preset=preset)
    values = {name: getattr(settings, name) for name in PAGE_SETTINGS if name not in ("quality", "style_strength")}
    return {**values, "quality": DEFAULT_QUALITY, "style_strength": math.log2(settings.style_strength)}


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
    outer L-BFGS loop survives an untouched iteration count), the style strength in doublings, then the quality
    level, then the server's weights. UserError if invalid or above the server's limits."""
    shown = preset_values(preset)  # UserError for an unknown preset
    unknown = sorted(set(chosen) - set(PAGE_SETTINGS))
    if unknown:
        raise UserError(f"the page has no setting {', '.join(unknown)}")
    quality = chosen.get("quality") or DEFAULT_QUALITY
    if quality not in QUALITY_LEVELS:
        raise UserError(f"quality must be one of {', '.join(QUALITY_LEVELS)}, got {str(quality)[:40]!r}")
    changed = {name: _whole(value) for name, value in chosen.items()
               if name not in ("quality", "style_strength") and value is not None and value != shown[name]}
    doublings = chosen.get("style_strength")
    if doublings is not None and doublings != shown["style_strength"]:
        if not (isinstance(doublings, (int, float)) and abs(doublings) <= STRENGTH_DOUBLINGS + 1e-9):
            raise UserError(f"style strength must be within {STRENGTH_DOUBLINGS:g} doublings of the preset's, got "
                            f"{str(doublings)[:40]!r}")
        changed["style_strength"] = 2.0 ** doublings
    settings = quality_level(Settings.from_options(preset=preset, weights=weights, **changed), quality)
    if settings.size > limits.max_size:
        raise UserError(f"size {settings.size} px is above this server's limit of {limits.max_size} px "
                        "(keras-style serve --max-size)")
    if settings.evaluation_budget > limits.max_iterations:
        raise UserError(f"{settings.evaluation_budget} iterations are above this server's limit of "
                        f"{limits.max_iterations} (keras-style serve --max-iterations)")
    return settings


def quality_level(settings: Settings, quality: str) -> Settings:
    """`settings` at a quality level (QUALITY_LEVELS): a share of their budget (of the outer loop's rounds for the
    articles' restart loop) and the early stop's threshold raised, where they have one."""
    share, threshold = QUALITY_LEVELS[quality]
    if share == 1.0 and threshold == 1.0:
        return settings
    changed: dict[str, Any] = {}
    if settings.outer_iterations is not None:
        changed["outer_iterations"] = max(1, round(settings.outer_iterations * share))
    else:
        changed["iterations"] = max(1, round(settings.iterations * share))
    if settings.min_improvement:
        changed["min_improvement"] = settings.min_improvement * threshold
    return Settings.from_options(**{**settings.as_dict(), **changed})


def describe_quality(settings: Settings, quality: str) -> str:
    """What a quality level means for these settings, in words (the page says which was used)."""
    stop = (f", stopping each size once its loss falls less than {settings.min_improvement:.0%} over "
            f"{settings.patience} evaluations" if settings.min_improvement else "")
    return f"{quality}: {settings.evaluation_budget} evaluations at most{stop}"


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

    The page calls request_stop() (Stop), and a run no page has followed for DETACHED_SECONDS stops itself: the next
    evaluation's callback returns True, so the run keeps its best image as Ctrl-C does on the command line."""

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
        self._followers = 0  # the page events showing it now (Runs counts them under its lock)
        self._unfollowed_at: float | None = None  # when the last one ended (time.monotonic)
        self._detached = False  # it stopped itself: no page followed it for DETACHED_SECONDS

    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def finished(self) -> bool:
        with self._lock:
            return self._state in FINISHED

    @property
    def followed(self) -> bool:
        with self._lock:
            return self._followers > 0

    def follow(self) -> None:
        with self._lock:
            self._followers += 1

    def unfollow(self) -> None:
        with self._lock:
            self._followers = max(0, self._followers - 1)
            if self._followers == 0:
                self._unfollowed_at = time.monotonic()

    def _left_alone(self, now: float) -> bool:
        """Whether no page has followed it for DETACHED_SECONDS (under the lock)."""
        return (self._followers == 0 and self._unfollowed_at is not None
                and now - self._unfollowed_at > DETACHED_SECONDS)

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def request_stop(self) -> None:
        self._stop.set()
        self._changed.set()

    def fail(self, message: str, state: str = FAILED) -> None:
        """End the run before it started (bad input, stopped while waiting) with a one-line message."""
        self._finish(state, message)

    def start(self, content: Image.Image, style: Image.Image, settings: Settings, prepared: Prepared,
              note: str = "", on_result: Callable[[Any], None] | None = None) -> None:
        """Optimise in a worker thread (a daemon: a server that exits does not wait for a run); nothing if the run
        has already ended (its page closed meanwhile). `note` begins its final message (the quality level used);
        `on_result` gets the finished run's StyleResult (the server's Speeds learn from it)."""
        with self._lock:
            if self._state in FINISHED:
                return
            self._state = STARTING
            self._note, self._on_result = note, on_result
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
        """The stylize_result callback: keep the event (and now and then the best image); True asks to stop (Stop,
        or no page followed it for DETACHED_SECONDS)."""
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
            if not self._stop.is_set() and self._left_alone(now):
                self._detached = True
                self._stop.set()
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
                why = f" (no page followed it for {DETACHED_SECONDS:g} s)" if self._detached else ""
                message = f"stopped after {result.evaluations} evaluations{why}: the best image so far is kept"
                self._finish(STOPPED, message, files, result.image)
            else:
                ended = ", stopped early: the picture stopped changing" if result.stopped == "converged" else ""
                message = (f"done: {result.evaluations} evaluations in {result.seconds:.1f} s{ended}, final loss "
                           f"{result.losses['final']['total']:.4g}" + (f" ({self._note})" if self._note else ""))
                if self._on_result is not None:
                    self._on_result(result)
                self._finish(DONE, message, files, result.image)


class Runs:
    """Each browser session's current run, and each browser's latest run: Stop reaches its own session's run and no
    other, and a reloaded tab (a new session, the same browser) finds its browser's run again.

    A session holds a run from Start (begin) until the event that shows it ends (end); a browser holds its latest run
    until that run's folder is pruned. The browser ids are random tokens the page keeps in the browser's localStorage.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._by_session: dict[str, Run] = {}
        self._by_browser: dict[str, Run] = {}
        self._running: Run | None = None  # the run that holds the run slot (its thread may still run)

    def begin(self, session: str, browser: str | None = None) -> Run:
        """A fresh run for the session (Start was pressed: it waits in the queue until its turn). The browser's
        previous run, if it started and no page follows it any more, is asked to stop: the person has moved on (a
        run of another tab of the browser, waiting or followed, goes on)."""
        return self._new(session, browser, follow=False)

    def _new(self, session: str, browser: str | None, follow: bool) -> Run:
        self.prune()
        run = Run(Path(tempfile.mkdtemp(prefix="run-", dir=self.folder)))
        with self._lock:
            if follow:  # under the lock, so that closed() never sees it unfollowed
                run.follow()
            previous = self._by_session.get(session)
            self._by_session[session] = run
            left = self._by_browser.get(browser) if browser else None
            if browser:
                self._by_browser[browser] = run
        if previous is not None and not previous.started:
            previous.fail("replaced by a newer start", STOPPED)
        if left is not None and left is not previous and left.started and not left.followed:
            left.request_stop()
        return run

    def take(self, session: str) -> Run:
        """The run a stylize event shows, followed until end(): the session's run that has not started yet (from
        begin), else a fresh one (a client of the API)."""
        with self._lock:
            run = self._by_session.get(session)
            if run is not None and not run.started and not run.finished:
                run.follow()
                return run
        return self._new(session, None, follow=True)

    def attach(self, session: str, browser: str) -> Run | None:
        """On a page load: the browser's latest run while its folder is kept, followed by this session until end()
        (its Stop reaches it while it runs); None when the browser has none."""
        with self._lock:
            run = self._by_browser.get(browser)
            if run is None or not run.started or not run.folder.is_dir():
                return None
            run.follow()
            if not run.finished:
                self._by_session[session] = run
        return run

    def claim(self, run: Run) -> bool:
        """Give `run` the run slot unless another run's thread still runs (one whose page went away goes on for up
        to DETACHED_SECONDS while Gradio's queue has moved on); False: wait and claim again."""
        with self._lock:
            holder = self._running
            if holder is not None and holder is not run and holder.alive:
                return False
            self._running = run
            return True

    def end(self, session: str, run: Run) -> None:
        """The event that showed `run` ended: its run finished, or Gradio ended the event because its page went away
        (the run then goes on, DETACHED_SECONDS at most unless a reloaded page follows it again). A run that never
        started ends here, and its empty folder goes. Never waits: Gradio closes an event on its event loop."""
        with self._lock:
            run.unfollow()
            if self._by_session.get(session) is run:
                del self._by_session[session]
        self._drop_unstarted(run, "its page went away before it started")

    def closed(self, session: str) -> None:
        """Gradio's unload: the session's page is gone (or its heartbeat dropped). A run that waits for its turn with
        no event following it leaves the session, and its browser, at once: Gradio drops a closed page's queued
        event, so nothing would ever take it. A run an event follows is left to that event (end())."""
        with self._lock:
            run = self._by_session.get(session)
            if run is None or run.followed:
                return
            del self._by_session[session]
            for browser in [browser for browser, held in self._by_browser.items() if held is run]:
                del self._by_browser[browser]
        self._drop_unstarted(run, "its page closed before it started")

    @staticmethod
    def _drop_unstarted(run: Run, message: str) -> None:
        if run.started or run.followed:
            return
        if not run.finished:
            run.fail(message, STOPPED)
        shutil.rmtree(run.folder, ignore_errors=True)  # nothing was written there

    def prune(self, now: float | None = None) -> list[Path]:
        """Remove the folders of runs that no session holds any more, that do not hold the run slot and that have
        not changed for RUN_KEEP_SECONDS; the folders removed."""
        now = time.time() if now is None else now
        with self._lock:
            held = {run.folder.resolve() for run in self._by_session.values()}
            if self._running is not None and self._running.alive:
                held.add(self._running.folder.resolve())
        removed = []
        for folder in self.folder.glob("run-*"):
            try:
                changed = max([folder.stat().st_mtime] + [item.stat().st_mtime for item in folder.iterdir()])
            except OSError:
                continue
            if folder.resolve() not in held and now - changed > RUN_KEEP_SECONDS:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        with self._lock:  # a browser keeps its run only as long as the run's folder
            for browser in [browser for browser, run in self._by_browser.items() if not run.folder.is_dir()]:
                del self._by_browser[browser]
        return removed

    def stop(self, session: str) -> bool:
        """Ask the session's run to stop; False when it has none."""
        with self._lock:
            run = self._by_session.get(session)
        if run is None:
            return False
        run.request_stop()
        return True

    def stop_all(self, timeout: float = STOP_SECONDS) -> bool:
        """Ask every run to stop (those no page follows too) and wait for their threads (a run stops at its next
        evaluation); False when one is still running after `timeout` seconds, so that its folder must not be
        removed under it."""
        with self._lock:
            runs = {*self._by_session.values(), *self._by_browser.values()}
            if self._running is not None:
                runs.add(self._running)
        for run in runs:
            run.request_stop()
        deadline = time.monotonic() + timeout
        for run in runs:
            run.join(timeout=max(0.0, deadline - time.monotonic()))
        return not any(run.alive for run in runs)


class Speeds:
    """This server's measured pace per network and optimiser (run/estimate.py): measured by a short run the first
    time a page asks for an estimate under those settings (in a thread, so the page goes on), and corrected by every
    finished run's scale records. The model's build counts in an estimate until a run of that network has built it."""

    def __init__(self, weights: str) -> None:
        self.weights = weights
        self._lock = threading.Lock()
        self._points: dict[tuple, list[tuple[int, float]]] = {}
        self._first_pass: dict[tuple, float] = {}
        self._built: dict[str, float] = {}  # network -> the seconds its build took (0: built before measuring)
        self._measuring: dict[tuple, threading.Event] = {}
        self._share = EARLY_STOP_SHARE  # of its evaluations, the output size's with an early stop (the last run's)
        self.failure = ""

    @staticmethod
    def key(settings: Settings) -> tuple:
        """What changes an evaluation's cost: the network, the optimiser, the precision, the target source."""
        return settings.network, settings.optimizer, settings.precision, settings.mode

    def estimate(self, settings: Settings, content_size: tuple[int, int], wait: float = 0.0) -> Estimate | None:
        """The estimate of a run of `settings` on a content of `content_size`; None while this machine's pace is being
        measured (after waiting up to `wait` seconds for it)."""
        key = self.key(settings)
        with self._lock:
            measured = self._measuring.get(key)
            if measured is None:
                measured = self._measuring[key] = threading.Event()
                threading.Thread(target=self._measure, args=(settings, key, measured), name="keras-style-pace",
                                 daemon=True).start()
        if not measured.wait(wait):
            return None
        with self._lock:
            points, first_pass, share = list(self._points.get(key, ())), self._first_pass.get(key, 0.0), self._share
            startup = self._built.get(settings.network, 0.0)
        if not points:
            return None
        return estimate_run(settings, content_size, fit_pace(points, first_pass), startup, share)

    def _measure(self, settings: Settings, key: tuple, done: threading.Event) -> None:
        try:
            if "keras" not in sys.modules:
                from keras_style.engine.backend import import_backend_quietly

                import_backend_quietly()
            measured = measure_pace(Settings.from_options(**{**settings.as_dict(), "weights": self.weights}))
            with self._lock:
                self._points.setdefault(key, []).extend(measured.points)
                self._first_pass.setdefault(key, measured.first_pass)
                self._built.setdefault(settings.network, measured.build_seconds)
        except Exception as error:  # the page says it has no estimate; runs go on
            self.failure = f"{type(error).__name__}: {first_line(error)}"
        finally:
            done.set()

    def learn(self, settings: Settings, result: Any) -> None:
        """A finished run: its scales' paces join the measured ones; its network is built; with an early stop, the
        share of its evaluations the output size spent becomes the next estimates' share."""
        points, extra = record_points(result.scales)
        with self._lock:
            key = self.key(settings)
            self._points[key] = (self._points.get(key, []) + points)[-LEARNED_POINTS:]
            if extra:
                self._first_pass[key] = float(np.median(extra))
            self._built[settings.network] = 0.0
            share = stop_share(result.scales, settings) if settings.min_improvement else None
            if share is not None and not result.interrupted:
                self._share = share
