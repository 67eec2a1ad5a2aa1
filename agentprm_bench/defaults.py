"""The embedded default: a small policy and reward models per env, built by the project's own
pipeline on first use and cached under ``$AGENTPRM_BENCH_HOME`` (``paths.home()``).

For env E (short name) and method m:
  policies/E                      ``train-policy`` (behaviour cloning on oracle/noisy-oracle play)
  defaults/E/rollouts-train       ``collect``: 8 samples (temperature 1.0) on 64 train tasks (WebShop 256)
  defaults/E/labels-td-gae        ``label --method td-gae`` (N_TD = 8)
  defaults/E/labels-mc            ``label --method mc``: 24 seed trajectories, N_mc = 4 (mc-prm)
  defaults/E/expert-train         ``collect --policy oracle`` on the same 64 tasks (inverse-prm)
  defaults/E/rm-m                 ``train --rm ...``: 2 TD iterations x 1 epoch
Each stage is skipped when its output is complete and resumes when it is not, so a killed
build continues where it stopped. On 2 CPU cores a first build of TextCraft's policy and one
reward model takes about 15 minutes; BabyAI's, whose trajectories are longer, about an hour
(``PHASE_SECONDS``); bigger builds use the commands directly.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterator

from agentprm_bench.envs import resolve_env
from agentprm_bench.jsonl import write_text_atomic
from agentprm_bench.paths import default_policy_dir, home, model_fingerprint
from agentprm_bench.search.methods import Method

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DefaultSizes:
    rollout_tasks: int = 64
    rollout_samples: int = 8
    rollout_temperature: float = 1.0
    mc_tasks: int = 24
    n_mc: int = 4
    rm_iterations: int = 2
    rm_epochs: int = 1


SIZES = DefaultSizes()
# Per-env changes. WebShop: with 64 tasks every reward model's held-out final-step AUC was 0.44-0.49
# (no separation); 256 tasks gave 0.68-0.72 and its rollouts are cheap (~2 min on one core).
ENV_SIZES: dict[str, dict] = {"agentprm/WebShop-v1": {"rollout_tasks": 256}}


def sizes_for(env: str) -> DefaultSizes:
    """The default sizes for an env (id or short name)."""
    return replace(SIZES, **ENV_SIZES.get(resolve_env(env).env_id, {}))


# Seconds per phase of a first build on a 2-core machine with 2 torch threads: the policy's training
# (demonstrations included), one train rollout (8 x 64 of them; WebShop 8 x 256), a reward model's
# training, one Monte-Carlo labelling rollout (mc-prm), one test sample. TextCraft: measured on the
# default first run on an idle machine (2026-11-23: 6.9 + 1.9 + 1.4 + 1.2 min; README, "First run");
# BabyAI-v1's whole-episode policy: `agentprm-bench train-policy --env babyai --threads 1` took 3,042 s
# (2026-12-03, two other one-thread jobs on the 2 cores; halved as below). BabyAI-v1's other rates
# are halved one-thread times of 2026-12-02 (`build-defaults --threads 1`, two builds sharing the
# 2 cores): a reward model 2,303 s (agentprm-beta0; 2 iterations over 568 context windows), a
# Monte-Carlo rollout 0.72 s (1,668 in ~20 min), a train rollout 2.1 s and a test sample ~2 s
# (`improve`'s first iteration). WebShop's are rough figures from rollout rates, not from a whole
# first run. ``first_run_plan`` scales them by 2 / threads; they estimate, they decide nothing.
PHASE_SECONDS: dict[str, dict[str, float]] = {
    "agentprm/TextCraft-v1": {"policy": 415.0, "rollout": 0.22, "rm": 84.0, "mc": 0.2, "sample": 0.23},
    "agentprm/BabyAI-v1": {"policy": 1520.0, "rollout": 1.05, "rm": 1150.0, "mc": 0.36, "sample": 1.0},
    "agentprm/WebShop-v1": {"policy": 1500.0, "rollout": 0.1, "rm": 150.0, "mc": 0.05, "sample": 0.1},
}
PHASE_TIMES: list[tuple[str, float]] = []  # (phase, seconds) of what this process built, in order


@contextmanager
def timed(phase: str) -> Iterator[None]:
    """Record how long a build phase took in ``PHASE_TIMES``."""
    start = time.perf_counter()
    yield
    PHASE_TIMES.append((phase, time.perf_counter() - start))


def first_run_plan(env: str, method: Method | None, test_samples: int, threads: int) -> list[tuple[str, float]]:
    """The phases a run would build or sample that are not cached yet, each with its estimated
    seconds on this machine; empty when the defaults are all there."""
    from agentprm_bench.agents.bc import POLICY_META
    from agentprm_bench.prm.model import RM_META

    entry = resolve_env(env)
    rates, sizes = PHASE_SECONDS.get(entry.env_id, PHASE_SECONDS["agentprm/BabyAI-v1"]), sizes_for(entry.env_id)
    scale = 2.0 / max(1, min(threads, 16))
    plan: list[tuple[str, float]] = []
    new_policy = not (default_policy_dir(entry.short_name) / POLICY_META).is_file()
    if new_policy:
        plan.append((f"train the default {entry.short_name} policy", rates["policy"]))
    base = home() / "defaults" / entry.short_name
    if method is not None and method.rm is not None and (new_policy or not _finished(default_rm_dir(env, method.name) / RM_META)):
        n = sizes.rollout_samples * sizes.rollout_tasks
        if new_policy or not (base / "rollouts-train").is_dir():
            plan.append((f"{n} train rollouts", n * rates["rollout"]))
        if method.labels == "mc" and (new_policy or not (base / "labels-mc").is_dir()):
            m = sizes.mc_tasks * sizes.n_mc * 10  # ~10 steps per seed trajectory, N_mc rollouts from each
            plan.append((f"~{m} Monte-Carlo rollouts", m * rates["mc"]))
        plan.append((f"train the {method.name} reward model", rates["rm"]))
    if plan:
        plan.append((f"{test_samples} test samples", test_samples * rates["sample"]))
    return [(name, seconds * scale) for name, seconds in plan]


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def ensure_default_policy(env: str, progress: bool = True) -> Path:
    """The env's default policy directory, trained now if it is not there yet."""
    from agentprm_bench.agents.bc import POLICY_META, default_config, train_policy

    entry = resolve_env(env)
    path = default_policy_dir(entry.short_name)
    if (path / POLICY_META).is_file():
        if _trained_as_default(path, entry.env_id):
            return path
        old = _set_aside(path)
        log.warning("the cached default %s policy was trained with another config (an older agentprm-bench); "
                    "rebuilding it, the old one is kept in %s", entry.env_id, old)
    log.info("building the default %s policy in %s (behaviour cloning)", entry.env_id, path)
    with timed(f"train the default {entry.short_name} policy"):
        train_policy(default_config(entry.env_id), path, progress=progress)
    return path


