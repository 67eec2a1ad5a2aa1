"""Grouped-query attention (``agentprm_bench.attention``) against transformers' sdpa on one device:
the same logits, and what it changes in a beam search's time, at ``--threads`` CPU threads.

    python benchmarks/attention_check.py --device cpu --threads 2 --tasks 2 --shape 4x4

Since 10bb6e7 the library leaves CUDA tensors to transformers, so on a GPU both rows run the same
path; the GPU numbers in results/performance.md were taken at 6a32844 (one call per query head,
used on CUDA too then).

1. Logits: the kept default policy (``--policies DIR``, ``DIR/ENV``) read once with each attention,
   on a left-padded batch of three prompts (up to ``--prompt`` tokens) and then cached steps of
   5, 1 and 3 tokens (the shapes beam search and the reward model use): bit-equal or not, and the
   largest difference, per ``--dtype`` (comma-separated).
2. Beam search (``beam_search_many``, as ``benchmarks/beam_time.py``: admissible decoding,
   temperature 0.7, seed 0, a reward model of the default size with a seeded random head, policy in
   the first ``--dtype``, reward model in fp32) over the first ``--tasks`` test tasks, once per entry
   of ``--attentions`` (in that order, each after a one-task warm-up; alternate them: on a GPU the
   first search of a process ran slowest whichever came first): wall seconds, tokens, and digests of
   the chosen answers and their scores (equal digests: the same search). ``grouped`` is the
   library's attention, ``sdpa`` transformers' own.

Prints two markdown tables.
"""

from __future__ import annotations

import argparse
import hashlib
import time

import torch

from agentprm_bench.agents.base import make_policy
from agentprm_bench.agents.hf import load_local_model
from agentprm_bench.attention import NAME
from agentprm_bench.envs import resolve_env
from agentprm_bench.kvcache import with_cache
from agentprm_bench.search.beam import beam_search_many
from timing_rm import random_head_rm  # benchmarks/, beside this script


def _logits(model, device: str, prompt: int, vocab: int) -> list[torch.Tensor]:
    """A left-padded prefill of three rows (prompt, prompt - 37, prompt/2 tokens), then cached steps."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, vocab, (3, prompt), generator=g)
    attn = torch.ones_like(ids)
    attn[1, :37], attn[2, : prompt // 2] = 0, 0
    pos = (attn.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        out, past = with_cache(model, None, input_ids=ids.to(device), attention_mask=attn.to(device),
                               position_ids=pos.to(device))
        logits = [out.logits.float().cpu()]
        for q in (5, 1, 3):
            new = torch.randint(0, vocab, (3, q), generator=g)
            attn = torch.cat([attn, torch.ones(3, q, dtype=torch.long)], -1)
            step = pos[:, -1:] + torch.arange(1, q + 1)[None]
            pos = torch.cat([pos, step], -1)
            out, past = with_cache(model, past, input_ids=new.to(device), attention_mask=attn.to(device),
                                   position_ids=step.to(device))
            logits.append(out.logits.float().cpu())
    return logits


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _beam(args, entry, tasks, attention: str) -> str:
    """One timed beam search -> its table row; ``attention``: grouped (the library's) or sdpa."""
    model = f"{args.policies}/{args.env}"
    width, expand = map(int, args.shape.split("x"))
    rm = random_head_rm(model, device=args.device)
    policy = make_policy("hf", model=model, temperature=0.7, device=args.device, dtype=args.dtype.split(",")[0])
    if attention == "sdpa":
        policy.model.set_attn_implementation("sdpa")
        rm.model.backbone.set_attn_implementation("sdpa")
    kw = {"seed": 0, "env_kwargs": {"split": "test"}}
    beam_search_many(entry.env_id, tasks[:1], policy, rm, 2, 2, **kw)  # warm-up (kernels, allocator)
    _sync(args.device)
    t0 = time.perf_counter()
    (best, _), c = beam_search_many(entry.env_id, tasks, policy, rm, width, expand, **kw)
    _sync(args.device)
    wall = time.perf_counter() - t0
    answers = hashlib.sha256(repr([[s.action for s in b.steps] for b in best]).encode()).hexdigest()[:12]
    scores = hashlib.sha256(repr([b.score for b in best]).encode()).hexdigest()[:12]
    return (f"| {args.device} | {attention} | {len(tasks)} @{args.shape} | {wall:.1f} | {c.rm_tokens:,} | "
            f"{c.policy_tokens_in:,} | {c.policy_tokens_out:,} | {answers} | {scores} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="babyai")
    ap.add_argument("--policies", default="results/search/policies")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="bf16,fp32", help="comma-separated; the first is the beam's policy dtype")
    ap.add_argument("--prompt", type=int, default=1500, help="prompt tokens of the longest row (part 1)")
    ap.add_argument("--tasks", type=int, default=2, help="beam search tasks (0: skip part 2)")
    ap.add_argument("--shape", default="8x8", help="beam width x expansions")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--attentions", default="grouped,sdpa,sdpa,grouped",
                    help="beam searches in this order: grouped (the library's) or sdpa (transformers')")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "CPU"
    print(f"{name}, torch {torch.__version__}, {args.threads} CPU thread(s)\n")
    print("| device | dtype | attention | forwards | bit-equal | largest difference |\n|---|---|---|---|---|---|")
    for dtype in args.dtype.split(","):
        grouped, tokenizer, _ = load_local_model(f"{args.policies}/{args.env}", args.device, dtype)
        assert grouped.config._attn_implementation == NAME
        mine = _logits(grouped, args.device, args.prompt, len(tokenizer))
        grouped.set_attn_implementation("sdpa")
        theirs = _logits(grouped, args.device, args.prompt, len(tokenizer))
        equal = all(torch.equal(a, b) for a, b in zip(mine, theirs))
        diff = max(float((a - b).abs().max()) for a, b in zip(mine, theirs))
        print(f"| {args.device} | {dtype} | grouped vs sdpa | {len(mine)} | {'yes' if equal else 'NO'} | {diff:.3g} |")
    if args.tasks <= 0:
        return
    entry = resolve_env(args.env)
    tasks = list(entry.load_class().splits()["test"][: args.tasks])
    print("\n| device | attention | tasks | wall s | rm tokens | policy prompt tokens | generated | answers | "
          "scores |\n|---|---|---|---|---|---|---|---|---|")
    for attention in args.attentions.split(","):
        print(_beam(args, entry, tasks, attention), flush=True)


if __name__ == "__main__":
    main()
