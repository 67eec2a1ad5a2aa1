"""The rollout stage: records, determinism, resume after a kill, bad files."""

from __future__ import annotations

import json
from dataclasses import replace
import signal
import subprocess
import sys
import time

import pytest

from agentprm_bench.agents.collect import CollectConfig, collect
from agentprm_bench.agents.rollout import step_seed
from agentprm_bench.agents.trajectory import Trajectory, read_trajectories
from agentprm_bench.errors import UserError


def run(tmp_path, name="c", **kw):
    cfg = CollectConfig(**{"env": "textcraft", "policy": "noisy-oracle", "samples": 3, "tasks": 8,
                           "policy_options": {"p": 0.6}, "batch_size": 5, **kw})
    return list(read_trajectories(collect(cfg, tmp_path / name, progress=False)))


def test_records_are_complete_and_consistent(tmp_path):
    trajs = run(tmp_path)
    assert len(trajs) == 24 and len({t.key for t in trajs}) == 24
    for t in trajs:
        assert t.env_id == "agentprm/TextCraft-v1" and t.env_version == 1 and t.policy == {"name": "noisy-oracle", "p": 0.6}
        assert t.steps[-1].done and not any(s.done for s in t.steps[:-1])
        assert t.compute.env_steps == len(t.steps) and t.final_reward == sum(s.reward for s in t.steps)
        assert t.won == (t.final_reward == 1.0) and t.truncated == (not t.won and len(t.steps) == 20)
        assert t.observations[0].startswith("Crafting commands:")


def test_same_seed_same_trajectories_regardless_of_batching(tmp_path):
    a = sorted(run(tmp_path, "a", batch_size=2), key=lambda t: t.key)
    b = sorted(run(tmp_path, "b", batch_size=7), key=lambda t: t.key)
    assert [t.steps for t in a] == [t.steps for t in b]
    c = sorted(run(tmp_path, "c2", seed=1), key=lambda t: t.key)
    assert [t.actions for t in a] != [t.actions for t in c]
    assert step_seed(0, 1, 2, 3) == step_seed(0, 1, 2, 3) != step_seed(0, 1, 2, 4)


def test_resume_completes_without_duplicates_after_a_kill(tmp_path):
    out = tmp_path / "killed"
    code = ("from agentprm_bench.agents.collect import CollectConfig, collect\n"
            f"collect(CollectConfig(env='textcraft', policy='oracle', samples=2, tasks=150, batch_size=4), {str(out)!r}, progress=False)\n")
    proc = subprocess.Popen([sys.executable, "-c", code])
    path = out / "trajectories.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not path.exists() or path.stat().st_size < 20_000):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = [t.key for t in read_trajectories(path)] if path.read_bytes().endswith(b"\n") else None
    with open(path, "ab") as fh:  # simulate a kill in the middle of a write
        fh.write(b'{"env_id": "agentprm/Tex')
    before = path.read_bytes()[: path.read_bytes().rfind(b"\n") + 1]
    n_before = before.count(b"\n")
    assert 0 < n_before < 300
    cfg = CollectConfig(env="textcraft", policy="oracle", samples=2, tasks=150, batch_size=4)
    trajs = list(read_trajectories(collect(cfg, out, progress=False)))
    keys = [t.key for t in trajs]
    assert len(keys) == 300 and len(set(keys)) == 300
    assert path.read_bytes().startswith(before)  # finished work is kept byte for byte
    if partial is not None:
        assert keys[: len(partial)] == partial


def test_a_different_config_in_the_same_dir_is_refused_but_more_samples_extend_it(tmp_path):
    first = run(tmp_path, "x")
    with pytest.raises(UserError, match="other settings .*seed.*use the same options"):
        run(tmp_path, "x", seed=4)
    more = run(tmp_path, "x", samples=4)
    assert len(more) == len(first) // 3 * 4 and set(t.key for t in first) <= set(t.key for t in more)
    assert [t for t in more if t.key in {f.key for f in first}] == first  # the old ones are kept as they were


def test_malformed_lines_name_file_and_line(tmp_path):
    trajs = run(tmp_path, "m")
    path = tmp_path / "m" / "trajectories.jsonl"
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace('"won"', '"wonn"')
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"trajectories.jsonl:3: malformed trajectory record .*fix or delete"):
        list(read_trajectories(path))
    path.write_text("not json\n")
    with pytest.raises(UserError, match=r":1: malformed"):
        list(read_trajectories(path))
    with pytest.raises(UserError, match="no such file"):
        list(read_trajectories(tmp_path / "absent.jsonl"))
    assert Trajectory.from_json(json.loads(json.dumps(trajs[0].to_json()))) == trajs[0]


def test_cli_collect_prints_a_summary(tmp_path):
    from io import StringIO

    from agentprm_bench.cli import main

    out = StringIO()
    code = main(["collect", "--env", "webshop", "--policy", "oracle", "--split", "test", "--tasks", "5",
                 "--samples", "1", "--out", str(tmp_path / "w"), "--no-progress"], out=out)
    assert code == 0 and "5 trajectories over 5 tasks" in out.getvalue() and "success 1.000" in out.getvalue()


def test_a_large_collection_says_what_it_will_cost_first(tmp_path, caplog, monkeypatch):
    import logging

    from agentprm_bench.agents import collect as collect_module

    monkeypatch.setattr(collect_module, "LARGE_TRAJECTORIES", 6)
    cfg = CollectConfig(env="textcraft", policy="random", split="test", samples=2, tasks=2)
    with caplog.at_level(logging.INFO, logger="agentprm_bench.agents.collect"):
        collect(cfg, tmp_path, progress=False)  # 4 trajectories: an info line
        collect(replace(cfg, samples=5), tmp_path, progress=False)  # 6 more: a warning with the measured rate
        collect(replace(cfg, samples=6, batch_size=4), tmp_path, progress=False)  # 10 so far, batches of 4
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if "to sample" in r.getMessage()]
    assert lines[0][0] == logging.INFO and "4 trajectories to sample" in lines[0][1] and "at most 80 env steps" in lines[0][1]
    assert lines[1][0] == logging.WARNING and "6 trajectories to sample" in lines[1][1]
    assert "min at the rate measured here (4 trajectories so far, fewer than a batch" in lines[1][1]
    last = lines[-1][1]
    assert "2 trajectories to sample" in last and last.endswith("at the rate measured here (10 trajectories so far)")
