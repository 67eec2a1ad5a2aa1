"""The methods a search run can use: a reward model kind (and its training settings) or none."""

from __future__ import annotations

from dataclasses import dataclass

from agentprm_bench.registry import Registry


@dataclass(frozen=True)
class Method:
    name: str
    rm: str | None  # the reward model kind trained for it (prm.train.REWARD_MODELS); None: no reward model
    labels: str | None = None  # "td-gae" | "mc": the labels its default reward model trains on
    beta: float = 1.0  # AgentPRM's weight of the progress loss
    expert: bool = False  # trains on oracle demonstrations (InversePRM)
    description: str = ""


METHODS: Registry[Method] = Registry("method")
for _m in (
    Method("agentprm", "agentprm", "td-gae", 1.0, description="AgentPRM: promise + progress on TD-GAE targets"),
    Method("agentprm-beta0", "agentprm", "td-gae", 0.0, description="AgentPRM without the progress term (ablation)"),
    Method("pvm", "pvm", "td-gae", description="process value model: every step regresses the outcome"),
    Method("orm", "orm", "td-gae", description="outcome reward model: the whole trajectory regresses the outcome"),
    Method("mc-prm", "mc-prm", "mc", description="PRM on Monte-Carlo Q targets (Choudhury 2025)"),
    Method("inverse-prm", "inverse-prm", "td-gae", expert=True,
           description="InversePRM: oracle demonstrations vs policy steps, no outcome labels"),
    Method("none", None, description="plain sampling at temperature T: the mean over the N samples"),
    Method("greedy", None, description="one greedy (temperature 0) trajectory per task"),
    Method("oracle-select", None, description="upper bound: BoN that keeps the sample with the best true reward"),
):
    METHODS.register(_m.name, _m)
