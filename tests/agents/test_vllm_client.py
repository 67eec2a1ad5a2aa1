"""The vllm policy's server path, against a local OpenAI-compatible server (no vllm needed)."""

from __future__ import annotations

import socket

import pytest

from agentprm_bench.agents.base import make_policy
from agentprm_bench.errors import UserError
from tests.agents.test_policies import histories


def test_requests_follow_the_completions_api(completions_server):
    policy = make_policy("vllm", base_url=completions_server.base_url, served_model="tiny", temperature=0.7,
                         top_p=0.9, max_new_tokens=12)
    out = policy.act(histories(2), 2, seeds=[100, 200])
    assert [s.action for s in out[0]] == ["turn left", "turn right"]  # seeds 100 and 101
    assert all(path == "/v1/completions" for path in completions_server.requests)
    body = next(b for b in completions_server.bodies if b["seed"] == 100)  # requests run concurrently
    assert body["model"] == "tiny" and body["temperature"] == 0.7 and body["top_p"] == 0.9
    assert body["max_tokens"] == 12 and body["n"] == 1
    assert body["prompt"].startswith("System: You are an agent in a grid world.")
    assert body["prompt"].endswith("Assistant: ")
    assert out[0][0].raw == "Thought: step 2.\nAction: turn left"  # 100 % 7 == 2
    assert out[0][0].tokens_out == 6 and out[0][0].tokens_in == len(body["prompt"].split())


def test_transient_server_errors_are_retried(completions_server):
    completions_server.fail_next = 2
    policy = make_policy("vllm", base_url=completions_server.base_url, backoff=0.01, retries=3)
    assert policy.act(histories(1), 1, seeds=[0])[0][0].action == "turn left"


def test_unreachable_server_gives_one_clear_error():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    policy = make_policy("vllm", base_url=f"http://127.0.0.1:{port}/v1", retries=1, backoff=0.01, timeout=2)
    with pytest.raises(UserError, match=r"no answer from the completions server .* after 2 tries .*vllm serve"):
        policy.act(histories(1), 1, seeds=[0])


def test_offline_mode_without_vllm_installed_says_how_to_get_it(tiny_model_dir):
    pytest.importorskip  # vllm is an optional extra; when it is absent the error names the fix
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(UserError, match=r"vllm is not installed.*agentprm-bench\[gpu\]"):
            make_policy("vllm", model=str(tiny_model_dir))
    else:
        pytest.skip("vllm is installed here")


def test_vllm_needs_a_model_or_a_url():
    with pytest.raises(UserError, match="needs --model"):
        make_policy("vllm")


def test_cli_collect_through_a_server(completions_server, tmp_path):
    from io import StringIO

    from agentprm_bench.cli import main

    out = StringIO()
    code = main(["collect", "--env", "babyai", "--policy", "vllm", "--base-url", completions_server.base_url,
                 "--served-model", "tiny", "--tasks", "2", "--samples", "2", "--out", str(tmp_path / "v"),
                 "--no-progress"], out=out)
    assert code == 0 and "4 trajectories over 2 tasks" in out.getvalue()
    assert {b["model"] for b in completions_server.bodies} == {"tiny"}
