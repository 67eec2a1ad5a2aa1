"""Condensed views for the warm-up: real lines of real pages, and only where a choice is copied."""

from __future__ import annotations

import gymnasium as gym

import agentprm_bench.envs  # noqa: F401
from agentprm_bench.agents.curriculum import condensed, webshop_views
from agentprm_bench.envs.webshop.catalog import load_catalog
from agentprm_bench.envs.webshop.env import WebShopEnv

ENV = "agentprm/WebShop-v0"


def oracle_pages(task: int) -> list[tuple[str, str]]:
    env = gym.make(ENV, split="test").unwrapped
    obs, _ = env.reset(options={"task_id": task})
    pages = []
    while True:
        action = env.oracle_action()
        pages.append((obs, action))
        obs, _, term, trunc, _ = env.step(action)
        if term or trunc:
            return pages


def test_webshop_views_keep_the_lines_an_option_choice_needs():
    goals = load_catalog().goals
    task = next(t for t in WebShopEnv.splits()["test"] if len(goals[t].options) == 2)
    pages = oracle_pages(task)
    option_steps = [(o, a) for o, a in pages if "[Buy Now]" in o and a != "click[Buy Now]"]
    assert len(option_steps) == 2
    obs, action = option_steps[1]  # the second option: the first is already selected
    short, page = webshop_views(obs, action)
    lines = obs.split("\n")
    first_name, first_value = next(iter(goals[task].options.items()))
    assert short.split("\n")[0] == f"Selected options: {first_name}: {first_value}"
    assert short.split("\n")[1].startswith("Instruction: ") and action[6:-1] in short
    assert short.split("\n")[1][len("Instruction: "):] in lines[0]  # the instruction's option clause, verbatim
    assert page.split("\n")[0] == lines[0] and all(line in lines for line in page.split("\n"))
    assert sum(": [" in line for line in page.split("\n")) == 2 and "[Buy Now]" not in page
    assert len(short) < len(page) < len(obs)


def test_no_views_where_nothing_is_copied():
    pages = oracle_pages(WebShopEnv.splits()["test"][0])
    for obs, action in pages:
        if "[Buy Now]" not in obs or action == "click[Buy Now]":  # search, results, buying
            assert webshop_views(obs, action) is None
    assert condensed("agentprm/BabyAI-v1", "You see a wall.", "turn left") is None
