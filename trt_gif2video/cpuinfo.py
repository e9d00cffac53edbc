"""What this CPU can compute fast: the SIMD features that change our numbers.

Benchmarks name them beside the CPU model (two VMs both called "AMD EPYC" differed 2x in matmul
peak and in INT8 speed-up: one had AVX-512 with VNNI and BF16, the other only AVX2), and training
uses bf16 autocast only where the CPU computes bf16 natively (elsewhere oneDNN emulates it, ~10x
slower than fp32).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

# /proc/cpuinfo flag -> the name people use, in the order a summary lists them.
_FEATURES = (("avx2", "AVX2"), ("avx512f", "AVX-512"), ("avx512_vnni", "VNNI"), ("avx_vnni", "AVX-VNNI"),
             ("avx512_bf16", "BF16"), ("amx_bf16", "AMX-BF16"), ("amx_int8", "AMX-INT8"))


@lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty where there is none, e.g. not Linux)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if not line.strip():
                break
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (empty where they cannot be read)."""
    return frozenset(_cpuinfo().get("flags", "").split())


def cpu_name() -> str:
    """e.g. "AMD EPYC"; the platform's processor string where /proc/cpuinfo has no model name."""
    import platform

    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


def isa_summary(flags: frozenset[str] | None = None) -> str:
    """e.g. "AVX2, AVX-512, VNNI, BF16"; "unknown ISA" where no flags can be read."""
    flags = cpu_flags() if flags is None else flags
    names = [name for flag, name in _FEATURES if flag in flags]
    return ", ".join(names) if names else ("no AVX2" if flags else "unknown ISA")


def has_native_bf16(flags: frozenset[str] | None = None) -> bool:
    """Whether the CPU computes bf16 natively (AVX-512 BF16 or AMX)."""
    flags = cpu_flags() if flags is None else flags
    return "avx512_bf16" in flags or "amx_bf16" in flags
