"""`keras-style batch --address` against a real two-node Ray cluster on this machine, as a user would start one:
`ray start --head`, then a second `ray start --address ...` with its own --num-cpus and a node label. The jobs run
on both nodes (clips too: each clip's frames in order on one worker), and a worker process killed in the middle of a
job costs that job one retry, not the batch.

Each node has one CPU and each worker takes one, so the two workers land on the two nodes. Ray's token
authentication is on, as `ray start` has it by default: every process here gets the same token.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from .conftest import ROOT, make_picture, require
from .test_batch import SHALLOW_FLAGS, report, save_picture

START_SECONDS = 90


def ray_start(arguments: list[str], environment: dict[str, str]) -> subprocess.Popen:
    """`ray start ... --block` in its own process group (started(): wait until the node runs)."""
    return subprocess.Popen([sys.executable, "-m", "ray.scripts.scripts", "start", *arguments, "--num-cpus", "1",
                             "--disable-usage-stats", "--block"], env=environment, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def started(process: subprocess.Popen) -> str:
    """What a `ray start` printed until it said its node runs (or START_SECONDS passed, or it ended)."""
    said = []
    deadline = time.monotonic() + START_SECONDS
    for line in process.stdout:
        said.append(line)
        if "Ray runtime started" in line or time.monotonic() > deadline:
            break
    return "".join(said)


def stop(*processes: subprocess.Popen) -> None:
    """SIGTERM to a blocking `ray start` stops the node's processes with it (all signalled, then all awaited)."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    for process in running:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def cluster():
    """(the head's address, the environment that reaches it), the head and a labelled second node running. Both
    start at once: the head on a port chosen here, the second node joining it as soon as it is up."""
    require("ray", "the cluster test needs the [batch] extra")
    environment = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32),
                       TF_CPP_MIN_LOG_LEVEL="2")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    local = ["--node-ip-address", "127.0.0.1"]
    nodes = []
    try:
        nodes.append(ray_start(["--head", "--port", address.split(":")[1], "--include-dashboard", "false", *local,
                                "--labels", "keras-style-node=head"], environment))
        nodes.append(ray_start(["--address", address, *local, "--labels", "keras-style-node=second"], environment))
        for node in nodes:
            said = started(node)
            assert "Ray runtime started" in said, said
        yield address, environment
    finally:
        stop(*reversed(nodes))
        # `ray stop` would forget the address the head left for ray.init to join; a stopped --block node does not
        current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        if current.is_file() and current.read_text().strip().rsplit(":", 1)[-1] == address.rsplit(":", 1)[-1]:
            current.unlink()


def kill_the_last_job(out: Path, killed: list[int], stop_looking: threading.Event) -> None:
    """Once the first two jobs' sidecars are published, SIGKILL the worker process still inside a job (Ray titles
    it ray::RayWorker.run while the job runs): the third job's, while the other worker is idle."""
    while not stop_looking.is_set():
        if len([path for path in out.glob("*.json") if not path.name.startswith(".")]) >= 2:
            for entry in Path("/proc").iterdir():
                try:
                    title = (entry / "cmdline").read_bytes().split(b"\0")[0]
                except OSError:
                    continue
                if title.startswith(b"ray::RayWorker.run"):
                    os.kill(int(entry.name), signal.SIGKILL)
                    killed.append(int(entry.name))
                    return
        time.sleep(0.02)


def test_a_batch_runs_on_both_nodes_and_a_killed_worker_costs_one_retry(cluster, tmp_path):
    """A photograph and two clips (a video CONTENT is one job: its frames in order on one worker, the clips side
    by side) through --address: every job ends done, on both nodes, the killed one after one retry."""
    from fractions import Fraction

    require("av", "video needs the [video] extra")
    from keras_style.files.video import encode_clip, open_clip

    address, environment = cluster
    contents = tmp_path / "contents"
    save_picture(contents / "photo.png", 64, 48, 0, "style")
    for number, suffix in ((0, ".mp4"), (1, ".webm")):
        scene = make_picture(96, 48, seed=number + 5, kind="style")
        encode_clip((scene[:, 3 * step:3 * step + 64] for step in range(3)), contents / f"clip{number}{suffix}",
                    Fraction(12))
    save_picture(tmp_path / "style.png", 48, 48, 9, "style")
    # the clips first, one on each worker; the photograph last, long enough to be killed in the middle
    manifest = tmp_path / "jobs.csv"
    manifest.write_text("content,style,iterations\n" + "".join(
        f"contents/{name},style.png,{iterations}\n"
        for name, iterations in (("clip0.mp4", 6), ("clip1.webm", 6), ("photo.png", 150))))
    out = tmp_path / "out"
    killed: list[int] = []
    stop_looking = threading.Event()
    killer = threading.Thread(target=kill_the_last_job, args=(out, killed, stop_looking), daemon=True)
    killer.start()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "keras_style", "batch", "--manifest", str(manifest), "--out", str(out),
             "--size", "48", "--frame-iterations", "2", "--seed", "0", "--weights", "none", *SHALLOW_FLAGS,
             "--address", address, "--workers", "2", "--threads-per-worker", "1"],
            env=environment, cwd=ROOT, capture_output=True, text=True, timeout=240)
    finally:
        stop_looking.set()
        killer.join()
    assert result.returncode == 0, result.stderr
    assert len(killed) == 1, "no worker was seen running a job"
    rows = report(out)
    assert [(row["status"], Path(row["output"]).suffix) for row in rows] == [
        ("done", ".mp4"), ("done", ".webm"), ("done", ".png")]
    sidecars = [json.loads(Path(row["output"]).with_suffix(".json").read_text()) for row in rows]
    nodes = {sidecar["batch"]["worker"]["node"] for sidecar in sidecars}
    assert len(nodes) == 2 and all(re.fullmatch(r"[0-9a-f]{56}", node) for node in nodes)  # Ray's node ids
    assert all(sidecar["batch"]["worker"]["host"] for sidecar in sidecars)
    # the killed job ran once more, on the other worker, idle by then (not on the one started in the dead one's place)
    assert [row["worker"]["attempt"] for row in rows] == [1, 1, 2]
    assert rows[2]["worker"]["pid"] != killed[0]
    assert rows[2]["worker"]["pid"] in {rows[0]["worker"]["pid"], rows[1]["worker"]["pid"]} - {killed[0]}
    for row, sidecar in zip(rows[:2], sidecars):  # each clip: a video of its three frames, later ones warm
        written = open_clip(row["output"])
        assert written.size == (48, 36) and len(list(written.iter_frames())) == 3
        assert len(sidecar["frames"]) == 3 and sidecar["frames"][1]["warm_start"] is True
        assert "temporal" in sidecar["frames"][1]["losses"]["final"]
        assert sidecar["evaluations"] == row["evaluations"] == sum(frame["evaluations"] for frame in sidecar["frames"])
