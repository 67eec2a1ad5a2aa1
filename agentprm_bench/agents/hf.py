"""``hf``: any causal LM in a local transformers model directory, sampled in batches.

Prompts are the ReAct chat of ``prompt.build_messages`` rendered with the tokenizer's chat
template (plain "Role: text" blocks when it has none). ``decoding="admissible"`` restricts
each reply, token by token, to "Action: <a>" for an admissible action a (a trie over their
tokenizations), so the model's preferences choose among valid actions; ``"free"`` samples
unconstrained text. A model trained by ``train-policy`` stores its decoding and prompt budget. Generation is a batched loop with a
KV cache over left-padded prompts; each row samples with its own ``torch.Generator``
seeded from the caller's per-history seed, so samples do not depend on batch composition.
CUDA and bf16 are used when available.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from agentprm_bench.agents.base import ActionSample, History, Policy
from agentprm_bench.agents.prompt import ACTION_PREFIX, build_messages, parse_action, render_prompt
from agentprm_bench.errors import UserError
from agentprm_bench.schema import check_digest, fits, read_json


GENERIC_TOKENIZERS = ("TokenizersBackend", "PreTrainedTokenizerFast")


def load_tokenizer(path: str | Path) -> Any:
    """The tokenizer of a local model directory. One saved as a generic fast tokenizer (every
    tokenizer ``train-policy`` trains) loads as exactly its ``tokenizer.json``: ``AutoTokenizer``
    would pick the class of the model type instead (Qwen2's for a Qwen2 config), and transformers
    5 then swaps in that class's own pre-tokenizer, so text would split into other tokens than
    the model was trained on (e.g. "[B08" one piece instead of "[" + "B" + "08"). Other
    tokenizers load through ``AutoTokenizer``."""
    import json

    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    path = Path(path).expanduser()
    config = path / "tokenizer_config.json"
    cls = json.loads(config.read_text()).get("tokenizer_class") if config.is_file() else None
    if cls in GENERIC_TOKENIZERS and (path / "tokenizer.json").is_file():
        return PreTrainedTokenizerFast.from_pretrained(path, local_files_only=True)
    return AutoTokenizer.from_pretrained(path, local_files_only=True)


def load_local_model(path: str | Path, device: str | None = None, dtype: str | None = None) -> tuple[Any, Any, str]:
    """(model, tokenizer, device) from a local directory; never downloads."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    path = Path(path).expanduser()
    if not (path / "config.json").is_file():
        raise UserError(f"model directory {path} not found (no config.json); pass a local transformers model "
                        f"directory, or train the default with `agentprm-bench train-policy --env ENV`")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}.get(
        dtype or ("bf16" if device.startswith("cuda") else "fp32"))
    meta = path / "agentprm_policy.json"
    if meta.is_file() and (path / "model.safetensors").is_file():
        fix = "re-train the policy or restore the directory"
        check_digest(path / "model.safetensors", read_json(meta, fix).get("weights_sha256"), meta, fix)
    try:
        tokenizer = load_tokenizer(path)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=torch_dtype)
    except Exception as exc:  # noqa: BLE001 - whatever a damaged directory makes transformers/safetensors raise
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise UserError(f"could not load the model in {path} ({first}); "
                        f"check the directory is a complete save_pretrained output") from None
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(device).eval(), tokenizer, device


def trained_settings(model_dir: str | Path) -> dict[str, Any]:
    """The prompt budget and decoding stored by ``train-policy`` (``agentprm_policy.json``), if any."""
    meta = Path(model_dir).expanduser() / "agentprm_policy.json"
    if not meta.is_file():
        return {}
    fix = "re-train the policy or delete that file"
    prompt = read_json(meta, fix).get("prompt", {})
    hints = {"max_prompt_chars": int, "max_obs_chars": int, "omitted_actions": int, "decoding": str}
    if not isinstance(prompt, dict) or any(k in prompt and not fits(prompt[k], h) for k, h in hints.items()):
        raise UserError(f"{meta} is damaged (its prompt settings have the wrong types); {fix}")
    return dict(prompt)


def constrain(logits: torch.Tensor, allowed: Sequence[set[int]]) -> torch.Tensor:
    """Keep only each row's allowed tokens. logits: (B, V) -> (B, V) with -inf elsewhere."""
    mask = torch.full_like(logits, float("-inf"))
    for b, ids in enumerate(allowed):
        mask[b, list(ids)] = 0.0
    return logits + mask


def sample_next(logits: torch.Tensor, temperature: float, top_p: float,
                generators: Sequence[torch.Generator]) -> torch.Tensor:
    """One token per row. logits: (B, V) -> (B,); greedy when temperature is 0."""
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, idx = probs.sort(dim=-1, descending=True)
        keep = sorted_p.cumsum(-1) - sorted_p < top_p
        probs = torch.zeros_like(probs).scatter(-1, idx, sorted_p * keep)
    probs = probs.cpu()
    return torch.stack([torch.multinomial(probs[i], 1, generator=g)[0] for i, g in enumerate(generators)]).to(logits.device)


