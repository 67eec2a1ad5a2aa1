"""WebShop catalogue, search, pages and actions (hand-checked cases; the recordings of the
original are replayed in tests/envs/test_conformance.py)."""

from __future__ import annotations

import pickle

import pytest

from agentprm_bench.envs.webshop import WebShopEnv
from agentprm_bench.envs.webshop.catalog import load_catalog, parse_pricing
from agentprm_bench.envs.webshop.env import load_search, parse_action
from agentprm_bench.envs.webshop.pages import join, options_json
from agentprm_bench.envs.webshop.search import SearchEngine, analyze, lucene_length


def test_catalogue_and_splits_are_the_originals():
    cat = load_catalog()
    assert len(cat.products) == 1000 and len(cat.goals) == 6910
    splits = WebShopEnv.splits()
    assert [len(splits[s]) for s in ("test", "eval", "train")] == [500, 1000, 5410]
    assert splits["test"][:2] == [0, 1] and splits["train"][0] == 1500
    g = cat.goals[0]
    assert [n for n, _ in g.options] == sorted(cat.products[g.asin].options)
    assert g.price_upper > cat.prices[g.asin]
    # attributes as listed: 185 products list none, and keep none (no placeholder)
    assert sum(1 for p in cat.products.values() if p.attributes == ()) == 185


def test_pricing_parse():
    assert parse_pricing("$12.99") == ((12.99,), "$12.99")
    assert parse_pricing("$5$9.5$11") == ((5.0, 9.5), "$5.0 to $9.5")
    assert parse_pricing("") == ((100.0,), "$100.0")


def test_analyzer_follows_lucene():
    assert analyze("The women's running shoes, 3.5mm x-large") == ["women", "run", "shoe", "3.5mm", "x", "larg"]
    assert analyze("technology assembly us") == ["technolog", "assembl", "us"]  # Porter's C version
    assert analyze("_ black_style_99 ❤️❤ ☆") == ["black_style_99", "❤️", "❤"]  # ☆ is no token, ❤ is
    assert analyze("a an the of") == []


@pytest.mark.parametrize("n,stored", [(0, 0), (23, 23), (24, 24), (39, 39), (40, 40), (41, 40), (100, 96), (300, 280)])
def test_lucene_document_length_encoding(n, stored):
    assert lucene_length(n) == stored


def test_search_ranks_by_bm25_and_breaks_ties_by_id():
    engine = SearchEngine([("b", "red running shoes"), ("a", "red running shoes"), ("c", "coffee mug")])
    assert engine.search("running shoes") == ["a", "b"]
    assert engine.search("coffee") == ["c"] and engine.search("the of and") == []


def test_searching_a_title_finds_that_product_on_page_one():
    cat, engine = load_catalog(), load_search()
    found = sum(asin in engine.search(cat.products[asin].title.lower())[:10] for asin in list(cat.products)[::25])
    assert found >= 38  # of 40


def test_action_parse_is_the_originals():
    assert parse_action("click[Buy Now]") == ("click", "Buy Now")
    assert parse_action("click[buy now] please") == ("click", "buy now")
    assert parse_action("search[a] [b]") == ("search[a] ", "b")
    assert parse_action("search[]") == ("search[]", None)


def test_text_nodes_collapse_like_the_originals_parser():
    assert join(["A ", "\n  ", "  ", "", " b"]) == "A [SEP]  [SEP] b"
    assert options_json({"size": "x<l", "color": "it's"}) == '{"color": "it\\u0027s", "size": "x\\u003cl"}'


