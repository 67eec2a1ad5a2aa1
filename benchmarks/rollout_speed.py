"""Rollout throughput of the default small policy: batch size 1 vs the batched lock-step path.

    python benchmarks/rollout_speed.py [--env babyai] [--episodes 64] [--batch-sizes 1,32]
                                       [--model DIR] [--device cpu|cuda] [--dtype fp32|bf16]

Prints trajectories/s, policy tokens generated per second, prompt tokens read per second and
env steps per second for each batch size (same tasks, same seeds).
"""

from __future__ import annotations

import argparse
import time

import torch

from agentprm_bench.agents.base import make_policy
from agentprm_bench.agents.rollout import collect_in_memory
from agentprm_bench.envs import resolve_env
from agentprm_bench.paths import default_policy_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="babyai")
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--batch-sizes", default="1,32")
    parser.add_argument("--model", default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    entry = resolve_env(args.env)
    model = args.model or str(default_policy_dir(entry.short_name))
    policy = make_policy("hf", model=model, device=args.device, dtype=args.dtype)
    tasks = list(entry.load_class().splits()["test"])[: args.episodes]
    print(f"env {entry.env_id}  model {model}  device {policy.device}  "
          f"parameters {sum(p.numel() for p in policy.model.parameters()):,}  episodes {len(tasks)}")
    header = f"{'batch':>5s} {'traj/s':>8s} {'gen tok/s':>10s} {'prompt tok/s':>13s} {'env steps/s':>12s} {'wall s':>7s}"
    print(header)
    print("-" * len(header))
    for bs in (int(b) for b in args.batch_sizes.split(",")):
        t0 = time.perf_counter()
        trajs = collect_in_memory(entry.env_id, policy, tasks, 1, 0, batch_size=bs)
        wall = time.perf_counter() - t0
        out = sum(t.compute.policy_tokens_out for t in trajs)
        inp = sum(t.compute.policy_tokens_in for t in trajs)
        steps = sum(t.compute.env_steps for t in trajs)
        print(f"{bs:5d} {len(trajs) / wall:8.2f} {out / wall:10.0f} {inp / wall:13.0f} {steps / wall:12.1f} {wall:7.1f}")


if __name__ == "__main__":
    main()
