"""`keras-style serve`: the options, the temporary folder, and starting and stopping the Gradio server.

Every file the server writes (uploads, Gradio's cache, previews, results) goes into one temporary folder, removed
when the server stops: Gradio's GRADIO_TEMP_DIR and GRADIO_EXAMPLES_CACHE point inside it while it runs, and so does
the process's own temporary folder (tempfile, TMPDIR), where TensorFlow's autograph leaves generated code, and what
Keras and matplotlib would write in the home folder (KERAS_HOME, MPLCONFIGDIR) unless the person chose otherwise.
A server killed before it could remove its folder (SIGKILL, a crash) leaves it: the next server removes it."""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import ipaddress
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keras_style.apps.options import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, SERVE_PROGRAM, OneLineParser
from keras_style.apps.web.runs import MEGABYTE, Limits
from keras_style.errors import UserError, first_line

PROGRAM = SERVE_PROGRAM
INSTALL = 'pip install "keras-style[web]"'
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 7860


@dataclass(frozen=True)
class ServerOptions:
    """Where the page is served and what it accepts (the `keras-style serve` options)."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    limits: Limits = field(default_factory=Limits)
    weights: str = "imagenet"


DESCRIPTION = f"""\
Serve a local web page for neural style transfer: upload a content and a style image (or pick the demo pair),
choose a preset and the main settings, Start, watch the best image so far, the progress with the four loss terms
and a loss curve, Stop (the best image so far is kept), and download the PNG and its JSON sidecar.

Runs take turns: a second tab's Start waits in a queue that shows its place. Uploads and results live in a
temporary folder that is removed when the server stops (Ctrl-C). Needs the extra [web]: {INSTALL}"""

EPILOG = """\
examples:
  keras-style serve                      # http://127.0.0.1:7860, this machine only
  keras-style serve --port 8080 --max-size 512
  python -m keras_style.apps.web --host 0.0.0.0   # reachable from the network: prints a warning"""


def _port(text: str) -> int:
    if not (text.isdigit() and 1 <= int(text) <= 65535):
        raise argparse.ArgumentTypeError(f"must be a port number from 1 to 65535, got {text!r}")
    return int(text)


def _positive(kind: type) -> Any:
    """An argparse type: a number of `kind` above 0."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not value > 0 or value == float("inf"):
            noun = "whole number" if kind is int else "number"
            raise argparse.ArgumentTypeError(f"must be a {noun} above 0, got {text!r}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROGRAM, description=DESCRIPTION, epilog=EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default: {DEFAULT_HOST}, this machine only); any address other "
                             "than localhost lets other machines reach the page, and a warning says so")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})")
    parser.add_argument("--max-upload-mb", type=_positive(float), default=Limits().max_upload_mb, metavar="MB",
                        help="refuse an uploaded file larger than this (default: %(default)g MB); images beyond "
                             "Pillow's decompression-bomb pixel limit are refused whatever their file size")
    parser.add_argument("--max-size", type=_positive(int), default=Limits().max_size, metavar="PX",
                        help="the largest size a page may ask for, in px on the result's longest side "
                             "(default: %(default)s)")
    parser.add_argument("--max-iterations", type=_positive(int), default=Limits().max_iterations, metavar="N",
                        help="the most evaluations a page may ask for: one run holds the only run slot "
                             "(default: %(default)s)")
    parser.add_argument("--max-queue", type=_positive(int), default=Limits().max_queue, metavar="N",
                        help="runs that may wait for the run slot; more are refused (default: %(default)s)")
    parser.add_argument("--weights", default="imagenet",
                        help="the VGG weights every run uses: imagenet (found as the main command finds them: "
                             "$KERAS_STYLE_WEIGHTS_DIR, Keras's cache, Keras's download), none (random, for tests), "
                             "or a path to a Keras .h5 file (default: %(default)s)")
    return parser


def parse_options(argv: Sequence[str] | None = None) -> ServerOptions:
    args = build_parser().parse_args(argv)
    limits = Limits(max_upload_bytes=int(args.max_upload_mb * MEGABYTE), max_size=args.max_size,
                    max_iterations=args.max_iterations, max_queue=args.max_queue)
    return ServerOptions(host=args.host, port=args.port, limits=limits, weights=args.weights)


def is_local(host: str) -> bool:
    """Whether only this machine can reach `host`: localhost or a loopback address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str) -> str | None:
    """The warning printed when the page is served beyond this machine."""
    if is_local(host):
        return None
    return (f"{PROGRAM}: warning: listening on {host}: other machines can reach this page, upload images and use "
            "this machine's processor; there is no login. Use the default 127.0.0.1 unless you mean it.")


