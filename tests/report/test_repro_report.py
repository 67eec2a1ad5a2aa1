"""benchmarks/repro_report.py: tables and findings from records of several seeds, every comparison
with its pooled paired test, and the README block it keeps in step."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from agentprm_bench.report.stats import pooled_paired
from agentprm_bench.search.results import ResultRecord, TaskResult
from tests.benchmark_scripts import load_benchmark

METHOD_NAMES = ("AgentPRM", "ORM", "PVM", "MC-PRM", "InversePRM", "plain sampling")


@pytest.fixture(scope="module")
def script():
    return load_benchmark("repro_report")


# seed -> method -> budget -> per-task success on 8 tasks
VALUES = {
    0: {"agentprm": {1: [1, 0, 0, 0, 0, 0, 0, 0], 4: [1, 1, 1, 1, 1, 1, 0, 0]},
        "orm": {1: [1, 0, 0, 0, 0, 0, 0, 0], 4: [1, 1, 0, 0, 0, 0, 0, 0]}},
    1: {"agentprm": {1: [0, 1, 0, 0, 0, 0, 0, 0], 4: [1, 1, 1, 1, 1, 0, 1, 0]},
        "orm": {1: [0, 1, 0, 0, 0, 0, 0, 0], 4: [1, 1, 1, 0, 0, 0, 0, 0]}},
}


def record(method: str, seed: int, budget: int, values: list[int], search: str = "bon") -> ResultRecord:
    tasks = tuple(TaskResult(task_id=i, reward=float(v), success=float(v)) for i, v in enumerate(values))
    compute = {"policy_tokens_out": 10 * budget, "policy_tokens_in": 100 * budget, "rm_tokens": 50 * budget,
               "env_steps": 5 * budget, "trajectories": budget * len(values), "wall_time_s": 1.0 * budget}
    config = {"method": method, "budget": budget, "seed": seed, "search": search}
    return ResultRecord(method=method, reward_model=None, policy={"name": "hf"}, env_id="agentprm/TextCraft-v1",
                        env_version=1, split="test", search=search, budget=budget, width=budget, expand=1,
                        aggregate="last", metric="success", value=sum(values) / len(values), ci_low=0.0, ci_high=1.0,
                        success_rate=0.0, mean_reward=0.0, tasks=tasks, compute=compute, config=config, seed=seed,
                        git_commit="abc1234", packages={}, machine={"cpu": "test cpu"})


def write_seed(root: Path, seed: int, by_method: dict, plain: bool = True) -> None:
    """root/textcraft/seedK/results.jsonl with the records of ``by_method`` (and plain sampling's)."""
    d = root / "textcraft" / f"seed{seed}"
    d.mkdir(parents=True)
    recs = [record(m, seed, b, v) for m, by_budget in by_method.items() for b, v in by_budget.items()]
    recs += [record("none", seed, b, [0, 0, 0, 0, 1, 0, 0, 0], search="sample") for b in (1, 4)] if plain else []
    (d / "results.jsonl").write_text("".join(json.dumps(r.to_json()) + "\n" for r in recs))


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    for seed, by_method in VALUES.items():
        write_seed(tmp_path, seed, by_method)
    return tmp_path


def test_findings_quote_the_pooled_paired_test(script, results):
    text, said = script.report(results)
    t = pooled_paired([VALUES[s]["agentprm"][4] for s in (0, 1)], [VALUES[s]["orm"][4] for s in (0, 1)])
    # seed-averaged per-task d = (0, 0, .5, 1, 1, .5, .5, 0): mean .4375, all positive -> p = 2/2^5
    assert t.diff == pytest.approx(0.4375) and t.p_value == pytest.approx(2 / 32)
    line = next(s for s in said if "process vs outcome reward" in s)
    assert f"at BoN@4 +0.438 [{t.ci_low:+.3f}, {t.ci_high:+.3f}], p = 0.062" in line
    assert line.count("BoN@4") == 1  # two budgets only: the middle one is the top one, said once
    # the efficiency sentence says which way its ratios read
    assert any("AgentPRM reaches ORM's best (0.312 at budget 4) at budget 4; ORM's cost over AgentPRM's there "
               "(below 1: AgentPRM spent more): budget 1.00," in s for s in said), said
    assert "## TextCraft-v1" in text and "Seeds 0, 1; 8 test tasks" in text
    assert "| AgentPRM | 0.125 [" in text and "| 0.750 [" in text and "| ORM | 0.125 [" in text  # means over the seeds
    # every finding that names two methods carries a p-value
    for s in said:
        if sum(name in s for name in METHOD_NAMES) >= 2:
            assert re.search(r"p [=<] ", s), s


def test_findings_of_an_env_with_fewer_than_three_seeds_name_their_seeds(script, results):
    _, said = script.report(results)
    assert said and all(s.startswith("TextCraft-v1 (seeds 0, 1 only), ") for s in said), said
    shutil.rmtree(results / "textcraft" / "seed1")
    _, said = script.report(results)
    assert said and all(s.startswith("TextCraft-v1 (seed 0 only), ") for s in said), said
    write_seed(results, 1, VALUES[1], plain=False)
    write_seed(results, 2, VALUES[0], plain=False)
    _, said = script.report(results)
    assert said and all(s.startswith("TextCraft-v1, ") for s in said), said


def test_beam_search_on_fewer_seeds_than_best_of_n_is_paired_on_its_seed_and_says_which(script, results):
    """Beam search run on seed 0 while Best-of-N has three seeds (a reproduction under way): its table
    and every sentence on it name seed 0, and its pairs are that seed's paired tests (no pooled row)."""
    from dataclasses import replace

    import numpy as np

    from agentprm_bench.report.stats import paired

    write_seed(results, 2, VALUES[0], plain=False)
    beam = {"agentprm": [1, 1, 1, 1, 0, 0, 0, 0], "orm": [1, 0, 0, 0, 0, 0, 0, 0]}
    with (results / "textcraft" / "seed0" / "results.jsonl").open("a") as f:
        for m, v in beam.items():
            f.write(json.dumps(replace(record(m, 0, 4, v, search="beam"), width=2, expand=2).to_json()) + "\n")
    text, said = script.report(results)
    assert "### Best-of-N\n" in text and "### Beam search (seed 0 only)\n" in text
    t = paired(np.array(beam["agentprm"], float), np.array(beam["orm"], float), seed=0)
    assert t.diff == pytest.approx(0.375) and t.p_value == pytest.approx(2 / 8)  # three tasks differ, all one way
    on_beam = [s for s in said if "beam" in s]
    assert f"TextCraft-v1 (seed 0 only), beam @2x2: AgentPRM − ORM +0.375 [{t.ci_low:+.3f}, {t.ci_high:+.3f}], " \
           f"p = 0.25" in "\n".join(on_beam), on_beam
    assert on_beam and all(s.startswith("TextCraft-v1 (seed 0 only), ") for s in on_beam), on_beam
    assert all(s.startswith("TextCraft-v1, ") for s in said if s not in on_beam), said
    assert "| ORM | process vs outcome reward | +0.375 [" in text  # the beam's paired table is filled
    # against plain sampling (seeds 0 and 1) the efficiency test pairs on seed 0, and says so
    head = ("TextCraft-v1 (seed 0 only), beam search: AgentPRM reaches plain sampling's best (0.125, the mean "
            "of 2 seeds) at budget 4;")
    assert any(s.startswith(head) and s.endswith("paired on the 1 seed both have.") for s in on_beam), on_beam


def test_a_seed_still_being_run_is_left_out_until_it_has_every_cell(script, results):
    """Beam search: seed 0 has @2x2 and @4x4, seed 1 only @2x2 (its @4x4 still running). Seed 1's
    beam records stay out of every table and sentence (which then rest on seed 0 alone and say so)
    and the report names what is missing; its Best-of-N records count as before."""
    from dataclasses import replace

    beam = {"agentprm": [1, 1, 1, 1, 0, 0, 0, 0], "orm": [1, 0, 0, 0, 0, 0, 0, 0]}
    for seed, budgets in ((0, (4, 16)), (1, (4,))):
        with (results / "textcraft" / f"seed{seed}" / "results.jsonl").open("a") as f:
            for m, v in beam.items():
                for b in budgets:
                    rec = replace(record(m, seed, b, v if seed == 0 else v[::-1], search="beam"), width=b // 2,
                                  expand=2)
                    f.write(json.dumps(rec.to_json()) + "\n")
    text, said = script.report(results)
    assert "Not in these tables yet (beam search): seed 1 (2 of its 4 cells)" in text
    assert "### Beam search (seed 0 only)\n" in text and "### Best-of-N\n" in text
    on_beam = [s for s in said if "beam" in s]
    assert on_beam and all(s.startswith("TextCraft-v1 (seed 0 only), beam") for s in on_beam), on_beam
    # seed 0's values, not pooled with seed 1's reversed ones
    assert any(s.startswith("TextCraft-v1 (seed 0 only), beam @2x2: AgentPRM − ORM +0.375 [") for s in on_beam)
    assert "from 16 result records (2 more, of seeds still being run, left out: below)" in text
    kept, short = script.complete_seeds(script.latest_results([results]))
    assert short == {("TextCraft-v1", "beam"): [(1, 2, 4)]} and len(kept) == 16


def test_readme_block_is_replaced_and_markers_are_required(script, results, tmp_path):
    _, said = script.report(results)
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{script.BEGIN}\n- stale line\n{script.END}\noutro\n")
    script.replace_block(readme, said)
    text = readme.read_text()
    assert "stale line" not in text and text.startswith("intro\n") and text.endswith("outro\n")
    assert all(f"- {s}" in text for s in said)
    readme.write_text("no markers\n")
    with pytest.raises(SystemExit, match="markers"):
        script.replace_block(readme, said)


def test_results_readme_names_a_paired_p_value_in_every_comparison():
    """Issue 15: every sentence of results/README.md that compares two methods names its p-value."""
    text = (Path(__file__).resolve().parents[2] / "results" / "README.md").read_text()
    prose = re.sub(r"^\|.*$", "", text, flags=re.M)  # tables hold files and commands, not claims
    sentences = re.split(r"(?<=[.;])\s+(?=[A-Z(-])|\n\s*-\s|\n\n", prose)
    compare = re.compile(r"\b(beats?|better|worse|ahead|trails?|outperforms?|stronger|weaker|than|vs\.?|−)\b|−")
    for s in sentences:
        named = {n for n in METHOD_NAMES if n in s}
        if len(named) >= 2 and compare.search(s):
            assert re.search(r"\bp [=<≤] ?[01]?\.\d", s), f"no paired p-value in: {s.strip()[:200]}"


def test_the_report_names_each_envs_policy_and_flags_seeds_of_different_policies(script):
    from dataclasses import replace

    def sampled_from(digest: str | None, seed: int) -> ResultRecord:
        policy = {"name": "hf", "model": "/cache/policies/textcraft", **({"weights_sha256": digest} if digest else {})}
        return replace(record("agentprm", seed, 1, [1, 0]), policy=policy)

    assert script.policy_line([sampled_from(None, 0)]).startswith("Policy weights: not recorded")
    assert script.policy_line([sampled_from("48094075ab", 0), sampled_from("48094075ab", 1)]) == \
        "Policy weights sha256 `48094075` in every record."
    mixed = script.policy_line([sampled_from("c3c63a23ff", 0), sampled_from("48094075ab", 1), sampled_from(None, 2)])
    assert mixed.startswith("**The seeds were sampled from different policies**")
    assert "seed 0: `c3c63a23`; seed 1: `48094075`; seed 2: not recorded" in mixed
    unknown = script.policy_line([sampled_from(None, 0), sampled_from("48094075ab", 1)])
    assert unknown.startswith("**Not every record names its policy** (seed 0: not recorded; seed 1: `48094075`)")


def test_a_significant_p_with_an_interval_holding_zero_says_so(script):
    t = {"diff": 0.02, "lo": -0.005, "hi": 0.04, "p": 0.02, "holm": 0.2, "seeds": 3}
    assert script.describe(t).endswith("(Holm p = 0.20; significant alone, not after Holm; "
                                       "the interval over 3 seeds and the tasks holds 0)")
    # the interval excludes 0, or the p does not call it significant, or one seed: nothing added
    assert script.describe({**t, "lo": 0.001}).endswith("not after Holm)")
    assert script.describe({**t, "p": 0.3, "holm": 1.0}).endswith("not significant)")
    assert script.describe({**t, "seeds": 1}).endswith("not after Holm)")
