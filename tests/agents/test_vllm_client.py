"""The vllm policy's server path, against a local OpenAI-compatible server (no vllm needed)."""

from __future__ import annotations

import json
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


def test_a_local_model_sends_token_ids_cut_like_hf_and_its_reply_trie(completions_server, tiny_model_dir):
    from agentprm_bench.agents.hf import HFPolicy, action_trie, reply_trie

    policy = make_policy("vllm", model=str(tiny_model_dir), base_url=completions_server.base_url,
                         served_model="tiny", decoding="admissible", max_new_tokens=8)
    hist = histories(1)[0]
    hist.observations[0] = hist.observations[0] + " filler" * 400  # longer than the 256-token context
    completions_server.reply = lambda prompt, seed: "Action: " + hist.admissible_actions[-1]
    assert policy.act([hist], 1, seeds=[3])[0][0].action == hist.admissible_actions[-1]
    body = completions_server.bodies[-1]
    hf = HFPolicy(str(tiny_model_dir), max_new_tokens=8)
    ids = hf.tokenizer(hf.prompts([hist])[0], add_special_tokens=False)["input_ids"]
    assert body["prompt"] == ids[-hf.max_prompt_tokens:] and len(body["prompt"]) < len(ids)
    spec = json.loads(body["vllm_xargs"]["agentprm_admissible"])  # the logits processor's trie is hf's
    assert spec["eos"] == hf.tokenizer.eos_token_id
    assert reply_trie(spec["replies"]) == action_trie(hf.tokenizer, hist.admissible_actions)
    assert body["max_tokens"] == max(8, max(map(len, spec["replies"])))
    assert "structured_outputs" not in body


def test_a_server_that_ignores_admissible_decoding_is_named(completions_server, tiny_model_dir):
    policy = make_policy("vllm", model=str(tiny_model_dir), base_url=completions_server.base_url,
                         decoding="admissible")
    completions_server.reply = lambda prompt, seed: "Action: fly to the moon"
    with pytest.raises(UserError, match=r"not an admissible action: start the server with .*--logits-processors "
                                        r"agentprm_bench.agents.vllm_admissible:AdmissibleTokens"):
        policy.act(histories(1), 1, seeds=[0])


def test_without_a_local_tokenizer_admissible_decoding_is_a_choice(completions_server):
    policy = make_policy("vllm", base_url=completions_server.base_url, served_model="remote", decoding="admissible")
    hist = histories(1)[0]
    completions_server.reply = lambda prompt, seed: "Action: " + hist.admissible_actions[0]
    policy.act([hist], 1, seeds=[0])
    body = completions_server.bodies[-1]
    assert body["structured_outputs"] == {"choice": ["Action: " + a for a in hist.admissible_actions]}
    assert isinstance(body["prompt"], str) and "vllm_xargs" not in body
    free = make_policy("vllm", base_url=completions_server.base_url, decoding="free")
    free.act([hist], 1, seeds=[3])
    assert "structured_outputs" not in completions_server.bodies[-1]
    with pytest.raises(UserError, match="decoding must be"):
        make_policy("vllm", base_url=completions_server.base_url, decoding="greedy")


def test_serve_adds_the_admissible_processor_and_cpu_settings_unless_given():
    from agentprm_bench.agents.vllm_serve import serve_argv

    cpu = serve_argv(["/m", "--port", "9000"], cuda=False)
    assert cpu[:5] == ["vllm", "serve", "/m", "--port", "9000"]
    assert cpu[cpu.index("--logits-processors") + 1] == "agentprm_bench.agents.vllm_admissible:AdmissibleTokens"
    assert cpu[cpu.index("--dtype") + 1] == "float32" and "--gpu-memory-utilization" in cpu
    assert "--no-enable-chunked-prefill" in cpu
    assert serve_argv(["/m", "--dtype=bfloat16"], cuda=False).count("--dtype") == 0
    gpu = serve_argv(["/m"], cuda=True)
    assert "--dtype" not in gpu and "--gpu-memory-utilization" not in gpu and "--logits-processors" in gpu
    assert "--no-enable-chunked-prefill" not in gpu


def test_offline_engine_on_a_missing_model_dir_is_one_clear_error(tmp_path):
    with pytest.raises(UserError, match=r"model directory .*nowhere not found .*train-policy"):
        make_policy("vllm", model=str(tmp_path / "nowhere"))


def test_head_size_is_read_from_the_config(tmp_path):
    from agentprm_bench.agents.vllm_policy import _head_dim

    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 128, "num_attention_heads": 4}))
    assert _head_dim(tmp_path) == 32
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 128, "num_attention_heads": 4, "head_dim": 64}))
    assert _head_dim(tmp_path) == 64
    (tmp_path / "config.json").write_text("{damaged")
    assert _head_dim(tmp_path) is None
