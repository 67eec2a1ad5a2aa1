"""Probe sets: metrics on hand-computed cases, scripted scorers at the ends of the scale, a tiny
build (resumable, deterministic) and the shipped sets' hash pin."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from agentprm_bench.errors import UserError
from agentprm_bench.prm import probe as probe_mod
from agentprm_bench.prm.probe import ProbeConfig, build_probes, load_probes
from agentprm_bench.prm.probe_eval import (
    Scored, compare, evaluate, metric_values, score_probes, significant_pairs, spearman,
)


def _state(task, cands, q, se, step=0):
    return {"kind": "state", "env_id": "agentprm/TextCraft-v1", "task_id": task, "step": step,
            "observations": [f"goal {task}", f"obs {step}"][: step + 1], "actions": ["inventory"] * step,
            "candidates": cands, "q": q, "se": se, "n": [16] * len(q), "oracle": 0}


def _traj(task, won, first_error, n_steps=4):
    return {"kind": "trajectory", "env_id": "agentprm/TextCraft-v1", "task_id": task, "won": won,
            "observations": [f"o{t}" for t in range(n_steps + 1)], "actions": [f"a{t}" for t in range(n_steps)],
            "q_taken": [], "first_error": first_error}


RECORDS = [
    _state(0, ["a", "b", "c"], [0.9, 0.1, 0.5], [0.05, 0.05, 0.1]),  # pairs a>b, a>c, c>b all significant
    _state(1, ["a", "b"], [0.5, 0.45], [0.1, 0.1]),  # not significant: no pair
    _state(2, ["a", "b"], [1.0, 0.0], [0.0, 0.0]),  # exact outcomes: significant
    _traj(0, True, -1), _traj(1, False, 2), _traj(2, False, 0),
]


class Oracle:
    """Scores a candidate with its true Q; a trajectory's steps with a fixed profile."""

    def __init__(self, records, steps=None, flip=False):
        self.q = {(r["task_id"], r["step"], c): q for r in records if r["kind"] == "state"
                  for c, q in zip(r["candidates"], r["q"])}
        self.steps, self.flip = steps or {}, flip

    def score_expansions(self, env_id, nodes, candidates):
        out = []
        for (obs, acts), cands in zip(nodes, candidates):
            task = int(obs[0].split()[-1])
            row = [self.q[(task, len(acts), c)] for c in cands]
            out.append([-v for v in row] if self.flip and task == 0 else row)
        return out, 7

    def score_each(self, trajs):
        return [(np.array(self.steps.get(len(acts), [0.9] * len(acts))), 3) for _, _, acts in trajs]


class Constant(Oracle):
    def score_expansions(self, env_id, nodes, candidates):
        return [[0.3] * len(c) for c in candidates], 0


def test_significant_pairs_use_the_standard_error_of_the_difference():
    assert sorted(significant_pairs(RECORDS[0])) == [(0, 1), (0, 2), (2, 1)]
    assert significant_pairs(RECORDS[1]) == [] and significant_pairs(RECORDS[2]) == [(0, 1)]


def test_oracle_scorer_ranks_perfectly_and_a_constant_one_at_chance():
    oracle = score_probes(Oracle(RECORDS), RECORDS)
    assert oracle.tokens == 7 + 3 * 3
    m = metric_values(oracle)
    assert m["ranking"] == 1.0 and m["spearman"] == pytest.approx(1.0)
    assert metric_values(score_probes(Constant(RECORDS), RECORDS))["ranking"] == 0.5


