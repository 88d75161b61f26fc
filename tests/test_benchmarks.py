"""The benchmark scripts run and report what they promise (their timings are not asserted: machines differ)."""
import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

BENCHMARKS = ROOT / "benchmarks"
# One tiny configuration: VGG16 at 64 px without XLA, one warm-up and one timed evaluation.
TINY = ["--networks", "vgg16", "--sizes", "64", "--xla", "off", "--warmup", "1", "--evaluations", "1"]
# The bench.py runs the tests below check, by name: arguments after bench.py, without --json.
BENCH_RUNS = {
    "table": [*TINY, "--paths", "cached", "concat", "--peak-size", "1024"],
    "spawn": [*TINY, "--spawn", "--paths", "cached", "--peak-size", "256"],
    # 16 px is below VGG's minimum: each forked worker fails with the library's message, the run exits 1
    "failing": ["--networks", "vgg16", "--paths", "cached", "--sizes", "16", "--xla", "off", "--peak-size", "256"],
}


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """Every run of BENCH_RUNS, all started at once. Each is a process of its own (with --spawn, two) that spends
    much of its time importing TensorFlow on one core, so two cores finish them sooner together than one after
    another. Yields a function that waits for a run by name: (its completed process, its JSON report's path)."""
    folder = tmp_path_factory.mktemp("bench")
    processes = {
        name: subprocess.Popen([sys.executable, str(BENCHMARKS / "bench.py"), *arguments,
                                "--json", str(folder / f"{name}.json")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        for name, arguments in BENCH_RUNS.items()
    }
    finished = {}

    def wait(name: str) -> tuple[subprocess.CompletedProcess, Path]:
        if name not in finished:
            process = processes[name]
            stdout, stderr = process.communicate(timeout=300)
            finished[name] = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        return finished[name], folder / f"{name}.json"

    yield wait
    for name, process in processes.items():
        if name not in finished:  # its test did not run or failed before waiting: stop the run and its workers
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


def test_failing_configurations_are_reported_not_crashed(bench):
    result, _ = bench("failing")
    assert result.returncode == 1
    assert "vgg16 cached 16 px XLA off: UserError: content image would be" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("every configuration failed, e.g.: UserError:")


def test_style_layers_table_sums_the_judged_style(real_weights, monkeypatch, capsys):
    """benchmarks/style_layers.py's main(), run here (TensorFlow is already imported) while the bench.py runs
    finish."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the script imports its neighbour arguments.py
    monkeypatch.delitem(sys.modules, "arguments", raising=False)  # ... which is forgotten again afterwards
    monkeypatch.setattr(sys, "argv", ["style_layers.py", "--size", "64"])
    spec = importlib.util.spec_from_file_location("style_layers", BENCHMARKS / "style_layers.py")
    style_layers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(style_layers)
    assert style_layers.main() == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "---" not in line]
    header, body = rows[0], rows[1:]
    assert "block4_conv1" in header and [row.split(" | ")[0] for row in body] == [
        "| photograph", "| photograph blurred", "| painting blurred", "| uniform noise"]
    for row in body:
        *layers, judged = [float(cell) for cell in row.strip(" |").split(" | ")[1:]]
        assert judged == pytest.approx(sum(layers) / len(layers), rel=0.01)  # the paper's equal layer weights


def test_bench_prints_table_and_headlines_last(bench):
    result, output = bench("table")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert any(line.startswith("| vgg16 | cached | 64x48 | off |") for line in lines)
    assert any(line.startswith("| vgg16 | concat | 64x48 | off |") for line in lines)
    assert lines[-2].startswith("cached/concat speed-up per evaluation, vgg16 at 64 px: ")
    assert lines[-1].startswith("best efficiency: ")
    report = json.loads(output.read_text())
    assert {row["path"] for row in report["rows"]} == {"cached", "concat"}
    for row in report["rows"]:
        assert row["traces"] == 1 and row["peak_rss_mb"] > 100 and row["flops"] > 0
    # the concat path does three images' work
    cached, concat = sorted(report["rows"], key=lambda row: row["path"])
    assert concat["flops"] == 3 * cached["flops"]


def test_bench_in_fresh_interpreters_with_spawn(bench):
    result, output = bench("spawn")
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(output.read_text())["rows"]
    assert row["path"] == "cached" and row["traces"] == 1 and row["peak_rss_mb"] > 100


def test_multiscale_plan_must_end_at_the_size():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "multiscale.py"), "--size", "256",
                             "--plan", "128:3", "200:2"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--plan items are SIZE:EVALUATIONS ending at --size 256" in result.stderr


def _benchmark(name: str):
    sys.path.insert(0, str(BENCHMARKS))  # it imports its neighbours (arguments, quality)
    try:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


def _time_to_quality():
    return _benchmark("time_to_quality")


def test_size_balance_judges_each_run_at_one_size_and_reports_the_spread(tmp_path, monkeypatch):
    """Runs of 64 and 96 px, downscaled to 48 px before judging; the row without a run at 96 px takes the shared one
    (--identical-at), marked as such; the spread is the largest value over the smallest."""
    import numpy as np
    from PIL import Image

    size_balance = _benchmark("size_balance")
    images = tmp_path / "images"
    images.mkdir()
    for name in ("town.png", "waves.png"):
        Image.new("RGB", (8, 6)).save(images / name)
    judged_sizes = []

    def fake_quality(image, content, painting, weights="imagenet"):
        judged_sizes.append(max(image.shape[:2]))
        assert (content.name, painting.name) == ("town.png", "waves.png")
        return {"vgg19_content": float(image.shape[1]), "vgg16_style": 2.0}

    monkeypatch.setattr("keras_style.run.judge.quality", fake_quality)
    for size, rows in ((64, ("per-pixel", "output")), (96, ("per-pixel",))):
        folder = tmp_path / "runs" / str(size) / "runs"
        folder.mkdir(parents=True)
        for row in rows:
            Image.fromarray(np.zeros((size * 3 // 4, size, 3), np.uint8)).save(folder / f"town_waves__{row}.png")
            (folder / f"town_waves__{row}.json").write_text(json.dumps({"seconds": 1.0, "evaluations": 3}))
    found = size_balance.judged_runs(tmp_path / "runs", 48, images, identical_at=96)
    assert judged_sizes == [48, 48, 48]
    assert found["town_waves"]["output"][96]["shared"] is True
    report = size_balance.table(found, 48, "test machine")
    assert "| output | vgg19_content | 48 | 48 (same run) | 1.00 |" in report
    assert size_balance.spread([2.0, 3.0, 2.5]) == 1.5


def test_time_to_quality_plans_and_splits_a_run():
    from types import SimpleNamespace

    from keras_style.config.settings import Settings

    ttq = _time_to_quality()
    name, options, plan = ttq.split_row("front=--plan 40,30,20,10,5 --lbfgs-memory 10")
    assert (name, options, plan) == ("front", {"lbfgs_memory": 10}, [40, 30, 20, 10, 5])
    assert ttq.split_row("today=")[2] is None
    settings = Settings.from_options(size=256)  # painterly: five sizes, 64 to 256 px
    assert ttq.sized_plan(settings, plan) == [(64, 40), (91, 30), (128, 20), (181, 10), (256, 5)]
    with pytest.raises(SystemExit, match="2 counts for 5 sizes"):
        ttq.sized_plan(settings, [10, 5])
    with pytest.raises(SystemExit, match="positive"):
        ttq.split_row("bad=--plan 3,0")
    # the split adds up to the wall time: passes, host work between them, first passes, the rest
    result = SimpleNamespace(scales=[
        {"seconds": 10.0, "network_seconds": 6.0, "first_pass_seconds": 1.0},
        {"seconds": 20.0, "network_seconds": 15.0, "first_pass_seconds": 2.0},
    ])
    split = ttq.time_split(result, wall=35.0)
    assert split == {"network": 21.0, "optimiser": 6.0, "compile": 3.0, "start-up": 5.0}
    assert sum(split.values()) == pytest.approx(35.0)
