"""Side-by-side fidelity tables for WebShop-v1 against the recorded original (AgentGym's WebShop).

Replays tests/data/conformance/webshop_agentgym_* through our env: goals and prices, search
rankings (against the original's pyserini/Lucene results, with two ablations of our search),
purchase rewards, and step-by-step transcripts; then plays the oracle on the test split and
lists the goals whose own product cannot reach reward 1 under the original's option rule.
Prints markdown tables.

    python benchmarks/webshop_fidelity.py
"""

from __future__ import annotations

import argparse
import collections
import gzip
import itertools
import json
import time
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

from agentprm_bench.envs.webshop import search as S
from agentprm_bench.envs.webshop.catalog import load_catalog
from agentprm_bench.envs.webshop.env import WebShopEnv, load_search
from agentprm_bench.envs.webshop.reward import option_matches, webshop_reward

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "conformance"


def records(name: str) -> list[dict]:
    with gzip.open(DATA / name, "rt") as fh:
        return [json.loads(line) for line in fh]


def table(rows: list[tuple], head: tuple) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    return "\n".join(out)


class PlainBM25:
    """Ablation: bm25s's own index (exact document lengths), optionally PyStemmer's Porter."""

    def __init__(self, snowball: bool = False):
        stem = Stemmer.Stemmer("porter") if snowball else None
        self.analyze = (lambda t: stem.stemWords(S.words(t))) if stem else S.analyze
        cat = load_catalog()
        self.ids = list(cat.products)
        self.bm25 = bm25s.BM25(method="lucene", k1=S.K1, b=S.B)
        self.bm25.index([self.analyze(S.document_text(cat.products[a])) for a in self.ids], show_progress=False)

    def search(self, query: str, k: int = 50) -> list[str]:
        vocab = self.bm25.vocab_dict
        tokens = [vocab[t] for t in self.analyze(query) if t in vocab]
        if not tokens:
            return []
        scores = np.asarray(self.bm25.get_scores_from_ids(tokens), dtype=np.float32)
        hits = np.flatnonzero(scores > 0).tolist()
        return [self.ids[i] for i in sorted(hits, key=lambda i: (-float(scores[i]), self.ids[i]))[:k]]


def search_rows() -> list[tuple]:
    recs = records("webshop_agentgym_search.jsonl.gz")
    engines = {"ours (bm25s, Lucene's stored lengths, NLTK Porter)": load_search(),
               "ablation: bm25s exact lengths": PlainBM25(),
               "ablation: bm25s exact lengths, PyStemmer porter": PlainBM25(snowball=True)}
    rows = []
    for name, engine in engines.items():
        for kind in ("instruction", "human", "all"):
            rs = [r for r in recs if kind in ("all", r["kind"])]
            top1 = overlap = page = full = 0.0
            for r in rs:
                got, want = engine.search(r["query"], 50), r["asins"]
                top1 += got[:1] == want[:1]
                overlap += len(set(got[:10]) & set(want[:10])) / max(1, min(10, len(want)))
                page += got[:10] == want[:10]
                full += got == want
            n = len(rs)
            rows.append((name, kind, n, f"{top1 / n:.3f}", f"{overlap / n:.3f}", f"{page / n:.3f}", f"{full / n:.3f}"))
    return rows


def reward_rows() -> list[tuple]:
    cat, c = load_catalog(), collections.defaultdict(collections.Counter)
    for r in records("webshop_agentgym_purchases.jsonl.gz"):
        got = webshop_reward(cat.products[r["asin"]], cat.goals[r["goal"]], r["price"], dict(r["options"]))
        info = r["info"]
        for kind in (r["kind"], "all"):
            c[kind]["n"] += 1
            c[kind]["total"] += abs(got.reward - r["reward"]) <= 1e-9
            c[kind]["r_type"] += got.r_type == info["r_type"]
            c[kind]["r_att"] += got.r_attr == info["r_att"]
            c[kind]["r_option"] += got.r_option == info.get("r_option")
            c[kind]["r_price"] += got.r_price == info["r_price"]
            c[kind]["title_score"] += abs(got.title_score - info["title_score"]) <= 1e-12
            c[kind]["max"] = max(c[kind]["max"], r["reward"])
    keys = ("total", "r_type", "r_att", "r_option", "r_price", "title_score")
    kinds = [k for k in c if k != "all"] + ["all"]
    return [(kind, c[kind]["n"], *(c[kind][k] for k in keys), c[kind]["max"]) for kind in kinds]