def _trained_as_default(policy_dir: Path, env_id: str) -> bool:
    """Whether the policy in ``policy_dir`` was trained with today's default config for ``env_id``."""
    from agentprm_bench.agents.bc import POLICY_META, TrainPolicyConfig, current_fields, default_config

    cfg = default_config(env_id)
    # fields added since a policy was trained count with their defaults (the old behaviour)
    saved = current_fields(_stored(policy_dir / POLICY_META).get("config", {}))
    return {**asdict(TrainPolicyConfig(env=cfg.env)), **saved} == asdict(cfg)


def install_default_policy(env: str, source: str | Path) -> Path:
    """Make the policy in ``source`` (a directory ``train-policy`` wrote) the env's default policy:
    copied into the cache when none is there, nothing to do when the cached one has the same
    weights. It pins the policy a reproduction's records were sampled from: a build on another CPU
    trains other bits (README, "Bit-identical on one machine, not across CPUs")."""
    import shutil

    from agentprm_bench.agents.bc import POLICY_META
    from agentprm_bench.errors import UserError
    from agentprm_bench.locks import LOCK_NAME, exclusive
    from agentprm_bench.schema import file_digest

    entry, src = resolve_env(env), Path(source).expanduser()
    if not (src / POLICY_META).is_file() or not (src / "model.safetensors").is_file():
        raise UserError(f"{src} holds no policy ({POLICY_META} and model.safetensors); "
                        "pass a directory that `agentprm-bench train-policy` wrote")
    if not _trained_as_default(src, entry.env_id):
        raise UserError(f"the policy in {src} was not trained with today's default {entry.env_id} config; "
                        "it cannot serve as the default (check out the commit its records name)")
    path = default_policy_dir(entry.short_name)
    with exclusive(path):  # a build of the default policy writes here under the same lock
        if (path / POLICY_META).is_file() and (path / "model.safetensors").is_file():
            have, want = file_digest(path / "model.safetensors"), file_digest(src / "model.safetensors")
            if have == want:
                return path
            raise UserError(f"the cached default {entry.short_name} policy in {path} has other weights "
                            f"(sha256 {have[:8]}, {src} has {want[:8]}); move {path} aside, or set "
                            "AGENTPRM_BENCH_HOME to another directory")
        # the metadata last: a copy cut short is not taken for a finished policy
        for f in sorted(src.iterdir(), key=lambda f: f.name == POLICY_META):
            if f.is_file() and f.name != LOCK_NAME:
                shutil.copyfile(f, path / (f.name + ".part"))
                (path / (f.name + ".part")).replace(path / f.name)
    log.info("installed %s as the default %s policy in %s", src, entry.env_id, path)
    return path


def default_rm_dir(env: str, name: str, seed: int = 0) -> Path:
    """Where the default reward model of method ``name`` for ``env`` lives (built or not): seed 0
    keeps the original directory, others get ``rm-<method>-seed<k>``."""
    base = home() / "defaults" / resolve_env(env).short_name
    return base / (f"rm-{name}" if seed == 0 else f"rm-{name}-seed{seed}")


