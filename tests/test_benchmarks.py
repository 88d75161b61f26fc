"""The benchmark scripts run and report what they promise (their timings are not asserted: machines differ)."""
import json
import subprocess
import sys

import pytest

from .conftest import ROOT


def test_bench_prints_table_and_headlines_last(tmp_path):
    output = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--networks", "vgg16", "--paths", "cached", "concat",
         "--sizes", "64", "--xla", "off", "--warmup", "1", "--evaluations", "1", "--peak-size", "1024",
         "--json", str(output)],
        capture_output=True, text=True, timeout=300,
    )
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


def _bench(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--peak-size", "256", *arguments],
                          capture_output=True, text=True, timeout=300)


def test_bench_in_fresh_interpreters_with_spawn(tmp_path):
    output = tmp_path / "bench.json"
    result = _bench("--spawn", "--networks", "vgg16", "--paths", "cached", "--sizes", "64", "--xla", "off",
                    "--warmup", "1", "--evaluations", "1", "--json", str(output))
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(output.read_text())["rows"]
    assert row["path"] == "cached" and row["traces"] == 1 and row["peak_rss_mb"] > 100


def test_failing_configurations_are_reported_not_crashed(tmp_path):
    # 16 px is below VGG's minimum: each forked worker fails with the library's message, the run exits 1
    result = _bench("--networks", "vgg16", "--paths", "cached", "--sizes", "16", "--xla", "off",
                    "--json", str(tmp_path / "bench.json"))
    assert result.returncode == 1
    assert "vgg16 cached 16 px XLA off: UserError: content image would be" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("every configuration failed, e.g.: UserError:")


def test_style_layers_table_sums_the_judged_style(real_weights):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "style_layers.py"), "--size", "64"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    header, body = rows[0], rows[1:]
    assert "block4_conv1" in header and [row.split(" | ")[0] for row in body] == [
        "| photograph", "| photograph blurred", "| painting blurred", "| uniform noise"]
    for row in body:
        *layers, judged = [float(cell) for cell in row.strip(" |").split(" | ")[1:]]
        assert judged == pytest.approx(sum(layers) / len(layers), rel=0.01)  # the paper's equal layer weights


def test_multiscale_plan_must_end_at_the_size():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "multiscale.py"), "--size", "256",
                             "--plan", "128:3", "200:2"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--plan items are SIZE:EVALUATIONS ending at --size 256" in result.stderr