def action_trie(tokenizer: Any, actions: Sequence[str]) -> dict[tuple[int, ...], set[int]]:
    """Token prefix -> allowed next tokens, over the replies "Action: <a><eos>" for each action."""
    trie: dict[tuple[int, ...], set[int]] = {}
    for action in actions:
        ids = tokenizer(ACTION_PREFIX + action, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        for k in range(len(ids)):
            trie.setdefault(tuple(ids[:k]), set()).add(ids[k])
    return trie


class HFPolicy(Policy):
    name = "hf"

    def __init__(self, model: str, temperature: float = 1.0, top_p: float = 1.0, max_new_tokens: int = 64,
                 max_prompt_chars: int | None = None, max_obs_chars: int | None = None, batch_size: int = 64,
                 device: str | None = None, dtype: str | None = None, decoding: str | None = None):
        self.model_dir = str(model)
        self.model, self.tokenizer, self.device = load_local_model(model, device, dtype)
        trained = trained_settings(model)  # a model trained here keeps the prompt budget it learned with
        max_prompt_chars = max_prompt_chars or trained.get("max_prompt_chars", 24_000)
        max_obs_chars = max_obs_chars or trained.get("max_obs_chars", 8_000)
        self.decoding = decoding or str(trained.get("decoding", "free"))
        if self.decoding not in ("free", "admissible"):
            raise UserError(f"decoding must be 'free' or 'admissible', got {self.decoding!r}")
        self.temperature, self.top_p, self.max_new_tokens = float(temperature), float(top_p), int(max_new_tokens)
        self.max_prompt_chars, self.max_obs_chars, self.batch_size = max_prompt_chars, max_obs_chars, batch_size
        self.omitted_actions = int(trained.get("omitted_actions", 0))
        limit = getattr(self.model.config, "max_position_embeddings", None) or 32_768
        self.max_prompt_tokens = max(16, limit - self.max_new_tokens)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model_dir, "temperature": self.temperature, "top_p": self.top_p,
                "max_new_tokens": self.max_new_tokens, "decoding": self.decoding}

    def prompts(self, histories: Sequence[History]) -> list[str]:
        return [render_prompt(build_messages(h, self.max_prompt_chars, self.max_obs_chars, self.omitted_actions),
                              self.tokenizer) for h in histories]

    def act(self, histories: Sequence[History], k: int, seeds: Sequence[int]) -> list[list[ActionSample]]:
        prompts = self.prompts(histories)
        rows = [(i, j) for i in range(len(histories)) for j in range(k)]
        replies: dict[tuple[int, int], tuple[str, int, int]] = {}
        tries = [action_trie(self.tokenizer, h.admissible_actions) for h in histories] if self.decoding == "admissible" else None
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start:start + self.batch_size]
            texts = [prompts[i] for i, _ in chunk]
            gens = [torch.Generator().manual_seed((int(seeds[i]) + j * 0x9E3779B97F4A7C15) % 2**63) for i, j in chunk]
            allowed = [tries[i] for i, _ in chunk] if tries is not None else None
            # an admissible action is never cut short: the limit stretches to the longest one
            limit = max([self.max_new_tokens] + [max(map(len, t), default=0) + 1 for t in allowed or []])
            for key, reply in zip(chunk, self.generate(texts, gens, allowed, limit)):
                replies[key] = reply
        out = []
        for i in range(len(histories)):
            row = []
            for j in range(k):
                text, n_in, n_out = replies[(i, j)]
                action, parsed = parse_action(text)
                row.append(ActionSample(action if parsed else text.strip(), text, parsed, n_in, n_out))
            out.append(row)
        return out

    @torch.no_grad()
    def generate(self, texts: list[str], generators: Sequence[torch.Generator],
                 allowed: Sequence[dict[tuple[int, ...], set[int]]] | None = None,
                 max_new_tokens: int | None = None) -> list[tuple[str, int, int]]:
        """Sample a reply per prompt: (text, prompt tokens, generated tokens). With ``allowed``
        (one trie per prompt), each reply is restricted to the trie's token sequences."""
        tok = self.tokenizer
        unique = list(dict.fromkeys(texts))  # k samples of one history share one prefill
        enc = tok(unique, return_tensors="pt", padding=True, add_special_tokens=False)
        ids, attn = enc["input_ids"][:, -self.max_prompt_tokens:], enc["attention_mask"][:, -self.max_prompt_tokens:]
        ids, attn = ids.to(self.device), attn.to(self.device)
        pos = (attn.cumsum(-1) - 1).clamp(min=0)
        out = self.model(input_ids=ids, attention_mask=attn, position_ids=pos, use_cache=True)
        past, logits = out.past_key_values, out.logits[:, -1]
        if len(unique) < len(texts):
            where = {t: i for i, t in enumerate(unique)}
            rows = torch.tensor([where[t] for t in texts], device=self.device)
            past.batch_select_indices(rows)
            logits, attn, pos = logits[rows], attn[rows], pos[rows]
        n_in = attn.sum(-1).tolist()
        eos = tok.eos_token_id
        done = torch.zeros(len(texts), dtype=torch.bool, device=self.device)
        generated: list[list[int]] = [[] for _ in texts]
        for _ in range(max_new_tokens or self.max_new_tokens):
            if allowed is not None:
                logits = constrain(logits, [allowed[b].get(tuple(generated[b]), {eos}) for b in range(len(texts))])
            nxt = sample_next(logits, self.temperature, self.top_p, generators)
            for b in range(len(texts)):
                if not done[b]:
                    generated[b].append(int(nxt[b]))
            done |= nxt == eos
            if bool(done.all()):
                break
            attn = torch.cat([attn, torch.ones_like(attn[:, :1])], dim=-1)
            pos = pos[:, -1:] + 1
            out = self.model(input_ids=nxt[:, None], attention_mask=attn, position_ids=pos,
                             past_key_values=past, use_cache=True)
            past, logits = out.past_key_values, out.logits[:, -1]
        return [(tok.decode(g, skip_special_tokens=True), int(n), len(g)) for g, n in zip(generated, n_in)]
