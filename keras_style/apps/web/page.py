"""The Gradio page: uploads, the settings a person adjusts most, Start and Stop, the live preview, progress and loss
curve, and the downloads. It draws what runs.Run reports; it never reads a path the browser names, runs a shell or
executes text from the page (every text it shows is HTML-escaped)."""
from __future__ import annotations

import html
import inspect
import math
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from keras_style.apps.web.runs import (
    DEFAULT_QUALITY,
    FAILED,
    PAGE_SETTINGS,
    PRESET_SETTINGS,
    QUALITY_LEVELS,
    QUEUED,
    STARTING,
    STOPPED,
    STRENGTH_DOUBLINGS,
    Limits,
    Run,
    Runs,
    Snapshot,
    Speeds,
    check_output_size,
    describe_quality,
    load_upload,
    parse_seed,
    preset_values,
    run_settings,
)
from keras_style.config.choices import PRESERVE_COLORS
from keras_style.config.presets import DEFAULT_PRESET, PRESETS
from keras_style.config.settings import NETWORKS
from keras_style.errors import UserError, first_line
from keras_style.run.estimate import Estimate, describe
from keras_style.run.loading import prepare
from keras_style.run.monitor import TERMS

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"  # the checkout's, beside keras_style/
DEMO_PAIR = (EXAMPLES / "content.jpg", EXAMPLES / "style.jpg")  # present in a source checkout, not in a wheel
THUMBNAIL = 320  # px: the uploads are shown this small
PREVIEW = 768  # px: the preview's longest side at most (the download has the full size)
# The page updates at most this often: each update of the preview is an image file in Gradio's cache.
UPDATE_SECONDS = 0.25
CURVE_POINTS = 200
# What a run updates on the page, in the order stylize (and _updates) yields them.
RESULTS = ("preview", "progress", "curve", "downloads", "message")
# The fields the estimate depends on, in the order PageEvents.estimate takes them after the content and the preset
# (not the colours or the seed: they change no evaluation's cost).
ESTIMATE_FIELDS = ("size", "iterations", "quality", "style_strength", "network")
ESTIMATE_SHAPE = (1024, 768)  # (width, height) assumed before a photograph is chosen: only its shape matters
# How long an estimate waits for this machine's pace to be measured (the first time: the network's build and a few
# small evaluations) before it says it is measuring; a page load or any change asks again.
ESTIMATE_WAIT_SECONDS = 60.0

CSS = """
.ks-message { margin: 0; font-weight: 600; }
.ks-error { color: #b91c1c; }
.ks-progress progress { width: 100%; height: 1.1em; }
.ks-terms { font-variant-numeric: tabular-nums; font-size: 0.9em; }
.ks-curve svg { width: 100%; max-width: 360px; height: auto; }
.ks-estimate { margin: 0.2em 0; }
.ks-strength { margin: 0; font-size: 0.9em; }
#preview img { width: 100%; height: 100%; object-fit: contain; }
"""


@dataclass(frozen=True)
class PageOptions:
    """What the server tells the page: its limits and the weights every run uses (--weights)."""

    limits: Limits
    weights: str
    uploads: Path  # Gradio's upload folder, inside the server's temporary folder
    runs: Path  # where results go, inside it too
    speeds: Speeds  # this machine's measured pace, for the estimates


# (how often, seconds; older than, seconds): Gradio's delete_cache for its uploads and the previews it serves
GRADIO_CACHE_CLEANUP = (600, 3600)


def _session(request: gr.Request | None) -> str:
    return (request.session_hash if request is not None else None) or "no-session"


# A browser's id: a random token the page keeps in the browser's localStorage (gr.BrowserState), so that a reloaded
# tab, a new Gradio session, finds its browser's run again. Anything else the browser sends is replaced.
BROWSER_ID = re.compile(r"[A-Za-z0-9_-]{22,64}")


def _browser(value: Any) -> str | None:
    return value if isinstance(value, str) and BROWSER_ID.fullmatch(value) else None


def message_html(text: str, error: bool = False) -> str:
    if not text:
        return ""
    css = "ks-message ks-error" if error else "ks-message"
    return f'<p class="{css}" data-error="{str(error).lower()}">{html.escape(text)}</p>'


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "estimating"
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def estimate_html(estimate: Estimate | None, text: str) -> str:
    """The estimate line; its data-* attributes give the seconds (likely, low, high) for tests and scripts."""
    if estimate is None:
        return f'<p class="ks-estimate" data-state="none">{html.escape(text)}</p>'
    return (f'<p class="ks-estimate" data-state="ready" data-likely="{estimate.likely:.1f}" '
            f'data-low="{estimate.low:.1f}" data-high="{estimate.high:.1f}">{html.escape(text)}</p>')


