"""``hf``: any causal LM in a local transformers model directory, sampled in batches.

Prompts are the ReAct chat of ``prompt.build_messages`` rendered with the tokenizer's chat
template (plain "Role: text" blocks when it has none). ``decoding="admissible"`` restricts
each reply, token by token, to "Action: <a>" for an admissible action a (a trie over their
tokenizations), so the model's preferences choose among valid actions; ``"free"`` samples
unconstrained text. A model trained by ``train-policy`` stores its decoding and prompt budget. Generation is a batched loop with a
KV cache over left-padded prompts; each row samples with its own ``torch.Generator``
seeded from the caller's per-history seed, so samples do not depend on batch composition.
With ``prompt_cache`` (default), a history that was in the previous ``act`` call (a rollout's
next turn) keeps the KV cache of its last prompt and reply: only the tokens after the longest
shared prefix are read (the new observation, or more where the prompt's window moved), and
``tokens_in`` counts exactly the prompt tokens computed. With ``fast_forward`` (default), the
tokens an admissible reply is forced to (one continuation in the trie) are appended without a
decoding step and read in one pass with the next ones; a row draws one uniform number per real
choice either way, so both settings sample the same replies. CUDA and bf16 are used when available.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from agentprm_bench.agents.base import ActionSample, History, Policy
from agentprm_bench.agents.prompt import ACTION_PREFIX, build_messages, parse_action, render_prompt
from agentprm_bench.attention import use_grouped_attention
from agentprm_bench.errors import UserError
from agentprm_bench.kvcache import RowKV, common_prefix, crop, grow_in_place, left_padded, row_kv, with_cache
from agentprm_bench.schema import check_digest, fits, read_json


GENERIC_TOKENIZERS = ("TokenizersBackend", "PreTrainedTokenizerFast")
PromptState = tuple[list[int], RowKV]  # a sequence's token ids and their KV cache


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
        use_grouped_attention(model)  # no copy of the KV on multi-token steps; the same numbers
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


def weights_sha256(model_dir: str | Path | None) -> str | None:
    """The weights digest ``train-policy`` (or ``improve``) stored beside a model, so records name
    the exact policy they sampled; None for a model stored without one (nothing is hashed here)."""
    meta = Path(model_dir).expanduser() / "agentprm_policy.json" if model_dir else None
    if meta is None or not meta.is_file():
        return None
    digest = read_json(meta, "re-train the policy or delete that file").get("weights_sha256")
    return digest if isinstance(digest, str) else None


def choose(logits: torch.Tensor, allowed: Sequence[set[int] | None], temperature: float, top_p: float,
           generators: Sequence[torch.Generator]) -> list[int]:
    """One token per row at a choice point. logits: (B, V); ``allowed[b]`` restricts row b (None:
    any token). Greedy when temperature is 0; otherwise one uniform draw per row from its own
    generator (inverse CDF), so a row's samples depend only on its seed and its own choices."""
    logits = logits.float()
    mask = torch.zeros_like(logits)
    for b, ids in enumerate(allowed):
        if ids is not None:
            mask[b] = float("-inf")
            mask[b, list(ids)] = 0.0
    logits = logits + mask
    if temperature <= 0:
        return logits.argmax(-1).tolist()
    probs = torch.softmax(logits / temperature, dim=-1).cpu().double()
    if top_p < 1.0:
        sorted_p, idx = probs.sort(dim=-1, descending=True)
        keep = sorted_p.cumsum(-1) - sorted_p < top_p
        probs = torch.zeros_like(probs).scatter(-1, idx, sorted_p * keep)
    cdf = probs.cumsum(-1)
    u = torch.stack([torch.rand((), generator=g, dtype=torch.float64) for g in generators]) * cdf[:, -1]
    picked = torch.searchsorted(cdf, u[:, None], right=True)[:, 0].clamp(max=probs.shape[1] - 1)
    return [int(t) if probs[b, t] > 0 else int(probs[b].argmax()) for b, t in enumerate(picked.tolist())]


def action_trie(tokenizer: Any, actions: Sequence[str], memo: dict[str, list[int]] | None = None
                ) -> dict[tuple[int, ...], set[int]]:
    """Token prefix -> allowed next tokens, over the replies "Action: <a><eos>" for each action.
    ``memo`` (action -> its reply's ids) saves re-tokenizing actions seen before."""
    return reply_trie([reply_ids(tokenizer, action, memo) for action in actions])


