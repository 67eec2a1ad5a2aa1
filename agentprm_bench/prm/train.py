"""One training loop for every reward model (``agentprm-bench train --rm NAME``).

Reads top to bottom: load labels -> split tasks into train/validation -> value head on the
backbone (or resume) -> for each iteration: (AgentPRM) recompute TD-GAE targets with the
current model, then epochs of AdamW steps on the model's loss -> validate (step MSE against
the targets, AUC of the final-step score against success) -> checkpoint. Under ``torchrun``
each rank trains on its share of every epoch's batches inside DistributedDataParallel. A
trajectory longer than ``max_len`` tokens is trained in the context windows scoring reads it in
(``pieces``), so no trajectory is left out for its length.

Reward models (``REWARD_MODELS``):
  orm          last step regresses the outcome (any labels)
  pvm          every step regresses the outcome (any labels)
  agentprm     L_Q + beta L_A on TD-GAE targets recomputed each iteration (td-gae labels)
  mc-prm       L_Q on Monte-Carlo targets (mc labels; Choudhury 2025)
  inverse-prm  expert vs policy steps, no outcome labels (needs --expert trajectories)
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agentprm_bench.agents.trajectory import read_trajectories
from agentprm_bench.errors import UserError
from agentprm_bench.jsonl import write_text_atomic
from agentprm_bench.locks import exclusive
from agentprm_bench.progress import bar as progress_bar
from agentprm_bench.schema import check_fields, read_json
from agentprm_bench.prm import losses
from agentprm_bench.prm.labelling import LABEL_CONFIG, LabelConfig, read_labels
from agentprm_bench.prm.labels import td_gae_targets
from agentprm_bench.prm.model import RM_META, RewardModel, Serialized, window
from agentprm_bench.provenance import stamp

log = logging.getLogger(__name__)
REWARD_MODELS = {"orm": "any", "pvm": "any", "agentprm": "td-gae", "mc-prm": "mc", "inverse-prm": "any"}
STATE = "trainer_state.json"
OPTIMIZER = "optimizer.pt"
TARGETS = "targets.json"  # AgentPRM: the targets of the current iteration (exact resume)


@dataclass(frozen=True)
class TrainConfig:
    rm: str
    labels: str
    backbone: str
    expert: str | None = None
    beta: float = 1.0
    gamma: float = 1.0
    lam: float = 0.95
    iterations: int = 2
    epochs: int = 2
    batch_size: int = 8
    grad_accum: int = 1
    lr: float = 3e-4
    max_obs_chars: int = 600
    max_len: int = 2048
    val_fraction: float = 0.15
    max_minutes: float | None = None  # optional pause: the checkpoint is kept and the next run resumes
    seed: int = 0


@dataclass
class Item:
    seq: Serialized
    q: np.ndarray  # (T,) targets
    rewards: np.ndarray  # (T,)
    outcome: float
    won: bool
    expert: float  # 1 for a demonstration (InversePRM), else 0
    task_id: int


@dataclass(frozen=True)
class Piece:
    """What one training row reads: a whole trajectory, or one of the context windows a trajectory
    longer than ``max_len`` is scored in (``RewardModel.windows``), so long trajectories (on BabyAI
    mostly failures) are trained on rather than dropped. ``steps`` are the item's step indices,
    one per ``seq.ends``; with ``lead`` the first one is context only (AgentPRM's progress term of
    the window's first trained step needs the previous step's score) and carries no loss."""
    item: int
    seq: Serialized
    steps: list[int]
    lead: bool = False


def pieces(rm: RewardModel, items: list[Item], kind: str) -> list[Piece]:
    """Training rows of ``items``: one per trajectory that fits the context, else one per window
    (ORM: only the window holding the last step, the one its loss reads)."""
    out = []
    for k, it in enumerate(items):
        s = it.seq
        if len(s.ids) <= rm.max_len:
            out.append(Piece(k, s, list(range(len(s.ends)))))
            continue
        for start, stop, js in rm.windows(s):
            if kind == "orm" and js[-1] != len(s.ends) - 1:
                continue
            lead = kind == "agentprm" and js[0] > 0 and s.ends[js[0] - 1] >= start
            steps = [js[0] - 1] * lead + js
            out.append(Piece(k, window(s, start, stop, steps), steps, lead))
    return out


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (ties count half); NaN when only one class is present."""
    scores, labels = np.asarray(scores, float), np.asarray(labels, bool)
    pos, neg = scores[labels], scores[~labels]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def _items(cfg: TrainConfig, rm: RewardModel) -> list[Item]:
    labels = read_labels(cfg.labels)
    if not labels:
        raise UserError(f"{cfg.labels} holds no labels; run `agentprm-bench label` (again)")
    method = labels[0]["method"]
    need = REWARD_MODELS[cfg.rm]
    if need != "any" and method != need:
        raise UserError(f"--rm {cfg.rm} needs {need} labels but {cfg.labels} holds {method} labels; "
                        f"run `agentprm-bench label --method {need}` first")
    items = [Item(rm.encode(r["env_id"], r["observations"], r["actions"]), np.array(r["q"], float),
                  np.array(r["rewards"], float), float(r["final_reward"]), bool(r["won"]), 0.0, int(r["task_id"]))
             for r in labels]
    if cfg.rm == "inverse-prm":
        if not cfg.expert:
            raise UserError("--rm inverse-prm needs --expert TRAJECTORIES (e.g. `agentprm-bench collect --policy oracle`)")
        for t in read_trajectories(Path(cfg.expert)):
            items.append(Item(rm.encode(t.env_id, t.observations, t.actions), np.ones(len(t.steps)),
                              np.array([s.reward for s in t.steps]), t.final_reward, t.won, 1.0, t.task_id))
    return items


