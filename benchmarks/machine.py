"""What CPU a benchmark ran on, for its results.

The same seed gives different models on different CPUs: PyTorch's kernels round differently with
AVX-512 and AMX than with AVX2 (benchmarks/README.md, "The CPU is one cause"), and which grid
threshold a calibration passes follows. So every run records its CPU beside its figures.
"""

from __future__ import annotations

import os
import platform
from functools import lru_cache
from pathlib import Path

# The instruction sets that decide which kernels PyTorch (oneDNN, MKL) picks on x86.
_FLAGS = (("avx512f", "AVX-512"), ("amx_tile", "AMX"), ("avx2", "AVX2"))


@lru_cache(maxsize=1)
def cpu_description() -> str:
    """'<model name>, <n> cores, AVX-512 AMX' (the widest sets it has), from /proc/cpuinfo where there is one."""
    model, flags = platform.processor() or platform.machine(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            name, _, value = line.partition(":")
            if name.strip() == "model name":
                model = value.strip()
            elif name.strip() == "flags":
                flags = set(value.split())
                break
    sets = [label for flag, label in _FLAGS if flag in flags]
    if "AVX-512" in sets:
        sets.remove("AVX2")  # implied
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return ", ".join(part for part in (model, f"{cores} cores", " ".join(sets)) if part)
