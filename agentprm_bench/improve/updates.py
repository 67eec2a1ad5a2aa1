"""The two policy updates of ``improve``, each reading top to bottom.

* ``dpo_update`` (Choudhury 2025, step-level online DPO): at visited states sample M actions
  from the current policy, score each (state, action) with a scorer (the iteration's reward
  model), pair the best with the worst where their scores differ, and train the policy on the
  pairs with the DPO loss against the iteration's starting policy as the reference.
* ``rft_update`` (the outcome baseline, rejection fine-tuning): behaviour-clone the steps of
  the iteration's successful trajectories.

Both save an HF directory (safetensors) with the starting policy's prompt settings, so ``hf``
samples the new policy exactly as the old one, and return their compute.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from agentprm_bench.agents.base import History
from agentprm_bench.agents.bc import POLICY_META, batches, bc_loss, encode, whole_reply
from agentprm_bench.agents.hf import HFPolicy
from agentprm_bench.improve.losses import dpo_loss, reply_logps
from agentprm_bench.jsonl import write_text_atomic
from agentprm_bench.progress import bar as progress_bar
from agentprm_bench.schema import file_digest

# (env_id, nodes [(observations o_0..o_t, actions a_0..a_{t-1})], candidates per node) -> scores, tokens read
Scorer = Callable[[str, Sequence[tuple[Sequence[str], Sequence[str]]], Sequence[Sequence[str]]],
                  tuple[list[list[float]], int]]


@dataclass(frozen=True)
class UpdateSettings:
    lr: float = 1e-4
    epochs: int = 2
    batch_size: int = 16
    beta: float = 0.1  # DPO only
    m: int = 4  # DPO only: actions sampled per state
    temperature: float = 1.0  # DPO only: sampling temperature of the M actions
    seed: int = 0
    procs: int = 1  # DPO only: > 1 trains under torchrun, one process per GPU (or CPU share); see dpo_dist


def preference_pairs(candidates: Sequence[Sequence[str]], scores: Sequence[Sequence[float]]
                     ) -> list[tuple[int, str, str]]:
    """(state index, chosen, rejected) per state: the highest- and lowest-scored distinct actions,
    none where every candidate scores the same (ties keep the first sampled)."""
    pairs = []
    for i, (acts, s) in enumerate(zip(candidates, scores)):
        if len(acts) < 2:
            continue
        best, worst = int(np.argmax(s)), int(np.argmin(s))
        if s[best] > s[worst]:
            pairs.append((i, acts[best], acts[worst]))
    return pairs


def dpo_update(policy_dir: Path, out_dir: Path, states: Sequence[History], scorer: Scorer, settings: UpdateSettings,
               progress: bool = False) -> dict[str, Any]:
    """Sample, score, pair and train; the new policy is written to ``out_dir``. -> metrics and compute."""
    sampler = HFPolicy(str(policy_dir), temperature=settings.temperature)
    rng = random.Random(settings.seed)
    seeds = [rng.randrange(2**31) for _ in states]
    samples = sampler.act(list(states), settings.m, seeds)
    candidates = [list(dict.fromkeys(s.action for s in row if s.parsed)) for row in samples]
    env_id = states[0].env_id if states else ""
    scores, rm_tokens = scorer(env_id, [(h.observations, h.actions) for h in states], candidates)
    pairs = preference_pairs(candidates, scores)
    prompts = sampler.prompts(list(states))
    tok, model = sampler.tokenizer, sampler.model
    max_len = _max_len(policy_dir, model)
    chosen = encode([(prompts[i], a) for i, a, _ in pairs], tok, max_len)
    rejected = encode([(prompts[i], r) for i, _, r in pairs], tok, max_len)
    with torch.no_grad():  # the reference is the starting policy: its log-probs are fixed
        model.eval()
        ref_c = _logps(model, chosen, tok.pad_token_id, settings.batch_size)
        ref_r = _logps(model, rejected, tok.pad_token_id, settings.batch_size)
    if settings.procs > 1:
        from agentprm_bench.improve.dpo_dist import launch

        losses, train_tokens = launch(policy_dir, out_dir, (chosen, rejected, ref_c, ref_r), settings, rng,
                                      {"update": "dpo", "pairs": len(pairs)})
    else:
        losses, train_tokens = dpo_train(model, (chosen, rejected, ref_c, ref_r), tok.pad_token_id, settings, rng,
                                         progress)
        model.eval()
        _save(model, tok, policy_dir, out_dir, {"update": "dpo", "pairs": len(pairs)})
    return {"states": len(states), "pairs": len(pairs), "optimizer_steps": len(losses),
            "first_loss": losses[0] if losses else None, "final_loss": float(np.mean(losses[-5:])) if losses else None,
            "policy_tokens_in": sum(s.tokens_in for row in samples for s in row),
            "policy_tokens_out": sum(s.tokens_out for row in samples for s in row),
            "rm_tokens": int(rm_tokens), "train_tokens": train_tokens, "processes": settings.procs}


Pairs = tuple[list[tuple[list[int], int]], list[tuple[list[int], int]], torch.Tensor, torch.Tensor]


def dpo_train(model: Any, pairs: Pairs, pad: int, settings: UpdateSettings, rng: random.Random,
              progress: bool = False, rank: int = 0, world: int = 1, ddp: Any = None) -> tuple[list[float], int]:
    """DPO epochs over encoded (chosen, rejected) pairs with their reference log-probs (B,):
    batches of ``batch_size`` pairs in an order ``rng`` shuffles each epoch, one AdamW step each.
    -> (loss per step, tokens read). Under torchrun rank r of ``world`` reads pairs r, r+world, ...
    of every batch through ``ddp``; its shard's loss is weighted so that DistributedDataParallel's
    mean over ranks is the batch's mean (the one-process step, however the batch splits; a rank
    left without a pair reads one at weight 0), and the logged loss is that mean."""
    chosen, rejected, ref_c, ref_r = pairs
    net = ddp if ddp is not None else model
    torch.manual_seed(settings.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.0)
    model.train()
    losses, train_tokens = [], 0
    order = list(range(len(chosen)))
    bar = progress_bar(total=settings.epochs * -(-len(chosen) // settings.batch_size), desc="dpo",
                       disable=not progress or rank != 0)
    for _ in range(settings.epochs):
        rng.shuffle(order)
        for start in range(0, len(order), settings.batch_size):
            idx = order[start:start + settings.batch_size]
            mine = idx[rank::world] or idx[:1]
            pi, n = _batch_logps(net, [chosen[i] for i in mine] + [rejected[i] for i in mine], pad)
            loss = dpo_loss(pi[: len(mine)], pi[len(mine):], ref_c[mine], ref_r[mine], settings.beta)
            loss = loss * (len(idx[rank::world]) * world / len(idx))  # DDP's mean over ranks = the batch mean
            value = _step(opt, model, loss)
            if world > 1:
                both = torch.tensor([value, float(n)], dtype=torch.float64)
                torch.distributed.all_reduce(both)
                value, n = float(both[0]) / world, int(both[1])
            losses.append(value)
            train_tokens += n
            bar.update(1)
    bar.close()
    return losses, train_tokens


def rft_update(policy_dir: Path, out_dir: Path, examples: Sequence[tuple[History, str]], settings: UpdateSettings,
               progress: bool = False) -> dict[str, Any]:
    """Behaviour-clone (state, action) steps of successful trajectories into ``out_dir``."""
    policy = HFPolicy(str(policy_dir))
    tok, model = policy.tokenizer, policy.model
    prompts = policy.prompts([h for h, _ in examples])
    encoded = encode([(p, a) for p, (_, a) in zip(prompts, examples)], tok, _max_len(policy_dir, model))
    rows = [(seq, whole_reply(seq, start), []) for seq, start in encoded]
    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.0)
    model.train()
    losses, train_tokens = [], 0
    bar = progress_bar(total=settings.epochs * -(-len(rows) // settings.batch_size), desc="rft", disable=not progress)
    for _ in range(settings.epochs):
        for ids, attn, labels, _ in batches(rows, settings.batch_size, tok.pad_token_id, len(tok), rng):
            ids, attn, labels = ids.to(model.device), attn.to(model.device), labels.to(model.device)
            losses.append(_step(opt, model, bc_loss(model(input_ids=ids, attention_mask=attn).logits, labels)))
            train_tokens += int(attn.sum())
            bar.update(1)
    bar.close()
    model.eval()
    _save(model, tok, policy_dir, out_dir, {"update": "rft", "examples": len(rows)})
    return {"examples": len(rows), "optimizer_steps": len(losses),
            "first_loss": losses[0] if losses else None, "final_loss": float(np.mean(losses[-5:])) if losses else None,
            "policy_tokens_in": 0, "policy_tokens_out": 0, "rm_tokens": 0, "train_tokens": train_tokens}


def _step(opt: torch.optim.Optimizer, model: Any, loss: torch.Tensor) -> float:
    """One optimizer step on ``loss`` (gradients clipped to norm 1); returns the loss value."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


