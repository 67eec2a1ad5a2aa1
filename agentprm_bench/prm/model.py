"""A value head over any transformers backbone, scoring every step of a trajectory in one pass.

A trajectory is serialized as the policy's chat (system, first observation, then "Action:
a_t" and the next observation, turn by turn; observations clipped to ``max_obs_chars``).
The score of step t is the head's output at the last token of action a_t, so one forward
pass over the whole trajectory scores every step: O(T) tokens, not O(T^2). Causal
attention makes this equal to scoring each prefix on its own. A trajectory longer than the
context (``max_len`` tokens) is scored in windows: steps ending inside the first ``max_len``
tokens exactly, each later step with at least ``max_len // 2`` tokens of context.

Output: ``linear`` (a Q-value estimate; ORM, PVM, AgentPRM, MC-PRM) or ``logit`` (a
log-odds, squashed by a sigmoid when scoring; InversePRM).

Saved as a directory: ``config.json`` (the backbone's config), ``model.safetensors``
(backbone and head weights), the tokenizer files, and ``reward_model.json`` (kind, output,
label method, training config, git commit). Loading reads only JSON and safetensors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np
import torch
from torch import nn

from agentprm_bench.agents.base import History
from agentprm_bench.agents.prompt import ACTION_PREFIX, build_messages, render_prompt
from agentprm_bench.attention import use_grouped_attention
from agentprm_bench.errors import UserError
from agentprm_bench.jsonl import write_text_atomic
from agentprm_bench.kvcache import RowKV, common_prefix, left_padded, row_kv, with_cache
from agentprm_bench.schema import check_digest, file_digest, fits, read_json

RM_META = "reward_model.json"
MAX_BATCH_TOKENS = 65_536  # padded tokens (rows x columns) per forward pass of search scoring
WEIGHTS = "model.safetensors"


@dataclass(frozen=True)
class Serialized:
    ids: list[int]
    ends: list[int]  # token index of the last token of each action


class PathState(NamedTuple):
    """What beam search keeps of a path between depths (``score_extensions``): the ids of the window
    its last step was read in, ``ids`` = the path's ids from ``offset`` on (offset 0 while the path
    fits ``max_len``), and their KV, positions counted from the window's start."""
    ids: list[int]
    kv: RowKV
    offset: int = 0


def window(s: Serialized, start: int, stop: int, steps: Sequence[int]) -> Serialized:
    """Tokens ``start:stop`` of ``s`` as a trajectory of their own: the ends of ``steps``, shifted."""
    return Serialized(s.ids[start:stop], [s.ends[j] - start for j in steps])


def serialize(env_id: str, observations: Sequence[str], actions: Sequence[str], tokenizer: Any,
              max_obs_chars: int = 1200) -> Serialized:
    """Token ids of the trajectory's chat and where each action ends (see the module doc)."""
    if not actions or len(observations) < len(actions):
        raise ValueError(f"a trajectory needs >= 1 action and an observation per action, got "
                         f"{len(observations)} observations and {len(actions)} actions")
    history = History(env_id, 0, list(observations[: len(actions)]), list(actions[:-1]))
    messages = build_messages(history, max_chars=10**9, max_obs_chars=max_obs_chars)
    messages.append({"role": "assistant", "content": ACTION_PREFIX + actions[-1]})
    text = _render(messages, tokenizer)
    char_ends, pos = [], 0
    for a in actions:
        at = text.find(ACTION_PREFIX + a, pos)
        if at < 0:
            raise ValueError(f"action {a!r} not found in the rendered trajectory")
        pos = at + len(ACTION_PREFIX + a)
        char_ends.append(pos - 1)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    stops = np.fromiter((o[1] for o in enc["offset_mapping"]), dtype=np.int64)
    if not (np.diff(stops) >= 0).all():  # a tokenizer with out-of-order offsets: make them monotone
        stops = np.maximum.accumulate(stops)
    ends = [min(int(k), len(stops) - 1) for k in np.searchsorted(stops, char_ends, side="right")]  # token covering char c
    return Serialized(list(enc["input_ids"]), ends)


def _render(messages: list[dict[str, str]], tokenizer: Any) -> str:
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    return render_prompt(messages, None)


