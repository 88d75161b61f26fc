#!/usr/bin/env python3
"""Soak test of the web page's server: `keras-style serve` serves many runs in a row, and its temporary folder and
its memory stay bounded.

    python benchmarks/serve_soak.py                        # 50 runs at 64 px, 5 evaluations each
    python benchmarks/serve_soak.py --runs 200 --every 20 --weights imagenet

It starts `python -m keras_style.apps.web --port PORT --weights W` (the `keras-style serve` command) as a
subprocess with a fresh TMPDIR of its own, so the server's temporary folder (keras-style-web-*) is the only thing
in it, and drives it with gradio_client as a page's API client does: one /stylize after another with the demo pair,
each run's PNG and sidecar downloaded. Every --every runs it prints the run count, the temporary folder's size in
bytes (all of it: uploads, Gradio's cache of previews and downloads, the runs' results) with Gradio's cache and the
runs' folders apart, the files in it, and the server's resident memory (psutil, else /proc/PID/status VmRSS).

What "bounded" means here. The server keeps each finished run's result for download 30 minutes
(runs.RUN_KEEP_SECONDS), and Gradio's cache drops files an hour old (page.GRADIO_CACHE_CLEANUP): a soak of a few
minutes sees the folder grow by each run's kept files, by design. So the folder's check is per run: from the first
reading to the last, it may grow by at most --max-bytes-per-run times the runs in between. Its default, 16 bytes
per pixel of a size x size square (65,536 at 64 px), is about four times what a 64 px run keeps (its PNG and
sidecar in its run folder, Gradio's copies of them and of a preview: about 15 kB) and less than the demo pair's
uploads (103 kB): a leak that keeps an upload, a model or a trace per run breaks it. The memory's check: the last
reading at most --max-rss-growth (default 25 %) above the first, taken after --every runs, once TensorFlow, the
model and the step are built (a model rebuilt per run, ~80 MB, breaks it within a few readings).

Exit status: 0 when both hold, 1 when one does not (which, on stderr), 2 for bad options.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from arguments import ROOT, add_image_arguments  # benchmarks/, the script's own folder

RUN_SECONDS = 600  # one run, the first included (TensorFlow's import, the model, the step's tracing)
PRESET = "gatys"


@dataclass(frozen=True)
class Reading:
    runs: int
    folder_bytes: int
    gradio_bytes: int
    runs_bytes: int
    files: int
    rss_bytes: int


def folder_size(folder: Path) -> tuple[int, int]:
    """The bytes of the files under `folder` (as du --apparent-size -b counts them) and how many files."""
    total = count = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
                count += 1
        except OSError:  # removed meanwhile (Gradio's cleanup, a pruned run)
            pass
    return total, count


def resident_bytes(pid: int) -> int:
    """The process's resident set size, in bytes: psutil when installed, else Linux's /proc."""
    try:
        import psutil
    except ImportError:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS line in /proc/{pid}/status") from None
    return psutil.Process(pid).memory_info().rss


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(args: argparse.Namespace, temporary: Path) -> tuple[subprocess.Popen, Path, str]:
    """`python -m keras_style.apps.web` in a subprocess with TMPDIR=`temporary`: the process, its temporary folder
    and its address, once it serves."""
    port = args.port or free_port()
    environment = dict(os.environ, TMPDIR=str(temporary), TF_CPP_MIN_LOG_LEVEL="2")
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environment.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "keras_style.apps.web", "--port", str(port), "--weights", args.weights,
               "--max-size", str(max(args.size, 64))]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=temporary,
                               env=environment)
    line = process.stdout.readline()  # "serving ...", or nothing when it exits
    if "serving http" not in line:
        process.kill()
        raise RuntimeError(f"the server did not start: {line.strip()} {process.stderr.read().strip()}")
    folders = list(temporary.glob("keras-style-web-*"))
    if len(folders) != 1:
        process.kill()
        raise RuntimeError(f"expected one keras-style-web-* folder in {temporary}, found {folders}")
    return process, folders[0], f"http://127.0.0.1:{port}/"


def read(runs: int, folder: Path, pid: int) -> Reading:
    folder_bytes, files = folder_size(folder)
    return Reading(runs, folder_bytes, folder_size(folder / "gradio")[0], folder_size(folder / "runs")[0], files,
                   resident_bytes(pid))


def show(reading: Reading) -> None:
    print(f"{reading.runs:6d} {reading.folder_bytes:14,d} {reading.gradio_bytes:14,d} {reading.runs_bytes:12,d} "
          f"{reading.files:6d} {reading.rss_bytes / 2**20:10.1f}", flush=True)


def soak(args: argparse.Namespace, client, folder: Path, pid: int) -> list[Reading]:
    from gradio_client import handle_file

    readings = []
    print(f"{'runs':>6} {'folder bytes':>14} {'gradio cache':>14} {'run folders':>12} {'files':>6} {'RSS MiB':>10}",
          flush=True)
    for number in range(1, args.runs + 1):
        job = client.submit(handle_file(args.content), handle_file(args.style), PRESET, args.size, args.iterations,
                            1000, args.network, "none", str(number), api_name="/stylize")
        outputs = job.result(timeout=RUN_SECONDS)
        files = outputs[3] or []
        if len(files) != 2:
            raise RuntimeError(f"run {number} gave no result: {outputs[-1]}")
        for path in files:  # the client's copies: not the server's to keep
            Path(path).unlink(missing_ok=True)
        if number % args.every == 0 or number == args.runs:
            readings.append(read(number, folder, pid))
            show(readings[-1])
    return readings


def verdict(readings: list[Reading], args: argparse.Namespace) -> list[str]:
    """What grew beyond its bound, from the first reading to the last: one line each."""
    first, last = readings[0], readings[-1]
    problems = []
    allowed = first.folder_bytes + (last.runs - first.runs) * args.max_bytes_per_run
    if last.folder_bytes > allowed:
        per_run = (last.folder_bytes - first.folder_bytes) / max(1, last.runs - first.runs)
        problems.append(f"the temporary folder grew {per_run:,.0f} bytes a run from run {first.runs} to run "
                        f"{last.runs}, above --max-bytes-per-run {args.max_bytes_per_run:,d}")
    if last.rss_bytes > first.rss_bytes * (1 + args.max_rss_growth):
        problems.append(f"the server's memory grew from {first.rss_bytes / 2**20:.1f} MiB at run {first.runs} to "
                        f"{last.rss_bytes / 2**20:.1f} MiB at run {last.runs}, above +{args.max_rss_growth:.0%}")
    return problems


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_image_arguments(parser, 64, "each run's size in px (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=50, help="runs in a row (default: %(default)s)")
    parser.add_argument("--iterations", type=int, default=5, help="evaluations per run (default: %(default)s)")
    parser.add_argument("--every", type=int, default=10, help="print a reading every N runs (default: %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="the server's port (default: a free one)")
    parser.add_argument("--weights", default="none",
                        help="the server's --weights (default: none, random weights: no download, same memory)")
    parser.add_argument("--network", default="vgg19", choices=("vgg16", "vgg19"), help="(default: %(default)s)")
    parser.add_argument("--max-bytes-per-run", type=int, default=None, metavar="BYTES",
                        help="the folder's allowed growth per run between the first and last readings "
                             "(default: 16 x size x size)")
    parser.add_argument("--max-rss-growth", type=float, default=0.25, metavar="FRACTION",
                        help="the memory's allowed growth from the first reading to the last (default: %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.runs < 1 or args.every < 1 or args.iterations < 1:
        build_parser().error("--runs, --every and --iterations must be at least 1")
    if args.max_bytes_per_run is None:
        args.max_bytes_per_run = 16 * args.size * args.size
    from gradio_client import Client

    with tempfile.TemporaryDirectory(prefix="serve-soak-") as scratch:
        temporary, downloads = Path(scratch) / "tmp", Path(scratch) / "downloads"
        temporary.mkdir()
        downloads.mkdir()
        started = time.monotonic()
        process, folder, url = start_server(args, temporary)
        print(f"server pid {process.pid}, {url}, temporary folder {folder}", flush=True)
        try:
            client = Client(url, verbose=False, download_files=str(downloads), analytics_enabled=False)
            readings = soak(args, client, folder, process.pid)
            client.close()
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=180)
            except subprocess.TimeoutExpired:
                process.kill()
        left = list(temporary.iterdir())
        print(f"{args.runs} runs in {time.monotonic() - started:.0f} s; the server exited {process.returncode}, "
              f"leaving {len(left)} item(s) in its TMPDIR", flush=True)
    problems = verdict(readings, args)
    if process.returncode != 0 or left:
        problems.append(f"the server exited {process.returncode} and left {[path.name for path in left]}")
    for problem in problems:
        print(f"serve_soak: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