def check_port(host: str, port: int) -> None:
    """Bind `host`:`port` for a moment, so a port in use (or an address not this machine's) is a one-line OSError
    before Gradio loads. (Gradio's own bind still decides: another program may take the port in between.)"""
    family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, protocol) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no obstacle
        probe.bind(address)


def check_weights(weights: str) -> None:
    """Refuse, before the server starts, a weights file that does not exist (UserError)."""
    from keras_style.config.settings import NETWORKS
    from keras_style.files.weights import resolve_weights

    for network in NETWORKS:
        resolve_weights(network, weights)


def keras_home_moves(weights: str) -> bool:
    """Whether the server points KERAS_HOME into its temporary folder, so that Keras's first import writes no
    ~/.keras/keras.json: not when the person set KERAS_HOME or keeps a keras.json (their configuration), nor when
    the runs take the ImageNet weights from Keras's cache there or download them into it (it must outlive us)."""
    from keras_style.config.settings import NETWORKS
    from keras_style.files.weights import keras_cache_file, resolve_weights

    if "KERAS_HOME" in os.environ or (Path.home() / ".keras" / "keras.json").exists():
        return False
    if str(weights).lower() != "imagenet":
        return True
    found = {network: resolve_weights(network, weights) for network in NETWORKS}
    return not any(path == "imagenet" or Path(path) == keras_cache_file(network) for network, path in found.items())


# The temporary folder's name says which server owns it: keras-style-web-<pid>.<host>-<random>, the host a hash of
# its name (so that containers sharing a temporary folder, each with its own pids, never judge each other's).
WORKSPACE_PREFIX = "keras-style-web-"
WORKSPACE_NAME = re.compile(re.escape(WORKSPACE_PREFIX) + r"(?P<pid>\d+)\.(?P<host>[0-9a-f]{8})-[^/\\]+")


def _host_tag() -> str:
    return f"{zlib.crc32(socket.gethostname().encode()):08x}"


def workspace_prefix(pid: int) -> str:
    """The start of the name of process `pid`'s temporary folder (WORKSPACE_NAME)."""
    return f"{WORKSPACE_PREFIX}{pid}.{_host_tag()}-"


