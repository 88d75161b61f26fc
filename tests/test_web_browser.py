"""The web page in a real browser: Debian's chromium, headless, driven by Playwright's sync API. One server per
module, in this process, with the real weights; 64 px runs.

Playwright's own browser download is unreachable here, so the tests launch the chromium on PATH (Debian's package:
apt-get install chromium). Without it they skip, saying so, except in CI (CI set), where they fail.

KERAS_STYLE_SCREENSHOT=examples/web_page.png also saves the page after the first test's finished run (the README's
picture, made with the default preset); that run is then 256 px and 40 iterations, so the picture shows more than
a thumbnail."""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
from pathlib import Path

import pytest
from PIL import Image

from keras_style.config.presets import DEFAULT_PRESET
from keras_style.config.settings import Settings

from .conftest import CONTENT, STYLE, require

# Gradio's queue uses pandas options that pandas 3 deprecates: not this project's warnings.
pytestmark = [pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]
SCREENSHOT = os.environ.get("KERAS_STYLE_SCREENSHOT")
SIZE, ITERATIONS = (256, 40) if SCREENSHOT else (64, 5)
SCREENSHOT_WIDTH = 1200
TIMEOUT_MS = 90_000  # the first run loads TensorFlow and builds VGG19 from the real weights


def _missing(what: str) -> None:
    message = f"the browser tests need {what}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must run them: .ci/run installs chromium)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def chromium() -> str:
    """The path of Debian's chromium."""
    path = shutil.which("chromium")
    if path is None:
        _missing("Debian's chromium on PATH (apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def browser(chromium):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing('Playwright for Python (pip install -e ".[test]")')
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def served(real_weights, tmp_path_factory):
    require("gradio", "the web page needs the [web] extra (gradio)")
    from keras_style.apps.web.server import Server, ServerOptions

    tmp_path_factory.getbasetemp()  # pytest's folder, before the server points the temp folder into its own

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Server(ServerOptions(port=port, weights="imagenet")) as server:
        yield server


@pytest.fixture
def open_page(browser, served):
    """open_page() -> a fresh tab on the page (each tab is its own Gradio session)."""
    contexts = []

    def open_page():
        context = browser.new_context(accept_downloads=True, viewport={"width": SCREENSHOT_WIDTH, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.goto(served.url)
        page.wait_for_selector("#start")
        return page

    yield open_page
    for context in contexts:
        context.close()


def upload(page, content: Path, style: Path) -> None:
    page.set_input_files("#content-upload input[type=file]", str(content))
    page.set_input_files("#style-upload input[type=file]", str(style))
    page.wait_for_selector("#content-upload img")
    page.wait_for_selector("#style-upload img")


def pick_demo_pair(page) -> None:
    page.click("#demo-pair [data-testid='dataset-cell-0-0']")
    page.wait_for_selector("#content-upload img")
    page.wait_for_selector("#style-upload img")


# A file dropped on a box as a person drags it from their files: dragenter, dragover and drop with the file in the
# event's DataTransfer, on the box's drop area (the element that holds its file input).
DROP = """async ([selector, data, name]) => {
    const bytes = Uint8Array.from(atob(data), character => character.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], name, {type: 'image/jpeg'}));
    const area = document.querySelector(selector + ' input[type=file]').parentElement;
    for (const type of ['dragenter', 'dragover', 'drop'])
        area.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: transfer}));
}"""


def drop(page, selector: str, path: Path) -> None:
    page.evaluate(DROP, [selector, base64.b64encode(path.read_bytes()).decode("ascii"), path.name])


def set_fields(page, size: int, iterations: int) -> None:
    page.fill("#size input", str(size))
    page.fill("#iterations input", str(iterations))
    page.fill("#seed input", "1")


def wait_for_state(page, *states: str) -> dict[str, str]:
    """Wait until the progress block is in one of `states`; its data-* attributes."""
    selector = ", ".join(f"#progress .ks-progress[data-state='{state}']" for state in states)
    block = page.wait_for_selector(selector)
    return {name: block.get_attribute(f"data-{name}") for name in ("state", "evaluation", "total")}


def message(page) -> str:
    """The message line's text (not the event's timer Gradio may draw over it while an event is pending)."""
    shown = page.locator("#message .ks-message")
    return shown.inner_text().strip() if shown.count() else ""


def download(page, suffix: str, folder: Path) -> Path:
    with page.expect_download() as started:
        page.click(f"#downloads a[download$='{suffix}']")
    path = folder / started.value.suggested_filename
    started.value.save_as(path)
    return path


def downloaded_result(page, folder: Path) -> tuple[Image.Image, dict]:
    picture, sidecar = download(page, ".png", folder), download(page, ".json", folder)
    image = Image.open(picture)
    image.load()
    return image, json.loads(sidecar.read_text())


WATCH_PREVIEWS = """() => {
    window.previews = [];
    const record = () => {
        const image = document.querySelector('#preview img');
        if (image && image.src && window.previews[window.previews.length - 1] !== image.src)
            window.previews.push(image.src);
    };
    new MutationObserver(record).observe(document.querySelector('#preview'),
                                         {subtree: true, childList: true, attributes: true});
}"""


def save_screenshot(page, path: Path) -> None:
    """The page at 1200 px wide, a PNG with its palette reduced (or a JPEG), small enough for the README."""
    page.screenshot(path=str(path.with_suffix(".raw.png")), full_page=True)
    with Image.open(path.with_suffix(".raw.png")) as shot:
        shot = shot.convert("RGB")
        if path.suffix.lower() in (".jpg", ".jpeg"):
            shot.save(path, quality=82, optimize=True, progressive=True)
        else:
            shot.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
                path, optimize=True)
    path.with_suffix(".raw.png").unlink()


def test_a_run_from_upload_to_download(open_page, tmp_path):
    page = open_page()
    upload(page, CONTENT, STYLE)
    set_fields(page, SIZE, ITERATIONS)
    page.evaluate(WATCH_PREVIEWS)
    page.click("#start")
    progress = wait_for_state(page, "done", "failed", "stopped")
    assert progress["state"] == "done", message(page)
    assert int(progress["total"]) == ITERATIONS and int(progress["evaluation"]) >= ITERATIONS
    bar = page.locator("#progress progress")
    assert bar.get_attribute("value") == bar.get_attribute("max") == str(ITERATIONS)  # the bar reached its end
    text = page.locator("#progress").inner_text()
    for shown in ("total", "content", "style", "tv", "elapsed", "left"):
        assert shown in text, text
    assert int(page.locator("#curve .ks-curve").get_attribute("data-points")) >= 2
    assert page.locator("#curve svg polyline").count() == 1
    previews = page.evaluate("window.previews")
    assert len(set(previews)) >= 2, previews  # the preview changed during the run
    assert message(page).startswith("done: ")

    image, record = downloaded_result(page, tmp_path)
    assert image.format == "PNG" and image.mode == "RGB" and max(image.size) == SIZE
    assert record["settings"]["size"] == SIZE and record["settings"]["iterations"] == ITERATIONS
    assert record["settings"]["seed"] == 1 and record["settings"]["weights"] == "imagenet"
    assert record["settings"]["preset"] == DEFAULT_PRESET  # the page opens on the default (the screenshot shows it)
    # the style strength slider left at 1x (0 doublings): the preset's style weight
    assert record["term_weights"]["style"] == pytest.approx(Settings.from_options(preset=DEFAULT_PRESET).style_weight)
    assert record["interrupted"] is False and record["evaluations"] >= ITERATIONS
    assert record["sizes"]["output"] == list(image.size)
    if SCREENSHOT:
        save_screenshot(page, Path(SCREENSHOT))


def start_long_run(open_page, budget: int, evaluations: int):
    """A new page running the demo files at 64 px with `budget` evaluations, once it shows `evaluations` done."""
    page = open_page()
    upload(page, CONTENT, STYLE)
    set_fields(page, 64, budget)
    page.click("#start")
    page.wait_for_function(
        "() => Number(document.querySelector('#progress .ks-progress')?.dataset.evaluation || 0) "
        f">= {evaluations}")
    return page


def test_stop_keeps_the_best_image_and_a_second_tab_waits_its_turn(open_page, tmp_path):
    budget = 400
    first = start_long_run(open_page, budget, evaluations=10)

    second = open_page()  # another tab: its Start waits until the first run ends, and shows its place in the queue
    pick_demo_pair(second)
    set_fields(second, 64, 3)
    second.click("#start")
    second.wait_for_function("() => /queue: 1\\/1/.test(document.querySelector('#progress').innerText)")
    assert second.locator("#progress .ks-progress[data-evaluation]").count() == 0  # it has not started

    first.click("#stop")
    stopped = wait_for_state(first, "stopped", "done", "failed")
    assert stopped["state"] == "stopped", message(first)
    assert re.fullmatch(r"stopped after \d+ evaluations: the best image so far is kept", message(first))
    image, record = downloaded_result(first, tmp_path)
    assert max(image.size) == 64
    assert record["interrupted"] is True and record["stopped"] == "interrupted"
    assert 10 <= record["evaluations"] < budget == record["evaluation_budget"]
    assert record["losses"]["final"]["total"] < record["losses"]["initial"]["total"]

    assert wait_for_state(second, "done", "failed", "stopped")["state"] == "done", message(second)


def test_a_bad_upload_shows_one_line_and_the_page_goes_on(open_page, tmp_path):
    page = open_page()
    fake = tmp_path / "notes.jpg"
    fake.write_text("this is a text file, not a photograph\n")
    page.set_input_files("#content-upload input[type=file]", str(fake))
    page.wait_for_selector("#message [data-error='true']")
    shown = message(page)
    assert shown == "content image 'notes.jpg' is not an image file Pillow can read"
    page.wait_for_function("() => !document.querySelector('#content-upload img')")  # the refused file is gone

    pick_demo_pair(page)  # the same page goes on: the demo pair replaces the bad file, and its check clears the line
    page.wait_for_function("() => !document.querySelector('#message .ks-message')")
    set_fields(page, 64, 3)
    page.click("#start")
    assert wait_for_state(page, "done", "failed", "stopped")["state"] == "done", message(page)
    image, record = downloaded_result(page, tmp_path)
    assert max(image.size) == 64 and record["interrupted"] is False


def evaluation_shown(page) -> int:
    return int(page.evaluate(
        "() => Number(document.querySelector('#progress .ks-progress')?.dataset.evaluation || 0)"))


def test_a_reloaded_tab_finds_its_run_again(open_page, served, tmp_path):
    # A reload ends the page's Gradio session and its events (as a network drop does); the run goes on, and the
    # reloaded page, the same browser, follows it again: its progress, its Stop, its downloads.
    budget = 400
    page = start_long_run(open_page, budget, evaluations=5)
    before = evaluation_shown(page)
    page.reload()
    page.wait_for_selector("#start")
    page.wait_for_function(
        f"() => Number(document.querySelector('#progress .ks-progress')?.dataset.evaluation || 0) > {before}",
        timeout=20_000)  # the same run, further on
    assert page.locator("#start").is_disabled()
    page.click("#stop")
    assert wait_for_state(page, "stopped", "done", "failed")["state"] == "stopped", message(page)
    assert page.locator("#start").is_enabled()
    image, record = downloaded_result(page, tmp_path)
    assert max(image.size) == 64 and record["interrupted"] is True
    assert before < record["evaluations"] < budget == record["evaluation_budget"]
    assert not [run for run in served.runs._by_session.values() if run.alive]


def test_a_dropped_picture_shows_in_its_own_box_and_there_is_no_second_box(open_page):
    page = open_page()
    assert page.locator("#content-upload img").count() == 0
    drop(page, "#content-upload", CONTENT)
    page.wait_for_selector("#content-upload img")
    assert page.locator("#content-upload img").count() == 1
    # one box per picture: no preview box beside or under the upload (the page's only other image is the result's)
    assert page.locator("#content-view, #style-view").count() == 0
    elsewhere = "() => [...document.images].filter(image => !image.closest('#content-upload, #demo-pair')).length"
    assert page.evaluate(elsewhere) == 0
    assert message(page) == ""


def strength_run(open_page, folder: Path, doublings: float) -> dict:
    """A 64-px run of the demo pair with the style strength slider at `doublings`; its sidecar."""
    page = open_page()
    pick_demo_pair(page)
    set_fields(page, 64, 3)
    slider = page.locator("#style-strength input[type=number]")
    slider.fill(str(doublings))
    slider.press("Enter")
    page.wait_for_selector(f"#strength-shown [data-factor='{2.0 ** doublings:.6g}']")
    page.click("#start")
    assert wait_for_state(page, "done", "failed", "stopped")["state"] == "done", message(page)
    return downloaded_result(page, folder)[1]


def test_the_style_strength_slider_at_2x_doubles_the_presets_style_weight(open_page, tmp_path):
    # (at 1x, the slider untouched, test_a_run_from_upload_to_download's sidecar has the preset's weight)
    preset_weight = Settings.from_options(preset=DEFAULT_PRESET).style_weight
    at_two = strength_run(open_page, tmp_path, 1.0)  # +1 doubling: 2x
    assert at_two["term_weights"]["style"] == pytest.approx(2 * preset_weight)
    assert at_two["settings"]["style_strength"] == pytest.approx(2.0)


def test_the_estimate_appears_before_start(open_page):
    page = open_page()
    pick_demo_pair(page)
    estimate = page.wait_for_selector("#estimate .ks-estimate[data-state='ready']")
    likely, low, high = (float(estimate.get_attribute(f"data-{name}")) for name in ("likely", "low", "high"))
    assert 0 < low <= likely <= high
    text = estimate.inner_text()
    assert text.startswith("about ") and "on this machine" in text and "evaluations at most" in text, text
    assert page.locator("#progress .ks-progress").count() == 0  # nothing started
    page.fill("#size input", "48")  # a change asks again: a smaller picture is quicker
    page.locator("#size input").press("Enter")
    page.wait_for_function(f"() => Number(document.querySelector('#estimate .ks-estimate')?.dataset.likely) < {likely}")
