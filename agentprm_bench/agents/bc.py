"""The default small policy: a tiny Qwen2-style LM trained by behaviour cloning, no downloads.

``train_policy`` reads top to bottom:
1. roll out oracle and noisy-oracle demonstrations on the env's train split;
2. train a byte-level BPE tokenizer (``tokenizers``) on their prompts and actions;
3. build a small Qwen2 model from its config (~1.7M parameters; WebShop's 0.25M);
4. optionally warm up on condensed views of the states (``curriculum``), then behaviour-clone
   every demonstrated action (loss on the "Action: ..." reply, or only its admissible choices);
5. ``save_pretrained`` model and tokenizer (safetensors) plus ``agentprm_policy.json``
   (this config, the prompt budget and decoding the ``hf`` policy reuses, metrics, provenance).
By default the policy decodes restricted to admissible actions (see ``hf``): trained for
minutes, a model this small picks good actions far better than it spells item names or
ASINs out of a long page.
The noisy demonstrations label the action actually taken (``noisy_labels="taken"``), so the
clone also learns some of their mistakes: a good but imperfect policy, leaving search room
to help; or the oracle's action in those states (``"oracle"``, DAgger-style: off-path states,
clean labels), the default where cloning the taken actions failed (``ENV_DEFAULTS``).
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agentprm_bench.agents.base import History, make_policy
from agentprm_bench.agents.curriculum import condensed
from agentprm_bench.agents.hf import action_trie
from agentprm_bench.agents.prompt import ACTION_PREFIX, build_messages, render_prompt
from agentprm_bench.agents.rollout import collect_in_memory
from agentprm_bench.agents.trajectory import Trajectory
from agentprm_bench.envs import make_env, resolve_env
from agentprm_bench.errors import UserError
from agentprm_bench.jsonl import write_text_atomic
from agentprm_bench.locks import exclusive
from agentprm_bench.progress import bar as progress_bar
from agentprm_bench.schema import file_digest
from agentprm_bench.provenance import stamp

log = logging.getLogger(__name__)
POLICY_META = "agentprm_policy.json"
SPECIAL = ["<|pad|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]
CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")


@dataclass(frozen=True)
class TrainPolicyConfig:
    env: str
    oracle_episodes: int = 400
    noisy_episodes: int = 800
    noisy_p: float = 0.75
    noisy_labels: str = "taken"  # label noisy-demo states with the action taken, or the oracle's ("oracle")
    epochs: int = 2
    batch_size: int = 32
    lr: float = 3e-3
    max_len: int = 512
    vocab_size: int = 2048
    pre_tokenizer: str = "byte"  # "byte" (GPT-2 style), "spaces" or "words": see ``train_tokenizer``
    hidden_size: int = 128
    layers: int = 6
    heads: int = 4
    max_prompt_chars: int = 1600
    max_obs_chars: int = 1200
    omitted_actions: int = 0  # list the actions of up to this many omitted turns in the prompt (``build_messages``)
    decoding: str = "admissible"  # how the saved policy decodes by default ("admissible" | "free")
    loss: str = "tokens"  # "tokens": every reply token; "decisions": only choices among admissible actions
    lm_weight: float = 0.0  # weight of an auxiliary next-token loss on the whole sequence (prompt included)
    curriculum_steps: int = 0  # warm-up steps on each condensed view of ``curriculum.VIEWS`` (decisions loss)
    examples: str = "steps"  # "steps": one sequence per step; "episodes": ``merge_prefixes`` (tokens loss only)
    max_minutes: float | None = None  # optional abort (no model saved) past this much wall time; never a stop
    seed: int = 0


def current_fields(config: dict[str, Any]) -> dict[str, Any]:
    """A stored ``TrainPolicyConfig`` dict with renamed fields under their current names
    (``split_spaces`` became ``pre_tokenizer``), so a policy trained before a rename still matches."""
    config = dict(config)
    if "split_spaces" in config:
        config.setdefault("pre_tokenizer", "spaces" if config["split_spaces"] else "byte")
        del config["split_spaces"]
    return config


def demonstrations(cfg: TrainPolicyConfig, progress: bool) -> list[Trajectory]:
    train = list(resolve_env(cfg.env).load_class().splits()["train"])
    rng = random.Random(cfg.seed)
    demos = []
    for name, episodes, options in (("oracle", cfg.oracle_episodes, {}),
                                    ("noisy-oracle", cfg.noisy_episodes, {"p": cfg.noisy_p})):
        tasks = [train[i % len(train)] for i in rng.sample(range(max(episodes, len(train))), episodes)]
        demos += collect_in_memory(resolve_env(cfg.env).env_id, make_policy(name, **options), tasks, 1,
                                   cfg.seed, env_kwargs={"split": "train"}, progress=progress)
    return demos


# Per-env defaults of ``train-policy``. Measured with the shared defaults (free decoding): the
# TextCraft and WebShop clones copied the random actions of the noisy demos and solved no test
# task; clean oracle labels on those states help both. WebShop's decisions copy values found by
# content (the ASIN of the first result, the option values the instruction names): a 0.25M model
# with the "words" pre-tokenizer, the short prompt (first observation + last turn) and the
# curriculum warm-up learns them in ~6 minutes; the 1.7M shared default did not in 15. On
# WebShop-v1's original pages (selected options not shown: the prompt lists the omitted turns'
# actions instead), 1,000 warm-up steps per view reached only 0.015 test success (mean reward
# 0.432, 200 tasks, temperature 1.0), longer prompts (max_obs_chars 3000, max_len 1024) 0.005;
# 3,000 warm-up steps per view reached 0.155 (mean reward 0.506): the option copy needs them.
ENV_DEFAULTS: dict[str, dict[str, Any]] = {
    # BabyAI-v1 reads the whole episode (AgentGym's agents see the whole chat): at most 20 turns of
    # <= 1,200-character observations fit 6,144 tokens, so turns are never dropped, each turn's prompt
    # extends the last one, and the ``hf`` prompt cache reads only the new turn. Training reads each
    # episode once (``merge_prefixes``) instead of once per step.
    "agentprm/BabyAI-v1": {"max_prompt_chars": 24_000, "max_len": 6144, "examples": "episodes", "batch_size": 8,
                           "epochs": 3},
    "agentprm/TextCraft-v1": {"noisy_labels": "oracle"},
    "agentprm/WebShop-v1": {"noisy_labels": "oracle", "oracle_episodes": 800, "noisy_episodes": 400,
                            "loss": "decisions", "pre_tokenizer": "words", "hidden_size": 64, "layers": 2,
                            "heads": 4, "max_prompt_chars": 1, "omitted_actions": 8, "lr": 1e-3,
                            "curriculum_steps": 3000, "epochs": 3},
}


# A build of seconds, pinned twice: tests/agents/test_bc.py builds it twice and compares digests;
# benchmarks/determinism.py prints its digest under several numeric settings (README's table).
TINY_BUILD = TrainPolicyConfig(env="textcraft", oracle_episodes=3, noisy_episodes=3, epochs=1, vocab_size=300,
                               hidden_size=32, layers=1, heads=2, max_len=256, batch_size=8)


def default_config(env: str, **overrides: Any) -> TrainPolicyConfig:
    env_id = resolve_env(env).env_id
    return TrainPolicyConfig(env=env_id, **{**ENV_DEFAULTS.get(env_id, {}), **overrides})


def replay(traj: Trajectory) -> list[tuple[list[str], str]]:
    """(admissible actions, the oracle's action) at every state of a trajectory, replayed in a fresh env."""
    env = make_env(traj.env_id)
    _, info = env.reset(options={"task_id": traj.task_id})
    states = []
    for action in traj.actions:
        states.append((list(info.get("admissible_actions", [])), env.oracle_action()))
        _, _, _, _, info = env.step(action)
    return states


def step_prompts(traj: Trajectory, cfg: TrainPolicyConfig, tokenizer: Any,
                 labels: list[str] | None = None) -> list[tuple[str, str]]:
    """(prompt, label) for every step, the prompt exactly as the ``hf`` policy renders it; the label
    is the action taken unless ``labels`` gives others."""
    out = []
    for t, step in enumerate(traj.steps):
        h = History(traj.env_id, traj.task_id, traj.observations[: t + 1], traj.actions[:t])
        out.append((render_prompt(build_messages(h, cfg.max_prompt_chars, cfg.max_obs_chars, cfg.omitted_actions), tokenizer),
                    step.action if labels is None else labels[t]))
    return out


PRE_TOKENIZERS = ("byte", "spaces", "words")


def train_tokenizer(texts: list[str], vocab_size: int, pre_tokenizer: str = "byte") -> Any:
    """A byte-level BPE tokenizer. ``pre_tokenizer`` decides where words start:
    "byte" is GPT-2's (a space joins the word after it, so " black" and "[black]" differ);
    "spaces" makes every space a token of its own; "words" joins a space to the word, number or
    punctuation before it ("color: " + "black" + ", "), so a word is the same tokens after a
    space, a bracket or a line start without spending a token per space."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if pre_tokenizer not in PRE_TOKENIZERS:
        raise UserError(f"pre_tokenizer must be one of {', '.join(PRE_TOKENIZERS)}; got {pre_tokenizer!r}")
    tok = Tokenizer(models.BPE())
    if pre_tokenizer == "byte":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    elif pre_tokenizer == "spaces":
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(" ", behavior="isolated"),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False)])
    else:
        words = Regex(r"\p{L}+ ?|\p{N}+ ?|[^\s\p{L}\p{N}]+ ?|\s+")
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(words, behavior="isolated"),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|pad|>", eos_token="<|end|>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(cfg: TrainPolicyConfig, tokenizer: Any) -> Any:
    from transformers import AutoModelForCausalLM, Qwen2Config

    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, intermediate_size=4 * cfg.hidden_size,
        num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads, num_key_value_heads=max(1, cfg.heads // 2),
        max_position_embeddings=cfg.max_len + 64, tie_word_embeddings=True, rope_theta=10_000.0,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.eos_token_id,
    )
    return AutoModelForCausalLM.from_config(config)


Spans = tuple[tuple[int, int], ...]  # [start, end) of each reply in a sequence
Example = tuple[list[int], Spans, list[tuple[int, tuple[int, ...]]]]  # ids, replies, choice points


def encode(pairs: list[tuple[str, str]], tokenizer: Any, max_len: int) -> list[tuple[list[int], int]]:
    """Token ids of prompt + "Action: a<|end|>" (prompt cut from the left to fit) and the reply start."""
    out = []
    for prompt, action in pairs:
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        a = tokenizer(ACTION_PREFIX + action, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        p = p[-(max_len - len(a)):] if len(a) < max_len else []
        out.append((p + a[:max_len], len(p)))
    return out


def whole_reply(seq: list[int], start: int) -> Spans:
    """The spans of a one-step sequence: its reply, from ``start`` to the end."""
    return ((start, len(seq)),)


def merge_prefixes(steps: list[tuple[list[int], int]]) -> list[tuple[list[int], Spans]]:
    """One episode's encoded steps (``encode``, in order) as few sequences: where step t's prompt +
    reply is a prefix of step t+1's sequence (the chat only grew: no turn dropped, nothing cut), the
    two are one sequence whose reply spans are both steps' replies. Every reply token keeps exactly
    the context it has in its own step's sequence, so the tokens loss sees the same predictions for
    a fraction of the tokens read (the prompt is read once per sequence, not once per step)."""
    out: list[tuple[list[int], Spans]] = []
    for seq, start in steps:
        if out and len(out[-1][0]) <= start and seq[: len(out[-1][0])] == out[-1][0]:
            out[-1] = (seq, out[-1][1] + whole_reply(seq, start))
        else:
            out.append((seq, whole_reply(seq, start)))
    return out


def bc_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy on reply tokens. logits: (B, L, V); labels: (B, L), -100 = ignore."""
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)).float(),
                                             labels[:, 1:].reshape(-1), ignore_index=-100)


