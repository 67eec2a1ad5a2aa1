"""Build WebShop's title-noun table with spaCy, once, offline.

WebShop's type reward compares the nouns (spaCy POS NOUN or PROPN, lower-cased) of the bought
product's title with those of the goal product's title. Both are titles of the 1,000 products,
so one table per ASIN holds everything the reward needs, and the package never runs spaCy.

Run in a separate environment that has spaCy and an English pipeline (not a dependency of this
package), e.g.:

    python tools/build_webshop_title_nouns.py --model /path/to/en_core_web_sm-2.2.5 \
        --out agentprm_bench/envs/data/webshop/title_nouns.json.gz

The output records the spaCy and model versions it was made with.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

PRODUCTS = Path(__file__).resolve().parents[1] / "agentprm_bench/envs/data/webshop/items_shuffle_1000.json.gz"
NOUN_TAGS = ("PNOUN", "NOUN", "PROPN")  # the tags WebShop's get_type_reward keeps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="spaCy pipeline name or directory")
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()

    import spacy  # only here: this tool is run by hand, never by the package

    nlp = spacy.load(args.model)
    products = json.loads(gzip.decompress(PRODUCTS.read_bytes()))
    nouns: dict[str, list[str]] = {}
    for raw in products:
        asin = raw["asin"]
        if asin in nouns or asin == "nan" or len(asin) > 10:
            continue
        nouns[asin] = [t.text.lower() for t in nlp(raw["name"]) if t.pos_ in NOUN_TAGS]
    meta = nlp.meta
    table = {
        "provenance": {
            "spacy": spacy.__version__,
            "model": f"{meta.get('lang')}_{meta.get('name')}-{meta.get('version')}",
            "tags": list(NOUN_TAGS),
            "source": "product `name` of items_shuffle_1000.json.gz, one entry per ASIN",
        },
        "nouns": nouns,
    }
    args.out.write_bytes(gzip.compress(json.dumps(table, ensure_ascii=False, sort_keys=True).encode(), mtime=0))


if __name__ == "__main__":
    main()