def picture_size(path: str | None, uploads: Path, limits: Limits) -> tuple[int, int] | None:
    """(width, height) of an accepted upload, read from its header (the estimate only needs the shape); None
    without one."""
    if not path:
        return None
    try:
        file = Path(path).resolve()
        if not file.is_relative_to(uploads.resolve()) or file.stat().st_size > limits.max_upload_bytes:
            return None
        with Image.open(file) as header:
            return header.size
    except Exception:  # not an image: the upload check says so
        return None


def progress_html(snapshot: Snapshot) -> str:
    """The progress bar: evaluations against the budget (never past it: no optimiser overspends), the loss terms,
    elapsed time and time left. Its data-* attributes say the same for tests and scripts."""
    if snapshot.state == QUEUED:
        return '<div class="ks-progress" data-state="queued">Waiting to start...</div>'
    if snapshot.state == STARTING or (snapshot.evaluation == 0 and not snapshot.finished):
        return ('<div class="ks-progress" data-state="starting">Starting: loading the network (once per network) '
                'and computing the targets...</div>')
    if snapshot.evaluation == 0:
        return f'<div class="ks-progress" data-state="{snapshot.state}"></div>'
    # the total, the core terms (NaN until reported), then any other term the run has
    names = (*TERMS, *(name for name in snapshot.terms if name not in TERMS))
    terms = " · ".join(f"{name} {snapshot.terms.get(name, math.nan):.4g}" for name in names)
    return (
        f'<div class="ks-progress" data-state="{snapshot.state}" data-evaluation="{snapshot.evaluation}" '
        f'data-total="{snapshot.total}">'
        f'<progress value="{snapshot.evaluation}" max="{snapshot.total}"></progress>'
        f"<div>{snapshot.evaluation} / {snapshot.total} evaluations · {_duration(snapshot.elapsed)} elapsed · "
        f"{_duration(snapshot.seconds_left)} left</div>"
        f'<div class="ks-terms">{terms}</div></div>'
    )


def curve_html(totals: Sequence[float], width: int = 360, height: int = 120) -> str:
    """The total loss per evaluation on a log scale, as a small inline SVG (no plotting library in the page)."""
    values = np.asarray(totals, dtype=np.float64)
    keep = np.isfinite(values) & (values > 0)
    if keep.sum() < 2:
        return ""
    evaluations = np.flatnonzero(keep) + 1
    logs = np.log10(values[keep])
    if len(logs) > CURVE_POINTS:  # thin out long runs; the first and last points stay
        picked = np.unique(np.linspace(0, len(logs) - 1, CURVE_POINTS).round().astype(int))
        evaluations, logs = evaluations[picked], logs[picked]
    margin = 4
    low, high = float(logs.min()), float(logs.max())
    span = high - low or 1.0
    first, last = int(evaluations[0]), int(evaluations[-1])
    xs = margin + (evaluations - first) / max(1, last - first) * (width - 2 * margin)
    ys = margin + (high - logs) / span * (height - 2 * margin)
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
    return (
        f'<div class="ks-curve" data-points="{len(xs)}"><svg viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="total loss per evaluation, log scale">'
        f'<rect width="{width}" height="{height}" fill="none" stroke="#d1d5db"/>'
        f'<polyline points="{points}" fill="none" stroke="#2563eb" stroke-width="1.5"/></svg>'
        f"<div>total loss, log scale: {values[keep][0]:.3g} → {values[keep][-1]:.3g} over {last} evaluations</div>"
        "</div>"
    )


def thumbnail(image: Image.Image | np.ndarray, side: int = THUMBNAIL) -> Image.Image:
    """A copy of `image` no larger than side x side (each shown image is a file in Gradio's cache)."""
    shown = Image.fromarray(image) if isinstance(image, np.ndarray) else image.copy()
    shown.thumbnail((side, side))
    return shown


def build_page(options: PageOptions, runs: Runs) -> gr.Blocks:
    """The page: its layout (page_layout) and its events (PageEvents, wired by connect). Runs take turns (concurrency
    1 in the queue): a second Start waits, and Gradio shows its place in the queue; the quick events (checks, Stop)
    never wait behind a run."""
    # Gradio's own cache (uploads, previews): files older than an hour are removed every 10 minutes
    with gr.Blocks(title="keras-style", delete_cache=GRADIO_CACHE_CLEANUP) as page:
        layout = page_layout(options.limits)
        connect(page, layout, PageEvents(options, runs))
    return page


