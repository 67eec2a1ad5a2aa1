"""Probe sets: test-split states with candidate actions and their Monte-Carlo value under a
reference policy, to judge a reward model on what it is for (ranking steps) in seconds.

``build_probes`` makes one for an env, resumably, in ``out``:
1. Seed trajectories on the first ``tasks`` test tasks on which one of ``screen`` samples of the
   reference policy succeeds (the env's default policy unless ``policy`` names a model
   directory; temperature 1.0): the policy's first sample there, and the oracle's trajectory
   (its states reach where the policy can still finish; the policy's where it errs). On a task
   the policy never solves every Q is 0 and no pair of actions can be ranked; ``screen`` 0
   takes the first ``tasks`` test tasks as they come.
2. States: ``states_per_trajectory`` evenly spaced non-final steps of each seed trajectory.
3. Candidates at a state: ``samples`` policy samples and the oracle's action, deduplicated in
   that order; where fewer than two remain, a random admissible action is added.
4. Q(s, a): the mean outcome (success; WebShop: final reward) of ``k`` reference-policy rollouts
   after taking a in s, with its standard error; an action that ends the episode gets its own
   outcome (standard error 0).
5. First errors (failed policy seed trajectories): Q(s_t, a_t) of the trajectory's own actions
   for t = 0, 1, ..., in rounds of ``k`` rollouts, until it falls below ``threshold``; that t is
   the first error: the first step after which the policy more likely fails than succeeds. Left
   out (no defined first error): trajectories whose first action already has Q < threshold
   (the task was out of reach from the start) and those with no such step in ``max_error_steps``.
   Successful policy seed trajectories are the error-free ones (first error -1).

Rollouts are appended to ``q_rollouts.jsonl`` as they finish (a killed build resumes), the set
to ``probes.jsonl`` (one "state" or "trajectory" record per line) and ``probe_config.json``
(config, counts, compute, provenance). ``ship`` copies a set into the package data, hash-pinned.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from agentprm_bench.agents.base import History, make_policy
from agentprm_bench.agents.collect import CollectConfig, collect
from agentprm_bench.agents.rollout import collect_in_memory, rollout
from agentprm_bench.agents.summary import summarize_trajectories
from agentprm_bench.agents.trajectory import Trajectory, read_trajectories
from agentprm_bench.envs import make_env, resolve_env
from agentprm_bench.errors import UserError
from agentprm_bench.jsonl import append_records, read_records, repair_tail, write_text_atomic
from agentprm_bench.locks import exclusive
from agentprm_bench.provenance import stamp
from agentprm_bench.schema import file_digest, fits, read_json

PROBES, PROBE_CONFIG, Q_ROLLOUTS = "probes.jsonl", "probe_config.json", "q_rollouts.jsonl"
PACKAGED = Path(__file__).parent / "probes"
ERROR_ITEMS = 1 << 40  # rollout ids of first-error items start here (state candidates below)


@dataclass(frozen=True)
class ProbeConfig:
    env: str
    tasks: int = 16  # seed tasks: the first N of the screened test tasks (of all, with screen 0)
    screen: int = 4  # policy samples per test task; tasks where none succeeds are left out (0: no screening)
    states_per_trajectory: int = 2
    samples: int = 4
    k: int = 16
    threshold: float = 0.5
    max_error_steps: int = 10
    policy: str | None = None  # a local model directory (None: the env's default policy)
    temperature: float = 1.0
    seed: int = 0
    batch_size: int = 32


def build_probes(config: ProbeConfig, out_dir: str | Path, progress: bool = True) -> Path:
    """Build (or finish) the probe set of ``config`` in ``out_dir``; returns its ``probes.jsonl``."""
    if config.k < 2 or config.samples < 1 or config.tasks < 1 or not 0 < config.threshold < 1:
        raise UserError("probe sizes must be positive, --k at least 2 and the threshold inside (0, 1)")
    out = Path(out_dir)
    with exclusive(out):
        return _build(config, out, progress)


def _build(config: ProbeConfig, out: Path, progress: bool) -> Path:
    from agentprm_bench.defaults import ensure_default_policy

    entry = resolve_env(config.env)
    stored = out / PROBE_CONFIG
    fix = f"delete {out} or choose another --out"
    if stored.is_file() and read_json(stored, fix).get("config") != json.loads(json.dumps(asdict(config))):
        raise UserError(f"{out} holds a probe set built with other settings; use them to resume, or another --out")
    if not stored.is_file():  # the settings first, so that a killed build is only resumed with the same ones
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(stored, json.dumps({"config": asdict(config)}, indent=2) + "\n")
    model = config.policy or str(ensure_default_policy(entry.env_id, progress))
    options = {"model": model, "temperature": config.temperature}
    if config.screen:  # the test tasks where the policy can succeed: elsewhere every Q is 0 and ranks nothing
        path = collect(CollectConfig(entry.env_id, "hf", "test", config.screen, None, config.seed,
                                     policy_options=options), out / "screen", progress=progress)
        screened = list(read_trajectories(path))
        ids = sorted({t.task_id for t in screened if t.won})[: config.tasks]
        if not ids:
            raise UserError(f"the policy solved no {entry.short_name} test task in {config.screen} samples each; "
                            f"probe states need tasks it can solve (or pass --screen 0 for the first --tasks tasks)")
        hf = sorted((t for t in screened if t.task_id in ids and t.sample_index == 0), key=lambda t: t.task_id)
    else:
        path = collect(CollectConfig(entry.env_id, "hf", "test", 1, config.tasks, config.seed, policy_options=options),
                       out / "seeds-hf", progress=progress)
        hf = sorted(read_trajectories(path), key=lambda t: t.task_id)
        ids, screened = [t.task_id for t in hf], []
    oracle = collect_in_memory(entry.env_id, make_policy("oracle"), ids, 1, config.seed, env_kwargs={"split": "test"})
    seeds = {"hf": hf, "oracle": sorted(oracle, key=lambda t: t.task_id)}
    policy = make_policy("hf", **options)
    value = (lambda r: float(r["won"])) if entry.metric == "success" else (lambda r: float(r["final_reward"]))
    states = _states(entry.env_id, config, seeds, policy, value)
    log = _RolloutLog(out / Q_ROLLOUTS)
    jobs = [(s["task_id"], i * config.k + j, tuple(s["actions"]) + (a,))
            for i, (s, a) in enumerate(_items(states)) if a not in s["ends"] for j in range(config.k)]
    log.run(entry.env_id, policy, jobs, config, progress)
    for i, (s, a) in enumerate(_items(states)):
        outcomes = s["ends"].get(a)
        got = [outcomes] if outcomes is not None else [value(log.done[i * config.k + j]) for j in range(config.k)]
        s.setdefault("q", []).append(float(np.mean(got)))
        s.setdefault("se", []).append(float(np.std(got, ddof=1) / math.sqrt(len(got))) if len(got) > 1 else 0.0)
        s.setdefault("n", []).append(len(got))
    trajectories = _first_errors(entry.env_id, config, seeds["hf"], policy, log, value, progress)
    records = [{k: v for k, v in s.items() if k != "ends"} for s in states] + trajectories
    tmp = out / (PROBES + ".tmp")
    tmp.unlink(missing_ok=True)
    append_records(tmp, records)
    tmp.replace(out / PROBES)
    rolled, screen = list(log.done.values()), summarize_trajectories(screened)
    compute = {"rollouts": len(rolled), "env_steps": sum(r["env_steps"] for r in rolled),
               "policy_tokens_out": sum(r["tokens_out"] for r in rolled),
               "policy_tokens_in": sum(r["tokens_in"] for r in rolled),
               "seed_trajectories": sum(len(v) for v in seeds.values()),
               "screen": {"trajectories": screen.trajectories, "env_steps": screen.env_steps,
                          "policy_tokens_out": screen.policy_tokens_out, "policy_tokens_in": screen.policy_tokens_in}}
    counts = {"states": len(states), "candidates": sum(len(s["candidates"]) for s in states),
              "trajectories": len(trajectories),
              "first_errors": sum(t["first_error"] >= 0 for t in trajectories)}
    weights = Path(model) / "model.safetensors"
    write_text_atomic(stored, json.dumps({"config": asdict(config), "policy_model": config.policy or "default",
                                          "policy_weights_sha256": file_digest(weights) if weights.is_file() else None,
                                          "counts": counts,
                                          "compute": compute, **stamp()}, indent=2) + "\n")
    return out / PROBES


def _states(env_id: str, config: ProbeConfig, seeds: dict[str, list[Trajectory]], policy: Any,
            value: Callable[[dict[str, Any]], float]) -> list[dict[str, Any]]:
    """The probe states with their candidate actions (deterministic: the same config gives the same)."""
    picked = []
    for source in ("hf", "oracle"):
        for t in seeds[source]:
            last = len(t.steps) - 1  # non-final steps 0..last-1
            if last < 1:
                continue
            steps = sorted(set(np.linspace(0, last - 1, min(config.states_per_trajectory, last)).round().astype(int)))
            picked += [(source, t, int(step)) for step in steps]
    env = make_env(env_id, split="test")
    histories, oracle = [], []
    for _, t, step in picked:
        obs, info = env.reset(options={"task_id": t.task_id})
        for a in t.actions[:step]:
            obs, _, _, _, info = env.step(a)
        histories.append(History(env_id, t.task_id, list(t.observations[: step + 1]), list(t.actions[:step]),
                                 list(info["admissible_actions"])))
        oracle.append(env.oracle_action())
    seeds_ = [int(np.random.SeedSequence([config.seed, 0x5052, t.task_id, step]).generate_state(1)[0])
              for _, t, step in picked]
    samples = policy.act(histories, config.samples, seeds_) if histories else []
    states = []
    for n, ((source, t, step), h, best, row) in enumerate(zip(picked, histories, oracle, samples)):
        cands = list(dict.fromkeys([s.action for s in row] + [best]))
        if len(cands) < 2:
            rng = np.random.default_rng([config.seed, t.task_id, step])
            others = [a for a in h.admissible_actions if a not in cands]
            cands += [others[int(rng.integers(len(others)))]] if others else []
        if len(cands) < 2:
            continue
        states.append({"kind": "state", "id": n, "env_id": env_id, "task_id": t.task_id, "source": source,
                       "step": step, "observations": h.observations, "actions": h.actions, "candidates": cands,
                       "oracle": cands.index(best), "ends": _endings(env, t.task_id, h.actions, cands, value)})
    return states


def _endings(env: Any, task_id: int, prefix: list[str], candidates: list[str],
             value: Callable[[dict[str, Any]], float]) -> dict[str, float]:
    """The outcome of each candidate that ends the episode at once (success; WebShop: reward)."""
    ends = {}
    for a in candidates:
        env.reset(options={"task_id": task_id})
        for p in prefix:
            env.step(p)
        _, reward, terminated, truncated, info = env.step(a)
        if terminated or truncated:
            ends[a] = value({"won": bool(info["won"]), "final_reward": float(reward)})
    return ends


def _items(states: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    return [(s, a) for s in states for a in s["candidates"]]


class _RolloutLog:
    """Finished Q rollouts by id, appended to a file as they finish (resumable)."""

    def __init__(self, path: Path):
        self.path = path
        repair_tail(path)
        self.done: dict[int, dict[str, Any]] = {}
        if path.exists():
            for r in read_records(path, dict, what="probe rollout record"):
                self.done[int(r["id"])] = r

    def run(self, env_id: str, policy: Any, jobs: list[tuple], config: ProbeConfig, progress: bool) -> None:
        todo = [j for j in jobs if j[1] not in self.done]
        if not todo:
            return

        def write(r: Trajectory) -> None:
            rec = {"id": r.sample_index, "task_id": r.task_id, "won": r.won, "final_reward": r.final_reward,
                   "tokens_out": r.compute.policy_tokens_out, "tokens_in": r.compute.policy_tokens_in,
                   "env_steps": r.compute.env_steps}
            self.done[r.sample_index] = rec
            append_records(self.path, [rec])

        rollout(env_id, policy, todo, config.seed + 0x51, write, env_kwargs={"split": "test"},
                batch_size=config.batch_size, progress=progress, total=len(todo))


def _first_errors(env_id: str, config: ProbeConfig, trajs: list[Trajectory], policy: Any, log: _RolloutLog,
                  value: Callable[[dict[str, Any]], float], progress: bool) -> list[dict[str, Any]]:
    """Trajectory records: successes (first error -1) and failures with a defined first error."""
    records, q_taken = [], defaultdict(list)
    open_ = [n for n, t in enumerate(trajs) if not t.won]
    outcome = {n: value({"won": t.won, "final_reward": t.final_reward}) for n, t in enumerate(trajs)}
    for step in range(config.max_error_steps):
        open_ = [n for n in open_ if step < len(trajs[n].steps)]
        live = [n for n in open_ if step < len(trajs[n].steps) - 1]  # the last action's Q is the outcome itself
        jobs = [(trajs[n].task_id, ERROR_ITEMS + (n * 1000 + step) * config.k + j, tuple(trajs[n].actions[: step + 1]))
                for n in live for j in range(config.k)]
        log.run(env_id, policy, jobs, config, progress)
        still = []
        for n in open_:
            q = float(np.mean([value(log.done[ERROR_ITEMS + (n * 1000 + step) * config.k + j])
                               for j in range(config.k)])) if n in live else outcome[n]
            q_taken[n].append(q)
            if q >= config.threshold:
                still.append(n)
        open_ = still
    for n, t in enumerate(trajs):
        base = {"kind": "trajectory", "env_id": env_id, "task_id": t.task_id, "observations": t.observations,
                "actions": t.actions, "won": t.won}
        if t.won:
            records.append({**base, "q_taken": [], "first_error": -1})
            continue
        qs = q_taken.get(n, [])
        if qs and qs[0] >= config.threshold and qs[-1] < config.threshold:
            records.append({**base, "q_taken": qs, "first_error": len(qs) - 1})
    return records


def ship(out_dir: str | Path, name: str) -> Path:
    """Copy a built probe set into the package data as ``NAME.jsonl.gz`` with ``NAME.json`` (its
    config, counts, compute and the sha256 the loader checks)."""
    src = Path(out_dir)
    data = (src / PROBES).read_bytes()
    PACKAGED.mkdir(exist_ok=True)
    target = PACKAGED / f"{name}.jsonl.gz"
    target.write_bytes(gzip.compress(data, mtime=0))
    meta = json.loads((src / PROBE_CONFIG).read_text())
    meta["sha256"] = hashlib.sha256(data).hexdigest()
    write_text_atomic(PACKAGED / f"{name}.json", json.dumps(meta, indent=2) + "\n")
    return target


STATE_FIELDS = {"env_id": str, "task_id": int, "observations": list[str], "actions": list[str],
                "candidates": list[str], "q": list[float], "se": list[float]}
TRAJECTORY_FIELDS = {"env_id": str, "task_id": int, "observations": list[str], "actions": list[str], "won": bool,
                     "first_error": int}


def check_record(d: dict[str, Any]) -> dict[str, Any]:
    """A probe record with the fields its kind needs (else KeyError / TypeError / ValueError)."""
    fields = {"state": STATE_FIELDS, "trajectory": TRAJECTORY_FIELDS}.get(d.get("kind"))
    if fields is None:
        raise ValueError(f"kind must be state or trajectory, got {d.get('kind')!r}")
    for key, hint in fields.items():
        if key not in d:
            raise KeyError(key)
        if not fits(d[key], hint):
            raise TypeError(f"{key} has the wrong type ({type(d[key]).__name__})")
    if d["kind"] == "state" and not (len(d["candidates"]) == len(d["q"]) == len(d["se"]) >= 2):
        raise ValueError("a state needs >= 2 candidates, each with q and se")
    return d


def load_probes(where: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A probe set -> (records, metadata): an env's shipped set (id or short name), or a build
    directory holding ``probes.jsonl``."""
    path = Path(where).expanduser()
    if (path / PROBES).is_file():
        meta = read_json(path / PROBE_CONFIG, "rebuild the probe set") if (path / PROBE_CONFIG).is_file() else {}
        return list(read_records(path / PROBES, check_record, what="probe record")), meta
    entry = resolve_env(where)
    gz, js = PACKAGED / f"{entry.short_name}.jsonl.gz", PACKAGED / f"{entry.short_name}.json"
    if not gz.is_file():
        shipped = sorted(p.name.split(".")[0] for p in PACKAGED.glob("*.jsonl.gz")) if PACKAGED.is_dir() else []
        raise UserError(f"no probe set ships for {entry.short_name} (shipped: {', '.join(shipped) or 'none'}); "
                        f"build one with `agentprm-bench probe --env {entry.short_name} --out DIR` and pass --probe DIR")
    try:
        data = gzip.decompress(gz.read_bytes())
        meta = json.loads(js.read_text())
    except (OSError, EOFError, ValueError) as exc:  # a damaged gzip stream or JSON file
        raise UserError(f"the shipped probe set {gz.name} is damaged ({type(exc).__name__}); "
                        f"reinstall agentprm-bench") from None
    if not isinstance(meta, dict) or hashlib.sha256(data).hexdigest() != meta.get("sha256"):
        raise UserError(f"{gz} does not match the sha256 in {js.name}; reinstall agentprm-bench")
    return [json.loads(line) for line in data.decode().splitlines() if line.strip()], meta
