"""``vllm``: the same prompts as ``hf``, served by vLLM.

Two modes:
* ``base_url`` given: any OpenAI-compatible completions server (``vllm serve MODEL``),
  spoken to with the standard library (no vllm install needed), one request per sample
  so each sample's tokens are counted exactly, several in flight at once, with a timeout
  and retries; an unreachable server ends in one clear error.
* otherwise: vLLM's offline engine over the local model directory (``pip install
  agentprm-bench[gpu]``), tensor-parallel with ``tensor_parallel_size``.
Prompts use the chat template of the local model directory's tokenizer when ``model`` is
a directory, else the plain "Role: text" rendering.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

from agentprm_bench.agents.base import ActionSample, History, Policy
from agentprm_bench.agents.hf import trained_settings
from agentprm_bench.agents.prompt import build_messages, parse_action, render_prompt
from agentprm_bench.errors import UserError


class VLLMPolicy(Policy):
    name = "vllm"

    def __init__(self, model: str | None = None, base_url: str | None = None, served_model: str | None = None,
                 temperature: float = 1.0, top_p: float = 1.0, max_new_tokens: int = 64,
                 max_prompt_chars: int | None = None, max_obs_chars: int | None = None, timeout: float = 60.0,
                 retries: int = 3, backoff: float = 1.0, concurrency: int = 16, tensor_parallel_size: int = 1,
                 api_key: str | None = None):
        if model is None and base_url is None:
            raise UserError("the vllm policy needs --model (a local model dir) or --base-url (a running server)")
        self.model, self.base_url = model, base_url.rstrip("/") if base_url else None
        self.served_model = served_model or model or "default"
        self.temperature, self.top_p, self.max_new_tokens = float(temperature), float(top_p), int(max_new_tokens)
        self.timeout, self.retries, self.backoff, self.concurrency = timeout, retries, backoff, concurrency
        self.api_key = api_key
        self.tokenizer = None
        local = Path(model).expanduser() if model else None
        if local is not None and (local / "tokenizer_config.json").is_file():
            from agentprm_bench.agents.hf import load_tokenizer

            self.tokenizer = load_tokenizer(local)
        trained = trained_settings(local) if local is not None and local.is_dir() else {}
        self.max_prompt_chars = max_prompt_chars or trained.get("max_prompt_chars", 24_000)
        self.max_obs_chars = max_obs_chars or trained.get("max_obs_chars", 8_000)
        self.omitted_actions = int(trained.get("omitted_actions", 0))
        self._engine: Any = None
        if self.base_url is None:
            self._engine = self._offline_engine(str(local), tensor_parallel_size)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.served_model, "base_url": self.base_url,
                "temperature": self.temperature, "top_p": self.top_p, "max_new_tokens": self.max_new_tokens}

    # ----- sampling ----------------------------------------------------------------------
    def act(self, histories: Sequence[History], k: int, seeds: Sequence[int]) -> list[list[ActionSample]]:
        prompts = [render_prompt(build_messages(h, self.max_prompt_chars, self.max_obs_chars, self.omitted_actions),
                                 self.tokenizer) for h in histories]
        jobs = [(prompts[i], (int(seeds[i]) + j) % 2**31) for i in range(len(histories)) for j in range(k)]
        if self._engine is not None:
            replies = self._generate_offline(jobs)
        else:
            with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
                replies = list(pool.map(lambda job: self._complete(*job), jobs))
        out = []
        for i in range(len(histories)):
            row = []
            for text, n_in, n_out in replies[i * k:(i + 1) * k]:
                action, parsed = parse_action(text)
                row.append(ActionSample(action if parsed else text.strip(), text, parsed, n_in, n_out))
            out.append(row)
        return out

    # ----- server mode -------------------------------------------------------------------
    def _complete(self, prompt: str, seed: int) -> tuple[str, int, int]:
        body = json.dumps({"model": self.served_model, "prompt": prompt, "n": 1, "temperature": self.temperature,
                           "top_p": self.top_p, "max_tokens": self.max_new_tokens, "seed": seed}).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(f"{self.base_url}/completions", data=body, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    data = json.loads(response.read())
                choice = data["choices"][0]
                usage = data.get("usage") or {}
                return (choice.get("text") or "", int(usage.get("prompt_tokens", 0)),
                        int(usage.get("completion_tokens", 0)))
            except urllib.error.HTTPError as exc:
                if exc.code < 500:
                    detail = exc.read().decode(errors="replace")[:200]
                    raise UserError(f"the server at {self.base_url} refused the request (HTTP {exc.code}: "
                                    f"{detail}); check --base-url and the served model name") from None
                last = exc
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                last = exc
            except (json.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
                last = ValueError(f"unexpected response: {exc}")
        raise UserError(f"no answer from the completions server at {self.base_url} after {self.retries + 1} tries "
                        f"({last}); start it with `vllm serve MODEL` or fix --base-url")

    # ----- offline engine ----------------------------------------------------------------
    @staticmethod
    def _offline_engine(model: str, tensor_parallel_size: int) -> Any:
        try:
            from vllm import LLM
        except ImportError:
            raise UserError("vllm is not installed; `pip install 'agentprm-bench[gpu]'` on a GPU machine, "
                            "or pass --base-url of a running server") from None
        return LLM(model=model, tensor_parallel_size=tensor_parallel_size)

    def _generate_offline(self, jobs: list[tuple[str, int]]) -> list[tuple[str, int, int]]:
        from vllm import SamplingParams

        params = [SamplingParams(n=1, temperature=self.temperature, top_p=self.top_p,
                                 max_tokens=self.max_new_tokens, seed=seed) for _, seed in jobs]
        outputs = self._engine.generate([p for p, _ in jobs], params, use_tqdm=False)
        return [(o.outputs[0].text, len(o.prompt_token_ids), len(o.outputs[0].token_ids)) for o in outputs]