# --- layout -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Layout:
    """The components the events read and write; `fields` has one per setting the page offers (runs.PAGE_SETTINGS),
    by its name."""

    content_file: gr.Image
    style_file: gr.Image
    preset: gr.Dropdown
    fields: dict[str, gr.components.Component]
    strength_shown: gr.HTML
    estimate: gr.HTML
    start: gr.Button
    stop: gr.Button
    message: gr.HTML
    preview: gr.Image
    progress: gr.HTML
    curve: gr.HTML
    downloads: gr.File
    browser: gr.BrowserState

    def settings(self, names: Sequence[str] = PAGE_SETTINGS) -> list[gr.components.Component]:
        """The fields for `names`, in that order (by default every one, in the order stylize takes them)."""
        return [self.fields[name] for name in names]

    @property
    def results(self) -> list[gr.components.Component]:
        """What a run updates, in the order PageEvents.stylize yields them (RESULTS)."""
        return [getattr(self, name) for name in RESULTS]


def page_layout(limits: Limits) -> Layout:
    """The page's components, top to bottom (called inside gr.Blocks): the two pictures, the settings, the estimate,
    Start and Stop, the message line, then the preview beside the progress, the loss curve and the downloads."""
    gr.Markdown(
        "# keras-style\nPaint a photograph in the style of a painting (Gatys et al., VGG in Keras 3): drop, paste or "
        "upload a photograph and a painting (or pick the demo pair), press Start, and watch the picture appear. "
        f"Uploads up to {limits.max_upload_mb:g} MB, results up to {limits.max_size} px. Runs take turns: "
        "a second Start waits in the queue."
    )
    content_file, style_file = _uploads()
    preset, fields, strength_shown = _settings(limits)
    estimate = gr.HTML(elem_id="estimate")
    with gr.Row():
        start = gr.Button("Start", variant="primary", elem_id="start")
        stop = gr.Button("Stop", variant="stop", elem_id="stop")
    message = gr.HTML(elem_id="message")
    with gr.Row():
        preview = gr.Image(label="Best image so far", interactive=False, format="jpeg", height=420, elem_id="preview")
        with gr.Column():
            progress = gr.HTML(elem_id="progress")
            curve = gr.HTML(elem_id="curve")
            downloads = gr.File(label="Download: the PNG and its JSON sidecar", file_count="multiple",
                                interactive=False, elem_id="downloads")
    browser = gr.BrowserState("")  # this browser's id (BROWSER_ID), kept in its localStorage
    return Layout(content_file, style_file, preset, fields, strength_shown, estimate, start, stop, message, preview,
                  progress, curve, downloads, browser)


def picture_box(label: str, elem_id: str) -> gr.Image:
    """One box per picture: an upload, a drop or a paste shows the picture in the box itself. Its event gets the
    uploaded file's path untouched: the server's own checks (runs.load_upload: its folder, its size, its pixels before
    decoding) come first, where Gradio's image input would decode it. (The instance's preprocess is replaced rather
    than the class subclassed: Gradio writes a .pyi file beside the module of every component subclass.)"""
    box = gr.Image(label=label, type="filepath", sources=["upload", "clipboard"], height=260, elem_id=elem_id)
    decode = box.preprocess

    def uploaded_path(payload):
        if payload is None or (payload.url and payload.url.startswith("data:")):
            return decode(payload)  # a pasted picture may come as data: Gradio writes it to a file
        return payload.path

    box.preprocess = uploaded_path
    return box


def _uploads() -> tuple[gr.Image, gr.Image]:
    """The content and style boxes, and the demo pair where the checkout has it."""
    with gr.Row():
        content_file = picture_box("Photograph (the content): drop, paste or click to upload", "content-upload")
        style_file = picture_box("Painting (the style): drop, paste or click to upload", "style-upload")
    if all(path.is_file() for path in DEMO_PAIR):
        gr.Examples([[str(path) for path in DEMO_PAIR]], inputs=[content_file, style_file], label="Demo pair",
                    elem_id="demo-pair")
    return content_file, style_file


def strength_html(doublings: float | None) -> str:
    """The style strength slider's value as the person reads it: times the preset's style."""
    factor = 2.0 ** (doublings or 0.0)
    words = "the preset's balance" if abs(factor - 1.0) < 1e-9 else f"{factor:.2g}x the preset's style"
    return f'<p class="ks-strength" data-factor="{factor:.6g}">Style strength: {words}</p>'


