"""The policy interface: batched histories in, k sampled actions each out, with tokens spent.

A policy sees an episode as a ``History`` (observations, actions, admissible actions). The
live env rides along for privileged scripted players (the oracle); learned policies never
touch it. Randomness comes only from the per-history ``seeds`` the caller passes, so a
history's samples do not depend on which other histories share its batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from agentprm_bench.registry import Registry

POLICIES: Registry[type["Policy"]] = Registry("policy")


@dataclass
class History:
    """An episode so far: ``observations[t]`` is o_t, ``actions[t]`` the action taken on it."""

    env_id: str
    task_id: int
    observations: list[str]
    actions: list[str] = field(default_factory=list)
    admissible_actions: list[str] = field(default_factory=list)
    env: Any = None  # the live env (privileged; used only by scripted policies)

    @property
    def turn(self) -> int:
        return len(self.actions)


@dataclass(frozen=True)
class ActionSample:
    action: str  # what is sent to the env
    raw: str  # the generated text (the action itself for scripted policies)
    parsed: bool  # False when the reply held no action: it is sent as is, an invalid step
    tokens_in: int = 0  # prompt tokens computed for this sample (a prefill shared by k samples counts on the first)
    tokens_out: int = 0  # tokens generated


class Policy:
    """Base class. Subclasses implement ``act``; ``name`` identifies the policy in records."""

    name: str = "policy"

    def act(self, histories: Sequence[History], k: int, seeds: Sequence[int]) -> list[list[ActionSample]]:
        """For each history, ``k`` sampled actions; ``seeds[i]`` drives history i's sampling."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable identity and settings, stored in every record it produces."""
        return {"name": self.name}


def make_policy(name: str, **options: Any) -> Policy:
    """A registered policy by name, built with the options its constructor accepts."""
    from agentprm_bench.registry import call_with_known

    return call_with_known(POLICIES.get(name), options)


POLICIES.register("random", "agentprm_bench.agents.scripted:RandomPolicy")
POLICIES.register("oracle", "agentprm_bench.agents.scripted:OraclePolicy")
POLICIES.register("noisy-oracle", "agentprm_bench.agents.scripted:NoisyOraclePolicy")
POLICIES.register("hf", "agentprm_bench.agents.hf:HFPolicy")
POLICIES.register("vllm", "agentprm_bench.agents.vllm_policy:VLLMPolicy")