def ensure_default_reward_model(env: str, method: Method, progress: bool = True, seed: int = 0) -> Path:
    """The env's default reward model for ``method``, built (with what it needs) if missing. ``seed``
    is its training seed (seed 0 keeps the original directory; others get ``rm-<method>-seed<k>``);
    the rollouts and labels it trains on are shared by all seeds."""
    from agentprm_bench.agents.collect import CollectConfig, collect
    from agentprm_bench.prm.labelling import LABELS, LabelConfig, make_labels
    from agentprm_bench.prm.model import RM_META
    from agentprm_bench.prm.train import TrainConfig, train_reward_model

    if method.rm is None:
        raise ValueError(f"method {method.name} has no reward model")
    entry = resolve_env(env)
    base = home() / "defaults" / entry.short_name
    out = default_rm_dir(env, method.name, seed)
    policy_dir = ensure_default_policy(entry.env_id, progress)
    sizes = sizes_for(entry.env_id)
    _match_policy(base, policy_dir, sizes)
    if _finished(out / RM_META):
        return out
    sampling = {"model": str(policy_dir), "temperature": sizes.rollout_temperature}
    log.info("building the default %s reward model for %s in %s", method.name, entry.env_id, out)
    with timed(f"{sizes.rollout_samples * sizes.rollout_tasks} train rollouts"):
        rollouts = collect(CollectConfig(entry.env_id, "hf", "train", sizes.rollout_samples, sizes.rollout_tasks,
                                         policy_options=sampling), base / "rollouts-train", progress=progress)
    labels_dir = base / f"labels-{method.labels}"
    if not (labels_dir / LABELS).is_file():
        cfg = LabelConfig(method="td-gae", n_td=sizes.rollout_samples) if method.labels == "td-gae" else \
            LabelConfig(method="mc", n_mc=sizes.n_mc, tasks=sizes.mc_tasks, policy="hf", policy_options=sampling)
        with timed(f"{method.labels} labels"):
            make_labels(rollouts, labels_dir, cfg, progress=progress)
    expert = None
    if method.expert:
        expert = str(collect(CollectConfig(entry.env_id, "oracle", "train", 1, sizes.rollout_tasks),
                             base / "expert-train", progress=progress))
    with timed(f"train the {method.name} reward model"):
        train_reward_model(TrainConfig(rm=method.rm, labels=str(labels_dir / LABELS), backbone=str(policy_dir),
                                       expert=expert, beta=method.beta, iterations=sizes.rm_iterations,
                                       epochs=sizes.rm_epochs, seed=seed), out, progress=progress)
    return out


# Bumped when default reward models built by an older agentprm-bench must not be reused.
# 2: policies load their own tokenizer (fbcc60f); models built before it read other token ids.
# 3: BabyAI-v1 and TextCraft-v1 behave as AgentGym's servers (new text, actions and tasks).
# 4: WebShop-v1 behaves as AgentGym's WebShop (pages, search, reward, goals, split); the WebShop
#    policy's prompt lists the actions of omitted turns (``omitted_actions``).
BUILD = 4


def _match_policy(base: Path, policy_dir: Path, sizes: DefaultSizes = SIZES) -> None:
    """Everything under ``base`` was built from the policy, by the ``BUILD`` and with the sizes that
    ``policy.txt`` names; after the policy is retrained, or by an older build or other sizes, it is set
    aside (not deleted) and rebuilt."""
    marker, current = base / "policy.txt", _marker_text(policy_dir, sizes)
    stale = marker.read_text().strip() != current if marker.is_file() else base.is_dir() and any(base.iterdir())
    if stale:
        old = _set_aside(base)
        log.warning("the default reward models in %s were built from an older default policy, agentprm-bench or sizes; "
                    "rebuilding them, the old ones are kept in %s", base, old)
    if not marker.is_file():
        base.mkdir(parents=True, exist_ok=True)
        write_text_atomic(marker, current + "\n")


def _marker_text(policy_dir: Path, sizes: DefaultSizes = SIZES) -> str:
    return f"{model_fingerprint(policy_dir)} build {BUILD} sizes {json.dumps(asdict(sizes), sort_keys=True)}"


def _set_aside(path: Path) -> Path:
    stamp, n = time.strftime("%Y%m%d-%H%M%S"), 0
    while (old := path.with_name(f"{path.name}.old-{stamp}" + (f"-{n}" if n else ""))).exists():
        n += 1
    path.rename(old)
    return old


def _stored(meta: Path) -> dict:
    """A metadata file's JSON object; {} when it is missing or unreadable."""
    try:
        data = json.loads(meta.read_text(encoding="utf-8")) if meta.is_file() else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _finished(meta: Path) -> bool:
    """A checkpoint whose training ran to the end (the last save records its metrics)."""
    return "metrics" in _stored(meta)
