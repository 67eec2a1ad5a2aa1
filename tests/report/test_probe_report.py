"""benchmarks/probe_report.py keeps each env's section with its raw numbers, so a section made in one
session is reused in another and the across-env correlation comes out the same."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from agentprm_bench.prm.probe import load_probes
from agentprm_bench.prm.probe_eval import Scored, rank_agreement, split_records
from tests.benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def report():
    return load_benchmark("probe_report")


def fake_scores(env: str, seed: int) -> tuple[dict[str, Scored], dict[str, list[float]]]:
    """Three 'models' with random scores on the shipped probe set, and random BoN outcomes."""
    records, _ = load_probes(env)
    states, trajs = split_records(records)
    rng = np.random.default_rng(seed)
    scored, bon = {}, {}
    for name in ("agentprm", "orm", "pvm"):
        scored[name] = Scored(states, [rng.random(len(s["candidates"])).tolist() for s in states], trajs,
                              [rng.random(len(t["actions"])) for t in trajs], int(rng.integers(1, 10_000)))
        bon[name] = rng.integers(0, 2, 40).astype(float).tolist()
    return scored, bon


def args(tmp_path: Path, **kw) -> argparse.Namespace:
    base = {"budget": 4, "temperature": 1.0, "bon_tasks": 200, "data": str(tmp_path)}
    return argparse.Namespace(**{**base, **kw})


def test_a_saved_section_is_reused_with_the_same_numbers(report, tmp_path):
    per_env = {}
    for i, env in enumerate(("textcraft", "babyai")):
        per_env[env] = fake_scores(env, i)
        report.save_section(env, args(tmp_path), [f"## {env}", "", "text"], *per_env[env])
    loaded = {env: report.load_section(env, args(tmp_path)) for env in per_env}
    assert loaded["babyai"][0] == ["## babyai", "", "text"]
    for env, (scored, bon) in per_env.items():
        got_scored, got_bon = loaded[env][1]
        assert got_bon == bon
        for name, s in scored.items():
            assert got_scored[name].candidate_scores == s.candidate_scores
            assert all(np.array_equal(a, b) for a, b in zip(got_scored[name].step_scores, s.step_scores))
            assert got_scored[name].tokens == s.tokens
    assert rank_agreement({e: v[1] for e, v in loaded.items()}, draws=50) == rank_agreement(per_env, draws=50)


def test_reuse_refuses_other_settings_a_missing_file_and_a_corrupt_one(report, tmp_path):
    report.save_section("textcraft", args(tmp_path), ["## textcraft"], *fake_scores("textcraft", 0))
    with pytest.raises(SystemExit, match="--budget"):
        report.load_section("textcraft", args(tmp_path, budget=8))
    with pytest.raises(SystemExit, match="run without --reuse babyai"):
        report.load_section("babyai", args(tmp_path))
    path = tmp_path / "textcraft.json"
    data = json.loads(path.read_text())
    data["probe_sha256"] = "0" * 64
    path.write_text(json.dumps(data))
    with pytest.raises(SystemExit, match="another probe set"):
        report.load_section("textcraft", args(tmp_path))
    path.write_text(path.read_text()[:100])
    with pytest.raises(SystemExit, match="corrupt"):
        report.load_section("textcraft", args(tmp_path))