def lm_loss(logits: torch.Tensor, ids: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy on every real token, prompt included (``lm_weight``'s auxiliary
    loss). logits: (B, L, V); ids, attn: (B, L), attn 0 = padding."""
    return bc_loss(logits, ids.masked_fill(attn == 0, -100))


def choice_points(seq: list[int], start: int, trie: dict[tuple[int, ...], set[int]]) -> list[tuple[int, tuple[int, ...]]]:
    """(index in ``seq``, admissible tokens there) for every reply token chosen among several
    admissible continuations (``trie`` from ``hf.action_trie``); tokens the trie forces carry no choice."""
    reply, points = seq[start:], []
    for k, token in enumerate(reply):
        allowed = trie.get(tuple(reply[:k]))
        if allowed is None or token not in allowed:
            break  # the label left the admissible actions (e.g. a free-text search): no choices beyond
        if len(allowed) > 1:
            points.append((start + k, tuple(sorted(allowed))))
    return points


def decision_loss(logits: torch.Tensor, index: torch.Tensor, targets: torch.Tensor,
                  allowed: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the admissible tokens at each choice point: the distribution that
    admissible decoding samples from. logits: (B, L, V); index: (P, 2) = (row, position of the
    chosen token); targets: (P,) token ids; allowed: (P, V) bool."""
    picked = logits[index[:, 0], index[:, 1] - 1].float().masked_fill(~allowed, float("-inf"))
    return torch.nn.functional.cross_entropy(picked, targets)


def batches(examples: list[Example], batch_size: int, pad: int, vocab: int, rng: random.Random):
    """Length-bucketed, shuffled batches of (input_ids, attention_mask, labels, choices), where
    choices = (index, targets, allowed) of ``decision_loss`` over the batch's choice points."""
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))
    groups = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(groups)
    for group in groups:
        width = max(len(examples[i][0]) for i in group)
        ids = torch.full((len(group), width), pad)
        attn = torch.zeros((len(group), width), dtype=torch.long)
        labels = torch.full((len(group), width), -100)
        points = [(row, pos, allowed) for row, i in enumerate(group) for pos, allowed in examples[i][2]]
        index = torch.tensor([(row, pos) for row, pos, _ in points], dtype=torch.long).reshape(-1, 2)
        mask = torch.zeros((len(points), vocab), dtype=torch.bool)
        for p, (_, _, allowed) in enumerate(points):
            mask[p, list(allowed)] = True
        for row, i in enumerate(group):
            seq, spans, _ = examples[i]
            ids[row, : len(seq)] = torch.tensor(seq)
            attn[row, : len(seq)] = 1
            for start, end in spans:
                labels[row, start:end] = torch.tensor(seq[start:end])
        yield ids, attn, labels, (index, ids[index[:, 0], index[:, 1]], mask)


