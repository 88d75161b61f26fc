"""The web page's server without a browser: options, limits, bad uploads, the queue, the model cache and the
temporary folder. One server per module, in this process (random weights, 64 px runs); one test starts the real
command in a subprocess to see it clean up on Ctrl-C."""
from __future__ import annotations

import html
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_style.apps.web.runs import MEGABYTE, Limits, load_upload, parse_seed, run_settings
from keras_style.apps.web.server import ServerOptions, build_parser, exposure_warning, main, parse_options
from keras_style.errors import UserError

from .conftest import CONTENT, ROOT, STYLE, require

# Gradio's queue uses pandas options that pandas 3 deprecates: not this project's warnings.
pytestmark = [pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]
gradio_client = require("gradio_client", "the web page needs the [web] extra (gradio)")
httpx = require("httpx", "the web page needs the [web] extra (gradio)")

LIMITS = Limits(max_upload_bytes=MEGABYTE, max_size=128)  # small, so the tests' files stay small
# The page's fields in the API's order (runs.PAGE_SETTINGS): gatys's own style weight (strength 0 doublings)
FAST = dict(preset="gatys", size=64, iterations=4, quality="final", style_strength=0.0, network="vgg19",
            preserve_colors="none", seed="0")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Served:
    server: object
    url: str
    system_temp: Path  # tempfile.gettempdir() while the server runs
    cwd: Path  # the working directory while the server runs
    downloads: Path  # where the test clients save what they download
    home: Path | None = None  # HOME while the server runs

    @property
    def workspace(self) -> Path:
        return self.server.workspace.root

    def client(self):
        return gradio_client.Client(self.url, verbose=False, download_files=str(self.downloads),
                                    analytics_enabled=False)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The server in this process, with the system temp folder, the working directory and HOME pointed at empty
    folders, so a test can see that nothing lands outside the server's own temporary folder. (Keras is imported
    already in this process: test_the_command_stops_its_run_on_sigterm_... sees what its first import writes.)"""
    from keras_style.apps.web.server import Server

    system_temp, cwd = tmp_path_factory.mktemp("system-temp"), tmp_path_factory.mktemp("cwd")
    downloads, home = tmp_path_factory.mktemp("downloads"), tmp_path_factory.mktemp("home")
    saved_temp, saved_cwd, saved_home = tempfile.tempdir, os.getcwd(), os.environ.get("HOME")
    tempfile.tempdir = str(system_temp)
    os.chdir(cwd)
    os.environ["HOME"] = str(home)
    server = Server(ServerOptions(port=free_port(), limits=LIMITS, weights="none"))
    try:
        url = server.start()
        yield Served(server, url, system_temp, cwd, downloads, home)
    finally:
        server.close()
        os.chdir(saved_cwd)
        tempfile.tempdir = saved_temp
        if saved_home is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = saved_home
    assert not server.workspace.root.exists()


@pytest.fixture
def long_runs(served):
    """For tests that start long runs: whatever happens, no run is left going for the next test."""
    yield
    assert served.server.runs.stop_all(timeout=60)


def stylize(client, content, style, **fields):
    """One run through the page's API: the final (preview, progress, curve, downloads, message)."""
    values = dict(FAST, **fields)
    return client.predict(
        gradio_client.handle_file(str(content)), gradio_client.handle_file(str(style)), values["preset"],
        values["size"], values["iterations"], values["quality"], values["style_strength"], values["network"],
        values["preserve_colors"], values["seed"], api_name="/stylize",
    )


def message_of(outputs) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", outputs[-1])).strip()


def files_of(outputs) -> dict[str, Path]:
    return {Path(item).suffix: Path(item) for item in outputs[3] or []}


def assert_alive(served: Served) -> None:
    assert httpx.get(served.url, timeout=10).status_code == 200


