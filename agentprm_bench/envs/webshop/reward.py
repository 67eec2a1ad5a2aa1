"""WebShop's purchase reward, reproduced rule for rule.

    reward = r_type * (attribute matches + option matches + [price <= ceiling])
                    / (#goal attributes + #goal options + 1)

* Attributes: a goal attribute matches if its fuzzy token-set ratio with one of the
  product's attributes is above 85, or else if it is a substring of the lower-cased
  title, bullet points or description.
* Options: each option the buyer selected matches if (for "size") its colour-normalised
  value is exactly one of the goal's option values, or (other options) its fuzzy
  token-set ratio with one of them is above 85, or else if the value appears in the title,
  bullet points or description. Colours are normalised to the first WebShop colour word
  they contain.
* Type: r_type = 1 if the query, two category levels or enough title nouns agree; 0.5 if
  none does; 0.1 if under 10% of the goal's title nouns are in the bought title; 0 if none.

Fuzzy matching is ``thefuzz.token_set_ratio`` semantics (ASCII-only, lower-cased,
punctuation to spaces, score rounded to an integer) computed with rapidfuzz. WebShop finds
title nouns with spaCy's tagger; we use a dependency-free heuristic that matches what the
tagger does on Title-Case product names, where nearly every content word is tagged NOUN or
PROPN: the alphabetic tokens of two or more letters that are not function words
(determiners, pronouns, prepositions, conjunctions, auxiliaries) nor common adjectives of
size, quality or quantity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

from rapidfuzz import fuzz, utils

from agentprm_bench.envs.webshop.catalog import Goal, Product

FUZZY_THRESHOLD = 85
EXACT_MATCH_OPTIONS = ("size",)

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

FUNCTION_WORDS = frozenset(
    "a an the this that these those some any each every all both either neither no none another other such "
    "i me my mine we us our ours you your yours he him his she her hers it its they them their theirs "
    "in on at by for with without of from to into onto upon over under above below between among through "
    "across along around about against before after during since until up down out off near per via "
    "and or but nor so yet plus than as if while because though although "
    "is are was were be been being am do does did has have had can could will would shall should may might must "
    "not very too also just only more most less least much many few several new best great good high "
    "large small big little extra super mini ultra premium quality perfect ideal".split()
)
_WORD = re.compile(r"[a-z]+")


def normalize_color(value: str) -> str:
    """The first WebShop colour word contained in ``value``, else ``value`` unchanged."""
    for color in COLOR_SET:
        if color in value:
            return color
    return value


def _full_process(text: str) -> str:
    return utils.default_process(text.encode("ascii", "ignore").decode())


def token_set_ratio(a: str, b: str) -> int:
    """thefuzz.fuzz.token_set_ratio: processed strings, integer score, 0 if either is empty."""
    pa, pb = _full_process(a), _full_process(b)
    if not pa or not pb:
        return 0
    return int(round(fuzz.token_set_ratio(pa, pb)))


def title_nouns(title: str) -> list[str]:
    """Heuristic stand-in for spaCy's NOUN/PROPN tokens of a product title (see module doc)."""
    return [w for w in _WORD.findall(title.lower()) if len(w) > 1 and w not in FUNCTION_WORDS]


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
    bought, desired = title_nouns(product.name), title_nouns(goal.name)
    title_score = 0.2 if not desired else len(set(bought) & set(desired)) / len(desired)
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return r_type, query_match, category_match, title_score


def _in_text(needle: str, product: Product) -> bool:
    return (needle in product.title.lower() or needle in " ".join(product.bullet_points).lower()
            or needle in product.description.lower())


def attribute_matches(product: Product, goal_attributes: Sequence[str]) -> int:
    matches = 0
    for g in goal_attributes:
        if any(token_set_ratio(p, g) > FUZZY_THRESHOLD for p in product.attributes) or _in_text(g, product):
            matches += 1
    return matches


def option_matches(product: Product, goal_options: Sequence[str], chosen: Mapping[str, str]) -> int:
    goal_values = [normalize_color(o) for o in goal_options]
    matches = 0
    for key, value in chosen.items():
        value = normalize_color(value)
        if key.lower() in EXACT_MATCH_OPTIONS:
            matched = value in goal_values
        else:
            matched = any(token_set_ratio(g, value) > FUZZY_THRESHOLD for g in goal_values)
        if matched or _in_text(value, product):
            matches += 1
    return matches


def webshop_reward(product: Product, goal: Goal, price: float, chosen: Mapping[str, str]) -> RewardBreakdown:
    """Reward for buying ``product`` at ``price`` with options ``chosen`` (name -> value)."""
    r_type, query_match, category_match, title_score = type_reward(product, goal)
    r_price = price <= goal.price_upper
    n_attr = attribute_matches(product, goal.attributes)
    goal_values = list(goal.options.values())
    n_opt = option_matches(product, goal_values, chosen)
    total = (n_attr + n_opt + int(r_price)) / (len(goal.attributes) + len(goal_values) + 1)
    return RewardBreakdown(
        reward=total * r_type, r_type=r_type, r_attr=n_attr / len(goal.attributes) if goal.attributes else 0.0,
        r_option=n_opt / len(goal_values) if goal_values else None, r_price=r_price,
        query_match=query_match, category_match=category_match, title_score=title_score,
        num_attr_matches=n_attr, num_option_matches=n_opt,
    )
