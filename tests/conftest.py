"""Shared fixtures: a tiny (untrained) local model directory, a fake OpenAI completions server, and
torch's thread count restored after every test."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """Each test starts with the process's torch threads: the CLI sets them (``--threads``), and a test
    that runs it in-process must not leave later tests at its count (results can depend on it)."""
    import torch

    before = torch.get_num_threads()
    yield
    if torch.get_num_threads() != before:
        torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A Qwen2-style model built from config with a locally trained tokenizer (no training)."""
    import torch

    from agentprm_bench.agents.bc import TrainPolicyConfig, build_model, train_tokenizer

    torch.manual_seed(0)
    texts = ["Mission: go to the red ball\nYou see:\n- red ball 1: 2 steps forward", "Action: go to red ball 1",
             "Crafting commands:\ncraft 4 oak planks using 1 oak logs\n\nGoal: craft oak planks.",
             "Instruction: find shoes [Search] search[shoes] click[Buy Now]"] * 20
    tokenizer = train_tokenizer(texts, vocab_size=300)
    cfg = TrainPolicyConfig(env="babyai", hidden_size=32, layers=2, heads=2, max_len=256)
    model = build_model(cfg, tokenizer)
    path = tmp_path_factory.mktemp("tiny_model")
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def long_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny model with a 4,096-token window, so prompts are not cut from the left."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model.config.max_position_embeddings = 4096
    path = tmp_path_factory.mktemp("long_model")
    model.save_pretrained(path)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (path / name).write_bytes((tiny_model_dir / name).read_bytes())
    return path


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def do_POST(self):
        server = self.server
        server.requests.append(self.path)
        if server.fail_next > 0:
            server.fail_next -= 1
            self.send_response(503)
            self.end_headers()
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server.bodies.append(body)
        prompt, seed = body["prompt"], body.get("seed", 0)
        text = server.reply(prompt, seed)
        n_in = len(prompt) if isinstance(prompt, list) else len(prompt.split())  # token ids or text
        data = {"id": "cmpl-test", "object": "text_completion", "model": body["model"],
                "choices": [{"index": 0, "text": text, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": n_in, "completion_tokens": len(text.split()),
                          "total_tokens": n_in + len(text.split())}}
        payload = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture()
def completions_server():
    """A minimal OpenAI-compatible /v1/completions server on 127.0.0.1 (random port)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.requests, server.bodies, server.fail_next = [], [], 0
    server.reply = lambda prompt, seed: f"Thought: step {seed % 7}.\nAction: {['turn left', 'turn right'][seed % 2]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield server
    server.shutdown()
    server.server_close()
