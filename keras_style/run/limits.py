"""The limits a container puts on this process: its cgroup's memory and CPU quota (v2 and v1).

/proc/meminfo and os.cpu_count() describe the host. In Docker, Kubernetes or a Ray pod the process may use far less:
`docker run --memory 4g` sets memory.max (v2) or memory.limit_in_bytes (v1), `--cpus 2` sets cpu.max (v2) or
cpu.cfs_quota_us / cpu.cfs_period_us (v1), on the process's cgroup or one above it. The smallest limit on the path
from the process's cgroup to the root is the one that holds.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
SELF_CGROUP = Path("/proc/self/cgroup")
# v1 writes this (or a page-rounded huge number) when there is no limit
_V1_UNLIMITED = 2**60


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _number(text: str | None) -> int | None:
    if text is None or text == "max":
        return None
    try:
        return int(text.split()[0])
    except (ValueError, IndexError):
        return None


def _cgroup_paths(controller: str, root: Path, self_cgroup: Path) -> Iterator[Path]:
    """The folders from this process's cgroup up to the hierarchy's root, for a v2 hierarchy and for a v1 one
    mounted as root/controller (each only if it exists)."""
    text = _read(self_cgroup) or ""
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # v2: "0::/path"
            base = root
        elif controller in controllers.split(","):
            base = root / controllers if (root / controllers).is_dir() else root / controller
        else:
            continue
        folder = base / path.lstrip("/")
        while True:
            if folder.is_dir():
                yield folder
            if folder == base:
                break
            folder = folder.parent


def cgroup_memory_available(root: Path = CGROUP_ROOT, self_cgroup: Path = SELF_CGROUP) -> float | None:
    """Bytes this process's cgroups still allow (the limit less what is charged), the smallest on the path; None
    where no limit is set."""
    available = []
    for folder in _cgroup_paths("memory", root, self_cgroup):
        for limit_file, usage_file in (("memory.max", "memory.current"),
                                       ("memory.limit_in_bytes", "memory.usage_in_bytes")):
            limit = _number(_read(folder / limit_file))
            if limit is None or limit >= _V1_UNLIMITED:
                continue
            usage = _number(_read(folder / usage_file)) or 0
            available.append(max(0, limit - usage))
    return float(min(available)) if available else None


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, self_cgroup: Path = SELF_CGROUP) -> int | None:
    """Whole cores this process's CPU quota allows (at least 1), the smallest on the path; None without a quota."""
    cores = []
    for folder in _cgroup_paths("cpu", root, self_cgroup):
        quota_period = (_read(folder / "cpu.max") or "").split()
        if len(quota_period) == 2 and quota_period[0] != "max":
            quota, period = _number(quota_period[0]), _number(quota_period[1])
        else:
            quota, period = _number(_read(folder / "cpu.cfs_quota_us")), _number(_read(folder / "cpu.cfs_period_us"))
        if quota is not None and quota > 0 and period:
            cores.append(max(1, math.ceil(quota / period)))
    return min(cores) if cores else None
