"""WebShop reward: hand-worked goal/product pairs for each component."""

from __future__ import annotations

import pytest

from agentprm_bench.envs.webshop.catalog import Goal, Product, parse_pricing
from agentprm_bench.envs.webshop.reward import (
    attribute_matches,
    normalize_color,
    option_matches,
    title_nouns,
    token_set_ratio,
    type_reward,
    webshop_reward,
)

CAT = "Clothing, Shoes & Jewelry › Men › Shoes › Athletic › Running"


def product(**kw) -> Product:
    base = dict(
        asin="B000TEST01", name="Trail Running Shoes for Men", title="Trail Running Shoes for Men",
        description="Breathable mesh upper.", bullet_points=("Rubber sole", "Lace-up closure"), price=39.99,
        price_tag="$39.99", options={"size": ("8", "9", "x-large", "large"), "color": ("jet black", "navy")},
        attributes=("rubber sole", "lace up"), category="fashion", product_category=CAT, query="men's running shoes",
    )
    base.update(kw)
    return Product(**base)


def goal(**kw) -> Goal:
    base = dict(asin="B000TEST01", instruction="i need running shoes", attributes=("rubber sole",),
                options={"size": "9", "color": "black forest"}, price_upper=50.0,
                name="Trail Running Shoes for Men", query="men's running shoes", product_category=CAT)
    base.update(kw)
    return Goal(**base)


# ----- fuzzy matching (thefuzz semantics) -------------------------------------------------
@pytest.mark.parametrize("a,b,expected", [
    ("gluten free", "Gluten-Free!", 100),  # punctuation and case are processed away
    ("lace up", "lace up closure", 100),  # token-set: one side's tokens inside the other's
    ("x large", "large", 100),
    ("", "anything", 0),
    ("caf\u00e9 latte", "caf latte", 100),  # thefuzz drops non-ASCII characters first
])
def test_token_set_ratio(a, b, expected):
    assert token_set_ratio(a, b) == expected


def test_token_set_ratio_is_an_integer_below_threshold_for_different_words():
    assert token_set_ratio("memory foam", "long lasting") < 50
    assert isinstance(token_set_ratio("a b", "a c"), int)


# ----- attributes -------------------------------------------------------------------------
def test_attribute_matches_fuzzy_against_product_attributes():
    p = product(attributes=("Rubber-Sole", "machine wash"))
    assert attribute_matches(p, ["rubber sole"]) == 1


def test_attribute_falls_back_to_title_bullets_and_description_substrings():
    p = product(attributes=("DUMMY_ATTR",))
    assert attribute_matches(p, ["trail running"]) == 1  # in title (lower-cased)
    assert attribute_matches(p, ["lace-up closure"]) == 1  # in bullet points
    assert attribute_matches(p, ["breathable mesh"]) == 1  # in description
    assert attribute_matches(p, ["waterproof"]) == 0


# ----- options ------------------------------------------------------------------------------
def test_size_option_needs_an_exact_match():
    p = product(title="Shoes", description="", bullet_points=())
    # fuzzy token-set would call "large" vs "x-large" a perfect match; size is exact-match only
    assert token_set_ratio("x-large", "large") == 100
    assert option_matches(p, ["x-large"], {"size": "large"}) == 0
    assert option_matches(p, ["x-large"], {"size": "x-large"}) == 1


def test_non_size_options_match_fuzzily():
    p = product(title="Shoes", description="", bullet_points=())
    assert option_matches(p, ["pack of 12"], {"style": "12 pack of"}) == 1
    assert option_matches(p, ["pack of 12"], {"style": "single"}) == 0


def test_colours_are_normalised_before_matching():
    p = product(title="Shoes", description="", bullet_points=())
    # "black forest" -> "black", "jet black" -> "black": a match although the words differ
    assert option_matches(p, ["black forest"], {"color": "jet black"}) == 1
    # "navy blue" -> "blue" (first colour word in WebShop's order), "navy" stays "navy": no match
    assert option_matches(p, ["navy blue"], {"color": "navy"}) == 0


def test_option_found_in_product_text_counts():
    p = product(title="Shoes in Olive Green", description="", bullet_points=())
    assert option_matches(p, ["red"], {"color": "olive green"}) == 1  # "olive" appears in the title