def test_metrics_on_a_hand_computed_case():
    # task 0's scores reversed: its 3 pairs wrong, task 2's pair right -> 1 / 4
    s = score_probes(Oracle(RECORDS, flip=True), RECORDS)
    assert metric_values(s)["ranking"] == pytest.approx(0.25)
    assert metric_values(s, [2, 2])["ranking"] == 1.0 and metric_values(s, [0])["ranking"] == 0.0
    # ECE: scores = Q except task 0 negated (clipped to 0): bins hold (0.9->0) (0.1->0) (0.5->0) ...
    assert 0 < metric_values(s)["ece"] < 1
    # first-error F1: success scored >= 0.5 throughout (correct), task 1's error at 2, task 2's at 0
    steps = {4: [0.9, 0.8, 0.2, 0.1]}
    f = metric_values(score_probes(Oracle(RECORDS, steps), RECORDS))
    # predicted error = 2 on every trajectory: task 1 right, task 2 wrong, the success wrong
    assert f["first_error_f1"] == 0.0
    scored = score_probes(Oracle(RECORDS), RECORDS)
    good = Scored(scored.states, scored.candidate_scores, scored.trajectories,
                  [np.array([0.9, 0.8, 0.7, 0.9]), np.array([0.9, 0.8, 0.2, 0.1]), np.array([0.1, 0.2, 0.3, 0.1])], 0)
    assert metric_values(good)["first_error_f1"] == 1.0
    half = Scored(good.states, good.candidate_scores, good.trajectories,
                  [good.step_scores[0], good.step_scores[1], np.array([0.9, 0.9, 0.9, 0.1])], 0)
    # errors: 1 of 2 right (0.5); correct: 1 of 1 -> F1 = 2 * 0.5 * 1 / 1.5
    assert metric_values(half)["first_error_f1"] == pytest.approx(2 / 3)
    assert metric_values(good)["monotonicity"] == pytest.approx(spearman([0, 1, 2, 3], [0.9, 0.8, 0.7, 0.9]))


def test_bootstrap_intervals_and_paired_differences():
    a, b = score_probes(Oracle(RECORDS), RECORDS), score_probes(Oracle(RECORDS, flip=True), RECORDS)
    ev = evaluate(a)
    assert set(ev) == {"ranking", "spearman", "ece", "monotonicity", "first_error_f1"}
    value, lo, hi = ev["ranking"]
    assert value == 1.0 and lo == hi == 1.0
    c = compare(a, b)
    d, lo, hi = c["diff"]["ranking"]
    assert d == pytest.approx(0.75) and lo <= d <= hi and c["ranking_tasks"] == 2
    # per-task differences (1, 0): every sign pattern has |mean| 0.5 -> exact sign-flip p = 1
    assert c["ranking_p"] == 1.0


def test_a_tiny_probe_build_is_resumable_and_deterministic(tiny_model_dir, tmp_path):
    cfg = ProbeConfig(env="textcraft", tasks=2, screen=0, states_per_trajectory=1, samples=2, k=2,
                      max_error_steps=2, policy=str(tiny_model_dir))
    path = build_probes(cfg, tmp_path / "p", progress=False)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    states = [r for r in records if r["kind"] == "state"]
    assert states and all(len(s["candidates"]) >= 2 and len(s["q"]) == len(s["candidates"]) for s in states)
    assert all(0 <= q <= 1 and n in (1, 2) for s in states for q, n in zip(s["q"], s["n"]))
    assert all(s["candidates"][s["oracle"]] for s in states)
    rollouts = (tmp_path / "p" / "q_rollouts.jsonl").read_text()
    first = path.read_bytes()
    build_probes(cfg, tmp_path / "p", progress=False)  # finished: nothing rolled out again, same set
    assert (tmp_path / "p" / "q_rollouts.jsonl").read_text() == rollouts and path.read_bytes() == first
    lines = rollouts.splitlines()
    (tmp_path / "p" / "q_rollouts.jsonl").write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    build_probes(cfg, tmp_path / "p", progress=False)  # killed half-way: the rest is rolled out again
    assert path.read_bytes() == first
    with pytest.raises(UserError, match="other settings"):
        build_probes(ProbeConfig(**{**cfg.__dict__, "k": 3}), tmp_path / "p", progress=False)
    recs, meta = load_probes(str(tmp_path / "p"))
    assert len(recs) == len(records) and meta["counts"]["states"] == len(states)


