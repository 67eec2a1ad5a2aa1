"""The embedded default's cache: a default policy trained with another config is rebuilt, and
reward models built from an older policy are set aside, never silently reused."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import pytest

from agentprm_bench import defaults
from agentprm_bench.agents import bc
from agentprm_bench.paths import model_fingerprint


@pytest.fixture
def fake_training(tmp_path, monkeypatch):
    """train_policy replaced by a recorder that writes what a trained policy directory holds."""
    monkeypatch.setenv("AGENTPRM_BENCH_HOME", str(tmp_path / "home"))
    calls: list[bc.TrainPolicyConfig] = []

    def fake(cfg: bc.TrainPolicyConfig, out: Path, progress: bool = True) -> dict:
        out = Path(out)
        out.mkdir(parents=True)
        (out / "model.safetensors").write_bytes(b"w" * (len(calls) + 1))
        (out / bc.POLICY_META).write_text(json.dumps({"config": asdict(cfg)}))
        calls.append(cfg)
        return {}

    monkeypatch.setattr(bc, "train_policy", fake)
    return calls


def test_default_policy_is_built_once_and_rebuilt_when_its_config_changes(fake_training, monkeypatch):
    path = defaults.ensure_default_policy("textcraft", progress=False)
    assert defaults.ensure_default_policy("textcraft", progress=False) == path and len(fake_training) == 1
    # a policy stored by an older version, without fields added since, still counts as current
    meta = json.loads((path / bc.POLICY_META).read_text())
    del meta["config"]["curriculum_steps"]
    (path / bc.POLICY_META).write_text(json.dumps(meta))
    defaults.ensure_default_policy("textcraft", progress=False)
    assert len(fake_training) == 1
    # ... and one stored before split_spaces was renamed pre_tokenizer ("byte" = split_spaces false)
    meta["config"]["split_spaces"] = False
    del meta["config"]["pre_tokenizer"]
    (path / bc.POLICY_META).write_text(json.dumps(meta))
    defaults.ensure_default_policy("textcraft", progress=False)
    assert len(fake_training) == 1
    monkeypatch.setitem(bc.ENV_DEFAULTS, "agentprm/TextCraft-v1", {"noisy_labels": "oracle", "epochs": 3})
    defaults.ensure_default_policy("textcraft", progress=False)
    assert len(fake_training) == 2 and fake_training[-1].epochs == 3
    assert [p.name.startswith("textcraft.old-") for p in path.parent.iterdir()].count(True) == 1


def test_reward_models_from_an_older_policy_are_set_aside(tmp_path):
    policy, base = tmp_path / "policy", tmp_path / "defaults" / "webshop"
    policy.mkdir()
    (policy / "model.safetensors").write_bytes(b"v1")
    current = defaults._marker_text(policy)
    defaults._match_policy(base, policy)  # a new build: marker written
    assert (base / "policy.txt").read_text().strip() == current
    (base / "rm-orm").mkdir()
    defaults._match_policy(base, policy)  # same policy, same build: kept
    assert (base / "rm-orm").is_dir()
    (policy / "model.safetensors").write_bytes(b"v2, retrained")
    os.utime(policy / "model.safetensors", ns=(1, 1))
    defaults._match_policy(base, policy)
    assert not (base / "rm-orm").exists()
    assert (base / "policy.txt").read_text().strip() == defaults._marker_text(policy)
    assert len([p for p in base.parent.iterdir() if p.name.startswith("webshop.old-")]) == 1
    defaults._match_policy(base, policy, defaults.sizes_for("webshop"))  # other sizes: set aside again
    assert len([p for p in base.parent.iterdir() if p.name.startswith("webshop.old-")]) == 2
    assert (base / "policy.txt").read_text().strip() == defaults._marker_text(policy, defaults.sizes_for("webshop"))


def test_webshop_rolls_out_on_more_tasks():
    assert defaults.sizes_for("agentprm/WebShop-v1").rollout_tasks == 256
    assert defaults.sizes_for("agentprm/BabyAI-v1") == defaults.SIZES


@pytest.mark.parametrize("marker", [None, "FINGERPRINT", "FINGERPRINT build 1", "FINGERPRINT build 2"])
def test_reward_models_from_an_older_build_are_set_aside(tmp_path, marker):
    """Models built before markers, or by an older build (e.g. with the mistaken tokenizer), are rebuilt."""
    policy, base = tmp_path / "policy", tmp_path / "defaults" / "babyai"
    policy.mkdir()
    (policy / "model.safetensors").write_bytes(b"v1")
    (base / "rm-orm").mkdir(parents=True)
    if marker:
        (base / "policy.txt").write_text(marker.replace("FINGERPRINT", model_fingerprint(policy)) + "\n")
    defaults._match_policy(base, policy)
    assert not (base / "rm-orm").exists()
    assert (base / "policy.txt").read_text().strip() == defaults._marker_text(policy)
    assert len([p for p in base.parent.iterdir() if p.name.startswith("babyai.old-")]) == 1


def test_first_run_plan_lists_what_is_missing_with_minutes(fake_training):
    from agentprm_bench.search.methods import METHODS

    agentprm, mc = METHODS.get("agentprm"), METHODS.get("mc-prm")
    plan = defaults.first_run_plan("textcraft", agentprm, 320, threads=2)
    names = [name for name, _ in plan]
    assert names == ["train the default textcraft policy", "512 train rollouts", "train the agentprm reward model",
                     "320 test samples"]
    rates = defaults.PHASE_SECONDS["agentprm/TextCraft-v1"]
    assert plan[1][1] == pytest.approx(512 * rates["rollout"]) and plan[3][1] == pytest.approx(320 * rates["sample"])
    one_thread = defaults.first_run_plan("textcraft", agentprm, 320, threads=1)
    assert [s for _, s in one_thread] == pytest.approx([2 * s for _, s in plan])  # scaled by 2 / threads
    assert "~" in [n for n, _ in defaults.first_run_plan("textcraft", mc, 10, 2)][2]  # Monte-Carlo rollouts
    defaults.ensure_default_policy("textcraft", progress=False)
    assert [n for n, _ in defaults.first_run_plan("textcraft", agentprm, 320, 2)][0] == "512 train rollouts"
    assert defaults.first_run_plan("textcraft", None, 320, 2) == []  # policy there, no reward model: nothing to build


def test_run_prints_the_estimate_before_building(fake_training, monkeypatch):
    import io

    from agentprm_bench.cli_search import _first_run_estimate, _phase_times
    from agentprm_bench.search.run import RunConfig

    out = io.StringIO()
    _first_run_estimate(RunConfig(), 320, out)
    line = out.getvalue()
    assert line.startswith("first run: ") and "train the default textcraft policy (~" in line and " in all " in line
    out = io.StringIO()
    _first_run_estimate(RunConfig(policy="random"), 320, out)  # no default built: nothing to say
    assert out.getvalue() == ""
    monkeypatch.setattr(defaults, "PHASE_TIMES", [("train the default textcraft policy", 600.0), ("cached", 0.01)])
    out = io.StringIO()
    _phase_times(out)
    assert out.getvalue().strip() == "phase times: train the default textcraft policy 10.0 min; 10.0 min in all"


def _policy_dir(path: Path, weights: bytes, cfg: bc.TrainPolicyConfig) -> Path:
    path.mkdir(parents=True)
    (path / "model.safetensors").write_bytes(weights)
    (path / "tokenizer.json").write_text("{}")
    (path / bc.POLICY_META).write_text(json.dumps({"config": asdict(cfg)}))
    return path


def test_a_committed_policy_is_installed_as_the_default_and_never_replaced(fake_training, tmp_path):
    from agentprm_bench.errors import UserError

    src = _policy_dir(tmp_path / "committed" / "textcraft", b"committed weights", bc.default_config("textcraft"))
    path = defaults.install_default_policy("textcraft", src)
    assert (path / "model.safetensors").read_bytes() == b"committed weights"
    assert (path / "tokenizer.json").is_file() and not list(path.glob("*.part"))
    assert defaults.ensure_default_policy("textcraft", progress=False) == path and fake_training == []  # not retrained
    assert defaults.install_default_policy("textcraft", src) == path  # the same weights again: nothing to do
    other = _policy_dir(tmp_path / "other" / "textcraft", b"other weights", bc.default_config("textcraft"))
    with pytest.raises(UserError, match="has other weights.*move .* aside"):
        defaults.install_default_policy("textcraft", other)
    assert (path / "model.safetensors").read_bytes() == b"committed weights"  # the cache is left as it was


def test_a_policy_that_is_not_todays_default_is_refused(fake_training, tmp_path):
    from agentprm_bench.errors import UserError

    old = _policy_dir(tmp_path / "old", b"w", bc.default_config("textcraft", epochs=99))
    with pytest.raises(UserError, match="not trained with today's default"):
        defaults.install_default_policy("textcraft", old)
    with pytest.raises(UserError, match="holds no policy"):
        defaults.install_default_policy("textcraft", tmp_path / "missing")
    assert not (defaults.default_policy_dir("textcraft") / "model.safetensors").exists()


def test_build_defaults_policy_from_stops_with_the_fix_when_the_cache_holds_another(fake_training, tmp_path, capsys):
    from agentprm_bench.cli import main

    built = defaults.ensure_default_policy("textcraft", progress=False)  # the cache's own build
    _policy_dir(tmp_path / "kept" / "textcraft", b"kept weights", bc.default_config("textcraft"))
    code = main(["build-defaults", "--envs", "textcraft", "--policy-from", str(tmp_path / "kept"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "has other weights" in err and "AGENTPRM_BENCH_HOME" in err
    assert (built / "model.safetensors").read_bytes() == b"w" and len(fake_training) == 1  # nothing rebuilt or lost