def _loss(cfg: TrainConfig, m: torch.Tensor, mask: torch.Tensor, rows: list[Piece], items: list[Item]) -> torch.Tensor:
    """The reward model's loss on a batch of rows: m, mask (B, T) as ``forward_steps`` returns them."""
    q = torch.zeros_like(m)
    mask = mask.clone()
    for i, p in enumerate(rows):
        q[i, : len(p.steps)] = torch.as_tensor(items[p.item].q[p.steps], dtype=m.dtype)
        if p.lead:
            mask[i, 0] = 0.0
    batch = [items[p.item] for p in rows]
    outcome = torch.tensor([it.outcome for it in batch], dtype=m.dtype, device=m.device)
    if cfg.rm == "orm":
        return losses.orm_loss(m, outcome, mask)
    if cfg.rm == "pvm":
        return losses.pvm_loss(m, outcome, mask)
    if cfg.rm == "agentprm":
        return losses.agentprm_loss(m, q, mask, cfg.beta)
    if cfg.rm == "mc-prm":
        return losses.mc_prm_loss(m, q, mask)
    expert = torch.tensor([it.expert for it in batch], dtype=m.dtype, device=m.device)
    return losses.inverse_prm_loss(m, expert, mask)


@torch.no_grad()
def _step_scores(rm: RewardModel, items: list[Item], batch_size: int = 16) -> list[np.ndarray]:
    """Each item's per-step scores under the current model (evaluation mode, squashed); a
    trajectory longer than the context is read in windows, as scoring reads it."""
    was_training = rm.model.training
    rm.model.eval()
    out: list[np.ndarray | None] = [None] * len(items)
    fit = [k for k, it in enumerate(items) if len(it.seq.ids) <= rm.max_len]
    for start in range(0, len(fit), batch_size):
        chunk = fit[start:start + batch_size]
        scores, _, _ = rm.forward_steps([items[k].seq for k in chunk])
        scores = rm.squash(scores)
        for row, k in enumerate(chunk):
            out[k] = scores[row, : len(items[k].q)].float().cpu().numpy()
    for k, it in enumerate(items):
        if out[k] is None:
            out[k] = rm._score_long(it.seq)[0]
    rm.model.train(was_training)
    return [s for s in out if s is not None]


def _refresh_td_targets(rm: RewardModel, items: list[Item], cfg: TrainConfig) -> None:
    """AgentPRM: Q-targets from the current model's scores; no new rollouts."""
    for it, values in zip(items, _step_scores(rm, items)):
        it.q = td_gae_targets(values, it.rewards, cfg.gamma, cfg.lam)


def validate(rm: RewardModel, items: list[Item], cfg: TrainConfig) -> dict[str, float]:
    """Step MSE against the targets and AUC of the final-step score against success."""
    if not items:
        return {}
    sq, n, finals, wins = 0.0, 0, [], []
    for it, s in zip(items, _step_scores(rm, items)):
        target = it.q if cfg.rm in ("agentprm", "mc-prm") else np.full(len(s), it.outcome)
        sq, n = sq + float(((s - target) ** 2).sum()), n + len(s)
        finals.append(float(s[-1]))
        wins.append(it.won)
    return {"step_mse": sq / max(1, n), "final_auc": roc_auc(np.array(finals), np.array(wins)),
            "val_trajectories": len(items)}


