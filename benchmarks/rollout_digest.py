"""A digest of sampled rollouts with an env's kept default policy: for checking that a change to
the policy's arithmetic (attention, KV cache) left what it samples alone.

    python benchmarks/rollout_digest.py --env babyai --tasks 4 --samples 3 [--policies results/search/policies]

Rolls out ``--samples`` episodes on each of the first ``--tasks`` test tasks (``collect_in_memory``,
seed 0, temperature 0.7, one thread) and prints one line: trajectories, steps, and a digest of every
step's action, raw reply, reward and prompt/reply token counts. Run it at two commits in turn (the
old one with ``PYTHONPATH=OLD_CHECKOUT``): the same digest says both sampled the same replies.
"""

from __future__ import annotations

import argparse
import hashlib

import torch

from agentprm_bench.agents.base import make_policy
from agentprm_bench.agents.rollout import collect_in_memory
from agentprm_bench.envs import resolve_env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="babyai")
    ap.add_argument("--tasks", type=int, default=4)
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--policies", default="results/search/policies")
    args = ap.parse_args()
    torch.set_num_threads(1)
    entry = resolve_env(args.env)
    tasks = list(entry.load_class().splits()["test"][: args.tasks])
    policy = make_policy("hf", model=f"{args.policies}/{args.env}", temperature=0.7)
    trajectories = collect_in_memory(entry.env_id, policy, tasks, args.samples, seed=0, env_kwargs={"split": "test"})
    digest = hashlib.sha256()
    for t in trajectories:
        for s in t.steps:
            digest.update(repr((s.action, s.raw, s.reward, s.tokens_in, s.tokens_out)).encode())
    print(f"{entry.env_id} {len(trajectories)} trajectories, {sum(len(t.steps) for t in trajectories)} steps, "
          f"digest {digest.hexdigest()[:16]}")


if __name__ == "__main__":
    main()