@pytest.mark.parametrize("value,expected", [
    ("", ""), ("black forest", "black"), ("violet lavender", "lavender"),
    ("steelivy fuchsia", "fuchsia"), ("123alabaster", "alabaster"), ("webshop", "webshop"),
])
def test_normalize_color(value, expected):
    assert normalize_color(value) == expected


# ----- type score ---------------------------------------------------------------------------
def test_title_nouns_heuristic():
    assert title_nouns("The Best Trail Running Shoes for Men, 2 Pack") == ["trail", "running", "shoes", "men", "pack"]
    assert title_nouns("A and of") == []


def test_type_reward_levels():
    g = goal()
    assert type_reward(product(), g)[0] == 1.0  # same product
    other_cat = "Home & Kitchen › Bedding › Sheets"
    p = product(query="sheets", product_category=other_cat, name="Cotton Shoes Bed Sheet Set")
    # no query match, <2 category levels shared, 1 of 5 title nouns (0.2, not > 0.2): 0.5
    g5 = goal(name="Trail Running Shoes Men Sneakers")
    r, qm, cm, ts = type_reward(p, g5)
    assert (qm, cm, ts) == (False, False, pytest.approx(0.2)) and r == 0.5
    # the same product against a 4-noun title ("for" is no noun): 1/4 = 0.25 > 0.2 -> 1.0
    r, qm, cm, ts = type_reward(p, g)
    assert ts == pytest.approx(0.25) and r == 1.0
    # title nouns overlap below 10%: 0.1 even though the query matches
    g10 = goal(name="Alpha Bravo Charlie Delta Echo Foxtrot Golf Hotel India Juliett Kilo")
    r, *_ = type_reward(product(name="Kilo Lima"), g10)
    assert r == 0.1
    # no title noun in common: 0
    assert type_reward(product(name="Wool Socks"), g)[0] == 0.0


def test_type_reward_is_one_when_query_matches_and_titles_overlap_enough():
    p = product(name="Running Shoes", product_category="Other › Things")
    r, qm, cm, ts = type_reward(p, goal())
    assert qm and not cm and ts == pytest.approx(2 / 4) and r == 1.0


# ----- price and the total ------------------------------------------------------------------
def test_price_component():
    assert webshop_reward(product(), goal(price_upper=50.0), 49.99, {}).r_price is True
    assert webshop_reward(product(), goal(price_upper=40.0), 49.99, {}).r_price is False


def test_total_reward_hand_worked():
    p = product(title="Trail Running Shoes for Men", description="", bullet_points=(), attributes=("rubber sole",))
    g = goal(attributes=("rubber sole", "memory foam"), options={"size": "9", "color": "black forest"},
             price_upper=50.0, name="Trail Running Shoes Men Sneakers")
    # attributes 1/2, options: size "9" exact, colour jet black ~ black forest -> 2/2, price ok:
    # (1 + 2 + 1) / (2 + 2 + 1) = 0.8, type 1.0
    r = webshop_reward(p, g, 39.99, {"size": "9", "color": "jet black"})
    assert r.reward == pytest.approx(0.8)
    assert (r.num_attr_matches, r.num_option_matches, r.r_type) == (1, 2, 1.0)
    # wrong size, too expensive: (1 + 1 + 0) / 5 = 0.4
    r = webshop_reward(p, g, 60.0, {"size": "8", "color": "jet black"})
    assert r.reward == pytest.approx(0.4)
    # a different type (1 of 5 title nouns shared, no query or category match): 0.5 x 0.8
    far = product(query="q", product_category="A › B", name="Trail Thing", attributes=("rubber sole",),
                  title="Trail Running Shoes for Men", description="", bullet_points=())
    assert webshop_reward(far, g, 39.99, {"size": "9", "color": "jet black"}).reward == pytest.approx(0.8 * 0.5)


def test_perfect_purchase_scores_one():
    r = webshop_reward(product(), goal(), 39.99, {"size": "9", "color": "black"})
    assert r.reward == 1.0 and r.r_option == 1.0 and r.r_attr == 1.0


@pytest.mark.parametrize("text,values,tag", [
    ("$12.99", [12.99], "$12.99"),
    ("$5.00$9.50", [5.0, 9.5], "$5.0 to $9.5"),
    ("", [100.0], "$100.0"),
    (None, [100.0], "$100.0"),
    ("$1,299.00", [1299.0], "$1299.0"),
])
def test_parse_pricing(text, values, tag):
    assert parse_pricing(text) == (values, tag)