def wait_until(condition, timeout: float = 60.0, what: str = "the condition"):
    """Poll `condition` until it returns something true (returned), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what} did not happen within {timeout:g} s")


class Tab:
    """A browser tab as Gradio's page talks to the server: its own session, a heartbeat, and the stream of its
    events' messages. close() drops both connections at once, as a closed tab, a reload or a lost network does.
    (gradio_client keeps its heartbeat up to 15 s after close() and cannot drop its event stream; the streams are
    plain sockets here because only shutdown() ends a connection that another thread is reading.)"""

    def __init__(self, served: Served) -> None:
        self.url = served.url
        self.api = served.url + "gradio_api/"
        self.session = uuid.uuid4().hex
        config = httpx.get(served.url + "config", timeout=10).json()
        self.fn_index = {dependency["api_name"]: dependency["id"] for dependency in config["dependencies"]}
        self.inputs = {dependency["api_name"]: len(dependency["inputs"]) for dependency in config["dependencies"]}
        self.http = httpx.Client(timeout=30)
        self.messages: list[dict] = []
        self._sockets: list[socket.socket] = []
        self._events: threading.Thread | None = None
        self._pending: set[str] = set()  # events joined and not completed: the server keeps the stream open for them
        self._completed: set[str] = set()
        self._lock = threading.Lock()
        self._open(f"heartbeat/{self.session}")

    def _open(self, path: str) -> threading.Thread:
        """GET an event stream on its own connection, read by a thread into `messages`."""
        address = httpx.URL(self.url)
        connection = socket.create_connection((address.host, address.port), timeout=30)
        connection.settimeout(None)
        connection.sendall(f"GET /gradio_api/{path} HTTP/1.1\r\nHost: {address.host}:{address.port}\r\n"
                           "Accept: text/event-stream\r\n\r\n".encode())
        self._sockets.append(connection)
        reader = threading.Thread(target=self._read, args=(connection.makefile("rb"),), daemon=True)
        reader.start()
        return reader

    def _read(self, stream) -> None:
        try:
            while stream.readline() not in (b"\r\n", b""):  # the headers
                pass
            text = b""
            while size := int(stream.readline().strip() or b"0", 16):  # chunked: a JSON line may span chunks
                text += stream.read(size)
                stream.readline()
                *lines, text = text.split(b"\n")
                for message in [json.loads(line[len(b"data: "):]) for line in lines if line.startswith(b"data: {")]:
                    self.messages.append(message)
                    if message["msg"] == "process_completed":
                        with self._lock:
                            self._completed.add(message["event_id"])
                            self._pending.discard(message["event_id"])
        except (OSError, ValueError):  # the connection was dropped
            pass

    def upload(self, path: Path) -> dict:
        with path.open("rb") as stream:
            sent = self.http.post(self.api + "upload", files={"files": (path.name, stream)})
        return {"path": sent.json()[0], "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}

    def call(self, api_name: str, *data) -> str:
        """Join the queue with an event of the page (as its button would); the event's id."""
        if self._events is not None and not self._pending:  # the server ends the stream once none is pending
            self._events.join(timeout=10)
        joined = self.http.post(self.api + "queue/join", json={
            "data": list(data), "fn_index": self.fn_index[api_name], "session_hash": self.session,
            "event_data": None, "trigger_id": None})
        assert joined.status_code == 200, joined.text
        with self._lock:
            if joined.json()["event_id"] not in self._completed:
                self._pending.add(joined.json()["event_id"])
        if self._events is None or not self._events.is_alive():
            self._events = self._open(f"queue/data?session_hash={self.session}")
        return joined.json()["event_id"]

    def stylize(self, **fields) -> str:
        values = dict(FAST, **fields)
        return self.call("stylize", self.upload(CONTENT), self.upload(STYLE), *values.values())

    def message(self, event: str, kind: str, timeout: float = 60.0) -> dict:
        """The first message of `kind` (estimation, process_completed, ...) for `event`, waiting for it."""
        return wait_until(lambda: next((message for message in list(self.messages)
                                        if message.get("event_id") == event and message["msg"] == kind), None),
                          timeout, f"the {kind} message")

    def close(self) -> None:
        for connection in self._sockets:
            connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        self.http.close()


