"""Where a result came from: git commit, package versions and the machine kind, recorded in every
output. The machine matters: the same seed gives bit-identical weights on one CPU kind but not
across kinds (README, "Bit-identical on one machine, not across CPUs"), so a checkpoint or result
records the CPU, the instruction set torch dispatched to and the settings that change it."""

from __future__ import annotations

import os
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

PACKAGES = ("agentprm-bench", "torch", "transformers", "tokenizers", "gymnasium", "minigrid", "numpy", "vllm")


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The checkout's HEAD commit (with "-dirty" if it has changes), or "unknown"."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


# environment variables that change which kernels run, hence the bits of a trained model
NUMERIC_ENV = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "OMP_NUM_THREADS", "CUBLAS_WORKSPACE_CONFIG")


# CPU feature flags that decide which vector kernels MKL, oneDNN and ATen pick
SIMD_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
              "amx_tile", "amx_bf16", "asimd", "sve")


def _cpuinfo() -> tuple[str, list[str]]:
    """The CPU model name and its SIMD flags (Linux ``/proc/cpuinfo``; elsewhere the model only)."""
    model, flags = platform.processor() or "unknown", []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() in ("flags", "Features") and not flags:
                have = set(value.split())
                flags = [f for f in SIMD_FLAGS if f in have]
    except OSError:
        pass
    return model, flags


@lru_cache(maxsize=1)
def machine() -> dict[str, object]:
    """The machine kind: architecture, CPU model and SIMD flags, the instruction set torch's kernels use
    (``torch.backends.cpu.get_cpu_capability``), the GPU if one is visible, and the set
    environment variables of ``NUMERIC_ENV``."""
    import torch

    model, flags = _cpuinfo()
    out: dict[str, object] = {"arch": platform.machine(), "cpu": model, "cpu_flags": flags,
                              "torch_cpu_capability": torch.backends.cpu.get_cpu_capability()}
    if torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(0)
    env = {k: os.environ[k] for k in NUMERIC_ENV if k in os.environ}
    if env:
        out["env"] = env
    return out


def stamp() -> dict[str, object]:
    """The provenance fields every stored output carries: git_commit, packages, machine."""
    return {"git_commit": git_commit(), "packages": package_versions(), "machine": machine()}


def package_version() -> str:
    return package_versions().get("agentprm-bench", "0")