def _settings(limits: Limits) -> tuple[gr.Dropdown, dict[str, gr.components.Component], gr.HTML]:
    """The preset, and a field for each setting the page offers (runs.PAGE_SETTINGS), showing the default preset's
    values; the line that says the style strength in words."""
    defaults = preset_values(DEFAULT_PRESET)
    fields: dict[str, gr.components.Component] = {}
    with gr.Row():
        preset = gr.Dropdown(list(PRESETS), value=DEFAULT_PRESET, label="Preset", elem_id="preset",
                             info=f"{DEFAULT_PRESET} paints like jcjohnson/neural-style; the others reproduce the "
                                  "paper, an article or the Keras example")
        fields["quality"] = gr.Radio(list(QUALITY_LEVELS), value=DEFAULT_QUALITY, label="Quality", elem_id="quality",
                                     info="draft: about a third of the time, to try a pair; final: the preset's")
        fields["style_strength"] = gr.Slider(
            -STRENGTH_DOUBLINGS, STRENGTH_DOUBLINGS, value=defaults["style_strength"], step=0.1,
            label="Style strength", elem_id="style-strength",
            info="0: the preset's balance of photograph and painting; +1: twice the style; -1: half")
    strength_shown = gr.HTML(strength_html(defaults["style_strength"]), elem_id="strength-shown")
    with gr.Row():
        # No minimum or maximum on the fields: the run checks them and says what is wrong in the message line.
        fields["size"] = gr.Number(min(defaults["size"], limits.max_size), label=f"Size (px, up to {limits.max_size})",
                                   precision=0, elem_id="size", info="the result's longest side")
        fields["iterations"] = gr.Number(defaults["iterations"], label="Iterations (evaluations)", precision=0,
                                         elem_id="iterations", info="the most the run may spend")
        fields["network"] = gr.Dropdown(list(NETWORKS), value=defaults["network"], label="Network", elem_id="network")
        fields["preserve_colors"] = gr.Dropdown(list(PRESERVE_COLORS), value=defaults["preserve_colors"],
                                                label="Preserve colours", elem_id="preserve-colors",
                                                info="keep the photograph's colours instead of the painting's")
        # A text field: a number field shows 0 when empty, and blank must mean a random start.
        fields["seed"] = gr.Textbox("", label="Seed (blank: random)", placeholder="random", max_lines=1,
                                    elem_id="seed")
    if sorted(fields) != sorted(PAGE_SETTINGS):
        raise RuntimeError(f"the page's fields {sorted(fields)} are not runs.PAGE_SETTINGS {sorted(PAGE_SETTINGS)}")
    return preset, fields, strength_shown


def connect(page: gr.Blocks, layout: Layout, events: PageEvents) -> None:
    """The page's events (called inside gr.Blocks). Start, then the run in the queue (one at a time), then Start
    again; the quick events (preset, uploads, Stop) never wait behind a run."""
    quick = dict(concurrency_limit=None, api_visibility="undocumented")
    layout.preset.change(events.show_preset, layout.preset, layout.settings(PRESET_SETTINGS), **quick)
    # One listener for both uploads, always run last with both current values: picking the demo pair changes both
    # at once, and the message must describe the final pair.
    # the checks decode images: one at a time, so that many tabs uploading at once cannot add up their memory
    gr.on([layout.content_file.change, layout.style_file.change], events.check_uploads,
          [layout.content_file, layout.style_file], [layout.content_file, layout.style_file, layout.message],
          show_progress="hidden", trigger_mode="always_last", concurrency_limit=1, concurrency_id="checks",
          api_visibility="undocumented")
    layout.fields["style_strength"].change(strength_html, layout.fields["style_strength"], layout.strength_shown,
                                           show_progress="hidden", **quick)
    # the wait, before Start: again whenever what it depends on changes (the picture's shape, the size, the budget,
    # the quality, the preset, the network); the first one may wait for this machine's pace to be measured
    estimated = [layout.content_file, layout.preset, *layout.settings(ESTIMATE_FIELDS)]
    gr.on([page.load, layout.content_file.change, layout.preset.change,
           *(field.change for field in layout.settings(ESTIMATE_FIELDS))], events.estimate, estimated,
          layout.estimate, show_progress="hidden", trigger_mode="always_last", concurrency_limit=None,
          api_visibility="undocumented")
    (
        layout.start.click(events.begin, layout.browser, [layout.start, layout.progress, layout.curve,
                                                          layout.downloads, layout.message], show_progress="hidden",
                           **quick)
        .then(events.stylize, [layout.content_file, layout.style_file, layout.preset, *layout.settings()],
              layout.results, api_name="stylize", concurrency_limit=1, concurrency_id="stylize",
              show_progress="minimal", show_progress_on=layout.progress)
        .then(lambda: gr.Button(interactive=True), None, layout.start, show_progress="hidden", **quick)
    )
    layout.stop.click(events.stop, None, None, api_name="stop", concurrency_limit=None, show_progress="hidden")
    # a page load finds its browser's run again (a reload, or a tab whose connection dropped, reopened)
    page.load(events.reattach, layout.browser, [layout.browser, layout.start, *layout.results], show_progress="hidden",
              concurrency_limit=None, api_visibility="private")
    page.unload(events.closed)


