"""The reward-model training loop: every RM kind trains, checkpoints, validates and resumes."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from agentprm_bench.agents.collect import CollectConfig, collect
from agentprm_bench.errors import UserError
from agentprm_bench.prm.labelling import LabelConfig, make_labels
from agentprm_bench.prm.model import RewardModel
from agentprm_bench.prm.train import TrainConfig, roc_auc, train_reward_model


def test_roc_auc_reference_values():
    assert roc_auc(np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 1, 0, 0])) == 1.0
    assert roc_auc(np.array([0.1, 0.9]), np.array([1, 0])) == 0.0
    assert roc_auc(np.array([0.5, 0.5, 0.2]), np.array([1, 0, 0])) == pytest.approx(0.75)  # a tie counts half
    assert np.isnan(roc_auc(np.array([0.1, 0.2]), np.array([1, 1])))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("rmdata")
    collect(CollectConfig(env="textcraft", policy="noisy-oracle", samples=3, tasks=12, policy_options={"p": 0.4},
                          max_turns=3), root / "policy", progress=False)  # a tight limit: successes and failures
    collect(CollectConfig(env="textcraft", policy="oracle", samples=1, tasks=12), root / "expert", progress=False)
    td = make_labels(root / "policy" / "trajectories.jsonl", root / "td", LabelConfig(method="td-gae", n_td=3),
                     progress=False)
    return root, td


def config(data, tiny_model_dir, rm, **kw):
    root, td = data
    return TrainConfig(rm=rm, labels=str(td), backbone=str(tiny_model_dir), iterations=kw.pop("iterations", 1),
                       epochs=1, batch_size=8, max_obs_chars=200, max_len=1024, val_fraction=0.3, **kw)


@pytest.mark.parametrize("rm", ["orm", "pvm", "agentprm", "inverse-prm"])
def test_every_reward_model_trains_and_checkpoints(data, tiny_model_dir, tmp_path, rm):
    root, _ = data
    extra = {"expert": str(root / "expert" / "trajectories.jsonl")} if rm == "inverse-prm" else {}
    metrics = train_reward_model(config(data, tiny_model_dir, rm, **extra), tmp_path / rm, progress=False)
    assert metrics["steps"] > 0 and metrics["train_trajectories"] > 0 and "final_auc" in metrics
    loaded = RewardModel.load(tmp_path / rm, device="cpu")
    assert loaded.meta["kind"] == rm and loaded.meta["label_method"] == "td-gae"
    assert loaded.meta["metrics"]["steps"] == metrics["steps"] and loaded.meta["git_commit"]
    assert loaded.meta["machine"]["torch_cpu_capability"]  # the CPU kind decides the bits (README)
    assert loaded.output == ("logit" if rm == "inverse-prm" else "linear")


def test_agentprm_iterations_refresh_targets_and_resume(data, tiny_model_dir, tmp_path):
    cfg = config(data, tiny_model_dir, "agentprm", iterations=2, beta=0.5)
    first = train_reward_model(cfg, tmp_path / "a", progress=False)
    state = json.loads((tmp_path / "a" / "trainer_state.json").read_text())
    assert [h["iteration"] for h in state["history"]] == [0, 1] and state["iteration"] == 2
    again = train_reward_model(cfg, tmp_path / "a", progress=False)  # complete: resumes to the end at once
    assert again["steps"] == first["steps"]
    with pytest.raises(UserError, match="other settings"):
        train_reward_model(config(data, tiny_model_dir, "agentprm", iterations=2, beta=0.9), tmp_path / "a",
                           progress=False)


def test_agentprm_killed_mid_iteration_resumes_to_bit_identical_weights(data, tiny_model_dir, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    from agentprm_bench.prm import train as train_module

    cfg = replace(config(data, tiny_model_dir, "agentprm", iterations=2), epochs=2)
    whole = train_reward_model(cfg, tmp_path / "whole", progress=False)
    original, calls = train_module._checkpoint, []

    def killed_after_three(*args, **kwargs):  # checkpoints: it 0 ep 0, it 0 ep 1, it 1 ep 0 -> kill
        original(*args, **kwargs)
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "_checkpoint", killed_after_three)
    with pytest.raises(KeyboardInterrupt):
        train_reward_model(cfg, tmp_path / "cut", progress=False)
    state = json.loads((tmp_path / "cut" / "trainer_state.json").read_text())
    assert (state["iteration"], state["epoch"]) == (1, 1)  # stopped inside iteration 1
    monkeypatch.setattr(train_module, "_checkpoint", original)
    resumed = train_reward_model(cfg, tmp_path / "cut", progress=False)
    a, b = load_file(str(tmp_path / "whole" / "model.safetensors")), load_file(str(tmp_path / "cut" / "model.safetensors"))
    assert a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)
    assert resumed["steps"] == whole["steps"] and resumed["train_tokens"] == whole["train_tokens"]
    # running a finished training again changes nothing, its metrics included
    before = (tmp_path / "whole" / "reward_model.json").read_bytes()
    assert train_reward_model(cfg, tmp_path / "whole", progress=False) == whole
    assert (tmp_path / "whole" / "reward_model.json").read_bytes() == before


def test_agentprm_killed_after_an_iteration_closed_resumes_at_the_next(data, tiny_model_dir, tmp_path, monkeypatch):
    """Killed after iteration 1's targets were saved but before its first checkpoint (the last
    checkpoint closed iteration 0): the resume starts iteration 1 afresh and ends bit-identical."""
    from safetensors.torch import load_file

    from agentprm_bench.prm import train as train_module

    cfg = config(data, tiny_model_dir, "agentprm", iterations=2)
    train_reward_model(cfg, tmp_path / "whole", progress=False)
    original = train_module._save_targets

    def killed_in_iteration_one(out, iteration, items):
        original(out, iteration, items)
        if iteration == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "_save_targets", killed_in_iteration_one)
    with pytest.raises(KeyboardInterrupt):
        train_reward_model(cfg, tmp_path / "cut", progress=False)
    monkeypatch.setattr(train_module, "_save_targets", original)
    train_reward_model(cfg, tmp_path / "cut", progress=False)
    a, b = load_file(str(tmp_path / "whole" / "model.safetensors")), load_file(str(tmp_path / "cut" / "model.safetensors"))
    assert all(bool((a[k] == b[k]).all()) for k in a)


def test_label_kind_and_inputs_are_checked(data, tiny_model_dir, tmp_path):
    with pytest.raises(UserError, match="--rm mc-prm needs mc labels .* td-gae labels"):
        train_reward_model(config(data, tiny_model_dir, "mc-prm"), tmp_path / "m", progress=False)
    with pytest.raises(UserError, match="needs --expert"):
        train_reward_model(config(data, tiny_model_dir, "inverse-prm"), tmp_path / "i", progress=False)
    with pytest.raises(UserError, match="unknown reward model 'prm'"):
        train_reward_model(config(data, tiny_model_dir, "prm"), tmp_path / "p", progress=False)


def test_eval_rm_reports_auc_on_held_out_trajectories(data, tiny_model_dir, tmp_path):
    from io import StringIO

    from agentprm_bench.cli import main
    from agentprm_bench.prm.evaluate import evaluate_reward_model

    root, _ = data
    train_reward_model(config(data, tiny_model_dir, "pvm"), tmp_path / "pvm", progress=False)
    e = evaluate_reward_model(RewardModel.load(tmp_path / "pvm", device="cpu"), root / "policy" / "trajectories.jsonl")
    assert e.trajectories == 36 and 0.0 < e.success_rate < 1.0 and 0.0 <= e.final_auc <= 1.0 and e.tokens_read > 0
    out = StringIO()
    assert main(["eval-rm", "--rm", str(tmp_path / "pvm"), "--trajectories", str(root / "policy")], out=out) == 0
    assert f"{e.final_auc:6.3f}" in out.getvalue()
    header, row = out.getvalue().splitlines()  # columns line up however long the path
    assert row[header.index(" kind") + 1:].startswith("pvm ")


def test_td_refresh_recomputes_targets_from_the_current_model(data, tiny_model_dir, tmp_path, monkeypatch):
    """Iteration 2's targets are TD-GAE over the model's own scores at that point (not the labels')."""
    from agentprm_bench.prm import train as train_module
    from agentprm_bench.prm.labels import td_gae_targets

    real, calls = train_module._refresh_td_targets, []

    def spy(rm, items, cfg):
        before = [it.q.copy() for it in items]
        values = train_module._step_scores(rm, items)
        real(rm, items, cfg)
        calls.append((before, [it.q.copy() for it in items], values, [it.rewards for it in items], cfg))

    monkeypatch.setattr(train_module, "_refresh_td_targets", spy)
    train_reward_model(config(data, tiny_model_dir, "agentprm", iterations=2), tmp_path / "a", progress=False)
    (before, after, values, rewards, cfg), = calls  # once, before iteration 2
    assert any(not np.allclose(b, a) for b, a in zip(before, after))  # the targets moved with the model
    for a, v, r in zip(after, values, rewards):
        np.testing.assert_allclose(a, td_gae_targets(v, r, cfg.gamma, cfg.lam), atol=1e-6)
        assert a[-1] == pytest.approx(r[-1])  # the last step's target is the outcome itself


def test_training_lowers_the_training_loss(data, tiny_model_dir, tmp_path):
    """PVM regresses every step on the outcome: after training, its scores fit the outcomes better."""
    from agentprm_bench.prm import train as train_module

    cfg = replace(config(data, tiny_model_dir, "pvm"), val_fraction=0.0, epochs=4)
    fresh = RewardModel.from_backbone(cfg.backbone, {"kind": "pvm", "output": "linear", "max_obs_chars": 200,
                                                      "max_len": 1024}, device="cpu")
    items = train_module._items(cfg, fresh)

    def mse(rm):
        return float(np.mean([np.mean((s - it.outcome) ** 2) for it, s in zip(items, train_module._step_scores(rm, items))]))

    untrained = mse(fresh)
    train_reward_model(cfg, tmp_path / "p", progress=False)
    trained = mse(RewardModel.load(tmp_path / "p", device="cpu"))
    assert trained < 0.8 * untrained, (untrained, trained)


def test_loss_over_context_windows_equals_the_loss_over_the_whole_trajectory():
    """AgentPRM's loss on a trajectory cut into two windows (the second with its lead step, which only
    gives the progress term its previous score) equals the loss on the whole trajectory, given the
    same step scores: every step's promise and progress term is counted once."""
    import torch

    from agentprm_bench.prm.model import Serialized
    from agentprm_bench.prm.train import Item, Piece, _loss

    q = np.array([0.1, 0.3, 0.2, 0.6, 0.9])
    item = Item(Serialized([0] * 10, [1, 3, 5, 7, 9]), q, np.array([0, 0, 0, 0, 1.0]), 1.0, True, 0.0, 0)
    m = torch.tensor([[0.5, -0.2, 0.4, 0.1, 0.7]])
    cfg = TrainConfig(rm="agentprm", labels="-", backbone="-", beta=0.5)
    whole = _loss(cfg, m, torch.ones(1, 5), [Piece(0, item.seq, [0, 1, 2, 3, 4])], [item])
    first, second = Piece(0, item.seq, [0, 1, 2]), Piece(0, item.seq, [2, 3, 4], lead=True)
    windows = torch.tensor([[0.5, -0.2, 0.4], [0.4, 0.1, 0.7]])
    split = _loss(cfg, windows, torch.ones(2, 3), [first, second], [item])
    assert split.item() == pytest.approx(whole.item(), abs=1e-7)
    no_lead = _loss(cfg, torch.tensor([[0.5, -0.2, 0.4], [0.1, 0.7, 0.0]]), torch.tensor([[1.0, 1, 1], [1, 1, 0]]),
                    [Piece(0, item.seq, [0, 1, 2]), Piece(0, item.seq, [3, 4])], [item])
    assert no_lead.item() != pytest.approx(whole.item(), abs=1e-4)  # the check can tell a wrong split


@pytest.mark.parametrize("rm", ["orm", "pvm", "agentprm"])
def test_trajectories_longer_than_max_len_are_trained_in_windows(data, tiny_model_dir, tmp_path, rm):
    """No trajectory is dropped for its length (on BabyAI that dropped mostly failures): each is cut into
    the windows scoring reads; every step is trained once (ORM: the window of its last step), tokens line up."""
    from agentprm_bench.prm import train as train_module

    cfg = replace(config(data, tiny_model_dir, rm), val_fraction=0.0)
    fresh = RewardModel.from_backbone(cfg.backbone, {"kind": rm, "output": "linear", "max_obs_chars": 200,
                                                      "max_len": 1024}, device="cpu")
    items = train_module._items(cfg, fresh)
    max_len = int(np.median([len(it.seq.ids) for it in items]))  # about half the trajectories are too long
    cfg, fresh.max_len = replace(cfg, max_len=max_len), max_len
    long = [k for k, it in enumerate(items) if len(it.seq.ids) > max_len]
    assert long and len(long) < len(items)
    rows = train_module.pieces(fresh, items, rm)
    for k in long:
        its = [p for p in rows if p.item == k]
        trained = [j for p in its for j in p.steps[int(p.lead):]]
        if rm == "orm":  # the window holding the last step (the one its loss reads), once
            assert len(its) == 1 and trained[-1] == len(items[k].q) - 1
        else:
            assert trained == list(range(len(items[k].q)))
        assert any(p.lead for p in its) == (rm == "agentprm" and len(its) > 1)
        for p in its:
            assert len(p.seq.ids) <= max_len and len(p.seq.ends) == len(p.steps)
            start = next(s for s in range(len(items[k].seq.ids)) if items[k].seq.ids[s:s + len(p.seq.ids)] == p.seq.ids)
            assert [start + e for e in p.seq.ends] == [items[k].seq.ends[j] for j in p.steps]
    assert rm == "orm" or any(sum(p.item == k for p in rows) > 1 for k in long)
    metrics = train_reward_model(cfg, tmp_path / rm, progress=False)
    assert metrics["train_trajectories"] == len(items) and metrics["train_rows"] == len(rows) > len(items) - (rm == "orm")
