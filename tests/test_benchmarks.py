"""The benchmark scripts run and report what they promise (their timings are not asserted: machines differ)."""
import json
import subprocess
import sys

from .conftest import ROOT


def test_bench_prints_table_and_headlines_last(tmp_path):
    output = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--networks", "vgg16", "--paths", "cached", "concat",
         "--sizes", "64", "--xla", "off", "--warmup", "1", "--evaluations", "1", "--peak-size", "1024", "--json", str(output)],
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
