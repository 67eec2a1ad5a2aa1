"""WebShop reward: hand-worked goal/product pairs for each component, the original's quirks,
and a scan of every goal's own product with every option combination (never above 1)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from agentprm_bench.envs.webshop import reward as R
from agentprm_bench.envs.webshop.catalog import Goal, Product, load_catalog
from agentprm_bench.envs.webshop.reward import (
    attribute_matches,
    normalize_color,
    option_matches,
    token_set_ratio,
    type_reward,
    webshop_reward,
)

CAT = "Clothing, Shoes & Jewelry › Men › Shoes › Athletic › Running"
NOUNS = {"B000TEST01": ("trail", "shoes", "men"), "B000TEST02": ("wool", "socks"),
         "B000TEST03": ("cotton", "shoes", "bed", "sheet", "set"), "B000GOAL05": ("trail", "shoes", "men", "sneakers", "x"),
         "B000GOAL10": tuple("abcdefghijk"), "B000TEST04": ("k", "lima"), "B000REPEAT": ("shoes", "shoes", "shoes", "men")}


@pytest.fixture(autouse=True)
def noun_table(monkeypatch):
    monkeypatch.setattr(R, "title_nouns", lambda: NOUNS)


def product(**kw) -> Product:
    base = dict(
        asin="B000TEST01", title="Trail Running Shoes for Men", description="Breathable mesh upper.",
        bullet_points=("Rubber sole", "Lace-up closure"), pricing=(39.99,), price_tag="$39.99",
        options={"size": ("8", "9", "x-large", "large"), "color": ("jet black", "navy")},
        attributes=("rubber sole", "lace up"), category="fashion", product_category=CAT, query="men's running shoes",
    )
    base.update(kw)
    return Product(**base)


def goal(**kw) -> Goal:
    base = dict(asin="B000TEST01", instruction="i need running shoes", attributes=("rubber sole",),
                options=(("color", "black"), ("size", "9")), price_upper=50.0,
                name="Trail Running Shoes for Men", query="men's running shoes", product_category=CAT, category="fashion")
    base.update(kw)
    return Goal(**base)


# ----- fuzzy matching (thefuzz 0.19 semantics) ------------------------------------------------
@pytest.mark.parametrize("a,b,expected", [
    ("gluten free", "Gluten-Free!", 100),  # punctuation and case are processed away
    ("lace up", "lace up closure", 100),  # token-set: one side's tokens inside the other's
    ("", "anything", 0),
    ("caf\u00e9 latte", "caf latte", 100),  # characters 128-255 are dropped ...
    ("\u0142 latte", "latte", 100),  # ... others are kept: "ł" is a token of its own
    ("large", ("size", "x-large"), 100),  # a pair is compared by its text "('size', 'x-large')"
    ("memory foam", "long lasting", 26),
])
def test_token_set_ratio(a, b, expected):
    assert token_set_ratio(a, b) == expected


# ----- attributes -------------------------------------------------------------------------
def test_attribute_matches_fuzzy_then_title_bullets_description():
    assert attribute_matches(product(attributes=("Rubber-Sole", "machine wash")), ["rubber sole"]) == 1
    p = product(attributes=())
    assert attribute_matches(p, ["trail running"]) == 1  # in title (lower-cased)
    assert attribute_matches(p, ["rubber sole lace-up"]) == 1  # bullets joined by spaces
    assert attribute_matches(p, ["breathable mesh"]) == 1  # in description
    assert attribute_matches(p, ["waterproof"]) == 0


# ----- options: the original passes the goal's options as (name, value) pairs ----------------
def test_any_value_whose_words_are_inside_the_pair_matches():
    # "large" is a subset of the words of ('size', 'x-large'): a match, as in the original
    assert option_matches((("size", "x-large"),), ["large"]) == 1
    assert option_matches((("size", "x-large"),), ["8"]) == 0
    # each goal option counts once, however many chosen values match it
    assert option_matches((("size", "x-large"),), ["large", "x-large"]) == 1


def test_colour_normalisation_of_values_but_not_of_pairs():
    # a chosen value containing a colour word becomes that word ("r.brown2070" -> "brown") ...
    assert normalize_color("r.brown2070") == "brown" and normalize_color("rectangular") == "tan"
    # ... but a pair is only normalised when an element IS a colour word: the goal's own value
    # then fails to match itself (the 20 test goals the oracle cannot solve)
    assert normalize_color(("color", "r.brown2070")) == ("color", "r.brown2070")
    assert option_matches((("color", "r.brown2070"),), ["r.brown2070"]) == 0
    assert normalize_color(("color", "black")) == "black"
    assert option_matches((("color", "black"),), ["jet black"]) == 1


@pytest.mark.parametrize("value,expected", [
    ("", ""), ("black forest", "black"), ("violet lavender", "lavender"),
    ("steelivy fuchsia", "fuchsia"), ("123alabaster", "alabaster"), ("webshop", "webshop"),
])
def test_normalize_color(value, expected):
    assert normalize_color(value) == expected


# ----- type score (title nouns from the table) ------------------------------------------------
def test_type_reward_levels():
    g = goal()
    assert type_reward(product(), g)[0] == 1.0  # same product
    other = dict(query="sheets", product_category="Home & Kitchen › Bedding › Sheets")
    # 1 of 5 goal nouns shared (0.2, not > 0.2), no query or category match: 0.5
    r, qm, cm, ts = type_reward(product(asin="B000TEST03", **other), goal(asin="B000GOAL05"))
    assert (qm, cm, ts, r) == (False, False, pytest.approx(0.2), 0.5)
    # 1 of 3: 0.33 > 0.2 -> 1.0
    assert type_reward(product(asin="B000TEST03", **other), g)[:1] == (1.0,)
    # under 10% shared: 0.1 even though the query matches; none shared: 0
    assert type_reward(product(asin="B000TEST04"), goal(asin="B000GOAL10"))[0] == 0.1
    assert type_reward(product(asin="B000TEST02"), g)[0] == 0.0


def test_title_score_counts_the_goals_repeated_nouns():
    # distinct shared nouns {shoes, men} over the goal's 4 nouns with repeats: 0.5, not 1.0
    assert type_reward(product(), goal(asin="B000REPEAT"))[3] == pytest.approx(0.5)


# ----- price and the total ------------------------------------------------------------------
def test_total_reward_hand_worked():
    p = product(attributes=("rubber sole",))
    g = goal(attributes=("rubber sole", "memory foam"))
    # attributes 1/2; options black (jet black -> black) and 9: 2/2; price ok: (1 + 2 + 1) / 5
    r = webshop_reward(p, g, 39.99, {"color": "jet black", "size": "9"})
    assert r.reward == pytest.approx(0.8) and (r.num_attr_matches, r.num_option_matches, r.r_type) == (1, 2, 1.0)
    # wrong size, too expensive: (1 + 1 + 0) / 5
    assert webshop_reward(p, g, 60.0, {"color": "jet black", "size": "8"}).reward == pytest.approx(0.4)
    # half type (no query or category match, 1 of 5 nouns): 0.5 x 0.8
    far = product(asin="B000TEST03", query="q", product_category="A › B", attributes=("rubber sole",))
    assert webshop_reward(far, goal(asin="B000GOAL05", attributes=g.attributes), 39.99,
                          {"color": "jet black", "size": "9"}).reward == pytest.approx(0.4)
    r = webshop_reward(product(), goal(), 39.99, {"size": "9", "color": "black"})
    assert r.reward == 1.0 and r.r_option == 1.0 and r.r_attr == 1.0 and r.r_price is True


# ----- no purchase anywhere scores above 1 ---------------------------------------------------
def test_no_goal_scores_above_one_with_any_option_combination(monkeypatch):
    """Every goal buying its own product with every combination of that product's options
    (1,067,404 purchases): option matches come from a per-product match table built with the
    reward's own functions, cross-checked against ``webshop_reward`` on a sample."""
    monkeypatch.undo()
    cat = load_catalog()
    rng = np.random.default_rng(0)
    by_asin: dict[str, list[Goal]] = {}
    for g in cat.goals:
        by_asin.setdefault(g.asin, []).append(g)
    worst, checked, sampled = 0.0, 0, 0
    for asin, goals in by_asin.items():
        p = cat.products[asin]
        names = list(p.options)
        values = [v for n in names for v in p.options[n]]
        offsets = np.cumsum([0] + [len(p.options[n]) for n in names])
        combos = np.array(list(itertools.product(*(range(len(p.options[n])) for n in names))), dtype=np.int64)
        combos = combos.reshape(len(combos), len(names)) + offsets[:-1]
        for g in goals:
            match = np.array([[token_set_ratio(normalize_color(v), normalize_color(o)) > 85 for o in g.options]
                              for v in values], dtype=bool).reshape(len(values), len(g.options))
            n_opt = match[combos].any(axis=1).sum(axis=1) if len(g.options) else np.zeros(len(combos), dtype=int)
            base = webshop_reward(p, g, cat.prices[asin], {})
            total = (base.num_attr_matches + n_opt + base.r_price) / (len(g.attributes) + len(g.options) + 1) * base.r_type
            worst = max(worst, float(total.max()))
            checked += len(combos)
            for k in rng.choice(len(combos), size=min(2, len(combos)), replace=False):
                chosen = {n: values[i] for n, i in zip(names, combos[k])}
                assert webshop_reward(p, g, cat.prices[asin], chosen).reward == pytest.approx(total[k], abs=1e-12)
                sampled += 1
    assert checked == 1_067_404 and sampled > 10_000
    assert worst == 1.0