def transcript_rows() -> list[tuple]:
    env, c = WebShopEnv(max_turns=100), collections.Counter()
    for rec in records("webshop_agentgym_transcripts.jsonl.gz"):
        obs, _ = env.reset(options={"task_id": rec["goal"]})
        c["episodes"] += 1
        c["reset identical"] += obs == rec["reset"]
        for step in rec["steps"]:
            obs, reward, terminated, _, _ = env.step(step["action"])
            c["steps"] += 1
            c["step identical"] += obs == step["obs"]
            c["reward+done identical"] += reward == step["reward"] and terminated == step["done"]
            c["clickables identical"] += terminated or list(env.clickables()) == step["avail"][1]
    n, s = c["episodes"], c["steps"]
    return [(k, c[k], n if k.startswith("reset") else s, f"{c[k] / (n if k.startswith('reset') else s):.4f}")
            for k in ("reset identical", "step identical", "reward+done identical", "clickables identical")]


def oracle_rows() -> tuple[list[tuple], list[int]]:
    env, cat = WebShopEnv(), load_catalog()
    won, turns, impossible = 0, collections.Counter(), []
    test = list(WebShopEnv.splits()["test"])
    for task in test:
        g = cat.goals[task]
        p = cat.products[g.asin]
        best = max(option_matches(g.options, list(c)) for c in itertools.product(*p.options.values())) if g.options else 0
        if best < len(g.options):
            impossible.append(task)
        env.reset(options={"task_id": task})
        done = False
        while not done:
            *_, terminated, truncated, info = env.step(env.oracle_action())
            done = terminated or truncated
        won += info["won"]
        turns[info["turn"]] += 1
    rows = [("test goals", len(test)), ("oracle won", won), ("goals whose own options cannot all match", len(impossible)),
            ("oracle won on the others", f"{won} / {len(test) - len(impossible)}"),
            ("oracle turns (count)", ", ".join(f"{k}: {v}" for k, v in sorted(turns.items())))]
    return rows, impossible


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    t0 = time.time()
    cat, goals = load_catalog(), records("webshop_agentgym_goals.jsonl.gz")
    same = sum((g.asin, g.instruction, g.price_upper, list(map(list, g.options)), list(g.attributes))
               == (r["asin"], r["instruction_text"], r["price_upper"], r["goal_options"], r["attributes"])
               for g, r in zip(cat.goals, goals))
    prices = {r["asin"]: r["price"] for r in records("webshop_agentgym_prices.jsonl.gz")}
    print("## WebShop (AgentGym's copy of princeton-nlp/WebShop, text mode, 1,000 products)\n")
    print("### Goals, order and prices\n")
    print(table([("goals identical (asin, text, ceiling, options, attributes), in session order", same, len(goals)),
                 ("prices paid identical", sum(cat.prices[a] == p for a, p in prices.items()), len(prices))],
                ("measure", "count", "of")))
    print("\n### Search against the original's pyserini 0.17 (Lucene BM25) rankings\n")
    print(table(search_rows(), ("engine", "queries", "n", "top-1 equal", "top-10 overlap", "first page identical",
                                "top-50 identical")))
    print("\n### Purchase rewards against the original's get_reward\n")
    print(table(reward_rows(), ("purchases", "n", "total equal", "r_type", "r_att", "r_option", "r_price",
                                "title_score", "max recorded reward")))
    print("\n### Replay of the recorded transcripts\n")
    print(table(transcript_rows(), ("measure", "count", "of", "share")))
    rows, impossible = oracle_rows()
    print("\n### Oracle on the test split (6 turns)\n")
    print(table(rows, ("measure", "value")))
    print(f"\nTest goals the original's option rule makes unreachable: {impossible}")
    print(f"\n({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