def _max_len(policy_dir: Path, model: Any) -> int:
    meta = policy_dir / POLICY_META
    stored = json.loads(meta.read_text()).get("config", {}) if meta.is_file() else {}
    limit = getattr(model.config, "max_position_embeddings", None) or 32_768
    return int(min(stored.get("max_len", limit), limit))


def _batch_logps(model: Any, rows: Sequence[tuple[list[int], int]], pad: int) -> tuple[torch.Tensor, int]:
    """Summed reply log-probs (B,) of (ids, reply start) rows, right-padded into one forward
    pass, and the tokens read."""
    device = next(model.parameters()).device  # (a DistributedDataParallel wrapper has no .device)
    width = max(len(seq) for seq, _ in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    for b, (seq, _) in enumerate(rows):
        ids[b, : len(seq)] = torch.tensor(seq)
    starts = torch.tensor([s for _, s in rows], device=device)
    lengths = torch.tensor([len(seq) for seq, _ in rows], device=device)
    ids = ids.to(device)
    attn = (torch.arange(width, device=device)[None] < lengths[:, None]).long()
    return reply_logps(model(input_ids=ids, attention_mask=attn).logits, ids, starts, lengths), int(lengths.sum())


def _logps(model: Any, rows: Sequence[tuple[list[int], int]], pad: int, batch_size: int) -> torch.Tensor:
    out = [_batch_logps(model, rows[start:start + batch_size], pad)[0] for start in range(0, len(rows), batch_size)]
    return torch.cat(out) if out else torch.zeros(0)


def _save(model: Any, tok: Any, start_dir: Path, out_dir: Path, update: dict[str, Any]) -> None:
    """The new policy into ``out_dir`` atomically (a sibling tmp dir renamed at the end)."""
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp)
    meta_path = start_dir / POLICY_META
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {"prompt": {}}
    meta.update({"kind": "agentprm-bench improved policy", "weights_sha256": file_digest(tmp / "model.safetensors"),
                 "improved_from": str(start_dir), "improve_update": update})
    write_text_atomic(tmp / POLICY_META, json.dumps(meta, indent=2) + "\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
