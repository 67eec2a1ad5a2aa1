"""``hf``'s admissible decoding inside vLLM: a logits processor over the token trie of the replies.

A request that carries ``extra_args[KEY]`` (offline engine: ``SamplingParams(extra_args=...)``;
server: the request's ``vllm_xargs``) as JSON ``{"eos": id, "replies": [[ids], ...]}`` — the
canonical token ids of each admissible reply "Action: <a>" followed by eos — may at every step
only emit a token that continues one of those sequences (after a complete reply: eos). This is
the trie ``hf`` decodes with (``hf.action_trie``), so greedy replies are the same token for token;
vLLM's string-level structured outputs instead admit any tokenization of a choice.

Loaded by the offline engine (``LLM(logits_processors=[AdmissibleTokens])``) and by a server
started with ``vllm serve DIR --logits-processors agentprm_bench.agents.vllm_admissible:AdmissibleTokens``.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import torch
from vllm.v1.sample.logits_processor import AdapterLogitsProcessor

from agentprm_bench.agents.hf import reply_trie
from agentprm_bench.agents.vllm_policy import KEY


class AdmissibleTokens(AdapterLogitsProcessor):
    def is_argmax_invariant(self) -> bool:
        return False  # it changes which token is most likely

    def new_req_logits_processor(self, params: Any) -> Callable[[list[int], torch.Tensor], torch.Tensor] | None:
        spec = (params.extra_args or {}).get(KEY)
        if not spec:
            return None
        spec = json.loads(spec) if isinstance(spec, str) else spec
        eos, trie = int(spec["eos"]), reply_trie(spec["replies"])
        allowed_ids: dict[tuple[int, ...], torch.Tensor] = {}

        def restrict(output_ids: list[int], logits: torch.Tensor) -> torch.Tensor:
            """logits: (V,) of the next token; every token outside the trie's continuations -> -inf."""
            prefix = tuple(output_ids)
            idx = allowed_ids.get(prefix)
            if idx is None:
                idx = allowed_ids[prefix] = torch.tensor(sorted(trie.get(prefix, {eos})), device=logits.device)
            out = torch.full_like(logits, float("-inf"))
            out[idx] = logits[idx]
            return out

        return restrict
