"""WebShop catalogue, search engine and page navigation."""

from __future__ import annotations

import pytest

from agentprm_bench.envs.webshop import WebShopEnv
from agentprm_bench.envs.webshop.catalog import load_catalog
from agentprm_bench.envs.webshop.search import BM25Index, stem, tokenize
from agentprm_bench.envs.webshop.env import load_index


def test_catalogue_matches_webshop_1k_setup():
    cat = load_catalog()
    assert len(cat.products) == 1000
    assert len(cat.goals) == 6910  # WebShop's synthetic goal count for the 1k products
    g = cat.goals[0]
    p = cat.products[g.asin]
    assert set(g.options) == set(p.options)
    assert all(v in p.options[k] for k, v in g.options.items())
    assert g.price_upper > p.price
    assert set(g.attributes) <= set(p.attributes)


def test_goals_and_prices_are_deterministic():
    a = load_catalog()
    load_catalog.cache_clear()
    b = load_catalog()
    assert [g.instruction for g in a.goals[:50]] == [g.instruction for g in b.goals[:50]]
    assert [p.price for p in a.products.values()] == [p.price for p in b.products.values()]


def test_bm25_ranks_and_tokenizes():
    index = BM25Index([("a", "red running shoes"), ("b", "blue running shorts"), ("c", "coffee mug")])
    assert index.search("running shoes")[:2] == ["a", "b"]
    assert index.search("coffee") == ["c"]
    assert index.search("the of and") == []
    assert tokenize("The Batteries, boxes & shoes!") == ["battery", "box", "shoe"]
    assert stem("glass") == "glass" and stem("dress") == "dress"


def test_searching_a_title_finds_that_product_on_page_one():
    cat, index = load_catalog(), load_index()
    for asin in list(cat.products)[::50]:
        assert asin in index.search(cat.products[asin].title)[:10]


def test_navigation_options_and_purchase():
    env = WebShopEnv()
    task = env.splits()["test"][0]
    obs, info = env.reset(options={"task_id": task})
    goal = env.goal
    assert obs.startswith("WebShop\nInstruction: ") and info["admissible_actions"][0].startswith("search[")
    obs, *_, info = env.step(f"search[{env.catalog.products[goal.asin].title}]")
    assert "page 1 of" in obs and f"click[{goal.asin}]" in info["admissible_actions"]
    obs, *_, info = env.step(f"click[{goal.asin.lower()}]")  # labels are case-insensitive
    assert env.page == "item" and "[Buy Now]" in obs
    obs, *_ = env.step("click[Description]")
    assert env.page == "sub" and "Description:" in obs
    obs, *_ = env.step("click[< prev]")
    assert env.page == "item"
    obs, *_, info = env.step("search[shoes]")
    assert info["valid_action"] is False and "no search box" in obs
    value = next(iter(goal.options.values()), None)
    if value is not None:
        obs, *_ = env.step(f"click[{value}]")
        assert f"Selected options: {next(iter(goal.options))}: {value}" in obs


def test_buying_the_wrong_product_scores_below_one():
    env = WebShopEnv(max_turns=10)
    env.reset(options={"task_id": env.splits()["test"][1]})
    env.step("search[coffee mug]")
    wrong = next(a for a in env._page_results() if a != env.goal.asin)
    env.step(f"click[{wrong}]")
    _, reward, terminated, _, info = env.step("click[Buy Now]")
    assert terminated and reward < 1.0 and info["won"] is False
    assert set(info["purchase"]) >= {"r_type", "r_attr", "r_price", "reward"}


def test_results_pagination_and_back_to_search():
    env = WebShopEnv(max_turns=10)
    env.reset(options={"task_id": 0})
    obs, *_ = env.step("search[women dress]")
    assert "page 1 of 5 (total results: 50)" in obs
    obs, *_ = env.step("click[Next >]")
    assert "page 2 of 5" in obs and "[< Prev]" in obs
    obs, *_ = env.step("click[Back to Search]")
    assert env.page == "search" and "[Search]" in obs


@pytest.mark.parametrize("query", ["zzzzqqq", "!!!"])
def test_search_with_no_results_is_a_normal_page(query):
    env = WebShopEnv()
    env.reset(options={"task_id": 0})
    obs, _, _, _, info = env.step(f"search[{query}]")
    assert "No results" in obs and info["admissible_actions"] == ["click[Back to Search]"]