# --- options ---------------------------------------------------------------------------------------------------

def test_defaults_serve_this_machine_only():
    options = parse_options([])
    assert (options.host, options.port) == ("127.0.0.1", 7860)
    assert options.limits == Limits(max_upload_bytes=20 * MEGABYTE, max_size=1024)
    changed = parse_options(["--host", "0.0.0.0", "--port", "8080", "--max-upload-mb", "5", "--max-size", "256",
                             "--weights", "none"])
    assert (changed.host, changed.port, changed.weights) == ("0.0.0.0", 8080, "none")
    assert changed.limits == Limits(max_upload_bytes=5 * MEGABYTE, max_size=256)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.org"])
def test_any_host_but_localhost_gets_a_warning(host):
    assert "warning" in exposure_warning(host) and host in exposure_warning(host)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_localhost_gets_no_warning(host):
    assert exposure_warning(host) is None


def test_help_explains_every_option():
    text = " ".join(build_parser().format_help().split())
    for option in ("--host", "--port", "--max-upload-mb", "--max-size", "--weights"):
        assert option in text
    assert "warning" in text and "20 MB" in text and "1024" in text and "pip install" in text


@pytest.mark.parametrize("argv, fragment", [
    (["--port", "0"], "--port"),
    (["--port", "http"], "--port"),
    (["--max-size", "-5"], "--max-size"),
    (["--max-upload-mb", "lots"], "--max-upload-mb"),
    (["--colour", "red"], "unrecognized"),
])
def test_bad_options_are_one_line_errors(argv, fragment, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and lines[0].startswith("keras-style serve: error:")


def test_missing_weights_file_is_refused_before_serving(tmp_path, capsys):
    assert main(["--weights", str(tmp_path / "missing.h5")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "missing.h5" in lines[0] and "does not exist" in lines[0]


def test_a_port_in_use_is_a_one_line_error_and_leaves_nothing(tmp_path, monkeypatch, capsys, restore_signals):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["--port", str(taken.getsockname()[1]), "--weights", "none"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("keras-style serve: error: cannot serve on 127.0.0.1:"), lines
    assert lines[0].endswith("Address already in use")
    assert list(tmp_path.iterdir()) == []  # no temporary folder left behind


def test_missing_gradio_says_how_to_install_it(monkeypatch, capsys):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "gradio" else real_find_spec(name, *args))
    assert main([]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and 'pip install "keras-style[web]"' in lines[0]


@pytest.mark.parametrize("command", [["-m", "keras_style", "serve", "--help"],
                                     ["-m", "keras_style.apps.web", "--help"]])
def test_both_commands_reach_the_server_help(command):
    shown = subprocess.run([sys.executable, *command], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert shown.returncode == 0 and "usage: keras-style serve" in shown.stdout and "--max-size" in shown.stdout


# --- what the page sends becomes Settings ----------------------------------------------------------------------

def test_fields_equal_to_the_preset_keep_the_presets_outer_loop():
    # article-001 runs 10 x 20 evaluations; its own iteration count (200) shown on the page must not undo that
    settings = run_settings("article-001", dict(size=64, iterations=200, quality="final", style_strength=0.0,
                                                network="vgg16", preserve_colors="none", seed=None), "none", LIMITS)
    assert (settings.outer_iterations, settings.maxfun, settings.size) == (10, 20, 64)
    changed = run_settings("article-001", dict(size=64, iterations=30.0), "none", LIMITS)
    assert changed.outer_iterations is None and changed.iterations == 30 and changed.weights == "none"


def test_the_size_cap_and_bad_fields_are_one_line_errors():
    with pytest.raises(UserError, match="above this server's limit of 128 px"):
        run_settings("gatys", dict(size=129), "none", LIMITS)
    with pytest.raises(UserError, match="iterations"):
        run_settings("gatys", dict(iterations=-3), "none", LIMITS)
    with pytest.raises(UserError, match="seed"):
        parse_seed("1; rm -rf /")
    assert parse_seed(" 42 ") == 42 and parse_seed("") is None


def test_text_from_the_page_is_shown_never_run():
    from keras_style.apps.web.page import message_html

    shown = message_html("content image '<img src=x onerror=alert(1)>.jpg' is not an image", error=True)
    assert "<img" not in shown and "&lt;img src=x onerror=alert(1)&gt;.jpg" in shown


def test_an_upload_outside_the_servers_folder_is_never_read(tmp_path):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    for path in (CONTENT, uploads / ".." / "elsewhere.jpg", "/etc/passwd"):
        with pytest.raises(UserError, match="not an upload"):
            load_upload(path, "content image", uploads, LIMITS)


def test_a_file_above_the_upload_limit_is_refused_by_name(tmp_path):
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (700, 700, 3), dtype=np.uint8)).save(big)
    assert big.stat().st_size > LIMITS.max_upload_bytes
    with pytest.raises(UserError, match=r"'big.png' is 1\.\d MB, above this server's limit of 1 MB"):
        load_upload(big, "content image", tmp_path, LIMITS)


# --- the running server ----------------------------------------------------------------------------------------

def test_a_run_through_the_api_writes_a_png_and_its_sidecar(served):
    outputs = stylize(served.client(), CONTENT, STYLE)
    assert message_of(outputs).startswith("done: ")
    files = files_of(outputs)
    image = Image.open(files[".png"])
    assert image.format == "PNG" and max(image.size) == 64
    record = json.loads(files[".json"].read_text())
    assert record["settings"]["size"] == 64 and record["settings"]["weights"] == "none"
    assert record["interrupted"] is False and record["evaluations"] >= 4
    assert 'data-state="done"' in outputs[1] and "<svg" in outputs[2]


def test_an_upload_above_the_limit_is_refused_and_the_server_goes_on(served, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(os.urandom(LIMITS.max_upload_bytes + 4096))
    with big.open("rb") as stream:
        refused = httpx.post(served.url + "gradio_api/upload", files={"files": ("big.png", stream)}, timeout=30)
    assert refused.status_code == 413
    assert not list(served.workspace.rglob("big.png"))
    assert_alive(served)


def text_file_as_jpeg(folder: Path) -> Path:
    path = folder / "notes.jpg"
    path.write_text("this is not a picture\n")
    return path


def truncated_jpeg(folder: Path) -> Path:
    path = folder / "cut.jpg"
    path.write_bytes(CONTENT.read_bytes()[: CONTENT.stat().st_size // 2])
    return path


def decompression_bomb(folder: Path) -> Path:
    """A PNG of a few kB whose pixel count is beyond Pillow's limit (a 1-bit 12000 x 12000 blank)."""
    path = folder / "bomb.png"
    side = int((Image.MAX_IMAGE_PIXELS * 1.6) ** 0.5)
    Image.new("1", (side, side)).save(path, optimize=True)
    assert path.stat().st_size < LIMITS.max_upload_bytes
    return path


@pytest.mark.parametrize("make, fragment", [
    (text_file_as_jpeg, "content image 'notes.jpg' is not an image file Pillow can read"),
    (truncated_jpeg, "content image 'cut.jpg' is damaged or truncated"),
    (decompression_bomb, "content image 'bomb.png' is 11965x11965 px, above this server's limit of 16.8 megapixels"),
])
def test_bad_uploads_get_a_one_line_message_and_the_server_goes_on(served, tmp_path, make, fragment):
    client = served.client()
    outputs = stylize(client, make(tmp_path), STYLE)
    message = message_of(outputs)
    assert fragment in message and "\n" not in message
    assert str(served.workspace) not in outputs[-1]  # the file is named as uploaded, not by its temporary path
    assert not outputs[3] and 'data-state="failed"' in outputs[1]
    assert_alive(served)
    if make is text_file_as_jpeg:  # and the same session runs on (the browser test does this from the page)
        assert message_of(stylize(client, CONTENT, STYLE)).startswith("done: ")


@pytest.mark.parametrize("fields, fragment", [
    (dict(size=256), "size 256 px is above this server's limit of 128 px"),
    # keras-example sets the height: the 4:3 demo photograph at 128 px high is 171 px wide
    (dict(preset="keras-example", size=128, iterations=2),
     "the result would be 171x128 px, above this server's limit of 128 px"),
])
def test_the_size_cap_refuses_larger_results(served, fields, fragment):
    assert fragment in message_of(stylize(served.client(), CONTENT, STYLE, **fields))


def test_paths_from_the_browser_never_reach_the_file_system(served):
    for path in ("/etc/passwd", str(ROOT / "README.md"), str(served.workspace / ".." / "x")):
        assert httpx.get(f"{served.url}gradio_api/file={path}", timeout=10).status_code == 403
    # a run whose upload names a file the server never received: refused before anything reads it
    event = httpx.post(served.url + "gradio_api/call/stylize", timeout=10, json={"data": [
        {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}},
        {"path": str(STYLE), "meta": {"_type": "gradio.FileData"}}, *list(FAST.values())]})
    assert event.status_code == 200, event.text
    stream = httpx.get(f"{served.url}gradio_api/call/stylize/{event.json()['event_id']}", timeout=30).text
    assert "event: error" in stream and "root:x:" not in stream
    assert_alive(served)


def test_a_second_run_reuses_the_model(served):
    from keras_style.engine.network import _feature_model, _vgg

    client = served.client()
    stylize(client, CONTENT, STYLE)  # the model for these settings exists from here on
    built = (_vgg.cache_info().misses, _feature_model.cache_info().misses)
    outputs = stylize(client, CONTENT, STYLE)
    assert message_of(outputs).startswith("done: ")
    assert (_vgg.cache_info().misses, _feature_model.cache_info().misses) == built
    assert json.loads(files_of(outputs)[".json"].read_text())["startup"]["model_seconds"] < 0.05


def test_two_concurrent_runs_take_turns_in_order(served, monkeypatch):
    from gradio_client.utils import Status

    runs, order = served.server.runs, []
    real_take, real_end = runs.take, runs.end
    monkeypatch.setattr(runs, "take", lambda session: order.append(("start", session)) or real_take(session))
    monkeypatch.setattr(runs, "end", lambda session, run: order.append(("end", session)) or real_end(session, run))
    first_client, second_client = served.client(), served.client()
    first = first_client.submit(
        gradio_client.handle_file(str(CONTENT)), gradio_client.handle_file(str(STYLE)), "gatys", 64, 20, "final", 0.0,
        "vgg19", "none", "0", api_name="/stylize")
    while first.status().code not in (Status.PROCESSING, Status.ITERATING):
        time.sleep(0.05)
    second = second_client.submit(
        gradio_client.handle_file(str(CONTENT)), gradio_client.handle_file(str(STYLE)), "gatys", 64, 3, "final", 0.0,
        "vgg19", "none", "0", api_name="/stylize")
    places = []  # the second run's place in the queue, each time it was seen waiting while the first ran
    while not second.done():
        status = second.status()
        if status.code == Status.IN_QUEUE and not first.done():
            places.append(status.rank)
        time.sleep(0.05)
    assert places and set(places) == {0}, places  # first in line (Gradio's page shows "queue: 1/1")
    sessions = [session for _, session in order]
    assert [event for event, _ in order] == ["start", "end", "start", "end"], order
    assert sessions[0] == sessions[1] != sessions[2] == sessions[3]  # the first ended before the second began
    for job, budget in ((first, 20), (second, 3)):
        outputs = job.result()
        assert message_of(outputs).startswith("done: ")
        assert json.loads(files_of(outputs)[".json"].read_text())["evaluation_budget"] == budget


def test_every_file_stays_in_the_temporary_folder(served):
    outputs = stylize(served.client(), CONTENT, STYLE)
    assert message_of(outputs).startswith("done: ")
    written = sorted(str(path.relative_to(served.workspace)) for path in served.workspace.rglob("*")
                     if path.is_file())
    print("\n".join(written))
    assert any(re.fullmatch(r"gradio/[^/]+/content\.jpg", name) for name in written)  # an upload
    assert any(re.fullmatch(r"runs/run-[^/]+/stylized\.(png|json)", name) for name in written)  # a result
    assert any(re.fullmatch(r"gradio/[^/]+/stylized\.png", name) for name in written)  # served from Gradio's cache
    assert tempfile.gettempdir() == str(served.workspace)  # anything else a library writes to "temp" lands here
    # nothing beside it in the system temp folder, nothing in the working directory (no .gradio folder), nothing in
    # the home folder
    assert [path.name for path in served.system_temp.iterdir()] == [served.workspace.name]
    assert list(served.cwd.iterdir()) == []
    assert list(served.home.iterdir()) == []


def start_command(environment: dict[str, str], cwd: Path) -> tuple[subprocess.Popen, Path, str]:
    """`python -m keras_style.apps.web` on a free port with random weights: the process, its temporary folder and
    its address, once it serves."""
    port = free_port()
    environment = dict(environment, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "keras_style.apps.web", "--port", str(port), "--weights", "none"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=environment)
    line = process.stdout.readline()
    if f"serving http://127.0.0.1:{port}/" not in line:
        process.kill()
        raise AssertionError(line + process.stderr.read())
    return process, Path(re.search(r"results in (\S+),", line).group(1)), f"http://127.0.0.1:{port}/"


def dead_pid() -> int:
    """The pid of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", ""])
    process.wait()
    return process.pid


def test_the_command_stops_its_run_on_sigterm_and_writes_nothing_outside_its_folder(tmp_path):
    # HOME, the temporary folder and the working directory are empty folders: after SIGTERM in the middle of a run,
    # all three are empty again (Keras wrote no ~/.keras/keras.json, matplotlib no font cache). The run's page has
    # just gone (its run goes on without it, runs.DETACHED_SECONDS): SIGTERM must stop that run too. (SIGINT and
    # SIGHUP set the same stop as SIGTERM: server.main.)
    from keras_style.apps.web.server import workspace_prefix

    home, temporary, cwd = tmp_path / "home", tmp_path / "temp", tmp_path / "cwd"
    for folder in (home, temporary, cwd):
        folder.mkdir()
    # a server killed before it could clean up left its folder; another server runs (this process stands for it)
    stale = temporary / f"{workspace_prefix(dead_pid())}killed"
    (stale / "runs").mkdir(parents=True)
    live = temporary / f"{workspace_prefix(os.getpid())}serving"
    live.mkdir()
    chosen = ("KERAS_HOME", "MPLCONFIGDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME")  # the defaults: under HOME
    environment = {name: value for name, value in os.environ.items() if name not in chosen}
    process, folder, url = start_command(dict(environment, HOME=str(home), TMPDIR=str(temporary)), cwd)
    try:
        assert folder.is_dir() and folder.parent == temporary.resolve()
        assert not stale.exists() and live.is_dir()  # removed at start
        tab = Tab(Served(None, url, temporary, cwd, tmp_path))
        event = tab.stylize(iterations=2000)
        wait_until(lambda: any(message.get("event_id") == event and "data-evaluation" in json.dumps(message)
                               for message in list(tab.messages)), 120, "the run's first evaluation")
        tab.close()
        assert [path.name for path in (folder / "runs").iterdir()]  # the run's folder, its run in flight
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    errors = process.stderr.read()
    assert "Traceback" not in errors and "did not stop" not in errors, errors
    assert "keras-style serve: removed 1 temporary folder(s) of servers no longer running" in errors
    assert "stopping" in process.stdout.read()
    assert not folder.exists() and list(temporary.iterdir()) == [live]
    assert [str(path.relative_to(home)) for path in home.rglob("*")] == []
    assert list(cwd.iterdir()) == []


def test_only_folders_of_servers_no_longer_running_are_removed(tmp_path):
    from keras_style.apps.web.server import WORKSPACE_PREFIX, remove_stale_workspaces, workspace_prefix

    dead, other_host = dead_pid(), f"{WORKSPACE_PREFIX}{dead_pid()}.00000000-elsewhere"
    folders = {name: tmp_path / name for name in (
        f"{workspace_prefix(dead)}a", f"{workspace_prefix(dead)}b",  # dead: removed
        f"{workspace_prefix(os.getpid())}c", f"{workspace_prefix(1)}d",  # alive (1: init): kept
        other_host, f"{WORKSPACE_PREFIX}x1y2z3", "keras-style-other")}  # another host's, an older name, not ours
    for folder in folders.values():
        (folder / "runs").mkdir(parents=True)
    assert sorted(remove_stale_workspaces(tmp_path)) == [folders[f"{workspace_prefix(dead)}a"],
                                                        folders[f"{workspace_prefix(dead)}b"]]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(list(folders)[2:])


def test_keras_home_moves_into_the_temporary_folder_only_when_nothing_of_the_persons_is_there(tmp_path, monkeypatch):
    from keras_style.apps.web.server import keras_home_moves
    from keras_style.files.weights import KERAS_CACHE_NAMES

    for name in ("KERAS_HOME", "KERAS_STYLE_WEIGHTS_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert keras_home_moves("none") and keras_home_moves(str(CONTENT))  # Keras would create ~/.keras: it moves
    assert not keras_home_moves("imagenet")  # Keras downloads the weights into ~/.keras: they must outlive us
    weights = tmp_path / "weights"
    weights.mkdir()
    for file in KERAS_CACHE_NAMES.values():
        (weights / file).write_bytes(b"")
    monkeypatch.setenv("KERAS_STYLE_WEIGHTS_DIR", str(weights))
    assert keras_home_moves("imagenet")  # the weights are elsewhere
    monkeypatch.delenv("KERAS_STYLE_WEIGHTS_DIR")
    (tmp_path / ".keras").mkdir()
    (tmp_path / ".keras" / "models").symlink_to(weights)
    assert not keras_home_moves("imagenet")  # the weights are in Keras's cache there
    assert keras_home_moves("none")  # they are not used: Keras would only add its keras.json there
    (tmp_path / ".keras" / "keras.json").write_text("{}")
    assert not keras_home_moves("none")  # the person's configuration
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "chosen"))
    assert not keras_home_moves("none")


def evaluation(run) -> int:
    return run.snapshot().evaluation


def test_a_stop_from_another_session_reaches_nothing(served, long_runs):
    # Two clients, two Gradio sessions: the page maps each session to its own run (Runs, by session hash), so one
    # client's Stop reaches its own run and never another's.
    runs = served.server.runs
    mine, other = served.client(), served.client()
    job = mine.submit(gradio_client.handle_file(str(CONTENT)), gradio_client.handle_file(str(STYLE)),
                      *dict(FAST, iterations=2000).values(), api_name="/stylize")
    run = wait_until(lambda: (run := runs._by_session.get(mine.session_hash)) and evaluation(run) >= 2 and run,
                     what="the run's second evaluation")
    other.predict(api_name="/stop")
    stopped_at = evaluation(run)
    wait_until(lambda: evaluation(run) >= stopped_at + 3, 20, "the run going on after another session's Stop")
    assert not run.stop_requested
    mine.predict(api_name="/stop")
    outputs = job.result(timeout=60)
    assert re.fullmatch(r"stopped after \d+ evaluations: the best image so far is kept", message_of(outputs))
    assert json.loads(files_of(outputs)[".json"].read_text())["interrupted"] is True


def test_a_queued_run_whose_tab_closes_leaves_the_session_map_and_the_queue(served, long_runs):
    runs, queue = served.server.runs, served.server._page._queue
    first = Tab(served)
    running = first.stylize(iterations=2000)
    wait_until(lambda: (run := runs._by_session.get(first.session)) and evaluation(run) >= 1,
               what="the first run's first evaluation")
    second = Tab(served)  # its Start: begin, then the run waits in Gradio's queue behind the first
    second.message(second.call("begin", *[""] * second.inputs["begin"]), "process_completed")
    waiting = runs._by_session[second.session]
    queued = second.stylize()
    assert second.message(queued, "estimation")["rank"] == 0
    second.close()  # the tab closes while its run waits
    # the unload leaves the session map, then removes the run's empty folder (outside the lock): wait for both
    wait_until(lambda: second.session not in runs._by_session and not waiting.folder.exists(), 10,
               "the closed tab's run leaving the session map and its folder")
    assert waiting.snapshot().state == "stopped" and not waiting.started
    # Gradio drops the queued event when the tab's event stream closes (a connection of its own)
    wait_until(lambda: not [event for event in queue.event_queue_per_concurrency_id["stylize"].queue
                            if event.session_hash == second.session], 10, "Gradio dropping the queued event")
    first.call("stop")
    assert first.message(running, "process_completed")["success"]
    assert not waiting.started and second.session not in runs._by_session  # nothing ran for the closed tab
    first.close()


def test_a_run_whose_page_went_away_goes_on_then_stops_itself(served, monkeypatch, long_runs):
    # Gradio ends the event of a page whose connection drops (a closed tab, a reload, a network blip); the run's
    # thread outlives that event, so that a reloaded page can follow it again, but not for long: with no page
    # following it, it stops itself after DETACHED_SECONDS and keeps its best image. Runs still take turns meanwhile.
    from gradio_client.utils import Status

    from keras_style.apps.web import runs as web_runs

    monkeypatch.setattr(web_runs, "DETACHED_SECONDS", 1.0, raising=False)  # (raising: the old code lacks it)
    runs = served.server.runs
    tab = Tab(served)
    tab.stylize(iterations=2000)
    run = wait_until(lambda: (run := runs._by_session.get(tab.session)) and evaluation(run) >= 2 and run,
                     what="the run's second evaluation")
    job = served.client().submit(gradio_client.handle_file(str(CONTENT)), gradio_client.handle_file(str(STYLE)),
                                 *dict(FAST, iterations=3).values(), api_name="/stylize")
    wait_until(lambda: job.status().code == Status.IN_QUEUE, 30, "the next run waiting in Gradio's queue")
    tab.close()  # the connection drops: Gradio ends the event, and lets the next one in
    wait_until(lambda: tab.session not in runs._by_session, 10, "Gradio ending the event")
    dropped_at, dropped = evaluation(run), time.monotonic()
    wait_until(lambda: evaluation(run) >= dropped_at + 3, 10, "the run going on without its page")
    threads = []  # how many run threads there are, while the next run waits for its turn

    def counted() -> bool:
        threads.append(sum(thread.name == "keras-style-run" for thread in threading.enumerate()))
        return job.done()

    wait_until(counted, 30, "the next run, once the one without a page stopped itself")
    assert max(threads) == 1, threads  # never two runs at once
    assert not run.alive and time.monotonic() - dropped < 30
    snapshot = run.snapshot()
    assert snapshot.state == "stopped", snapshot.message
    assert re.fullmatch(r"stopped after \d+ evaluations \(no page followed it for 1 s\): the best image so far is "
                        r"kept", snapshot.message)
    assert {path.name for path in snapshot.files} == {"stylized.png", "stylized.json"}
    assert all(path.is_file() and path.parent == run.folder for path in snapshot.files)  # kept for its browser
    assert json.loads(run.folder.joinpath("stylized.json").read_text())["interrupted"] is True
    outputs = job.outputs()
    assert any("whose page went away, to stop" in message_of(update) for update in outputs)  # it said why it waited
    assert message_of(outputs[-1]).startswith("done: ")
    assert not [thread for thread in threading.enumerate() if thread.name == "keras-style-run"]
