"""ReAct prompt construction and action parsing."""

from __future__ import annotations

import pytest

from agentprm_bench.agents.base import History
from agentprm_bench.agents.prompt import build_messages, clip, parse_action, render_plain


def test_messages_alternate_and_end_with_the_current_observation():
    h = History("agentprm/TextCraft-v1", 0, ["Goal: craft x.", "Got 1 a", "Got 2 b"], ["get 1 a", "get 2 b"])
    msgs = build_messages(h)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert msgs[2]["content"] == "Action: get 1 a" and msgs[-1]["content"] == "Got 2 b"


def test_long_histories_keep_the_task_and_the_latest_turns():
    obs = ["TASK " + "x" * 50] + [f"obs {t} " + "y" * 50 for t in range(1, 11)]
    h = History("agentprm/BabyAI-v1", 0, obs, [f"a{t}" for t in range(10)])
    msgs = build_messages(h, max_chars=400)
    assert msgs[1]["content"].startswith("TASK ") and "earlier turns omitted" in msgs[1]["content"]
    assert msgs[-1]["content"].startswith("obs 10 ") and msgs[-2]["content"] == "Action: a9"
    assert sum(len(m["content"]) for m in msgs[2:]) <= 400


def test_omitted_turns_can_list_their_latest_actions():
    obs = ["TASK"] + [f"page {t}" for t in range(1, 5)]
    h = History("agentprm/WebShop-v1", 0, obs, ["search[x]", "click[B01]", "click[red]", "click[large]"])
    note = build_messages(h, max_chars=1, omitted_actions=2)[1]["content"]
    assert note == "TASK\n(3 earlier turns omitted; their actions: click[B01]; click[red])"
    assert build_messages(h, max_chars=1)[1]["content"] == "TASK\n(3 earlier turns omitted)"
    assert build_messages(h, max_chars=1, omitted_actions=9)[-2]["content"] == "Action: click[large]"


def test_clip_keeps_both_ends():
    text = "A" * 50 + "B" * 50
    out = clip(text, 21)
    assert out.startswith("AAAAAAAA") and out.endswith("BBBBBBBB") and " ... " in out and len(out) <= 21


@pytest.mark.parametrize("reply,expected", [
    ("Action: click[Buy Now]", ("click[Buy Now]", True)),
    ("Thought: I need wood.\nAction: get 1 oak logs\nObservation: ...", ("get 1 oak logs", True)),
    ("Action: a\nAction: turn left", ("turn left", True)),
    ("go to red ball 1\nmore text", ("go to red ball 1", True)),
    ("", ("", False)),
    ("   \n ", ("", False)),
    ("Action:", ("", False)),
])
def test_parse_action(reply, expected):
    assert parse_action(reply) == expected


def test_plain_rendering_ends_with_the_assistant_cue():
    text = render_plain([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}])
    assert text == "System: S\n\nUser: U\n\nAssistant: "
