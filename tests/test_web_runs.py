"""The web server's run folders stay bounded (apps/web/runs.py, no Gradio needed): a finished run's folder is removed
once no session holds it and it is older than RUN_KEEP_SECONDS."""
from __future__ import annotations

import os
import threading
import time

from keras_style.apps.web import runs as web_runs
from keras_style.apps.web.runs import RUN_KEEP_SECONDS, Runs


def finished_run(run: web_runs.Run) -> None:
    """Make `run` look as a run that ran and finished: its thread has run, its result is in its folder."""
    run._thread = threading.Thread(target=lambda: None)
    run._thread.start()
    run._thread.join()
    (run.folder / "stylized.png").write_bytes(b"x")
    run.fail("done")


def test_old_run_folders_are_removed_when_a_run_begins_and_held_ones_kept(tmp_path):
    runs = Runs(tmp_path)
    held = runs.take("session-a")  # this session's current run, shown by its event: kept however old
    finished_run(held)
    old = tmp_path / "run-old"
    old.mkdir()
    (old / "stylized.png").write_bytes(b"x")
    recent = tmp_path / "run-recent"
    recent.mkdir()
    long_ago = time.time() - RUN_KEEP_SECONDS - 60
    for path in (old, old / "stylized.png", held.folder, held.folder / "stylized.png"):
        os.utime(path, (long_ago, long_ago))
    runs.begin("session-b")
    assert not old.exists() and recent.exists() and held.folder.exists()
    runs.end("session-a", held)
    assert held.folder in runs.prune()  # released and old: removed
    assert len(list(tmp_path.glob("run-*"))) == 2  # the recent one and session-b's


def test_the_page_asks_gradio_to_clean_its_cache(tmp_path):
    from .conftest import require

    require("gradio", "the web page needs the [web] extra (gradio)")
    from keras_style.apps.web.page import GRADIO_CACHE_CLEANUP, PageOptions, build_page

    page = build_page(PageOptions(web_runs.Limits(), "none", tmp_path, tmp_path, web_runs.Speeds("none")),
                      Runs(tmp_path))
    assert page.delete_cache == GRADIO_CACHE_CLEANUP and 0 < GRADIO_CACHE_CLEANUP[0] <= GRADIO_CACHE_CLEANUP[1]


def test_an_upload_over_the_pixel_limit_is_refused_from_its_header(tmp_path, monkeypatch):
    import numpy as np
    import pytest
    from PIL import Image

    from keras_style.apps.web.runs import Limits, load_upload
    from keras_style.errors import UserError

    path = tmp_path / "wide.png"
    Image.fromarray(np.zeros((40, 300, 3), np.uint8)).save(path)
    decoded = []
    monkeypatch.setattr(web_runs, "load_image", lambda *args: decoded.append(args) or Image.new("RGB", (1, 1)))
    with pytest.raises(UserError, match=r"content image 'wide.png' is 300x40 px, above this server's limit of "
                                        r"0.0 megapixels"):
        load_upload(path, "content image", tmp_path, Limits(max_upload_pixels=300 * 40 - 1))
    assert decoded == []  # refused before decoding
    load_upload(path, "content image", tmp_path, Limits(max_upload_pixels=300 * 40))
    assert len(decoded) == 1


def test_stop_all_waits_for_the_run_threads_and_says_when_one_outlives_it(tmp_path):
    import threading

    runs = Runs(tmp_path)
    run = runs.begin("session")
    finishing = threading.Event()
    run._thread = threading.Thread(target=finishing.wait, args=(0.3,))  # a run that needs 0.3 s to stop
    run._thread.start()
    assert runs.stop_all(timeout=5.0) is True and not run.alive
    stuck = runs.begin("other")
    release = threading.Event()
    stuck._thread = threading.Thread(target=release.wait, args=(10,))
    stuck._thread.start()
    started = time.monotonic()
    assert runs.stop_all(timeout=0.2) is False and stuck.alive  # its folder must stay
    assert time.monotonic() - started < 2
    release.set()
    stuck.join()


def test_the_server_caps_iterations_and_the_queue():
    import pytest

    from keras_style.apps.web.runs import Limits, run_settings
    from keras_style.apps.web.server import parse_options
    from keras_style.errors import UserError

    limits = Limits(max_iterations=100)
    assert run_settings("gatys", {"iterations": 100}, "none", limits).iterations == 100
    with pytest.raises(UserError, match="101 iterations are above this server's limit of 100"):
        run_settings("gatys", {"iterations": 101}, "none", limits)
    options = parse_options(["--max-iterations", "50", "--max-queue", "3"])
    assert (options.limits.max_iterations, options.limits.max_queue) == (50, 3)
    assert parse_options([]).limits == Limits()


def test_a_browser_finds_its_run_again_and_its_next_start_stops_the_one_it_left(tmp_path):
    runs = Runs(tmp_path)
    run = runs.begin("tab-1", "browser")
    assert runs.take("tab-1") is run  # its stylize event follows it
    finishing = threading.Event()
    run._thread = threading.Thread(target=finishing.wait, args=(10,))  # it runs
    run._thread.start()
    runs.end("tab-1", run)  # its page went away
    assert not run.stop_requested and "tab-1" not in runs._by_session
    assert runs.attach("tab-2", "another-browser") is None
    assert runs.attach("tab-2", "browser") is run and runs.stop("tab-2")  # the reloaded tab's Stop reaches it
    runs.end("tab-2", run)
    run._stop.clear()
    runs.begin("tab-3", "browser")  # the same browser starts anew: the run it left is asked to stop
    assert run.stop_requested
    finishing.set()
    run.join()
