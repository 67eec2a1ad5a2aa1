"""The WebShop catalogue: the 1,000 real products, their prices and the 6,910 synthetic goals.

Built the way WebShop's text env builds them as AgentGym serves it (``num_products=1000``,
synthetic goals), checked against recordings of the original (``tests/data/conformance``):

* Products, in file order, skipping ASINs that repeat, are ``"nan"`` or are longer than 10
  characters: title, description, bullet points (a lone string becomes a list of one),
  prices parsed from the listed ``$`` amounts (the first two of a range), the price tag shown
  (``$12.99`` or ``$10.99 to $15.0``), options with values stripped, lower-cased and "/"
  written " | ", and attributes from ``items_ins_v2`` as listed there (``[]`` stays ``[]``).
* The price paid: the listed price; for a range, a uniform draw inside it. WebShop draws with
  Python's global ``random`` after AgentGym's server seeded it with the clock and drew one
  environment id; we use the same draws with the clock fixed (``PRICE_CLOCK_SEED``), so every
  machine builds the same tasks.
* Goals: for each product with an instruction, with ``random`` reseeded to 233, a price
  ceiling (the larger of two of the next four $10 steps above the price, when there are two),
  then one goal per combination of the option values (option names sorted):
  ``"<instruction> with <name>: <value>, and ... , and price lower than <X> dollars"``.
  The list is then shuffled with ``random`` reseeded to 233; task ``i`` is goal ``i`` of the
  shuffled list (the original's session id ``i``).
* Splits: WebShop's own index ranges: test 0-499, eval 500-1499, train 1500-6909.
"""

from __future__ import annotations

import gzip
import itertools
import json
import random
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from importlib import resources

PRICE_RANGE = [10.0 * i for i in range(1, 100)]
NO_PRICE_CEILING = 1_000_000.0
PRICE_CLOCK_SEED = 0  # stands for the clock value AgentGym's server seeds `random` with
GOAL_SEED = 233
SPLIT_RANGES = {"test": (0, 500), "eval": (500, 1500), "train": (1500, None)}


@dataclass(frozen=True)
class Product:
    asin: str
    title: str
    description: str
    bullet_points: tuple[str, ...]
    pricing: tuple[float, ...]  # one price, or the two ends of a range
    price_tag: str  # as shown, e.g. "$10.99" or "$10.99 to $15.0"
    options: dict[str, tuple[str, ...]]  # option name -> values, in listing order (repeats kept)
    attributes: tuple[str, ...]
    category: str
    product_category: str
    query: str
    instruction: str | None = None
    instruction_attributes: tuple[str, ...] = ()
    rating: str = "N.A."


@dataclass(frozen=True)
class Goal:
    asin: str
    instruction: str
    attributes: tuple[str, ...]
    options: tuple[tuple[str, str], ...]  # (name, value) pairs, option names sorted
    price_upper: float
    name: str  # the goal product's title
    query: str
    product_category: str
    category: str

    @property
    def option_values(self) -> tuple[str, ...]:
        return tuple(v for _, v in self.options)


def _load_json(name: str):
    path = resources.files("agentprm_bench.envs") / "data" / "webshop" / name
    with path.open("rb") as fh:
        return json.loads(gzip.decompress(fh.read()))


def parse_pricing(pricing: str | None) -> tuple[tuple[float, ...], str]:
    """'$12.99' -> ((12.99,), '$12.99'); '$5$9.5' -> ((5.0, 9.5), '$5.0 to $9.5'); none -> ((100.0,), '$100.0')."""
    if not pricing:
        return (100.0,), "$100.0"
    values = [float(Decimal(re.sub(r"[^\d.]", "", p))) for p in pricing.split("$")[1:]]
    if len(values) == 1:
        return (values[0],), f"${values[0]}"
    return (values[0], values[1]), f"${values[0]} to ${values[1]}"


def _process(raw: dict, ins: dict) -> Product:
    asin = raw["asin"]
    bullets = raw["small_description"]
    pricing, tag = parse_pricing(raw.get("pricing"))
    options: dict[str, tuple[str, ...]] = {}
    for name, contents in (raw.get("customization_options") or {}).items():
        if contents is not None:
            options[name.lower()] = tuple(c["value"].strip().replace("/", " | ").lower() for c in contents)
    meta = ins[asin]
    return Product(
        asin=asin, title=raw["name"], description=raw["full_description"],
        bullet_points=tuple(bullets) if isinstance(bullets, list) else (bullets,),
        pricing=pricing, price_tag=tag, options=options,
        attributes=tuple(meta["attributes"]) if "attributes" in meta else ("DUMMY_ATTR",),
        category=raw["category"], product_category=raw["product_category"], query=raw["query"].lower().strip(),
        instruction=meta.get("instruction"), instruction_attributes=tuple(meta.get("instruction_attributes") or ()),
    )


class Catalog:
    """Products by ASIN (in load order), the prices paid, and the goals in task order."""

    def __init__(self, raw_products: list[dict], ins: dict):
        self.products: dict[str, Product] = {}
        for raw in raw_products:
            asin = raw["asin"]
            if asin == "nan" or len(asin) > 10 or asin in self.products:
                continue
            self.products[asin] = _process(raw, ins)
        rng = random.Random(PRICE_CLOCK_SEED)
        rng.randint(0, 48950076)  # the server's environment id, drawn before the products load
        self.prices: dict[str, float] = {
            a: p.pricing[0] if len(p.pricing) == 1 else rng.uniform(*p.pricing) for a, p in self.products.items()
        }
        self.goals: list[Goal] = self._goals()

    def _goals(self) -> list[Goal]:
        rng = random.Random(GOAL_SEED)
        goals: list[Goal] = []
        for p in self.products.values():
            if p.instruction is None:
                continue
            steps = [x for x in PRICE_RANGE if x > self.prices[p.asin]][:4]
            upper, price_text = NO_PRICE_CEILING, ""
            if len(steps) >= 2:
                upper = sorted(rng.sample(steps, 2))[1]
                price_text = f", and price lower than {upper:.2f} dollars"
            names = sorted(p.options)
            for combo in itertools.product(*(p.options[n] for n in names)):
                opts = tuple(zip(names, combo))
                opt_text = ", and ".join(f"{k}: {v}" for k, v in opts)
                goals.append(Goal(
                    asin=p.asin, instruction=f"{p.instruction}{' with ' + opt_text if opt_text else ''}{price_text}",
                    attributes=p.instruction_attributes, options=opts, price_upper=upper, name=p.title,
                    query=p.query, product_category=p.product_category, category=p.category,
                ))
        random.Random(GOAL_SEED).shuffle(goals)
        return goals

    def splits(self) -> dict[str, list[int]]:
        n = len(self.goals)
        return {name: list(range(lo, n if hi is None else hi)) for name, (lo, hi) in SPLIT_RANGES.items()}


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    return Catalog(_load_json("items_shuffle_1000.json.gz"), _load_json("items_ins_v2_1000.json.gz"))


@lru_cache(maxsize=1)
def title_nouns() -> dict[str, tuple[str, ...]]:
    """ASIN -> the nouns of its title as spaCy tagged them, lower-cased, in order, repeats kept
    (see ``data/README.md`` for the model)."""
    table = _load_json("title_nouns.json.gz")
    return {asin: tuple(nouns) for asin, nouns in table["nouns"].items()}