def curriculum_stages(cfg: TrainPolicyConfig, demos: list[Trajectory], labels: list[list[str] | None],
                      states: list[Any], tokenizer: Any) -> list[list[Example]]:
    """Decision examples on each condensed view (``curriculum.VIEWS``) of the demonstrated states,
    rendered in the chat format of the real prompts; one list per view, shortest view first."""
    if cfg.loss != "decisions":
        raise UserError("--curriculum-steps needs --loss decisions (the views keep only the choices)")
    stages: list[list[Example]] = []
    for d, lab, st in zip(demos, labels, states):
        for t, (obs, (admissible, _)) in enumerate(zip(d.observations, st)):
            action = d.actions[t] if lab is None else lab[t]
            views = condensed(d.env_id, obs, action, d.actions[:t]) or []
            trie = action_trie(tokenizer, admissible) if views else {}
            for k, view in enumerate(views):
                h = History(d.env_id, d.task_id, [view], [])
                prompt = render_prompt(build_messages(h, cfg.max_prompt_chars, cfg.max_obs_chars, cfg.omitted_actions), tokenizer)
                (seq, start), = encode([(prompt, action)], tokenizer, cfg.max_len)
                points = choice_points(seq, start, trie)
                if points:
                    stages += [[] for _ in range(k + 1 - len(stages))]
                    stages[k].append((seq, whole_reply(seq, start), points))
    return stages


