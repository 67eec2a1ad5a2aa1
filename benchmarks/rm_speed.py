"""Reward-model scoring speed: one pass per trajectory vs one pass per prefix.

    python benchmarks/rm_speed.py [--env textcraft] [--trajectories 64] [--backbone DIR]
                                  [--device cpu|cuda] [--dtype fp32|bf16] [--batch-size 16]

Scores the same noisy-oracle trajectories both ways with a value head on the backbone (the
default small policy unless --backbone is given) and prints tokens read, wall time,
tokens/s and steps scored/s, and the largest difference between the two ways' scores.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from agentprm_bench.agents.base import make_policy
from agentprm_bench.agents.rollout import collect_in_memory
from agentprm_bench.envs import resolve_env
from agentprm_bench.paths import default_policy_dir
from agentprm_bench.prm.model import RewardModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="textcraft")
    parser.add_argument("--trajectories", type=int, default=64)
    parser.add_argument("--backbone", default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-obs-chars", type=int, default=1200)
    args = parser.parse_args()
    entry = resolve_env(args.env)
    backbone = args.backbone or str(default_policy_dir(entry.short_name))
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    rm = RewardModel.from_backbone(backbone, {"max_obs_chars": args.max_obs_chars, "max_len": 1 << 20},
                                   device=args.device, dtype=dtype)
    torch.manual_seed(0)
    torch.nn.init.normal_(rm.model.head.weight, std=0.1)
    rm.model.head.to(dtype)
    tasks = list(entry.load_class().splits()["test"])[: args.trajectories]
    trajs = collect_in_memory(entry.env_id, make_policy("noisy-oracle", p=0.7), tasks, 1, 0)
    items = [(t.env_id, t.observations, t.actions) for t in trajs]
    prefixes = [(e, o[: k + 1], a[: k + 1]) for e, o, a in items for k in range(len(a))]
    steps = len(prefixes)
    print(f"env {entry.env_id}  backbone {backbone}  device {rm.device}  dtype {args.dtype}  "
          f"trajectories {len(items)}  steps {steps}")
    rm.score(items[:2], batch_size=args.batch_size)  # warm-up
    header = f"{'way':12s} {'tokens':>10s} {'wall s':>8s} {'tokens/s':>10s} {'steps/s':>9s}"
    print(header)
    print("-" * len(header))
    results = {}
    for way, batch in (("one-pass", items), ("per-prefix", prefixes)):
        if rm.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        scores, tokens = rm.score(batch, batch_size=args.batch_size)
        if rm.device.startswith("cuda"):
            torch.cuda.synchronize()
        wall = time.perf_counter() - t0
        results[way] = scores
        print(f"{way:12s} {tokens:10d} {wall:8.2f} {tokens / wall:10.0f} {steps / wall:9.1f}")
    flat_one = np.concatenate(results["one-pass"])
    flat_pre = np.array([s[-1] for s in results["per-prefix"]])
    print(f"max |one-pass - per-prefix| = {np.abs(flat_one - flat_pre).max():.2e}")


if __name__ == "__main__":
    main()