# --- run logic --------------------------------------------------------------------------------------------------

def _named_values(handler: Callable[..., Any], names: Sequence[str]) -> inspect.Signature:
    """`handler`'s signature with its *values spelled out, one parameter per name: Gradio names the API's parameters
    after the function's (client.predict(size=...) and the API page), and places gr.Request by its position."""
    signature = inspect.signature(handler)
    fixed = [parameter for parameter in signature.parameters.values() if parameter.kind != parameter.VAR_POSITIONAL]
    named = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in names]
    return signature.replace(parameters=[*fixed, *named])


class PageEvents:
    """What the page's events do: check the uploads, show a preset's values, and start, follow and stop a run. Each
    browser session reaches its own run only (runs.Runs)."""

    def __init__(self, options: PageOptions, runs: Runs) -> None:
        self.options = options
        self.runs = runs

    def _check(self, path: str | None, what: str) -> str:
        """"" for an upload the server accepts (or none yet), else the one-line reason it is refused."""
        if not path:
            return ""
        try:
            load_upload(path, what, self.options.uploads, self.options.limits)
        except UserError as error:
            return first_line(error)
        return ""

    def check_uploads(self, content: str | None, style: str | None) -> tuple[Any, Any, str]:
        """Each box as it is, or emptied when its picture is refused; and the message line: the first refusal among
        both, so a good second picture does not hide what is wrong with the first; cleared once both are good (an
        emptied box leaves the message as it is)."""
        content_refusal = self._check(content, "content image")
        style_refusal = self._check(style, "style image")
        refusal = content_refusal or style_refusal
        if refusal:
            message = message_html(refusal, error=True)
        else:
            message = message_html("") if content and style else gr.skip()
        return (None if content_refusal else gr.skip(), None if style_refusal else gr.skip(), message)

    def estimate(self, content: str | None, preset: str, *values: Any) -> str:
        """The estimate line: how long a run of these settings takes on this machine (runs.Speeds), for the content's
        shape (4:3 before one is chosen)."""
        chosen = dict(zip(ESTIMATE_FIELDS, values, strict=True))
        try:
            settings = run_settings(preset, chosen, self.options.weights, self.options.limits)
        except UserError as error:
            return estimate_html(None, f"no estimate: {first_line(error)}")
        size = picture_size(content, self.options.uploads, self.options.limits) or ESTIMATE_SHAPE
        found = self.options.speeds.estimate(settings, size, wait=ESTIMATE_WAIT_SECONDS)
        if found is None:
            failure = self.options.speeds.failure
            return estimate_html(None, f"no estimate: {failure}" if failure else
                                 "measuring this machine's speed for an estimate...")
        return estimate_html(found, describe(found))

    def show_preset(self, preset: str) -> list[Any]:
        """The preset's values in the fields that follow it (runs.PRESET_SETTINGS); the size within the limit."""
        try:
            values = preset_values(preset)
        except UserError:
            return [gr.skip()] * len(PRESET_SETTINGS)
        values["size"] = min(values["size"], self.options.limits.max_size)
        return [values[name] for name in PRESET_SETTINGS]

    def begin(self, request: gr.Request, browser: Any) -> tuple[Any, ...]:
        """Start was pressed: a fresh run for this tab, waiting for its turn; Start is off until it ends."""
        self.runs.begin(_session(request), _browser(browser))
        return gr.Button(interactive=False), progress_html(Snapshot(QUEUED)), "", None, ""

    def stylize(self, request: gr.Request, content: str | None, style: str | None, preset: str,
                *values: Any) -> Iterator[tuple[Any, ...]]:
        """The run: check the inputs, start the worker, and send the page what changed, at most every
        UPDATE_SECONDS, until it ends. Outputs: preview, progress, curve, downloads, message."""
        # (This docstring is the API page's description of /stylize; `values` are the fields in PAGE_SETTINGS order.)
        session = _session(request)
        run = self.runs.take(session)
        try:
            yield from self._wait_for_turn(run)
            if run.stop_requested:
                run.fail("stopped before it started", STOPPED)
            else:
                self._start(run, content, style, preset, dict(zip(PAGE_SETTINGS, values, strict=True)))
            yield from _updates(run)
        finally:
            # The run has finished, or Gradio ended the event because its page went away: the run then goes on
            # without a page (runs.DETACHED_SECONDS) rather than stop at the first network drop.
            self.runs.end(session, run)

    stylize.__signature__ = _named_values(stylize, PAGE_SETTINGS)  # type: ignore[attr-defined]

    def _wait_for_turn(self, run: Run) -> Iterator[tuple[Any, ...]]:
        """Until `run` holds the run slot: Gradio's queue lets the next run in when a page goes away, while that
        page's run still goes on for a while (or until Stop)."""
        while not run.stop_requested and not self.runs.claim(run):
            yield (gr.skip(), progress_html(Snapshot(QUEUED)), gr.skip(), gr.skip(),
                   message_html("waiting for the previous run, whose page went away, to stop"))
            run.wait(UPDATE_SECONDS)

    def reattach(self, request: gr.Request, browser: Any) -> Iterator[tuple[Any, ...]]:
        """A page load: the browser's id (made on its first visit), and its latest run while that run's folder is
        kept, shown again until it ends (Start off meanwhile). Outputs: the id, Start, then as stylize's."""
        browser = _browser(browser) or secrets.token_urlsafe(24)
        session = _session(request)
        run = self.runs.attach(session, browser)
        if run is None:
            yield browser, gr.skip(), *[gr.skip()] * len(RESULTS)
            return
        try:
            for update in _updates(run):
                yield browser, gr.Button(interactive=run.finished), *update
        finally:
            self.runs.end(session, run)

    def _start(self, run: Run, content: str | None, style: str | None, preset: str, chosen: dict[str, Any]) -> None:
        """Check the uploads and the settings and start the run's worker; a refusal (or a bug) fails the run with one
        line for the page."""
        limits = self.options.limits
        try:
            content_image = load_upload(content, "content image", self.options.uploads, limits)
            style_image = load_upload(style, "style image", self.options.uploads, limits)
            chosen["seed"] = parse_seed(chosen["seed"])
            settings = run_settings(preset, chosen, self.options.weights, limits)
            prepared = prepare(content_image, style_image, settings)
            check_output_size(prepared, limits)
            speeds = self.options.speeds
            run.start(content_image, style_image, settings, prepared,
                      note=describe_quality(settings, chosen.get("quality") or DEFAULT_QUALITY),
                      on_result=lambda result: speeds.learn(settings, result))
        except UserError as error:
            run.fail(first_line(error))
        except Exception as error:  # a bug: one line on the page, the server goes on
            run.fail(f"internal error: {type(error).__name__}: {first_line(error)}")

    def stop(self, request: gr.Request) -> None:
        self.runs.stop(_session(request))

    def closed(self, request: gr.Request) -> None:
        """Gradio's unload (the tab closed, or its heartbeat dropped): a run still waiting for its turn leaves; a
        started run is not stopped here (it goes on while a page follows it, runs.DETACHED_SECONDS without)."""
        self.runs.closed(_session(request))


def _updates(run: Run) -> Iterator[tuple[Any, ...]]:
    """What the page shows of `run` (preview, progress, curve, downloads, message) each time it reports something
    new, at most every UPDATE_SECONDS, until it has finished."""
    shown_preview = None
    while True:
        snapshot = run.snapshot()
        preview = gr.skip()
        if snapshot.preview is not None and snapshot.preview is not shown_preview:
            shown_preview = snapshot.preview
            preview = thumbnail(shown_preview, PREVIEW)
        files = [str(path) for path in snapshot.files] if snapshot.finished else None
        message = message_html(snapshot.message, error=snapshot.state == FAILED)
        yield preview, progress_html(snapshot), curve_html(snapshot.totals), files, message
        if snapshot.finished:
            return
        run.wait(UPDATE_SECONDS)