def _process_alive(pid: int) -> bool:
    """Whether a process `pid` runs on this machine; True when that cannot be told (the folder is then kept)."""
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT there
        try:
            import psutil
        except ImportError:
            return True
        return psutil.pid_exists(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it runs, as another user
        return True
    return True


def remove_stale_workspaces(folder: Path) -> list[Path]:
    """Remove from `folder` the temporary folders of servers on this host that no longer run (killed before they
    could clean up); the folders removed. A folder whose process runs, another user's, another host's, or one whose
    name has no pid (an older version's) is kept. (A pid reused by another process keeps its folder: safe side.)"""
    removed = []
    host = _host_tag()
    for path in sorted(folder.glob(WORKSPACE_PREFIX + "*")):
        match = WORKSPACE_NAME.fullmatch(path.name)
        if match is None or match["host"] != host or path.is_symlink() or not path.is_dir():
            continue
        try:
            if hasattr(os, "getuid") and path.stat().st_uid != os.getuid():
                continue
        except OSError:
            continue
        if not _process_alive(int(match["pid"])):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


@dataclass(frozen=True)
class Workspace:
    """The server's temporary folder: Gradio's uploads and cache, its examples cache, and one folder per run."""

    root: Path

    @classmethod
    def create(cls) -> Workspace:
        workspace = cls(Path(tempfile.mkdtemp(prefix=workspace_prefix(os.getpid()))).resolve())
        for folder in (workspace.uploads, workspace.examples, workspace.runs):
            folder.mkdir()
        return workspace

    @property
    def uploads(self) -> Path:
        return self.root / "gradio"

    @property
    def examples(self) -> Path:
        return self.root / "examples-cache"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    def environment(self, keras_home: bool = False) -> dict[str, str]:
        """The variables that keep Gradio's files, and any library's temporary files, in here (Gradio reads them
        when it imports, builds the page and serves); Keras's home too when `keras_home` (keras_home_moves), and
        matplotlib's cache (TensorFlow imports it) unless MPLCONFIGDIR is set. Keras and matplotlib read theirs on
        their first import, in the first run."""
        values = {"GRADIO_TEMP_DIR": str(self.uploads), "GRADIO_EXAMPLES_CACHE": str(self.examples),
                  "GRADIO_ANALYTICS_ENABLED": "False", "TMPDIR": str(self.root)}
        if keras_home:
            values["KERAS_HOME"] = str(self.root / "keras")
        if "MPLCONFIGDIR" not in os.environ:
            values["MPLCONFIGDIR"] = str(self.root / "matplotlib")
        return values

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def _environment(values: dict[str, str], temporary_folder: Path) -> Iterator[None]:
    """Set environment variables and the process's temporary folder (tempfile's, read once and cached); restore
    both on leaving."""
    saved = {name: os.environ.get(name) for name in values}
    saved_temporary_folder = tempfile.tempdir
    os.environ.update(values)
    tempfile.tempdir = str(temporary_folder)
    try:
        yield
    finally:
        tempfile.tempdir = saved_temporary_folder
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class Server:
    """The page served in this process's background threads: start() returns its address, close() stops it and
    removes the temporary folder. Tests run it in-process; `keras-style serve` wraps it in main().

    While it serves, the process's temporary folder (tempfile.gettempdir(), TMPDIR) is the server's folder: what any
    library puts there goes when the server does."""

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self.workspace: Workspace | None = None
        self.runs = None
        self.url: str | None = None
        self.stale_removed: list[Path] = []  # the folders of dead servers removed at start
        self._page = None
        self._environment: contextlib.ExitStack | None = None

    def start(self) -> str:
        self.stale_removed = remove_stale_workspaces(Path(tempfile.gettempdir()))
        self.workspace = Workspace.create()
        self._environment = contextlib.ExitStack()
        environment = self.workspace.environment(keras_home=keras_home_moves(self.options.weights))
        self._environment.enter_context(_environment(environment, self.workspace.root))
        try:
            from keras_style.apps.web.page import CSS, PageOptions, build_page
            from keras_style.apps.web.runs import Runs, Speeds

            self.runs = Runs(self.workspace.runs)
            page_options = PageOptions(self.options.limits, self.options.weights, self.workspace.uploads,
                                       self.workspace.runs, Speeds(self.options.weights))
            self._page = build_page(page_options, self.runs)
            self._page.queue(default_concurrency_limit=1, max_size=self.options.limits.max_queue)
            self._page.launch(
                server_name=self.options.host, server_port=self.options.port, prevent_thread_lock=True, quiet=True,
                share=False, inbrowser=False, show_error=False, max_file_size=self.options.limits.max_upload_bytes,
                ssr_mode=False, mcp_server=False, footer_links=[], css=CSS,
            )
        except BaseException:
            self.close()
            raise
        host = self.options.host if ":" not in self.options.host else f"[{self.options.host}]"
        self.url = f"http://{host}:{self.options.port}/"
        return self.url

    def close(self) -> None:
        """Stop the runs (each keeps nothing: the folder goes), the server, then remove the temporary folder: only
        once every run's thread has ended, since one still running would write into it."""
        stopped = True
        if self.runs is not None:
            stopped = self.runs.stop_all()
        if self._page is not None:
            with contextlib.suppress(Exception):
                self._page.close(verbose=False)
            self._page = None
        if self.workspace is not None:
            if stopped:
                self.workspace.remove()
            else:
                print(f"{SERVE_PROGRAM}: a run did not stop in time; {self.workspace.root} is left in place",
                      file=sys.stderr)
        if self._environment is not None:
            self._environment.close()
            self._environment = None

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fail(message: str, code: int) -> int:
    print(f"{PROGRAM}: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until Ctrl-C or SIGTERM, then remove the temporary folder. One-line errors, never a traceback."""
    options = parse_options(argv)
    if importlib.util.find_spec("gradio") is None:
        return _fail(f"the web page needs Gradio, which is not installed: {INSTALL}", EXIT_USAGE)
    try:
        check_weights(options.weights)
    except UserError as error:
        return _fail(str(error), EXIT_USAGE)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    stopping = threading.Event()
    # SIGTERM (and a closed terminal's SIGHUP) end the server like Ctrl-C, so the temporary folder goes too.
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):  # Windows has no SIGHUP
            signal.signal(getattr(signal, name), lambda *_: stopping.set())
    server = Server(options)
    try:
        check_port(options.host, options.port)
        warning = exposure_warning(options.host)
        if warning:
            print(warning, file=sys.stderr)
        url = server.start()
        if server.stale_removed:
            print(f"{PROGRAM}: removed {len(server.stale_removed)} temporary folder(s) of servers no longer running",
                  file=sys.stderr)
        print(f"{PROGRAM}: serving {url} (Ctrl-C stops; uploads and results in {server.workspace.root}, removed "
              "on exit)", flush=True)
        while not stopping.wait(1.0):  # a timed wait, so signal handlers run promptly
            pass
        print(f"{PROGRAM}: stopping", flush=True)
        return EXIT_OK
    except OSError as error:  # the port is taken, the address is not this machine's
        reason = error.strerror or first_line(error)
        return _fail(f"cannot serve on {options.host}:{options.port}: {reason}", EXIT_FAILURE)
    except Exception as error:
        if os.environ.get("KERAS_STYLE_DEBUG"):
            raise
        return _fail(f"{type(error).__name__}: {first_line(error)} (set KERAS_STYLE_DEBUG=1 for details)",
                     EXIT_FAILURE)
    finally:
        server.close()
