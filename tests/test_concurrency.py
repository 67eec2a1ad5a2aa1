"""Two processes writing the same paths at once: no record written twice, the same records as one run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentprm_bench.agents.collect import collect, CollectConfig
from agentprm_bench.errors import UserError
from agentprm_bench.locks import LOCK_NAME, exclusive


def cli(*argv: str, home: Path) -> subprocess.Popen:
    code = f"import sys; from agentprm_bench.cli import main; sys.exit(main({list(argv)!r}))"
    env = {**os.environ, "AGENTPRM_BENCH_HOME": str(home), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(*procs: subprocess.Popen) -> list[str]:
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        outs.append(out)
    return outs


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def strip(traj: dict) -> dict:
    return {k: v for k, v in traj.items() if k not in ("compute",)}


def test_two_concurrent_collects_write_each_trajectory_once(tmp_path):
    args = ("collect", "--env", "textcraft", "--policy", "random", "--split", "test", "--tasks", "12",
            "--samples", "4", "--no-progress")
    finish(cli(*args, "--out", str(tmp_path / "one"), home=tmp_path))
    finish(cli(*args, "--out", str(tmp_path / "two"), home=tmp_path), cli(*args, "--out", str(tmp_path / "two"), home=tmp_path))
    one, two = lines(tmp_path / "one" / "trajectories.jsonl"), lines(tmp_path / "two" / "trajectories.jsonl")
    keys = [(t["task_id"], t["sample_index"]) for t in two]
    assert len(keys) == len(set(keys)) == 48
    by_key = {(t["task_id"], t["sample_index"]): strip(t) for t in one}
    assert all(strip(t) == by_key[(t["task_id"], t["sample_index"])] for t in two)


def test_two_concurrent_runs_share_one_pool_without_duplicates(tmp_path):
    args = ("run", "--method", "none", "--env", "textcraft", "--policy", "random", "--tasks", "6", "--budget", "4",
            "--no-progress")
    finish(cli(*args, "--out", str(tmp_path / "solo"), home=tmp_path / "solo-home"))
    finish(cli(*args, "--out", str(tmp_path / "pair"), home=tmp_path / "home"),
           cli(*args, "--out", str(tmp_path / "pair"), home=tmp_path / "home"))
    pools = list((tmp_path / "home" / "pools").glob("*/trajectories.jsonl"))
    assert len(pools) == 1
    keys = [(t["task_id"], t["sample_index"]) for t in lines(pools[0])]
    assert len(keys) == len(set(keys)) == 24
    solo, pair = lines(tmp_path / "solo" / "results.jsonl"), lines(tmp_path / "pair" / "results.jsonl")
    assert len(pair) == 2
    for rec in pair:  # each equals the record of a run alone: same tasks, values and charged samples
        assert rec["tasks"] == solo[0]["tasks"] and rec["value"] == solo[0]["value"]
        assert rec["compute"]["trajectories"] == solo[0]["compute"]["trajectories"]
        assert rec["compute"]["env_steps"] == solo[0]["compute"]["env_steps"]


def test_a_pair_written_twice_is_refused_on_resume(tmp_path):
    cfg = CollectConfig(env="textcraft", policy="random", split="test", samples=2, tasks=2)
    path = collect(cfg, tmp_path, progress=False)
    path.write_text(path.read_text() + path.read_text().splitlines(keepends=True)[0])
    with pytest.raises(UserError, match=r"holds \(task 0, sample 0\) twice"):
        collect(cfg, tmp_path, progress=False)


def test_exclusive_nests_in_one_process_and_refuses_a_file(tmp_path):
    with exclusive(tmp_path / "d"):
        with exclusive(tmp_path / "d"):  # a sweep's run inside the sweep's lock
            assert (tmp_path / "d" / LOCK_NAME).exists()
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError, match="choose"):
        with exclusive(tmp_path / "f"):
            pass