def _cycle(examples: list[Example], cfg: TrainPolicyConfig, tokenizer: Any, rng: random.Random, n: int):
    """``n`` batches of ``batches``, reshuffled epoch after epoch."""
    while n > 0 and examples:
        for batch in batches(examples, cfg.batch_size, tokenizer.pad_token_id, len(tokenizer), rng):
            if n == 0:
                return
            n -= 1
            yield batch


def train_policy(cfg: TrainPolicyConfig, out_dir: str | Path, progress: bool = True) -> dict[str, Any]:
    """Behaviour-clone a policy into ``out_dir`` (held exclusively while it trains)."""
    with exclusive(out_dir):
        return _train_policy(cfg, Path(out_dir), progress)


def _train_policy(cfg: TrainPolicyConfig, out: Path, progress: bool) -> dict[str, Any]:
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    t_start = time.perf_counter()
    if cfg.loss not in ("tokens", "decisions"):
        raise UserError(f"loss must be 'tokens' or 'decisions', got {cfg.loss!r}")
    if cfg.examples not in ("steps", "episodes") or (cfg.examples == "episodes" and (cfg.loss != "tokens" or cfg.lm_weight)):
        raise UserError(f"examples must be 'steps' or 'episodes' (the latter with --loss tokens and no --lm-weight), "
                        f"got {cfg.examples!r}")
    demos = demonstrations(cfg, progress)
    relabel = [cfg.noisy_labels == "oracle" and d.policy.get("name") == "noisy-oracle" for d in demos]
    # replayed only where needed: the oracle's labels, or the admissible actions the decisions loss chooses among
    states = [replay(d) if cfg.loss == "decisions" or r else None for d, r in zip(demos, relabel)]
    labels = [[o for _, o in st] if r else None for st, r in zip(states, relabel)]
    plain = [pair for d, lab in zip(demos, labels) for pair in step_prompts(d, cfg, None, lab)]
    tokenizer = train_tokenizer([p for p, _ in plain] + [ACTION_PREFIX + a for _, a in plain], cfg.vocab_size,
                                cfg.pre_tokenizer)
    per_demo = [encode(step_prompts(d, cfg, tokenizer, lab), tokenizer, cfg.max_len) for d, lab in zip(demos, labels)]
    encoded = [e for steps in per_demo for e in steps]
    cut = sum(len(seq) >= cfg.max_len for seq, _ in encoded)  # prompts cut from the left to fit max_len
    if cut > 0.1 * len(encoded):
        log.warning("%d of %d step prompts were cut from the left to fit max_len %d tokens (their start, e.g. the "
                    "top of a long page, is unseen); lower --max-obs-chars or raise --max-len", cut, len(encoded),
                    cfg.max_len)
    if cfg.loss == "decisions":  # only states with a real choice; forced tokens carry no signal
        admissible = [adm for st in states for adm, _ in st]
        examples: list[Example] = [(seq, whole_reply(seq, start), choice_points(seq, start, action_trie(tokenizer, adm)))
                                   for (seq, start), adm in zip(encoded, admissible)]
        examples = [e for e in examples if e[2]]
    elif cfg.examples == "episodes":
        examples = [(seq, spans, []) for steps in per_demo for seq, spans in merge_prefixes(steps)]
    else:
        examples = [(seq, whole_reply(seq, start), []) for seq, start in encoded]
    stages = curriculum_stages(cfg, demos, labels, states, tokenizer) if cfg.curriculum_steps else []
    model = build_model(cfg, tokenizer)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01, betas=(0.9, 0.98))
    warm = cfg.curriculum_steps * len(stages)  # constant lr through the warm-up, cosine over the main stage
    total_steps = cfg.epochs * math.ceil(len(examples) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 50) * max(
        0.05, 0.5 * (1 + math.cos(math.pi * max(0, s - warm) / max(1, total_steps)))))
    model.train()
    step, tokens, losses = 0, 0, []
    bar = progress_bar(total=warm + total_steps, desc=f"train-policy {resolve_env(cfg.env).short_name}",
               disable=not progress)
    t_train = time.perf_counter()
    # the warm-up stages, then the main stage's epochs; each a stream of batches
    streams = [_cycle(stage, cfg, tokenizer, rng, cfg.curriculum_steps) for stage in stages]
    streams += [batches(examples, cfg.batch_size, tokenizer.pad_token_id, len(tokenizer), rng)
                for _ in range(cfg.epochs)]
    for stream in streams:
        for ids, attn, labels, choices in stream:
            # merged episodes are right-padded: causal attention alone keeps the pads out of every real
            # position, and without a mask torch's memory-light attention kernel runs on long sequences
            logits = model(input_ids=ids, attention_mask=None if cfg.examples == "episodes" else attn).logits
            loss = decision_loss(logits, *choices) if cfg.loss == "decisions" else bc_loss(logits, labels)
            if cfg.lm_weight:  # predicting the pages too: they repeat the instruction, values and ids to copy
                loss = loss + cfg.lm_weight * lm_loss(logits, ids, attn)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step, tokens = step + 1, tokens + int(attn.sum())
            losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
            if cfg.max_minutes is not None and time.perf_counter() - t_start > 60 * cfg.max_minutes:
                # a model cut by the clock would depend on how busy the machine was: never save one
                raise UserError(f"train-policy reached --max-minutes {cfg.max_minutes:g} at step {step} of "
                                f"{warm + total_steps}; no model was saved. Drop --max-minutes or raise it.")
    bar.close()
    model.eval()
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    meta = {
        "kind": "agentprm-bench default policy", "config": asdict(cfg), "env_id": resolve_env(cfg.env).env_id,
        "weights_sha256": file_digest(out / "model.safetensors"),
        "prompt": {"max_prompt_chars": cfg.max_prompt_chars, "max_obs_chars": cfg.max_obs_chars,
                   "omitted_actions": cfg.omitted_actions, "decoding": cfg.decoding},
        "metrics": {"parameters": n_params, "demonstrations": len(demos), "demonstration_steps": len(encoded),
                    "prompts_cut": cut,
                    "examples": len(examples), "example_tokens": sum(len(e[0]) for e in examples),
                    "curriculum_examples": [len(x) for x in stages],
                    "optimizer_steps": step, "planned_steps": warm + total_steps,
                    "train_tokens": tokens, "final_loss": float(np.mean(losses[-20:])) if losses else None,
                    "train_seconds": round(time.perf_counter() - t_train, 1),
                    "total_seconds": round(time.perf_counter() - t_start, 1)},
        **stamp(),
    }
    write_text_atomic(out / POLICY_META, json.dumps(meta, indent=2) + "\n")
    return meta
