"""results/reproduction.md: the search reproduction's tables and findings, every comparison paired.

    python benchmarks/repro_report.py [RESULTS] [--out results/reproduction.md] [--readme results/README.md]

RESULTS (default results/search) holds one results.jsonl per (env, seed), as written by
``benchmarks/reproduce.sh``. For each env: the Best-of-N and beam-search tables (mean over the
seeds, 95% CI from the crossed bootstrap over seeds and tasks, ``stats.seed_task_ci``), the paired
differences of AgentPRM against every other method at every budget (pooled over the seeds where
there are several: ``paired.md``'s rows with seed ``all``), the compute-efficiency rows of AgentPRM
against the ORM, the PVM and plain sampling, what the runs cost, and findings: generated
sentences, each comparison with its paired p-value and Holm-adjusted p-value (an env measured on
fewer than three seeds names its seeds in each of its sentences). A seed still being run (some but
not all of a search's cells, e.g. beam search @2x2 done and @8x8 not yet) is left out of that
search's tables, pairs and findings until it has them all, and the report says so
(``complete_seeds``). ``--readme`` also replaces the block between the markers
``<!-- repro-findings:begin -->`` and ``<!-- repro-findings:end -->`` of that file with the findings,
so results/README.md quotes exactly what the data say.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import pandas as pd

from agentprm_bench.report.leaderboard import (efficiency, over_seeds, policies_by_seed, records_frame, seeds_text,
                                               to_markdown)
from agentprm_bench.report.paired import paired_table
from agentprm_bench.search.results import latest_results

NAMES = {"none": "plain sampling", "greedy": "greedy", "oracle-select": "oracle-select (privileged)",
         "agentprm": "AgentPRM", "agentprm-beta0": "AgentPRM β=0", "pvm": "PVM", "orm": "ORM", "mc-prm": "MC-PRM",
         "inverse-prm": "InversePRM"}
ORDER = list(NAMES)
# (method_b, what the comparison of AgentPRM with it asks)
QUESTIONS = [("orm", "process vs outcome reward"), ("pvm", "AgentPRM's targets vs a plain value model"),
             ("agentprm-beta0", "the progress term (β = 1 vs 0)"), ("mc-prm", "TD-GAE vs Monte-Carlo labels"),
             ("inverse-prm", "learned from outcomes vs from demonstrations"), ("none", "search vs plain sampling")]
SEARCH_NAMES = {"bon": "Best-of-N", "beam": "beam search", "sample": "plain sampling", "greedy": "greedy"}
BEGIN, END = "<!-- repro-findings:begin -->", "<!-- repro-findings:end -->"
ALPHA = 0.05
MIN_SEEDS = 3  # issue 15: a finding rests on at least three seeds (pool and reward-model training seed)


def fmt_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"  # 3 digits near 0.05


def signed(x: float) -> str:
    return f"{x:+.3f}"


def curve_table(df: pd.DataFrame, search: str) -> str:
    """Methods x budgets of one env and search: mean over seeds [crossed seeds-and-tasks 95% CI]."""
    part = df[df.search.isin([search, "sample", "greedy"] if search == "bon" else [search])]
    if part.empty:
        return ""
    cells = {}
    for row in part.itertuples():
        label = f"@{row.budget}" if search == "bon" else f"@{row.width}x{row.expand}"
        cells.setdefault(row.method, {})[(row.budget, label)] = f"{row.value:.3f} [{row.ci_low:.2f}, {row.ci_high:.2f}]"
    columns = sorted({c for v in cells.values() for c in v})
    table = pd.DataFrame([{"method": NAMES.get(m, m), **{label: cells[m].get((b, label), "") for b, label in columns}}
                          for m in sorted(cells, key=lambda m: ORDER.index(m) if m in ORDER else len(ORDER))])
    return to_markdown(table)


def pick_pairs(pairs: pd.DataFrame, env: str) -> pd.DataFrame:
    """The env's paired rows, per pair of methods at a search and budget: pooled over the seeds where it
    was measured on several, else its one seed's row (e.g. beam search on seed 0 while Best-of-N has
    three)."""
    own = pairs[pairs.env == env]
    key = ["search", "budget", "method_a", "method_b"]
    pooled = own[own.seed == "all"]
    lone = own[own.seed != "all"].groupby(key).filter(lambda g: len(g) == 1)
    return pd.concat([pooled, lone]) if not lone.empty else pooled


def oriented(pairs: pd.DataFrame, a: str, b: str, search: str, budget: int) -> dict | None:
    """The pair (a, b) at a budget, as a - b whichever order the table holds it in."""
    rows = pairs[(pairs.search == search) & (pairs.budget == budget)]
    hit = rows[(rows.method_a == a) & (rows.method_b == b)]
    if not hit.empty:
        r = hit.iloc[0]
        return {"diff": r["diff"], "lo": r.ci_low, "hi": r.ci_high, "p": r.p, "holm": r.p_holm, "seeds": r.seeds}
    hit = rows[(rows.method_a == b) & (rows.method_b == a)]
    if hit.empty:
        return None
    r = hit.iloc[0]
    return {"diff": -r["diff"], "lo": -r.ci_high, "hi": -r.ci_low, "p": r.p, "holm": r.p_holm, "seeds": r.seeds}


def describe(t: dict) -> str:
    """A paired difference as text: diff [CI], p (Holm p; verdict by the p). A difference called
    significant over several seeds whose interval (seeds and tasks resampled) holds 0 says so: the
    p holds the seeds fixed, so there the seeds disagree more than the p sees."""
    verdict = "significant after Holm" if t["holm"] < ALPHA else \
        "significant alone, not after Holm" if t["p"] < ALPHA else "not significant"
    if t["p"] < ALPHA and t.get("seeds", 1) > 1 and t["lo"] <= 0 <= t["hi"]:
        verdict += f"; the interval over {t['seeds']} seeds and the tasks holds 0"
    return (f"{signed(t['diff'])} [{t['lo']:+.3f}, {t['hi']:+.3f}], {fmt_p(t['p'])} "
            f"(Holm {fmt_p(t['holm'])}; {verdict})")


def agentprm_table(pairs: pd.DataFrame, search: str, budgets: dict[int, str]) -> str:
    """AgentPRM - each other method at each budget (``budgets``: budget -> column label)."""
    rows = []
    for b, question in QUESTIONS:
        row = {"AgentPRM −": NAMES[b], "asks": question}
        for budget, label in budgets.items():
            t = oriented(pairs, "agentprm", b, search, budget)
            row[label] = "" if t is None else f"{signed(t['diff'])} [{t['lo']:+.2f}, {t['hi']:+.2f}] {fmt_p(t['p'])}"
        if any(row[label] for label in budgets.values()):
            rows.append(row)
    return to_markdown(pd.DataFrame(rows)) if rows else ""


def findings(labels: dict[str, str], df: pd.DataFrame, pairs: pd.DataFrame, eff: pd.DataFrame) -> list[str]:
    """Sentences on one env, each comparison naming its paired test. ``labels``: search ("bon", "beam")
    -> the env as it appears in that search's sentences (with ``env_label``'s seed note where that
    search has fewer than ``MIN_SEEDS`` seeds)."""
    out = []
    env = labels["bon"]
    bon = df[df.search == "bon"]
    if not bon.empty:
        budgets = sorted(bon.budget.unique())
        top, mid = budgets[-1], budgets[len(budgets) // 2]
        seeds = int(pairs.seeds.max()) if not pairs.empty else 1
        for b, question in QUESTIONS:
            tests = [(n, oriented(pairs, "agentprm", b, "bon", n)) for n in dict.fromkeys((mid, top))]
            tests = [(n, t) for n, t in tests if t is not None]
            if tests:
                out.append(f"{env}, {question}: AgentPRM − {NAMES[b]} at "
                           + "; at ".join(f"BoN@{n} {describe(t)}" for n, t in tests) + ".")
        at_top = bon[(bon.budget == top) & ~bon.method.isin(["oracle-select"])]
        if not at_top.empty:
            best = at_top.sort_values("value", ascending=False).iloc[0]
            line = (f"{env}, the best reward model at BoN@{top} ({seeds} seed{'s' if seeds > 1 else ''}) is "
                    f"{NAMES[best.method]} ({best.value:.3f})")
            if best.method != "agentprm":
                t = oriented(pairs, best.method, "agentprm", "bon", top)
                line += f"; {NAMES[best.method]} − AgentPRM {describe(t)}" if t else ""
            out.append(line + ".")
    for row in eff[eff.method == "agentprm"].itertuples():
        search, env = "Best-of-N" if row.search == "bon" else "beam search", labels[row.search]
        base = NAMES.get(row.baseline, row.baseline)
        if math.isnan(row.method_budget):
            rule = (f"{env}, {search}: AgentPRM is not credited with {base}'s best ({row.baseline_best:.3f}"
                    + ("" if row.baseline == "none" else f" at budget {row.baseline_budget}") + ") under the paired "
                    f"rule (reach it, and at no larger budget fall below it with p < {ALPHA})")
            if not math.isnan(row.fell_budget):
                out.append(rule + f": it reaches it but at budget {int(row.fell_budget)} falls below it, "
                           f"{signed(row.fell_diff)}, {fmt_p(row.fell_p)}.")
                continue
            # plain sampling's best is its estimate from the most samples: test at the largest common budget
            at = int(row.baseline_budget) if row.baseline != "none" else int(df[df.search == row.search].budget.max())
            t = oriented(pairs, "agentprm", row.baseline, row.search, at)
            if t is None:  # e.g. beam search on fewer seeds than plain sampling: nothing to pair
                out.append(f"{env}, {search}: no efficiency credit against {base}'s best: the two were not "
                           f"measured on the same seeds and tasks, so there is no paired test.")
                continue
            out.append(rule + f"; AgentPRM − {base} at budget {at} {describe(t)}.")
        else:
            where = "" if row.baseline == "none" else f" at budget {row.baseline_budget}"
            fewer = row.paired_seeds < row.seeds  # e.g. beam search on seed 0 against plain sampling's three seeds
            where += f", the mean of {row.seeds} seeds" if fewer else ""
            out.append(f"{env}, {search}: AgentPRM reaches {base}'s best ({row.baseline_best:.3f}{where}) at budget "
                       f"{int(row.method_budget)}; {base}'s cost over AgentPRM's there (below 1: AgentPRM spent more): "
                       f"budget {row.budget_ratio:.2f}, search tokens {row.token_ratio:.2f}, "
                       f"total tokens {row.all_token_ratio:.2f}; "
                       f"AgentPRM − {base} there {signed(row.paired_diff)} [{row.paired_ci_low:+.3f}, "
                       f"{row.paired_ci_high:+.3f}], {fmt_p(row.paired_p)}"
                       + (f", paired on the {int(row.paired_seeds)} seed{'s' if row.paired_seeds > 1 else ''} both "
                          "have." if fewer else "."))
    beam, env = df[df.search == "beam"], labels["beam"]
    for budget in sorted(beam.budget.unique()):
        shape = beam[beam.budget == budget].iloc[0]
        for b in ("orm", "pvm"):
            t = oriented(pairs, "agentprm", b, "beam", int(budget))
            if t is not None:
                out.append(f"{env}, beam @{shape.width}x{shape.expand}: AgentPRM − {NAMES[b]} {describe(t)}.")
    return out


def complete_seeds(records: list) -> tuple[list, dict[tuple[str, str], list[tuple[int, int, int]]]]:
    """Records of the seeds that have every cell (method, budget, beam shape) of their env and search
    (bon, beam, sample, greedy) that any seed has; a seed still being run (e.g. beam search @2x2
    done, @4x4 not yet) is left out of every table, pair and finding, so that no sentence pools
    different seeds at different budgets under one label. A seed without any record of a search is
    not short of it.
    -> (kept records, (env, search) -> [(seed, cells it has, cells of the search)] of the seeds left
    out)."""
    def cell(r):
        return r.method, r.budget, r.width, r.expand

    groups: dict[tuple[str, str], dict[int, set]] = {}
    for r in records:
        groups.setdefault((r.env_id.split("/")[-1], r.search), {}).setdefault(r.seed, set()).add(cell(r))
    short: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
    for key, by_seed in groups.items():
        every = set().union(*by_seed.values())
        short_seeds = [(seed, len(cells), len(every)) for seed, cells in sorted(by_seed.items()) if cells != every]
        if short_seeds:
            short[key] = short_seeds
    left_out = {(env, search, seed) for (env, search), rows in short.items() for seed, _, _ in rows}
    return [r for r in records if (r.env_id.split("/")[-1], r.search, r.seed) not in left_out], short


def env_label(env: str, seeds: list) -> str:
    """The env's name in its findings; one that rests on fewer than MIN_SEEDS seeds says which it has,
    in every sentence, so no line of the README block reads as a result of the full reproduction."""
    if len(seeds) >= MIN_SEEDS:
        return env
    return f"{env} ({'seed' if len(seeds) == 1 else 'seeds'} {', '.join(map(str, seeds))} only)"


def policy_line(records: list) -> str:
    """Which policy weights an env's records were sampled from (``policies_by_seed``), and a warning
    where the seeds differ: then they are not repetitions of one experiment."""
    (env, by_seed), = policies_by_seed(records).items()
    named = {d for ds in by_seed.values() for d in ds}
    if named == {None}:
        paths = sorted({str(r.policy.get("model")) for r in records})
        return (f"Policy weights: not recorded in these records (written before 2026-12-03); loaded from "
                f"{', '.join(paths)}.")
    if len(named) == 1:
        return f"Policy weights sha256 `{named.pop()[:8]}` in every record."
    seeds = seeds_text(by_seed, quote="`")
    if len(named - {None}) == 1:
        return f"**Not every record names its policy** ({seeds}): that the seeds share one cannot be checked."
    return (f"**The seeds were sampled from different policies** ({seeds}): they are not repetitions of one "
            "experiment, and nothing pooled over them should be read.")


def cost_table(df: pd.DataFrame) -> str:
    rows = []
    for (search, method), g in df.groupby(["search", "method"]):
        top = g[g.budget == g.budget.max()].iloc[0]
        rows.append({"search": search, "method": NAMES.get(method, method), "budget": int(top.budget),
                     "policy tokens": int(top.policy_tokens_out), "RM tokens": int(top.rm_tokens),
                     "label tokens": int(top.label_tokens), "RM train tokens": int(top.rm_train_tokens),
                     "env steps": int(top.env_steps), "wall s (one core)": round(float(top.wall_time_s), 1)})
    return to_markdown(pd.DataFrame(rows), floatfmt=".1f")


def report(results: Path) -> tuple[str, list[str]]:
    every = latest_results([results])
    records, short = complete_seeds(every)
    frame = records_frame(records)
    df = over_seeds(frame)
    pairs, eff = paired_table(records), efficiency(frame)
    commits = sorted({r.git_commit for r in records})
    cpus = sorted({str(r.machine.get("cpu", "?")) for r in records})
    versions = sorted({r.env_id.rsplit("-", 1)[-1] for r in records})
    lines = [f"# The search reproduction on the {', '.join(versions)} envs", "",
             f"Generated by `python benchmarks/repro_report.py {results}` from {len(records)} result records "
             + (f"({len(every) - len(records)} more, of seeds still being run, left out: below) "
                if len(every) > len(records) else "")
             + f"(commits {', '.join(c[:7] for c in commits)}; CPU {', '.join(cpus)}), written by "
             "`bash benchmarks/reproduce.sh`. Each cell: the mean over the seeds [95% CI from a bootstrap "
             "resampling seeds and tasks independently, one task draw shared by the drawn seeds]. Paired "
             "differences are on the same tasks and the same samples, pooled over the seeds (difference averaged "
             "over seeds and tasks, the same bootstrap's CI, sign-flip p of the seed-averaged per-task "
             "differences; Holm within env x search x budget). The interval and the p can disagree near 0.05: "
             "the interval resamples the seeds too (it widens when the seeds disagree), the sign-flip test holds "
             "the seeds fixed and is a permutation test over the tasks; a finding is called significant by its p "
             "alone and says so where its interval holds 0. Every table comes from the records alone.", ""]
    all_findings = []
    for env in sorted(df.env.unique()):
        own, own_frame = df[df.env == env], frame[frame.env == env]
        seeds = sorted(own_frame.seed.unique())
        tasks = sorted(own_frame.tasks.unique())
        lines += [f"## {env}", "", f"Seeds {', '.join(map(str, seeds))}; {', '.join(map(str, tasks))} test tasks; "
                  f"metric {own.metric.iloc[0]}. "
                  + policy_line([r for r in records if r.env_id.split("/")[-1] == env]), ""]
        for (e, search), rows in sorted(short.items()):
            if e == env:
                lines += [f"Not in these tables yet ({SEARCH_NAMES.get(search, search)}): "
                          + ", ".join(f"seed {seed} ({have} of its {need} cells)" for seed, have, need in rows)
                          + "; a seed enters a search's tables, pairs and findings once it has all of them.", ""]
        env_pairs = pick_pairs(pairs, env)
        labels = {}
        for search, title in (("bon", "Best-of-N"), ("beam", "Beam search")):
            searched = sorted(own_frame[own_frame.search == search].seed.unique()) or seeds
            labels[search] = env_label(env, searched)
            table = curve_table(own, search)
            if not table:
                continue
            if searched != seeds:  # e.g. beam search run on fewer seeds than Best-of-N so far
                title += f" ({'seed' if len(searched) == 1 else 'seeds'} {', '.join(map(str, searched))} only)"
            runs = own[own.search == search].sort_values("budget")
            budgets = {int(r.budget): f"@{r.budget}" if search == "bon" else f"@{r.width}x{r.expand}"
                       for r in runs.itertuples()}
            lines += [f"### {title}", "", table, "AgentPRM against each other method, paired "
                      "(diff [95% CI] sign-flip p):", "", agentprm_table(env_pairs, search, budgets)]
        lines += ["### What the largest budget of each method cost (mean over seeds)", "", cost_table(own)]
        said = findings(labels, own, env_pairs, eff[eff.env == env])
        lines += ["### Findings", ""] + [f"- {s}" for s in said] + [""]
        all_findings += said
    return "\n".join(lines), all_findings


def replace_block(readme: Path, said: list[str]) -> None:
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme} has no {BEGIN} ... {END} block to replace; add the two markers")
    block = BEGIN + "\n" + "\n".join(f"- {s}" for s in said) + "\n" + END
    readme.write_text(re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="?", default="results/search", type=Path)
    ap.add_argument("--out", default="results/reproduction.md", type=Path)
    ap.add_argument("--readme", type=Path, help="replace the findings block of this file (results/README.md)")
    args = ap.parse_args()
    text, said = report(args.results)
    args.out.write_text(text)
    if args.readme:
        replace_block(args.readme, said)


if __name__ == "__main__":
    main()
