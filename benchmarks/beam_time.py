"""One beam search with an env's kept default policy, timed from inside: for comparing commits.

    python benchmarks/beam_time.py --env babyai --tasks 2 --shape 4x4 [--policies results/search/policies]

Beam search (``beam_search_many``, both caches on) over the first test tasks with the kept default
policy (``--policies DIR``, ``DIR/ENV``; admissible decoding, temperature 0.7, seed 0) and a reward
model of the default size (the policy's backbone with a seeded random head, ``max_len`` 2048 as the
default reward models'). Prints one line: the search's wall seconds (model loading excluded), reward-
model tokens read, policy prompt tokens computed and tokens generated, a digest of the chosen answers
and their scores. Run it at two commits in turn to compare them, e.g.
``farm-bench --vs 'env PYTHONPATH=OLD_CHECKOUT python benchmarks/beam_time.py ...' -- python
benchmarks/beam_time.py ...``: the same digest says both chose the same answers.
"""

from __future__ import annotations

import argparse
import hashlib
import time

import torch

from agentprm_bench.agents.base import make_policy
from agentprm_bench.envs import resolve_env
from agentprm_bench.search.beam import beam_search_many
from timing_rm import random_head_rm  # benchmarks/, beside this script


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="babyai")
    ap.add_argument("--tasks", type=int, default=2)
    ap.add_argument("--shape", default="4x4", help="beam width x expansions")
    ap.add_argument("--policies", default="results/search/policies")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    width, expand = map(int, args.shape.split("x"))
    entry = resolve_env(args.env)
    model = f"{args.policies}/{args.env}"
    tasks = list(entry.load_class().splits()["test"][: args.tasks])
    rm = random_head_rm(model)
    policy = make_policy("hf", model=model, temperature=0.7)
    t0 = time.perf_counter()
    (best, _), c = beam_search_many(entry.env_id, tasks, policy, rm, width, expand, seed=0,
                                    env_kwargs={"split": "test"})
    wall = time.perf_counter() - t0
    answers = hashlib.sha256(repr([[s.action for s in b.steps] for b in best]).encode()).hexdigest()[:12]
    print(f"{entry.env_id} {len(tasks)} tasks @{width}x{expand}: wall {wall:.1f} s, rm tokens {c.rm_tokens:,}, "
          f"policy prompt tokens {c.policy_tokens_in:,}, generated {c.policy_tokens_out:,}, answers {answers}, "
          f"scores {[round(b.score, 4) for b in best]}")


if __name__ == "__main__":
    main()
