"""WebShop's purchase reward, computed as the original computes it.

    reward = r_type * (attribute matches + option matches + [price <= ceiling])
                    / (#goal attributes + #goal options + 1)

* Attributes: a goal attribute matches if its fuzzy token-set ratio with one of the bought
  product's attributes is above 85, or else if it is a substring of the lower-cased title,
  bullet points (joined by spaces) or description.
* Options: each goal option counts once if some selected value matches it. The original
  hands the goal options over as ``(name, value)`` pairs, so colour normalisation (the first
  WebShop colour word a string contains) only changes a pair whose name or value IS a colour
  word, and the fuzzy ratio compares the selected value with the pair's text
  ``"('name', 'value')"``. A value whose words are a subset of the pair's words scores 100.
* Type: r_type is 1 if the query matches, two category levels match, or more than 20% of
  the goal title's nouns are in the bought title's nouns (distinct shared nouns over the goal
  title's noun count, repeats included, as the original counts); else 0.5; 0.1 if under 10%;
  0 if none. Nouns are spaCy's NOUN/PROPN tokens of the titles, looked up in a table made
  once offline (``catalog.title_nouns``); spaCy is not needed at run time.

Fuzzy matching is thefuzz 0.19's ``token_set_ratio`` with python-Levenshtein, as WebShop
installs it: characters 128-255 dropped, non-word characters to spaces, lower-cased, token
sets compared three ways with the Indel ratio rounded to an integer (computed here with
rapidfuzz's Indel distance, the same number).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from rapidfuzz.distance import Indel

from agentprm_bench.envs.webshop.catalog import Goal, Product, title_nouns

FUZZY_THRESHOLD = 85

# WebShop's colour vocabulary (normalize.py COLOR_SET), in its order: the first contained word wins.
COLOR_SET = (
    "alabaster apricot aqua ash asphalt azure banana beige black blue blush bordeaux bronze brown burgundy "
    "camel camo caramel champagne charcoal cheetah chestnut chocolate christmas coffee cognac copper coral "
    "cranberry cream crystal dark denim eggplant elephant espresso fuchsia gold granite grape graphite grass "
    "gray green grey heather indigo ivory ivy khaki lavender lemon leopard light lilac lime magenta maroon "
    "mauve merlot midnight mint mocha multicolor mushroom mustard natural navy nude olive orange peach pewter "
    "pink plum purple rainbow red rose royal rust sand sapphire seashell silver skull slate steel stone "
    "stonewash sunflower tan taupe teal tiger turquoise violet walnut wheat white wine yellow"
).split()

_LATIN1 = {c: None for c in range(128, 256)}
_NON_WORD = re.compile(r"(?ui)\W")


def normalize_color(value: Any) -> Any:
    """The first colour word ``value`` contains (a substring of a string; an element of a pair), else ``value``."""
    for color in COLOR_SET:
        if color in value:
            return color
    return value


def _process(value: Any) -> str:
    return _NON_WORD.sub(" ", str(value).translate(_LATIN1)).lower().strip()


def _ratio(a: str, b: str) -> int:
    if a == b:
        return 100
    if not a or not b:
        return 0
    return int(round(100 * Indel.normalized_similarity(a, b)))


def token_set_ratio(a: Any, b: Any) -> int:
    """thefuzz 0.19 ``fuzz.token_set_ratio(a, b)``; non-strings are compared by their ``str``."""
    pa, pb = _process(a), _process(b)
    if not pa or not pb:
        return 0
    ta, tb = set(pa.split()), set(pb.split())
    sect = " ".join(sorted(ta & tb))
    ab = (sect + " " + " ".join(sorted(ta - tb))).strip()
    ba = (sect + " " + " ".join(sorted(tb - ta))).strip()
    return max(_ratio(sect, ab), _ratio(sect, ba), _ratio(ab, ba))


@dataclass(frozen=True)
class RewardBreakdown:
    reward: float
    r_type: float
    r_attr: float
    r_option: float | None
    r_price: bool
    query_match: bool
    category_match: bool
    title_score: float
    num_attr_matches: int
    num_option_matches: int


def type_reward(product: Product, goal: Goal) -> tuple[float, bool, bool, float]:
    query_match = product.query == goal.query
    bought_cat = {x.strip() for x in product.product_category.split("›")}
    goal_cat = {x.strip() for x in goal.product_category.split("›")}
    category_match = len(bought_cat & goal_cat) >= 2
    nouns = title_nouns()
    bought, desired = nouns[product.asin], nouns[goal.asin]
    # the original divides the distinct shared nouns by the goal's noun count with repeats
    title_score = 0.2 if not desired else len(set(bought) & set(desired)) / len(desired)
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return r_type, query_match, category_match, title_score


def attribute_matches(product: Product, goal_attributes: Sequence[str]) -> int:
    title, bullets, desc = product.title.lower(), " ".join(product.bullet_points).lower(), product.description.lower()
    matches = 0
    for g in goal_attributes:
        if any(token_set_ratio(p, g) > FUZZY_THRESHOLD for p in product.attributes):
            matches += 1
        elif g in title or g in bullets or g in desc:
            matches += 1
    return matches


def option_matches(goal_options: Sequence[tuple[str, str]], chosen_values: Sequence[str]) -> int:
    """How many goal options (``(name, value)`` pairs) some chosen value matches."""
    chosen = [normalize_color(v) for v in chosen_values]
    wanted = [normalize_color(o) for o in goal_options]
    return sum(any(token_set_ratio(c, w) > FUZZY_THRESHOLD for c in chosen) for w in wanted)


def webshop_reward(product: Product, goal: Goal, price: float, chosen: Mapping[str, str]) -> RewardBreakdown:
    """Reward for buying ``product`` at ``price`` with options ``chosen`` (name -> value)."""
    r_type, query_match, category_match, title_score = type_reward(product, goal)
    r_price = price <= goal.price_upper
    n_attr = attribute_matches(product, goal.attributes)
    n_opt = option_matches(goal.options, list(chosen.values()))
    total = (n_attr + n_opt + r_price) / (len(goal.attributes) + len(goal.options) + 1)
    return RewardBreakdown(
        reward=total * r_type, r_type=r_type, r_attr=n_attr / len(goal.attributes),
        r_option=n_opt / len(goal.options) if goal.options else None, r_price=r_price,
        query_match=query_match, category_match=category_match, title_score=title_score,
        num_attr_matches=n_attr, num_option_matches=n_opt,
    )