def test_pages_actions_and_purchase():
    env = WebShopEnv(max_turns=20)
    obs, info = env.reset(options={"task_id": 0})
    goal = env.goal
    assert obs == f"WebShop [SEP] Instruction: [SEP] {goal.instruction} [SEP] Search"
    assert info["admissible_actions"] == [f"search[{goal.instruction.split(', and price lower than')[0]}]"]
    obs, *_, info = env.step("click[search]")  # the search button is not clickable
    assert info["valid_action"] is False and env.page == "search"
    obs, *_, info = env.step(f"search[{env.catalog.products[goal.asin].title}]")
    assert "[SEP] Page 1 (Total results: 50) [SEP] Next > [SEP] " in obs
    assert info["admissible_actions"][:2] == ["click[Back to Search]", "click[Next >]"]
    assert f"click[{goal.asin}]" in info["admissible_actions"]
    obs, *_, info = env.step(f"click[{goal.asin.lower()}]")  # labels are case-insensitive
    assert env.page == "item" and obs.endswith("[SEP] Description [SEP] Features [SEP] Reviews [SEP] Buy Now")
    obs, *_ = env.step("CLICK[Description]")  # the action name is not
    assert env.page == "item"
    obs, *_ = env.step("click[description]")
    assert env.page == "sub" and obs.split(" [SEP] ")[2:4] == ["Back to Search", "< Prev"]
    env.step("click[< Prev]")
    for _, value in goal.options:
        before = env._last_obs
        obs, *_ = env.step(f"click[{value}]")
        assert obs == before  # selections are not shown in the text mode
    assert list(env.selected.values()) == [v for _, v in goal.options]
    obs, reward, terminated, _, info = env.step("click[Buy Now]")
    assert terminated and obs.startswith("Thank you for shopping with us! [SEP] Your code: [SEP] None")
    assert info["purchase"]["reward"] == reward and f"[SEP] {reward} [SEP] Reward Details [SEP] None" in obs


def test_search_is_accepted_on_any_page_and_next_runs_past_the_end():
    env = WebShopEnv(max_turns=20)
    env.reset(options={"task_id": 3})
    env.step("search[women dress]")
    env.step(f"click[{env.results[0]}]")
    obs, *_, info = env.step("search[coffee mug]")
    assert info["valid_action"] is True and env.page == "results" and env.selected == {}
    for _ in range(5):
        obs, *_ = env.step("click[Next >]")
    assert f"Page 6 (Total results: {len(env.results)}) [SEP] < Prev [SEP] Next >" in obs and obs.endswith("Next >")
    obs, *_ = env.step("click[back to search]")
    assert env.page == "search" and obs.startswith("WebShop [SEP] Instruction:")


def test_invalid_actions_return_the_same_page():
    env = WebShopEnv(max_turns=20)
    obs0, _ = env.reset(options={"task_id": 5})
    for action in ("hello", "search[]", "click[buy now]", "click [x]", "search[<a> x]", "search[<c>]"):
        obs, reward, terminated, _, info = env.step(action)
        assert (obs, reward, terminated, info["valid_action"]) == (obs0, 0.0, False, False), action
    obs, *_ = env.step("search[ ]")  # a blank query is a query: no results
    assert "Page 1 (Total results: 0) [SEP] Next >" in obs


def test_special_searches_of_the_original():
    env = WebShopEnv(max_turns=20)
    env.reset(seed=1, options={"task_id": 0})
    query = env.catalog.products[env.goal.asin].query
    env.step(f"search[<q> {query}]")
    assert env.goal.asin in env.results and all(env.catalog.products[a].query == query for a in env.results)
    env.step("search[<r>]")
    assert len(env.results) == 50


def test_oracle_solves_the_test_split_where_the_reward_allows():
    env = WebShopEnv()
    won = []
    for task in WebShopEnv.splits()["test"][:60]:
        env.reset(options={"task_id": task})
        done = False
        while not done:
            *_, terminated, truncated, info = env.step(env.oracle_action())
            done = terminated or truncated
        won.append(info["won"])
    assert sum(won) >= 56  # of 60; tasks 20, 28 and 73 cannot reach 1 (see results/env_fidelity.md)


def test_pickle_replays_the_episode():
    env = WebShopEnv()
    env.reset(options={"task_id": 7})
    env.step(env.oracle_action())
    clone = pickle.loads(pickle.dumps(env))
    assert clone._last_obs == env._last_obs and clone.results == env.results
