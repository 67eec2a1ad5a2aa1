"""CLI smoke tests with tiny budgets: run, sweep (killed and resumed), leaderboard, plot."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from io import StringIO

from agentprm_bench.cli import main
from agentprm_bench.prm.model import RewardModel
from agentprm_bench.schema import file_digest
from agentprm_bench.search.results import read_results


def test_run_prints_a_summary_and_appends_a_record(tmp_path, bench_home, untrained_rm):
    out = StringIO()
    for search in ("bon", "beam"):
        code = main(["run", "--method", "agentprm", "--budget", "2", "--env", "textcraft", "--search", search,
                     "--policy", "random", "--reward-model", str(untrained_rm), "--tasks", "2",
                     "--out", str(tmp_path / "r"), "--no-progress"], out=out)
        assert code == 0
    text = out.getvalue()
    assert "TextCraft-v1" in text and "agentprm" in text and "appended to" in text and "1x2" in text
    records = list(read_results(tmp_path / "r" / "results.jsonl"))
    assert [r.search for r in records] == ["bon", "beam"]
    assert records[0].reward_model["path"] == str(untrained_rm) and records[0].compute["rm_tokens"] > 0
    assert records[0].reward_model["weights_sha256"] == file_digest(untrained_rm / "model.safetensors")
    assert records[0].git_commit and "torch" in records[0].packages and records[0].config["budget"] == 2
    assert records[0].machine["torch_cpu_capability"] and records[0].machine["arch"]


def test_run_samples_from_an_openai_compatible_server(tmp_path, bench_home, tiny_model_dir, completions_server):
    out = StringIO()
    code = main(["run", "--method", "none", "--budget", "2", "--env", "babyai", "--policy", str(tiny_model_dir),
                 "--base-url", completions_server.base_url, "--tasks", "2", "--out", str(tmp_path / "r"),
                 "--no-progress"], out=out)
    assert code == 0
    record, = read_results(tmp_path / "r" / "results.jsonl")
    assert record.policy["name"] == "vllm" and record.policy["base_url"] == completions_server.base_url
    assert record.config["base_url"] == completions_server.base_url and record.compute["policy_tokens_out"] > 0
    assert len(completions_server.bodies) >= 4  # 2 tasks x 2 samples, one request per sample and turn
    assert {b["model"] for b in completions_server.bodies} == {str(tiny_model_dir.resolve())}
    assert main(["run", "--method", "none", "--policy", "random", "--base-url", completions_server.base_url,
                 "--out", str(tmp_path / "r"), "--no-progress"]) == 2  # a scripted policy has no server


def test_run_errors_are_one_line(tmp_path, bench_home, untrained_rm, capsys):
    args = ["run", "--budget", "2", "--policy", "random", "--tasks", "1", "--out", str(tmp_path), "--no-progress"]
    assert main(args + ["--method", "pvm", "--reward-model", str(untrained_rm)]) == 2
    assert "holds a 'agentprm' reward model but --method pvm needs 'pvm'" in capsys.readouterr().err
    assert main(args + ["--reward-model", str(tmp_path / "nothing")]) == 2
    assert "is not a reward-model checkpoint" in capsys.readouterr().err
    assert main(args + ["--policy", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "neither a local model directory" in err and len(err.strip().splitlines()) == 1


def sweep_args(tmp_path, rm) -> list[str]:
    return ["sweep", "--envs", "textcraft,babyai", "--methods", "agentprm,none", "--searches", "bon",
            "--budgets", "1,2,4", "--tasks", "2", "--policy", "random", "--reward-model", f"agentprm={rm}",
            "--out", str(tmp_path / "s"), "--no-progress"]


def test_a_killed_sweep_resumes_without_loss_or_duplicates(tmp_path, untrained_rm):
    env = {**os.environ, "AGENTPRM_BENCH_HOME": str(tmp_path / "home")}
    code = "import sys; from agentprm_bench.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, *sweep_args(tmp_path, untrained_rm)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = tmp_path / "s" / "results.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if results.exists() and results.read_bytes().count(b"\n") >= 2:
            proc.kill()
            break
        time.sleep(0.05)
    proc.wait()
    before = results.read_bytes()
    assert 2 <= before.count(b"\n") < 12, "the sweep should have been killed part-way"
    with open(results, "ab") as fh:  # a record cut mid-write by the kill
        fh.write(b'{"method": "agentprm", "budg')
    out = StringIO()
    os.environ["AGENTPRM_BENCH_HOME"] = str(tmp_path / "home")
    try:
        assert main(sweep_args(tmp_path, untrained_rm), out=out) == 0
    finally:
        del os.environ["AGENTPRM_BENCH_HOME"]
    records = list(read_results(results))
    keys = [r.key for r in records]
    assert len(keys) == 12 and len(set(keys)) == 12  # 2 envs x 2 methods x 3 budgets, each once
    assert results.read_bytes().startswith(before.rstrip(b"\n")[: len(before) - 1])
    assert "sweep: 12 cells" in out.getvalue()


def test_leaderboard_and_plot_from_result_files(tmp_path, bench_home, untrained_rm):
    assert main(sweep_args(tmp_path, untrained_rm), out=StringIO()) == 0
    out = StringIO()
    assert main(["leaderboard", str(tmp_path / "s"), "--out", str(tmp_path / "lb")], out=out) == 0
    text = out.getvalue()
    assert "| env | metric | tasks | search | method | @1 | @2 | @4 |" in text
    assert (tmp_path / "lb" / "leaderboard.csv").read_text().count("\n") == 13
    paired = (tmp_path / "lb" / "paired.csv").read_text().splitlines()
    assert paired[0].startswith("env,split,search,budget,seed,seeds,metric,tasks,method_a,method_b,value_a,value_b,diff,")
    assert len(paired) > 1 and "Holm" in (tmp_path / "lb" / "paired.md").read_text()
    out = StringIO()
    assert main(["plot", str(tmp_path / "s"), "--out", str(tmp_path / "fig"), "--baselines", "none"], out=out) == 0
    assert (tmp_path / "fig" / "scaling_TextCraft-v1.png").stat().st_size > 10_000
    assert (tmp_path / "fig" / "scaling_BabyAI-v1.png").is_file()
    assert "baseline_best" in (tmp_path / "fig" / "efficiency.md").read_text()


def test_a_corrupt_results_file_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "results.jsonl").write_text('{"method": 1}\n')
    assert main(["leaderboard", str(tmp_path)]) == 2
    assert "results.jsonl:1: malformed result record" in capsys.readouterr().err


def test_pooled_samples_are_scored_once_per_checkpoint_but_charged_in_full(tmp_path, bench_home, untrained_rm,
                                                                            monkeypatch):
    from agentprm_bench.search import run as run_module
    from agentprm_bench.search.run import RunConfig, run

    monkeypatch.setattr(run_module, "_SCORES", {})  # other tests in this process scored the same samples
    scored = []
    original = RewardModel.score_each

    def counting(self, trajectories, batch_size=16):
        scored.append(len(trajectories))
        return original(self, trajectories, batch_size)

    monkeypatch.setattr(RewardModel, "score_each", counting)
    cfg = RunConfig(method="agentprm", env="textcraft", policy="random", reward_model=str(untrained_rm), tasks=2,
                    out=str(tmp_path))
    small = run(replace(cfg, budget=2), progress=False)
    large = run(replace(cfg, budget=4), progress=False)
    assert scored == [4, 4]  # the 4 samples of budget 2 are not scored again for budget 4
    again = run(replace(cfg, budget=4, out=str(tmp_path / "again")), progress=False)
    assert scored == [4, 4] and again.tasks == large.tasks and again.compute["rm_tokens"] == large.compute["rm_tokens"]
    assert small.compute["rm_tokens"] < large.compute["rm_tokens"]
    weights = untrained_rm / "model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))  # a re-trained model
    run(replace(cfg, budget=4), progress=False)
    assert scored == [4, 4, 8]


def test_run_keys_ignore_unset_fields_so_older_records_still_match():
    from agentprm_bench.search.results import run_key

    old = {"method": "agentprm", "budget": 4, "policy": None, "out": "a"}
    assert run_key({**old, "backend": None, "base_url": None, "out": "b"}) == run_key(old)
    assert run_key({**old, "base_url": "http://x/v1"}) != run_key(old)


def test_build_defaults_builds_each_env_policy_then_its_reward_models(monkeypatch, capsys):
    from agentprm_bench import defaults

    calls = []
    monkeypatch.setattr(defaults, "ensure_default_policy", lambda env, progress: calls.append(env) or f"/p/{env}")
    monkeypatch.setattr(defaults, "ensure_default_reward_model",
                        lambda env, method, progress: calls.append((env, method.name)) or f"/rm/{method.name}")
    out = StringIO()
    assert main(["build-defaults", "--envs", "babyai,textcraft", "--methods", "agentprm,orm", "--no-progress"],
                out=out) == 0
    assert calls == ["agentprm/BabyAI-v1", ("agentprm/BabyAI-v1", "agentprm"), ("agentprm/BabyAI-v1", "orm"),
                     "agentprm/TextCraft-v1", ("agentprm/TextCraft-v1", "agentprm"), ("agentprm/TextCraft-v1", "orm")]
    rows = [line.split() for line in out.getvalue().splitlines()[1:]]
    assert [(r[0], r[1], r[-1]) for r in rows[:3]] == [("BabyAI-v1", "policy", "/p/agentprm/BabyAI-v1"),
                                                       ("BabyAI-v1", "rm", "/rm/agentprm"), ("BabyAI-v1", "rm", "/rm/orm")]
    assert main(["build-defaults", "--methods", "agentprm,greedy"]) == 2
    assert "greedy use no reward model" in capsys.readouterr().err
    assert main(["build-defaults", "--methods", "agentpr"]) == 2
    assert "agentprm" in capsys.readouterr().err and len(calls) == 6


def test_run_reports_the_paired_comparison_with_plain_sampling(tmp_path, bench_home, untrained_rm):
    out = StringIO()
    code = main(["run", "--method", "agentprm", "--env", "textcraft", "--policy", "noisy-oracle", "--reward-model",
                 str(untrained_rm), "--tasks", "6", "--budget", "4", "--out", str(tmp_path), "--no-progress"], out=out)
    text = out.getvalue()
    assert code == 0 and "agentprm vs plain sampling on the same 4 samples per task (6 tasks, paired)" in text
    assert "sign-flip p = " in text and "note: 6 tasks cannot rank methods" in text
    from agentprm_bench.search.results import read_results

    (record,) = list(read_results(tmp_path / "results.jsonl"))
    assert all(t.plain_success is not None and 0.0 <= t.plain_success <= 1.0 for t in record.tasks)
