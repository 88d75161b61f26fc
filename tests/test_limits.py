"""A container's limits (run/limits.py) read from fake cgroup trees, v2 and v1, and used by the memory guard and
the batch runner's core count."""
from __future__ import annotations

from pathlib import Path

import pytest

from keras_style.apps import workers
from keras_style.run import limits, memory

GB = 2**30


def write(folder: Path, **files: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name.replace("__", ".")).write_text(text + "\n")


def test_v2_memory_is_the_smallest_limit_on_the_path_less_its_usage(tmp_path):
    root, cgroup = tmp_path / "sys", tmp_path / "cgroup"
    cgroup.write_text("0::/kubepods/pod1/container\n")
    write(root / "kubepods", memory__max="max", memory__current=str(9 * GB))
    write(root / "kubepods/pod1", memory__max=str(6 * GB), memory__current=str(1 * GB))
    write(root / "kubepods/pod1/container", memory__max=str(4 * GB), memory__current=str(GB // 2))
    assert limits.cgroup_memory_available(root, cgroup) == 3.5 * GB
    write(root / "kubepods/pod1", memory__max=str(3 * GB), memory__current=str(2 * GB))  # the pod's is tighter
    assert limits.cgroup_memory_available(root, cgroup) == 1 * GB


def test_v1_memory_and_no_limit(tmp_path):
    root, cgroup = tmp_path / "sys", tmp_path / "cgroup"
    cgroup.write_text("12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n")
    write(root / "memory/docker/abc", memory__limit_in_bytes=str(4 * GB), memory__usage_in_bytes=str(GB))
    assert limits.cgroup_memory_available(root, cgroup) == 3 * GB
    write(root / "memory/docker/abc", memory__limit_in_bytes=str(2**63 - 4096), memory__usage_in_bytes=str(GB))
    assert limits.cgroup_memory_available(root, cgroup) is None  # v1's "unlimited"
    assert limits.cgroup_memory_available(tmp_path / "missing", tmp_path / "missing") is None


def test_cpu_quota_v2_and_v1(tmp_path):
    root, cgroup = tmp_path / "sys", tmp_path / "cgroup"
    cgroup.write_text("0::/pod\n")
    write(root / "pod", cpu__max="150000 100000")
    assert limits.cgroup_cpu_limit(root, cgroup) == 2  # 1.5 cores: two threads
    write(root / "pod", cpu__max="max 100000")
    assert limits.cgroup_cpu_limit(root, cgroup) is None
    cgroup.write_text("3:cpu,cpuacct:/docker/abc\n")
    write(root / "cpu,cpuacct/docker/abc", cpu__cfs_quota_us="100000", cpu__cfs_period_us="100000")
    assert limits.cgroup_cpu_limit(root, cgroup) == 1
    write(root / "cpu,cpuacct/docker/abc", cpu__cfs_quota_us="-1", cpu__cfs_period_us="100000")
    assert limits.cgroup_cpu_limit(root, cgroup) is None


def test_a_container_limit_narrows_the_memory_guard_and_the_core_count(monkeypatch):
    monkeypatch.delenv(memory.MEMORY_LIMIT_VARIABLE, raising=False)
    monkeypatch.setattr(memory, "cgroup_memory_available", lambda: 4.0 * GB)
    monkeypatch.setattr(memory, "_system_available", lambda: 20.0 * GB)
    assert memory.available_bytes() == 4.0 * GB  # the container's 4 GB, not the host's 20
    monkeypatch.setattr(memory, "cgroup_memory_available", lambda: None)
    assert memory.available_bytes() == 20.0 * GB
    # eight cores in this process's affinity, whatever the machine running the test has
    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.setattr(workers, "cgroup_cpu_limit", lambda: 3)
    assert workers.local_cores() == 3  # the quota narrows the affinity
    monkeypatch.setattr(workers, "cgroup_cpu_limit", lambda: None)
    assert workers.local_cores() == 8  # no quota: the affinity


@pytest.mark.parametrize("size,expected", [(3000, 384)])
def test_a_4_gb_container_tiles_a_3000_px_run_small(monkeypatch, size, expected):
    from keras_style.config.settings import Settings

    monkeypatch.delenv(memory.MEMORY_LIMIT_VARIABLE, raising=False)
    monkeypatch.setattr(memory, "cgroup_memory_available", lambda: 4.0 * GB)
    monkeypatch.setattr(memory, "_system_available", lambda: 100.0 * GB)
    tile = memory.tile_size_for(Settings.from_options(preset="gatys", size=size), size, size * 3 // 4)
    assert tile is not None and tile <= expected
