"""Condensed views for the warm-up: real items of real pages, and only where a choice is copied."""

from __future__ import annotations

import gymnasium as gym

import agentprm_bench.envs  # noqa: F401
from agentprm_bench.agents.curriculum import SEP, condensed, webshop_views
from agentprm_bench.envs.webshop.catalog import load_catalog
from agentprm_bench.envs.webshop.env import WebShopEnv

ENV = "agentprm/WebShop-v1"


def oracle_pages(task: int) -> list[tuple[str, str, list[str]]]:
    env = gym.make(ENV, split="test").unwrapped
    obs, _ = env.reset(options={"task_id": task})
    pages, actions = [], []
    while True:
        action = env.oracle_action()
        pages.append((obs, action, list(actions)))
        actions.append(action)
        obs, _, term, trunc, _ = env.step(action)
        if term or trunc:
            return pages


def test_webshop_views_keep_the_items_an_option_choice_needs():
    goals = load_catalog().goals
    task = next(t for t in WebShopEnv.splits()["test"] if len(goals[t].options) == 2)
    pages = oracle_pages(task)
    option_steps = [p for p in pages if p[0].endswith(f"Reviews{SEP}Buy Now") and p[1] != "click[Buy Now]"]
    assert len(option_steps) == 2
    obs, action, previous = option_steps[1]  # the second option: the first is already clicked
    short, page = webshop_views(obs, action, previous)
    first_value = goals[task].options[0][1]
    assert short.split(SEP)[-1] == f"clicked: {first_value}"
    assert short.split(SEP)[1].startswith("with ") and action[6:-1] in short
    assert short.split(SEP)[1] in obs.split(SEP)[1]  # the instruction's option clause, verbatim
    items = obs.split(SEP)
    assert page.split(SEP)[:2] == items[:2] and all(x in items for x in page.split(SEP)[:-1])
    assert "Buy Now" not in page and len(short) < len(page) < len(obs) + 40
    first = webshop_views(*option_steps[0])
    assert first[0].endswith("clicked: nothing yet")


def test_no_views_where_nothing_is_copied():
    for obs, action, previous in oracle_pages(WebShopEnv.splits()["test"][0]):
        if not obs.endswith("Buy Now") or action == "click[Buy Now]":  # search, results, buying
            assert webshop_views(obs, action, previous) is None
    assert condensed("agentprm/BabyAI-v1", "You see a wall.", "turn left") is None
