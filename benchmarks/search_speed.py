"""Beam search with and without the reward model's per-path KV cache, side by side.

    python benchmarks/search_speed.py [--tasks 10] [--envs textcraft,babyai] [--rm DIR] [--threads 1]
    python benchmarks/search_speed.py --together [...]
    python benchmarks/search_speed.py --policy-cache [--policies results/search/policies] [--shape 4x4] [...]

For each env, beam search @4x4 on the first test tasks with the noisy-oracle policy (p 0.5) and
one reward model: re-encoding every live path at every depth (``score_expansions``, the old way)
and keeping each path's cache (``score_extensions``), interleaved task by task. Prints reward-model
tokens read, wall time and whether the two chose the same answers; the LAST line is the
reward-model token ratio (re-encode / cached) at @4x4 over all envs. Without ``--rm`` the reward
model is a small Qwen2-style model built from its config with a seeded random head and a
``max_len`` of ``--rm-max-len`` (default 32k; token counts do not depend on the weights' quality,
only on the paths). A path longer than ``max_len`` is read in windows: re-encoding reads the
window that holds each candidate's last step, the cache extends that window while it holds.

``--together``: instead, cached beam search one task at a time against all the tasks searched
together (``beam_search_many``: one policy call and one reward-model call per depth for all of
them), alternating which runs first per round; the LAST line is the wall-time ratio.

``--policy-cache``: instead, beam search with each env's kept default policy (``--policies DIR``,
``DIR/ENV``; admissible decoding, temperature 0.7) reading every prompt whole against keeping each
path's prompt KV cache (``act_cached``), all tasks searched together, alternating which runs first
per round. The reward model is the policy's backbone with a seeded random head (the default reward
models' size, ``max_len`` ``--rm-max-len``, default 2048 as theirs) unless ``--rm``. Prints prompt
tokens computed, generated tokens, median wall times and whether the two chose the same answers;
the LAST line is the wall-time ratio over all envs.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from agentprm_bench.agents.base import make_policy
from agentprm_bench.envs import resolve_env
from agentprm_bench.prm.model import RewardModel
from agentprm_bench.search.beam import beam_search, beam_search_many
from timing_rm import random_head_rm  # benchmarks/, beside this script


def small_rm(seed: int = 0, max_len: int = 32768) -> RewardModel:
    from agentprm_bench.agents.bc import TrainPolicyConfig, build_model, train_tokenizer

    torch.manual_seed(seed)
    texts = ["Crafting commands: craft 4 oak planks using 1 oak logs. Goal: craft oak planks.",
             "Your goal: go to the red ball. Available actions: turn left, move forward, go to red ball 1",
             "Action: get 1 oak logs", "Instruction: [SEP] find shoes [SEP] Search"] * 30
    tok = train_tokenizer(texts, vocab_size=400)
    model = build_model(TrainPolicyConfig(env="textcraft", hidden_size=64, layers=2, heads=2, max_len=32768), tok)
    path = tempfile.mkdtemp(prefix="agentprm-rm-")
    model.save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    rm = RewardModel.from_backbone(path, {"kind": "agentprm", "max_obs_chars": 1200, "max_len": max_len}, device="cpu")
    torch.nn.init.normal_(rm.model.head.weight, std=0.5)
    return rm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=10)
    ap.add_argument("--envs", default="textcraft,babyai")
    ap.add_argument("--rm", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--together", action="store_true")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--policy-cache", action="store_true")
    ap.add_argument("--policies", default="results/search/policies")
    ap.add_argument("--shape", default="4x4", help="beam width x expansions for --policy-cache")
    ap.add_argument("--rm-max-len", type=int, default=None,
                    help="the built reward model's max_len (default 32768; 2048 with --policy-cache)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.policy_cache:
        return policy_cache(args)
    rm = RewardModel.load(args.rm) if args.rm else small_rm(max_len=args.rm_max_len or 32768)
    policy = make_policy("noisy-oracle", p=0.5)
    if args.together:
        return together(args, rm, policy)
    print("| env | tasks | RM tokens re-encode | RM tokens cached | ratio | wall s re-encode | wall s cached | same answers |")
    print("|---|---|---|---|---|---|---|---|")
    total_old = total_new = 0
    for name in args.envs.split(","):
        entry = resolve_env(name)
        tasks = list(entry.load_class().splits()["test"][: args.tasks])
        old = new = 0
        t_old = t_new = 0.0
        same = 0
        for task in tasks:  # interleaved: each task both ways, back to back
            t0 = time.perf_counter()
            a = beam_search(entry.env_id, task, policy, rm, 4, 4, seed=0, cached=False)
            t1 = time.perf_counter()
            b = beam_search(entry.env_id, task, policy, rm, 4, 4, seed=0, cached=True)
            t2 = time.perf_counter()
            t_old, t_new = t_old + t1 - t0, t_new + t2 - t1
            old, new = old + a.compute.rm_tokens, new + b.compute.rm_tokens
            same += [s.action for s in a.best.steps] == [s.action for s in b.best.steps] and bool(
                np.allclose(a.best.score, b.best.score, atol=1e-5))
        total_old, total_new = total_old + old, total_new + new
        print(f"| {entry.env_id} | {len(tasks)} | {old:,} | {new:,} | {old / max(1, new):.2f} | {t_old:.1f} | "
              f"{t_new:.1f} | {same}/{len(tasks)} |")
    print(f"beam rm-token ratio (re-encode / cached) at @4x4: {total_old / max(1, total_new):.2f}")


def together(args: argparse.Namespace, rm: RewardModel, policy: object) -> None:
    print("| env | tasks | wall s one at a time | wall s together | ratio | RM tokens (both) | same answers |")
    print("|---|---|---|---|---|---|---|")
    sum_one = sum_all = 0.0
    for name in args.envs.split(","):
        entry = resolve_env(name)
        tasks = list(entry.load_class().splits()["test"][: args.tasks])
        walls: dict[str, list[float]] = {"one": [], "all": []}
        for r in range(args.rounds):
            for way in (("one", "all") if r % 2 == 0 else ("all", "one")):
                t0 = time.perf_counter()
                if way == "one":
                    alone = [beam_search(entry.env_id, t, policy, rm, 4, 4, seed=0) for t in tasks]
                else:
                    (best, _), compute = beam_search_many(entry.env_id, tasks, policy, rm, 4, 4, seed=0)
                walls[way].append(time.perf_counter() - t0)
        one, all_ = float(np.median(walls["one"])), float(np.median(walls["all"]))
        same = sum([s.action for s in a.best.steps] == [s.action for s in b.steps] for a, b in zip(alone, best))
        tokens = sum(a.compute.rm_tokens for a in alone)
        assert tokens == compute.rm_tokens
        sum_one, sum_all = sum_one + one, sum_all + all_
        print(f"| {entry.env_id} | {len(tasks)} | {one:.1f} | {all_:.1f} | {one / all_:.2f} | {tokens:,} | "
              f"{same}/{len(tasks)} |")
    print(f"beam @4x4 wall-time ratio (one task at a time / together), median of {args.rounds}: {sum_one / sum_all:.2f}")


def policy_cache(args: argparse.Namespace) -> None:
    width, expand = map(int, args.shape.split("x"))
    print("| env | tasks | shape | prompt tokens whole | prompt tokens cached | ratio | generated (both) | "
          "wall s whole | wall s cached | ratio | same answers |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    sum_whole = sum_cached = 0.0
    for name in args.envs.split(","):
        entry = resolve_env(name)
        model = f"{args.policies}/{name}"
        tasks = list(entry.load_class().splits()["test"][: args.tasks])
        if args.rm:
            rm = RewardModel.load(args.rm)
        else:
            rm = random_head_rm(model, max_len=args.rm_max_len or 2048)
        walls: dict[bool, list[float]] = {True: [], False: []}
        runs = {}
        for r in range(args.rounds):
            for cache in ((False, True) if r % 2 == 0 else (True, False)):
                policy = make_policy("hf", model=model, temperature=0.7, prompt_cache=cache)
                t0 = time.perf_counter()
                runs[cache] = beam_search_many(entry.env_id, tasks, policy, rm, width, expand, seed=0,
                                               env_kwargs={"split": "test"})
                walls[cache].append(time.perf_counter() - t0)
        (best_w, _), c_w = runs[False]
        (best_c, _), c_c = runs[True]
        same = sum([s.action for s in a.steps] == [s.action for s in b.steps] for a, b in zip(best_w, best_c))
        whole, cached = float(np.median(walls[False])), float(np.median(walls[True]))
        sum_whole, sum_cached = sum_whole + whole, sum_cached + cached
        generated = f"{c_w.policy_tokens_out:,}" + ("" if c_w.policy_tokens_out == c_c.policy_tokens_out
                                                    else f" / {c_c.policy_tokens_out:,}")
        print(f"| {entry.env_id} | {len(tasks)} | @{width}x{expand} | {c_w.policy_tokens_in:,} | "
              f"{c_c.policy_tokens_in:,} | {c_w.policy_tokens_in / max(1, c_c.policy_tokens_in):.2f} | {generated} | "
              f"{whole:.1f} | {cached:.1f} | {whole / cached:.2f} | {same}/{len(tasks)} |")
    print(f"beam @{width}x{expand} wall-time ratio (prompts read whole / per-path policy cache), median of "
          f"{args.rounds}: {sum_whole / sum_cached:.2f}")


if __name__ == "__main__":
    main()