def reply_ids(tokenizer: Any, action: str, memo: dict[str, list[int]] | None = None) -> list[int]:
    """The canonical token ids of the reply "Action: <action><eos>"."""
    ids = memo.get(action) if memo is not None else None
    if ids is None:
        ids = tokenizer(ACTION_PREFIX + action, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        if memo is not None:
            memo[action] = ids
    return ids


def reply_trie(replies: Sequence[Sequence[int]]) -> dict[tuple[int, ...], set[int]]:
    """Token prefix -> the tokens that continue at least one of ``replies``."""
    trie: dict[tuple[int, ...], set[int]] = {}
    for ids in replies:
        for k in range(len(ids)):
            trie.setdefault(tuple(ids[:k]), set()).add(int(ids[k]))
    return trie


class HFPolicy(Policy):
    name = "hf"

    def __init__(self, model: str, temperature: float = 1.0, top_p: float = 1.0, max_new_tokens: int = 64,
                 max_prompt_chars: int | None = None, max_obs_chars: int | None = None, batch_size: int = 64,
                 device: str | None = None, dtype: str | None = None, decoding: str | None = None,
                 prompt_cache: bool = True, fast_forward: bool = True):
        self.model_dir = str(model)
        self.model, self.tokenizer, self.device = load_local_model(model, device, dtype)
        self.weights_sha256 = weights_sha256(model)
        trained = trained_settings(model)  # a model trained here keeps the prompt budget it learned with
        max_prompt_chars = max_prompt_chars or trained.get("max_prompt_chars", 24_000)
        max_obs_chars = max_obs_chars or trained.get("max_obs_chars", 8_000)
        self.decoding = decoding or str(trained.get("decoding", "free"))
        if self.decoding not in ("free", "admissible"):
            raise UserError(f"decoding must be 'free' or 'admissible', got {self.decoding!r}")
        self.temperature, self.top_p, self.max_new_tokens = float(temperature), float(top_p), int(max_new_tokens)
        self.max_prompt_chars, self.max_obs_chars, self.batch_size = max_prompt_chars, max_obs_chars, batch_size
        self.omitted_actions = int(trained.get("omitted_actions", 0))
        self._action_ids: dict[str, list[int]] = {}  # action -> the token ids of its reply (admissible tries)
        limit = getattr(self.model.config, "max_position_embeddings", None) or 32_768
        self.max_prompt_tokens = max(16, limit - self.max_new_tokens)
        self.prompt_cache, self.fast_forward = bool(prompt_cache), bool(fast_forward)
        self._states: dict[int, PromptState] = {}  # id(history) -> its last prompt + reply and their KV

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model_dir, "weights_sha256": self.weights_sha256,
                "temperature": self.temperature, "top_p": self.top_p, "max_new_tokens": self.max_new_tokens,
                "decoding": self.decoding}

    def prompts(self, histories: Sequence[History]) -> list[str]:
        return [render_prompt(build_messages(h, self.max_prompt_chars, self.max_obs_chars, self.omitted_actions),
                              self.tokenizer) for h in histories]

    def act(self, histories: Sequence[History], k: int, seeds: Sequence[int]) -> list[list[ActionSample]]:
        # a history seen in the previous call extends its cached prompt (rollouts: the chat only grows)
        states = [self._states.get(id(h)) for h in histories] if self.prompt_cache else None
        keep = self.prompt_cache and k == 1
        out, kept = self._sample(histories, k, seeds, states, keep)
        # only the histories of this call: finished episodes release their KV
        self._states = {id(h): row[0] for h, row in zip(histories, kept)} if kept is not None else {}
        return out

    def act_cached(self, histories: Sequence[History], k: int, seeds: Sequence[int],
                   states: Sequence[PromptState | None]
                   ) -> tuple[list[list[ActionSample]], list[list[PromptState]] | None]:
        """``act`` for search, where the caller keeps each path's cache: ``states[i]`` is what an
        earlier call returned with the sample that led to history i (None: read its prompt whole).
        -> (samples, states): ``states[i][j]`` holds history i's prompt and reply j with their KV, to
        pass with the history that reply extends (the second value is None with ``prompt_cache`` off). The
        sampling seeds are ``act``'s, so the samples are those of ``act`` up to the float rounding of
        a cached prefix."""
        return self._sample(histories, k, seeds, states if self.prompt_cache else None, self.prompt_cache)

    def _sample(self, histories: Sequence[History], k: int, seeds: Sequence[int],
                states: Sequence[PromptState | None] | None, keep: bool
                ) -> tuple[list[list[ActionSample]], list[list[PromptState]] | None]:
        """k replies per history, prompt i's cached prefix taken from ``states[i]``; with ``keep``,
        also each reply's state (its prompt and reply tokens and their KV)."""
        prompts = self.prompts(histories)
        rows = [(i, j) for i in range(len(histories)) for j in range(k)]
        replies: dict[tuple[int, int], tuple[str, int, int]] = {}
        if len(self._action_ids) > 100_000:
            self._action_ids.clear()
        tries = [action_trie(self.tokenizer, h.admissible_actions, self._action_ids) for h in histories] \
            if self.decoding == "admissible" else None
        kept: dict[tuple[int, int], PromptState] = {}
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start:start + self.batch_size]
            texts = [prompts[i] for i, _ in chunk]
            gens = [torch.Generator().manual_seed((int(seeds[i]) + j * 0x9E3779B97F4A7C15) % 2**63) for i, j in chunk]
            allowed = [tries[i] for i, _ in chunk] if tries is not None else None
            # an admissible action is never cut short: the limit stretches to the longest one
            limit = max([self.max_new_tokens] + [max(map(len, t), default=0) + 1 for t in allowed or []])
            row_states = [states[i] for i, _ in chunk] if states is not None else None
            results, new_states = self.generate(texts, gens, allowed, limit, row_states, keep=keep)
            for n, (key, reply) in enumerate(zip(chunk, results)):
                replies[key] = reply
                if new_states is not None:
                    kept[key] = new_states[n]
        out = []
        for i in range(len(histories)):
            row = []
            for j in range(k):
                text, n_in, n_out = replies[(i, j)]
                action, parsed = parse_action(text)
                row.append(ActionSample(action if parsed else text.strip(), text, parsed, n_in, n_out))
            out.append(row)
        return out, ([[kept[(i, j)] for j in range(k)] for i in range(len(histories))] if keep else None)

    @torch.no_grad()
    def generate(self, texts: list[str], generators: Sequence[torch.Generator],
                 allowed: Sequence[dict[tuple[int, ...], set[int]]] | None = None,
                 max_new_tokens: int | None = None, states: Sequence[PromptState | None] | None = None,
                 keep: bool = False) -> tuple[list[tuple[str, int, int]], list[PromptState] | None]:
        """Sample a reply per prompt -> ([(text, prompt tokens computed, generated tokens)], states).

        With ``allowed`` (one trie per prompt), each reply is restricted to the trie's token
        sequences. ``states[b]`` (or None) is a cached (ids, KV) of an earlier sequence: the longest
        prefix it shares with prompt b's ids is not read again. Prompts repeated in ``texts`` (k
        samples of one history) share one prefill, counted on their first row. With ``keep``, the
        second value holds each row's state after its reply, for the next turn's prompt."""
        from transformers import DynamicCache

        tok, pad = self.tokenizer, self.tokenizer.pad_token_id
        unique = list(dict.fromkeys(texts))  # k samples of one history share one prefill
        first: dict[str, int] = {}  # prompt -> its first row
        for b, t in enumerate(texts):
            first.setdefault(t, b)
        prompt_ids = [ids[-self.max_prompt_tokens:] for ids in tok(unique, add_special_tokens=False)["input_ids"]]
        reuse: list[RowKV] = []
        for u, text in enumerate(unique):  # reuse a cached prefix; >= 1 token is read to get the logits
            state = states[first[text]] if states is not None else None
            n = min(common_prefix(state[0], prompt_ids[u]), len(prompt_ids[u]) - 1) if state else 0
            reuse.append(crop(state[1], n) if n else [])
        cached = [r[0][0].shape[2] if r else 0 for r in reuse]
        width, suffix = max(cached), max(len(ids) - c for ids, c in zip(prompt_ids, cached))
        ids = torch.full((len(unique), suffix), pad, dtype=torch.long)
        attn = torch.zeros((len(unique), width + suffix), dtype=torch.long)
        for u, (p_ids, c) in enumerate(zip(prompt_ids, cached)):  # [pad | cached prefix | pad | new prompt tokens]
            ids[u, suffix - (len(p_ids) - c):] = torch.tensor(p_ids[c:])
            attn[u, width - c: width] = 1
            attn[u, width + suffix - (len(p_ids) - c):] = 1
        ids, attn = ids.to(self.device), attn.to(self.device)
        pos = (attn.cumsum(-1) - 1).clamp(min=0)
        eos, limit, n = tok.eos_token_id, max_new_tokens or self.max_new_tokens, len(texts)
        # the prompt's KV goes into a buffer with room for the reply: decoding steps write there,
        # not into a copy of the whole KV each
        past = left_padded(reuse, width)
        past = grow_in_place(DynamicCache(config=self.model.config) if past is None else past, limit)
        out, past = with_cache(self.model, past, input_ids=ids, attention_mask=attn, position_ids=pos[:, width:])
        logits = out.logits[:, -1]
        where = {t: u for u, t in enumerate(unique)}
        rows = torch.tensor([where[t] for t in texts], device=self.device)
        if len(unique) < len(texts):
            past.batch_select_indices(rows)
            logits, attn, pos = logits[rows], attn[rows], pos[rows]
        n_in = [len(prompt_ids[u]) - cached[u] if first[texts[b]] == b else 0 for b, u in enumerate(rows.tolist())]
        generated: list[list[int]] = [[] for _ in texts]
        fed: list[list[int]] = [[] for _ in texts]  # generated tokens whose KV is in ``past``
        done = [False] * n

        def take(b: int, token: int) -> None:
            generated[b].append(token)
            chains[b].append(token)
            done[b] = token == eos

        while True:
            # Each live row extends its reply up to its next choice point: the trie's forced tokens
            # (a single continuation) need no forward pass; a choice samples from the current logits.
            chains: list[list[int]] = [[] for _ in texts]
            pending = list(range(n))
            while pending:
                choosers, still = [], []
                for b in pending:
                    if done[b] or len(generated[b]) >= limit:
                        done[b] = True
                        continue
                    options = allowed[b].get(tuple(generated[b]), {eos}) if allowed is not None else None
                    if options is not None and len(options) == 1 and (self.fast_forward or not chains[b]):
                        take(b, next(iter(options)))
                        still.append(b)
                    elif not chains[b]:  # the logits are up to date for this row: choose now
                        choosers.append((b, options))
                if choosers:
                    picks = choose(logits[[b for b, _ in choosers]], [o for _, o in choosers], self.temperature,
                                   self.top_p, [generators[b] for b, _ in choosers])
                    for (b, _), token in zip(choosers, picks):
                        take(b, token)
                        still.append(b)
                pending = still
            if all(done):
                break
            feed = [[t for t in chain if t != eos] if not done[b] else [] for b, chain in enumerate(chains)]
            width = max(map(len, feed))
            step_ids = torch.full((n, width), pad, dtype=torch.long)
            step_attn = torch.zeros((n, width), dtype=torch.long)
            for b, chain in enumerate(feed):  # right-aligned, so every live row's last token is in the last column
                if chain:
                    step_ids[b, width - len(chain):] = torch.tensor(chain)
                    step_attn[b, width - len(chain):] = 1
            step_ids, step_attn = step_ids.to(self.device), step_attn.to(self.device)
            step_pos = pos[:, -1:] + step_attn.cumsum(-1)
            attn = torch.cat([attn, step_attn], dim=-1)
            pos = torch.cat([pos, step_pos], dim=-1)
            out, past = with_cache(self.model, past, input_ids=step_ids, attention_mask=attn, position_ids=step_pos)
            logits = out.logits[:, -1]
            for b, chain in enumerate(feed):
                fed[b] += chain
        replies = [(tok.decode(g, skip_special_tokens=True), int(k), len(g)) for g, k in zip(generated, n_in)]
        if not keep:
            return replies, None
        kept = []
        for b, u in enumerate(rows.tolist()):  # the row's real positions: its prompt, then its fed reply tokens
            seq = prompt_ids[u] + fed[b]
            where = attn[b].nonzero()[:, 0]
            kept.append((seq, row_kv(past, b, where[: len(seq)])))
        return replies, kept