class ValueHeadModel(nn.Module):
    """backbone (a transformers base model) + a linear head: (B, L) ids -> (B, L) scores."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.config.hidden_size, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(hidden.to(self.head.weight.dtype)).squeeze(-1)

    def forward_cached(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor,
                       past_key_values: Any = None) -> tuple[torch.Tensor, Any]:
        """Like ``forward`` but continuing (or starting) a KV cache: -> ((B, L) scores, cache).
        ``attention_mask`` covers the cached positions and the new ones, (B, P + L)."""
        out, cache = with_cache(self.backbone, past_key_values, input_ids=input_ids, attention_mask=attention_mask,
                                position_ids=position_ids)
        return self.head(out.last_hidden_state.to(self.head.weight.dtype)).squeeze(-1), cache


# reward_model.json fields the loader uses, with their types
RM_META_FIELDS: dict[str, Any] = {"kind": str, "output": str, "max_obs_chars": int, "max_len": int,
                                  "label_method": str | None, "train_config": dict[str, Any]}


def _chunks(items: list[Any], size: Any, budget: int) -> list[list[Any]]:
    """``items`` in batches of similar prefix length whose padded size stays within ``budget``
    tokens (one item alone may exceed it). ``size(item)`` -> (prefix tokens, suffix tokens, rows);
    a batch costs its rows x (longest prefix + longest suffix)."""
    out: list[list[Any]] = []
    batch: list[Any] = []
    wide = tall = rows = 0
    for item in sorted(items, key=lambda it: size(it)[0]):
        p, q, n = size(item)
        if batch and (rows + n) * (max(wide, p) + max(tall, q)) > budget:
            out.append(batch)
            batch, wide, tall, rows = [], 0, 0, 0
        batch.append(item)
        wide, tall, rows = max(wide, p), max(tall, q), rows + n
    return out + [batch] if batch else out


def _shared_prefix(seqs: Sequence[Serialized]) -> int:
    """How many leading tokens the candidates' serializations share, leaving each candidate at least
    its last token (its score is read there)."""
    return min([s.ends[-1] for s in seqs] + [common_prefix(seqs[0].ids, s.ids) for s in seqs[1:]])


class RewardModel:
    """A value-head model with its tokenizer and settings; ``score`` gives per-step scores."""

    def __init__(self, model: ValueHeadModel, tokenizer: Any, meta: dict[str, Any], device: str = "cpu"):
        self.model, self.tokenizer, self.meta, self.device = model.to(device), tokenizer, meta, device
        self.max_obs_chars = int(meta.get("max_obs_chars", 1200))
        self.max_len = int(meta.get("max_len", 2048))
        self.max_batch_tokens = MAX_BATCH_TOKENS
        self.output = meta.get("output", "linear")
        self.path: Path | None = None  # the checkpoint directory it was loaded from

    # ----- construction and persistence ---------------------------------------------------
    @classmethod
    def from_backbone(cls, path: str | Path, meta: dict[str, Any], device: str | None = None,
                      dtype: torch.dtype = torch.float32) -> "RewardModel":
        """A fresh head on a local backbone directory (e.g. the default policy)."""
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        from agentprm_bench.agents.hf import load_tokenizer

        hf_logging.disable_progress_bar()
        path = Path(path).expanduser()
        if not (path / "config.json").is_file():
            raise UserError(f"backbone directory {path} not found (no config.json); pass a local transformers "
                            f"model directory or train the default policy with `agentprm-bench train-policy`")
        backbone = use_grouped_attention(AutoModel.from_pretrained(path, local_files_only=True, dtype=dtype))
        tokenizer = load_tokenizer(path)
        return cls(ValueHeadModel(backbone), tokenizer, {**meta, "backbone": str(path)},
                   device or ("cuda" if torch.cuda.is_available() else "cpu"))

    def save(self, out_dir: str | Path, extra: dict[str, Any] | None = None) -> None:
        from safetensors.torch import save_file

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.model.backbone.config.save_pretrained(out)
        state = {k: v.detach().to("cpu").contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, str(out / WEIGHTS))
        self.tokenizer.save_pretrained(out)
        self.meta = {**self.meta, **(extra or {}), "weights_sha256": file_digest(out / WEIGHTS)}
        write_text_atomic(out / RM_META, json.dumps(self.meta, indent=2, default=str) + "\n")

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> "RewardModel":
        from safetensors.torch import load_file
        from transformers import AutoConfig, AutoModel

        from agentprm_bench.agents.hf import load_tokenizer

        path = Path(path).expanduser()
        for name in ("config.json", WEIGHTS, RM_META):
            if not (path / name).is_file():
                raise UserError(f"{path} is not a reward-model checkpoint (missing {name}); "
                                f"train one with `agentprm-bench train --rm ...` or check the path")
        meta = read_json(path / RM_META, "re-train the reward model or restore the directory")
        bad = [k for k, hint in RM_META_FIELDS.items() if k in meta and not fits(meta[k], hint)]
        if bad or meta.get("output", "linear") not in ("linear", "logit"):
            raise UserError(f"{path / RM_META} is damaged (wrong {', '.join(bad) or 'output'}); "
                            f"re-train the reward model or restore the directory")
        check_digest(path / WEIGHTS, meta.get("weights_sha256"), path / RM_META,
                     "re-train the reward model or restore the directory")
        try:
            config = AutoConfig.from_pretrained(path, local_files_only=True)
            model = ValueHeadModel(use_grouped_attention(AutoModel.from_config(config)))
            model.load_state_dict(load_file(str(path / WEIGHTS)), strict=True)
            tokenizer = load_tokenizer(path)
        except Exception as exc:  # noqa: BLE001 - whatever a damaged directory makes transformers/safetensors raise
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise UserError(f"reward-model checkpoint {path} is corrupt or mismatched ({first}); "
                            f"re-train it or restore the directory") from None
        rm = cls(model.eval(), tokenizer, meta, device or ("cuda" if torch.cuda.is_available() else "cpu"))
        rm.path = path
        return rm

    # ----- scoring -----------------------------------------------------------------------
    def squash(self, raw: torch.Tensor) -> torch.Tensor:
        """Head outputs as scores: probabilities for a ``logit`` head, unchanged for ``linear``."""
        return torch.sigmoid(raw) if self.output == "logit" else raw

    def encode(self, env_id: str, observations: Sequence[str], actions: Sequence[str]) -> Serialized:
        return serialize(env_id, observations, actions, self.tokenizer, self.max_obs_chars)

    def forward_steps(self, batch: Sequence[Serialized]) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Raw step outputs for serialized trajectories that fit the context:
        -> (scores (B, T) raw head outputs, mask (B, T), tokens read)."""
        width = max(len(s.ids) for s in batch)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        attn = torch.zeros((len(batch), width), dtype=torch.long)
        for i, s in enumerate(batch):
            ids[i, : len(s.ids)] = torch.tensor(s.ids)
            attn[i, : len(s.ids)] = 1
        # right padding: causal attention alone keeps the pads out of every real position, so no mask
        # is passed (with one, attention takes the slow masked path: ~2x the time on CPU at 1k tokens)
        out = self.model(ids.to(self.device), None)
        steps = max(len(s.ends) for s in batch)
        index = torch.zeros((len(batch), steps), dtype=torch.long)
        mask = torch.zeros((len(batch), steps))
        for i, s in enumerate(batch):
            index[i, : len(s.ends)] = torch.tensor(s.ends)
            mask[i, : len(s.ends)] = 1
        return out.gather(1, index.to(self.device)), mask.to(self.device), int(attn.sum())

    @torch.no_grad()
    def score(self, trajectories: Sequence[tuple[str, Sequence[str], Sequence[str]]],
              batch_size: int = 16) -> tuple[list[np.ndarray], int]:
        """Per-step scores of (env_id, observations, actions) trajectories, and tokens read."""
        each = self.score_each(trajectories, batch_size)
        return [s for s, _ in each], sum(n for _, n in each)

    @torch.no_grad()
    def score_each(self, trajectories: Sequence[tuple[str, Sequence[str], Sequence[str]]],
                   batch_size: int = 16) -> list[tuple[np.ndarray, int]]:
        """(per-step scores, tokens read) for each trajectory, in order."""
        self.model.eval()
        results: list[tuple[np.ndarray, int] | None] = [None] * len(trajectories)
        encoded = [self.encode(*t) for t in trajectories]
        fits = sorted((i for i, s in enumerate(encoded) if len(s.ids) <= self.max_len),
                      key=lambda i: len(encoded[i].ids))  # similar lengths together: little padding
        for start in range(0, len(fits), batch_size):
            chunk = fits[start:start + batch_size]
            scores, mask, _ = self.forward_steps([encoded[i] for i in chunk])
            scores = self.squash(scores)
            for row, i in enumerate(chunk):
                results[i] = (scores[row, : int(mask[row].sum())].float().cpu().numpy(), len(encoded[i].ids))
        # longer than the context: every trajectory's windows, batched by length across trajectories
        pieces = [(i, js, window(s, a, b, js))
                  for i, s in enumerate(encoded) if results[i] is None for a, b, js in self.windows(s)]
        pieces.sort(key=lambda p: len(p[2].ids))
        for i in {i for i, _, _ in pieces}:
            results[i] = (np.zeros(len(encoded[i].ends), dtype=np.float32), 0)
        for start in range(0, len(pieces), batch_size):
            chunk = pieces[start:start + batch_size]
            raw, _, _ = self.forward_steps([p for _, _, p in chunk])
            values = self.squash(raw).float().cpu().numpy()
            for row, (i, js, piece) in enumerate(chunk):
                scores, tokens = results[i]  # type: ignore[misc]
                scores[js] = values[row, : len(js)]
                results[i] = (scores, tokens + len(piece.ids))
        return [r for r in results if r is not None]

    @torch.no_grad()
    def score_expansions(self, env_id: str, nodes: Sequence[tuple[Sequence[str], Sequence[str]]],
                         candidates: Sequence[Sequence[str]]) -> tuple[list[list[float]], int]:
        """Scores of candidate next actions: node i = (observations o_0..o_t, actions a_0..a_{t-1}),
        ``candidates[i]`` its proposed actions a_t; -> (score of step t per candidate, tokens read).

        The candidates of a node share their serialized prefix: it is encoded once (all nodes'
        prefixes in one left-padded batch), its KV cache gathered per candidate, and only each
        candidate's own tokens are read on top of it. Equal to ``score`` of each full path."""
        self.model.eval()
        scores: list[list[float]] = [[0.0] * len(c) for c in candidates]
        groups, tokens, long = [], 0, []
        for i, ((obs, acts), cands) in enumerate(zip(nodes, candidates)):
            seqs = [self.encode(env_id, obs, list(acts) + [a]) for a in cands]
            if not seqs:
                continue
            if max(len(s.ids) for s in seqs) > self.max_len:
                long += [(i, j, s) for j, s in enumerate(seqs)]
                continue
            groups.append((i, seqs, _shared_prefix(seqs)))
        for chunk in _chunks(groups, lambda g: (g[2], max(s.ends[-1] + 1 for s in g[1]) - g[2], len(g[1])),
                             self.max_batch_tokens):
            tokens += self._score_groups(chunk, scores)
        for i, j, s in long:
            scores[i][j], n = self._score_last(s)
            tokens += n
        return scores, tokens

    @torch.no_grad()
    def score_extensions(self, env_id: str, nodes: Sequence[tuple[Sequence[str], Sequence[str], PathState | None]],
                         candidates: Sequence[Sequence[str]]
                         ) -> tuple[list[list[float]], int, list[list[PathState]]]:
        """Beam search's O(T) scoring: like ``score_expansions``, but node i = (observations, actions,
        state) may carry the ``PathState`` its own scoring returned. Each candidate is read in the
        window of ``windows`` that holds its last step (the whole path while it fits ``max_len``);
        where the node's state covers the start of that window, only the tokens after it are read,
        the new observation once per node and then each candidate action on top of it; else the
        window's prefix shared by the node's candidates is encoded once. -> (scores, tokens read,
        each candidate's state). Equal to ``score_expansions`` up to float rounding; a window moves
        on once per ``max_len // 2`` tokens or so, so a long path costs O(T) tokens too."""
        self.model.eval()
        scores: list[list[float]] = [[0.0] * len(c) for c in candidates]
        states: list[list[Any]] = [[None] * len(c) for c in candidates]
        groups, tokens = [], 0  # (node, [(cand, its window as a Serialized)], prefix state, tokens they share)
        for i, ((obs, acts, state), cands) in enumerate(zip(nodes, candidates)):
            views = [self._last_window(self.encode(env_id, obs, list(acts) + [a])) for a in cands]
            for offset in sorted({o for o, _ in views}):
                group = [(j, v) for j, (o, v) in enumerate(views) if o == offset]
                shared, prefix = _shared_prefix([v for _, v in group]), state
                if prefix is None or prefix.offset != offset or not all(
                        v.ids[: len(prefix.ids)] == prefix.ids and v.ends[-1] >= len(prefix.ids) for _, v in group):
                    prefix, n = self._encode_prefix(group[0][1].ids[:shared], offset)
                    tokens += n
                groups.append((i, group, prefix, shared))
        # what a group's candidates share past its state (the new observation) is read once, for all
        heads = [(g, Serialized(group[0][1].ids[:shared], [shared - 1]), prefix)
                 for g, (_, group, prefix, shared) in enumerate(groups) if len(group) > 1 and shared > len(prefix.ids)]
        for chunk in _chunks(heads, lambda r: (len(r[2].ids), len(r[1].ids) - len(r[2].ids), 1), self.max_batch_tokens):
            _, extended, n = self._extend([(s, st) for _, s, st in chunk])
            tokens += n
            for (g, _, _), st in zip(chunk, extended):
                groups[g] = (*groups[g][:2], st, groups[g][3])
        rows = [(i, j, v, prefix) for i, group, prefix, _ in groups for j, v in group]
        for chunk in _chunks(rows, lambda r: (len(r[3].ids), r[2].ends[-1] + 1 - len(r[3].ids), 1),
                             self.max_batch_tokens):
            values, extended, n = self._extend([(v, prefix) for _, _, v, prefix in chunk])
            tokens += n
            for (i, j, _, _), value, st in zip(chunk, values, extended):
                scores[i][j], states[i][j] = value, st
        return scores, tokens, states

    def _last_window(self, s: Serialized) -> tuple[int, Serialized]:
        """(start, the window of ``windows(s)`` that reads the last step, its ids and ends from start)."""
        start, stop, js = self.windows(s)[-1]
        return start, window(s, start, stop, js)

    def _encode_prefix(self, ids: list[int], offset: int = 0) -> tuple[PathState, int]:
        """A state for ``ids`` (possibly empty) read from position 0, and tokens read."""
        if not ids:
            return PathState(list(ids), [], offset), 0
        x = torch.tensor([ids], device=self.device)
        attn = torch.ones_like(x)
        pos = torch.arange(len(ids), device=self.device)[None, :]
        _, cache = self.model.forward_cached(x, attn, pos)
        return PathState(list(ids), [(layer.keys, layer.values) for layer in cache.layers], offset), len(ids)

    def _extend(self, rows: list[tuple[Serialized, PathState]]) -> tuple[list[float], list[PathState], int]:
        """Each row's tokens after its prefix state, up to its last step's end, read in one batch:
        -> (the score at that end, the row's new state, tokens read) per row."""
        pad = self.tokenizer.pad_token_id or 0
        width = max(len(st.ids) for _, st in rows)
        suffix = max(s.ends[-1] + 1 - len(st.ids) for s, st in rows)
        n = len(rows)
        s_ids = torch.full((n, suffix), pad, dtype=torch.long)
        attn = torch.zeros((n, width + suffix), dtype=torch.long)
        read = torch.zeros(n, dtype=torch.long)
        start = torch.zeros(n, dtype=torch.long)
        for r, (s, st) in enumerate(rows):  # prefix left-padded, suffix right-padded
            p, e = len(st.ids), s.ends[-1] + 1
            s_ids[r, : e - p] = torch.tensor(s.ids[p:e])
            attn[r, width - p: width] = 1
            attn[r, width: width + e - p] = 1
            read[r], start[r] = e - 1 - p, p
        cache = left_padded([st.kv for _, st in rows], width)
        pos = start[:, None] + torch.arange(suffix)[None, :]
        out, cache = self.model.forward_cached(s_ids.to(self.device), attn.to(self.device), pos.to(self.device),
                                               past_key_values=cache)
        values = self.squash(out.gather(1, read[:, None].to(self.device)))[:, 0].float().cpu().tolist()
        states = []
        for r, (s, st) in enumerate(rows):
            p, e = len(st.ids), s.ends[-1] + 1
            states.append(PathState(list(s.ids[:e]), row_kv(cache, r, slice(width - p, width + e - p)), st.offset))
        return values, states, int(sum(s.ends[-1] + 1 - len(st.ids) for s, st in rows))

    def _score_groups(self, groups: list[tuple[int, list[Serialized], int]], scores: list[list[float]]) -> int:
        pad = self.tokenizer.pad_token_id or 0
        width = max(p for _, _, p in groups)
        ids = torch.full((len(groups), width), pad, dtype=torch.long)
        attn = torch.zeros((len(groups), width), dtype=torch.long)
        for g, (_, seqs, p) in enumerate(groups):  # left padding: every prefix ends at column width-1
            if p:
                ids[g, width - p:] = torch.tensor(seqs[0].ids[:p])
                attn[g, width - p:] = 1
        tokens = int(attn.sum())
        cache = None
        if width:
            pos = (attn.cumsum(-1) - 1).clamp(min=0)
            _, cache = self.model.forward_cached(ids.to(self.device), attn.to(self.device), pos.to(self.device))
        rows = [(g, j) for g, (_, seqs, _) in enumerate(groups) for j in range(len(seqs))]
        suffix = max(groups[g][1][j].ends[-1] + 1 - groups[g][2] for g, j in rows)
        s_ids = torch.full((len(rows), suffix), pad, dtype=torch.long)
        s_attn = torch.zeros((len(rows), suffix), dtype=torch.long)
        read = torch.zeros(len(rows), dtype=torch.long)
        for r, (g, j) in enumerate(rows):  # right padding: causal attention keeps it out of real tokens
            seq, p = groups[g][1][j], groups[g][2]
            s_ids[r, : seq.ends[-1] + 1 - p] = torch.tensor(seq.ids[p: seq.ends[-1] + 1])
            s_attn[r, : seq.ends[-1] + 1 - p] = 1
            read[r] = seq.ends[-1] - p
        tokens += int(s_attn.sum())
        index = torch.tensor([g for g, _ in rows])
        start = torch.tensor([groups[g][2] for g, _ in rows])
        if cache is not None:
            cache.batch_select_indices(index.to(self.device))
        full_attn = torch.cat([attn[index], torch.ones_like(s_attn)], dim=-1)
        pos = start[:, None] + torch.arange(suffix)[None, :]
        out, _ = self.model.forward_cached(s_ids.to(self.device), full_attn.to(self.device), pos.to(self.device),
                                           past_key_values=cache)
        values = self.squash(out.gather(1, read[:, None].to(self.device)))[:, 0].float().cpu().tolist()
        for (g, j), v in zip(rows, values):
            scores[groups[g][0]][j] = v
        return tokens

    def windows(self, s: Serialized) -> list[tuple[int, int, list[int]]]:
        """How a trajectory longer than ``max_len`` is read: (start, stop, steps) token windows,
        exact for steps ending inside the first window, at least ``max_len // 2`` tokens of
        preceding context for every later step. One window ``(0, len, all steps)`` if it fits."""
        out, i = [], 0
        while i < len(s.ends):
            start = 0 if s.ends[i] < self.max_len else s.ends[i] + 1 - self.max_len // 2
            stop = min(start + self.max_len, len(s.ids))
            js = [j for j in range(i, len(s.ends)) if s.ends[j] < stop]
            out.append((start, stop, js))
            i = js[-1] + 1
        return out

    def _score_last(self, s: Serialized) -> tuple[float, int]:
        """The last step's score of a trajectory read in ``windows`` (only the window that holds it is
        read: the same forward pass as ``_score_long``'s, so the same value), and tokens read."""
        _, piece = self._last_window(s)
        raw, _, n = self.forward_steps([piece])
        return float(self.squash(raw)[0, -1]), n

    def _score_long(self, s: Serialized) -> tuple[np.ndarray, int]:
        """Per-step scores of a trajectory read in ``windows``, and tokens read."""
        scores, tokens = np.zeros(len(s.ends), dtype=np.float32), 0
        for start, stop, js in self.windows(s):
            raw, _, n = self.forward_steps([window(s, start, stop, js)])
            scores[js] = self.squash(raw)[0].float().cpu().numpy()
            tokens += n
        return scores, tokens
