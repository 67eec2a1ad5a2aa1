"""Which numeric settings make a policy build give the same bits on this CPU as on another.

    python benchmarks/determinism.py [--settings default,avx2,avx2+cbwr,...]

Builds ``agents.bc.TINY_BUILD``, the tiny default that ``tests/agents/test_bc.py`` builds twice
(TextCraft, 3 + 3 demonstrations, 1 layer x 32, one epoch: a few seconds) once per setting, each in
a fresh process with ``OMP_NUM_THREADS=1`` (the variables must be set before torch loads), and prints
the weights digest per setting with this machine's CPU, SIMD flags and the instruction set torch
dispatched to. Run it on two machines and compare the tables: a setting whose digest agrees across
CPUs is one under which builds repeat across them. Committed tables: README, "Bit-identical on one
machine, not across CPUs".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

SETTINGS = {
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "avx2+cbwr": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2"},
    "default": {"ATEN_CPU_CAPABILITY": "default"},
    "cbwr-compatible": {"MKL_CBWR": "COMPATIBLE"},
}

_BUILD = """
import json, sys
from agentprm_bench.agents.bc import TINY_BUILD, train_policy
from agentprm_bench.provenance import machine
meta = train_policy(TINY_BUILD, sys.argv[1], progress=False)
print(json.dumps({"sha256": meta["weights_sha256"], "machine": machine()}))
"""


def build(setting: dict[str, str]) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "MKL_CBWR")}
    env.update(setting, OMP_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-c", _BUILD, tmp], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", default=",".join(SETTINGS), help=f"comma-separated, of: {', '.join(SETTINGS)}")
    args = parser.parse_args()
    rows = [(name, build(SETTINGS[name])) for name in args.settings.split(",")]
    m = rows[0][1]["machine"]
    print(f"machine: {m.get('arch')} {m.get('cpu')}, flags {' '.join(m.get('cpu_flags', []))}")
    print(f"{'setting':16s} {'torch dispatch':>14s}  weights sha256 (tiny build)")
    for name, r in rows:
        print(f"{name:16s} {r['machine'].get('torch_cpu_capability', '?'):>14s}  {r['sha256']}")


if __name__ == "__main__":
    main()