def train_reward_model(cfg: TrainConfig, out_dir: str | Path, progress: bool = True) -> dict[str, Any]:
    """Train (or resume, or return the metrics of a finished) reward model in ``out_dir``."""
    if cfg.rm not in REWARD_MODELS:
        raise UserError(f"unknown reward model {cfg.rm!r}; choose one of {', '.join(REWARD_MODELS)}")
    with exclusive(out_dir):  # one trainer per checkpoint directory
        return _train(cfg, Path(out_dir), progress)


def _train(cfg: TrainConfig, out: Path, progress: bool) -> dict[str, Any]:
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(cfg.seed)
    label_meta = read_json(Path(cfg.labels).parent / LABEL_CONFIG,
                           "labels are read with the label_config.json that `agentprm-bench label` writes beside them; "
                           "label again")
    try:
        check_fields(LabelConfig(**label_meta["config"]))
        if label_meta["config"]["method"] not in ("td-gae", "mc"):
            raise ValueError("unknown label method")
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{Path(cfg.labels).parent / LABEL_CONFIG} is damaged ({type(exc).__name__}: {exc}); "
                        f"label again") from None
    meta = {"kind": cfg.rm, "output": "logit" if cfg.rm == "inverse-prm" else "linear",
            "label_method": label_meta.get("config", {}).get("method"), "max_obs_chars": cfg.max_obs_chars,
            "max_len": cfg.max_len, "train_config": asdict(cfg)}
    state: dict[str, Any] = {"iteration": 0, "epoch": 0, "step": 0, "history": [], "train_tokens": 0, "seconds": 0.0}
    resume = (out / STATE).is_file() and (out / RM_META).is_file()
    if resume:
        state = {**state, **load_state(out / STATE)}
        if state["epoch"] >= cfg.epochs:  # the checkpoint closed an iteration: resume at the next one
            state.update(iteration=state["iteration"] + 1, epoch=0)
        rm = RewardModel.load(out, device=device)
        if rm.meta.get("train_config") != json.loads(json.dumps(asdict(cfg))):
            raise UserError(f"{out} holds a reward model trained with other settings; use another --out")
        if state["iteration"] >= cfg.iterations and isinstance(rm.meta.get("metrics"), dict):
            return rm.meta["metrics"]  # finished: running it again changes nothing
    else:
        rm = RewardModel.from_backbone(cfg.backbone, meta, device=device)
    items = _items(cfg, rm)
    val_tasks = {t for t in {it.task_id for it in items} if zlib.crc32(f"{cfg.seed}:{t}".encode()) % 1000
                 < 1000 * cfg.val_fraction}
    train_items = [it for it in items if it.task_id not in val_tasks]
    val_items = [it for it in items if it.task_id in val_tasks and it.expert == 0.0]
    rows = pieces(rm, train_items, cfg.rm)
    long = sum(len(it.seq.ids) > cfg.max_len for it in train_items)
    if long:
        log.info("%d of %d training trajectories exceed --max-len %d tokens: trained in %d context windows",
                 long, len(train_items), cfg.max_len, len(rows) - (len(train_items) - long))
    model = rm.model.train()
    ddp = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    if resume and (out / OPTIMIZER).is_file():
        try:
            opt.load_state_dict(torch.load(out / OPTIMIZER, weights_only=True, map_location=device))
        except Exception as exc:  # noqa: BLE001 - a truncated or foreign file: torch raises many kinds
            raise UserError(f"{out / OPTIMIZER} is damaged ({type(exc).__name__}); delete {out} and train "
                            f"again") from None
    per_epoch = math.ceil(len(rows) / cfg.batch_size / world / cfg.grad_accum)
    total = cfg.iterations * cfg.epochs * per_epoch
    bar = progress_bar(total=total, initial=state["step"], desc=f"train {cfg.rm}", disable=not progress or rank != 0)
    t_start, tokens = time.perf_counter() - state["seconds"], state["train_tokens"]
    start_iteration, start_epoch = state["iteration"], state["epoch"]
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.startswith("cuda") else torch.autocast("cpu", enabled=False)
    stopped = False
    for it_idx in range(start_iteration, cfg.iterations):
        if cfg.rm == "agentprm":
            if resume and it_idx == start_iteration and start_epoch > 0:
                _load_targets(out, it_idx, train_items + val_items)  # this iteration's targets, as first computed
            elif it_idx > 0:
                _refresh_td_targets(rm, train_items + val_items, cfg)
            if rank == 0:
                _save_targets(out, it_idx, train_items + val_items)
        for epoch in range(state["epoch"] if it_idx == state["iteration"] else 0, cfg.epochs):
            order = sorted(range(len(rows)), key=lambda i: len(rows[i].seq.ids))
            batches = [order[i:i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
            random.Random(cfg.seed * 1000 + it_idx * 100 + epoch).shuffle(batches)
            for k, group in enumerate(batches[rank::world]):
                batch = [rows[i] for i in group]
                with autocast:
                    scores, mask, n = rm.forward_steps([b.seq for b in batch]) if ddp is model else \
                        _ddp_forward(ddp, rm, [b.seq for b in batch])
                    loss = _loss(cfg, scores.float(), mask, batch, train_items) / cfg.grad_accum
                loss.backward()
                tokens += n
                if (k + 1) % cfg.grad_accum == 0 or k + 1 == len(batches[rank::world]):
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    opt.step()
                    opt.zero_grad(set_to_none=True)
                    state["step"] += 1
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss.item() * cfg.grad_accum:.4f}")
                if cfg.max_minutes is not None and time.perf_counter() - t_start > 60 * cfg.max_minutes:
                    stopped = True
                    break
            metrics = validate(rm, val_items, cfg)
            state.update(iteration=it_idx, epoch=epoch + 1, stopped_early=stopped, train_tokens=tokens,
                         seconds=round(time.perf_counter() - t_start, 3))
            state["history"].append({"iteration": it_idx, "epoch": epoch, **metrics})
            if rank == 0:
                _checkpoint(rm, opt, out, state, label_meta)
            if stopped:
                break
        if stopped:
            log.warning("training stopped at --max-minutes %.1f", cfg.max_minutes)
            break
        state.update(iteration=it_idx + 1, epoch=0)
    bar.close()
    final = {"train_trajectories": len(train_items), "train_rows": len(rows), "val_trajectories": len(val_items),
             "steps": state["step"],
             "train_tokens": tokens, "seconds": round(time.perf_counter() - t_start, 1),
             "stopped_early": stopped, **(state["history"][-1] if state["history"] else {})}
    if rank == 0:
        _checkpoint(rm, opt, out, state, label_meta, final)
    return final


def load_state(path: Path) -> dict[str, Any]:
    """``trainer_state.json``, checked: a damaged file is a one-line error naming it."""
    try:
        state = json.loads(path.read_text())
        ok = isinstance(state, dict) and all(isinstance(state.get(k), int) and not isinstance(state.get(k), bool)
                                             and state[k] >= 0 for k in ("iteration", "epoch", "step"))
        ok = ok and all(isinstance(state.get(k, 0), (int, float)) and not isinstance(state.get(k, 0), bool)
                        for k in ("train_tokens", "seconds"))
        if not ok or not isinstance(state.get("history", []), list):
            raise ValueError("iteration, epoch and step must be non-negative integers, train_tokens and seconds "
                             "numbers and history a list")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise UserError(f"{path} is damaged ({exc}); delete {path.parent} and train again") from None
    return state


def _save_targets(out: Path, iteration: int, items: list[Item]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / TARGETS, json.dumps({"iteration": iteration, "q": [it.q.tolist() for it in items]}) + "\n")


def _load_targets(out: Path, iteration: int, items: list[Item]) -> None:
    """Restore the targets an interrupted AgentPRM iteration trained on (floats round-trip exactly)."""
    path = out / TARGETS
    try:
        saved = json.loads(path.read_text())
        q = saved["q"]
        if saved["iteration"] != iteration or len(q) != len(items) or any(len(a) != len(it.q) for a, it in zip(q, items)):
            raise ValueError(f"they are for iteration {saved['iteration']} and {len(q)} trajectories")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path} cannot restore the targets of iteration {iteration} ({exc}); "
                        f"delete {out} and train again") from None
    for it, values in zip(items, q):
        it.q = np.asarray(values, dtype=float)


def _ddp_forward(ddp: Any, rm: RewardModel, seqs: list[Serialized]) -> tuple[torch.Tensor, torch.Tensor, int]:
    """forward_steps through the DDP wrapper so gradients are all-reduced."""
    original = rm.model
    rm.model = ddp
    try:
        return rm.forward_steps(seqs)
    finally:
        rm.model = original


def _checkpoint(rm: RewardModel, opt: torch.optim.Optimizer, out: Path, state: dict[str, Any],
                label_meta: dict[str, Any], final: dict[str, Any] | None = None) -> None:
    extra = {**stamp(), "label_config": label_meta.get("config"),
             "label_compute": label_meta.get("compute")}
    if final is not None:
        extra["metrics"] = final
    rm.save(out, extra)
    torch.save(opt.state_dict(), out / OPTIMIZER)
    write_text_atomic(out / STATE, json.dumps(state, indent=2) + "\n")