def test_shipped_probe_sets_are_hash_pinned(tmp_path, monkeypatch):
    shipped = sorted(p.name.split(".")[0] for p in probe_mod.PACKAGED.glob("*.jsonl.gz"))
    assert "textcraft" in shipped
    for name in shipped:  # every shipped set loads, matches its pinned hash and its stated counts
        records, meta = load_probes(name)
        assert meta["config"]["k"] >= 16 and sum(r["kind"] == "state" for r in records) == meta["counts"]["states"]
        assert sum(r["kind"] == "trajectory" for r in records) == meta["counts"]["trajectories"]
    fake = tmp_path / "probes"
    fake.mkdir()
    (fake / "textcraft.jsonl.gz").write_bytes((probe_mod.PACKAGED / "textcraft.jsonl.gz").read_bytes()[:-8] + b"\0" * 8)
    (fake / "textcraft.json").write_text((probe_mod.PACKAGED / "textcraft.json").read_text())
    monkeypatch.setattr(probe_mod, "PACKAGED", fake)
    with pytest.raises(UserError, match="damaged"):  # a broken gzip trailer
        load_probes("textcraft")
    meta = json.loads((probe_mod.PACKAGED / "textcraft.json").read_text())
    (fake / "textcraft.json").write_text(json.dumps({**meta, "sha256": "0" * 64}))
    (fake / "textcraft.jsonl.gz").write_bytes(gzip.compress(b'{"kind": "state"}\n'))
    with pytest.raises(UserError, match="does not match the sha256"):  # intact gzip, other content
        load_probes("textcraft")
    with pytest.raises(UserError, match="no probe set ships for webshop"):
        load_probes("webshop")


def test_eval_rm_on_a_probe_dir_prints_metrics_and_paired_differences(tiny_model_dir, tmp_path, capsys):
    import torch

    from agentprm_bench.cli import main
    from agentprm_bench.prm.model import RewardModel

    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    (probe_dir / "probes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        rm = RewardModel.from_backbone(tiny_model_dir, {"kind": "agentprm", "max_obs_chars": 200, "max_len": 2048},
                                       device="cpu")
        torch.nn.init.normal_(rm.model.head.weight, std=0.3)
        rm.save(tmp_path / f"rm{seed}")
        paths += ["--rm", str(tmp_path / f"rm{seed}")]
    code = main(["eval-rm", "--probe", str(probe_dir), *paths, "--out", str(tmp_path / "out"), "--threads", "1"])
    text = capsys.readouterr().out
    assert code == 0 and "ranking" in text and "paired differences" in text and "p = " in text
    record = json.loads((tmp_path / "out" / "probe_eval.jsonl").read_text())
    assert len(record["models"]) == 2 and len(record["paired"]) == 1
    assert set(record["models"][0]["metrics"]) == {"ranking", "spearman", "ece", "monotonicity", "first_error_f1"}
    assert main(["eval-rm", *paths]) == 2  # neither --probe nor --trajectories: a one-line error
    assert "exactly one of --probe" in capsys.readouterr().err


def test_a_damaged_probe_dir_is_a_one_line_error(tmp_path):
    (tmp_path / "probes.jsonl").write_text(json.dumps({**RECORDS[0], "q": [0.5]}) + "\n")  # 3 candidates, 1 q
    with pytest.raises(UserError, match="probes.jsonl:1: malformed probe record"):
        load_probes(str(tmp_path))
    (tmp_path / "probes.jsonl").write_text(json.dumps(RECORDS[0]) + "\n")
    (tmp_path / "probe_config.json").write_text("{not json")
    with pytest.raises(UserError, match="probe_config.json is damaged"):
        load_probes(str(tmp_path))


def test_rank_agreement_within_and_across_envs():
    """Probe ranking accuracy vs BoN success over models: +1 where they order the models alike, -1
    where reversed; across envs the mean of the per-env correlations, each with an interval."""
    from agentprm_bench.prm.probe_eval import rank_agreement

    models = {"oracle": score_probes(Oracle(RECORDS), RECORDS),  # ranking 1.0
              "flip": score_probes(Oracle(RECORDS, flip=True), RECORDS),  # 0.25
              "const": score_probes(Constant(RECORDS), RECORDS)}  # 0.5
    alike = {"oracle": [1, 1, 1, 0], "const": [1, 0, 1, 0], "flip": [0, 0, 1, 0]}
    reversed_ = {"oracle": [0, 0, 1, 0], "const": [1, 0, 1, 0], "flip": [1, 1, 1, 0]}
    out = rank_agreement({"a": (models, alike), "b": (models, alike)}, draws=200)
    assert out["a"][0] == pytest.approx(1.0) and out["mean"][0] == pytest.approx(1.0)
    assert out["a"][1] <= out["a"][0] <= out["a"][2]
    mixed = rank_agreement({"a": (models, alike), "b": (models, reversed_)}, draws=200)
    assert mixed["b"][0] == pytest.approx(-1.0) and mixed["mean"][0] == pytest.approx(0.0)
    assert mixed["mean"][1] < 0.0 < mixed["mean"][2] or mixed["mean"][1] == mixed["mean"][2] == 0.0
