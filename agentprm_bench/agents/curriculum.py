"""Condensed views of demonstration states: a warm-up before behaviour cloning on whole prompts.

Some decisions need a value copied from one place of a long prompt to the reply, found by
its content rather than its position. A from-scratch model of ~0.25M parameters learns such
a copy very slowly inside a 200-token page (on WebShop item pages: ~0.15 of held-out option
choices right after 1,700 steps), but quickly when the prompt holds little besides the value
(0.88 after 1,500 steps of 40 tokens), and what it learned there carries over to longer
prompts. ``train-policy --curriculum-steps N`` therefore trains N steps on each view an env
defines here, shortest first, and then behaviour-clones the whole prompts as the ``hf``
policy renders them. Views keep the real lines of the observation, in the chat format of
the real prompts; they only leave lines out.
"""

from __future__ import annotations

from typing import Callable

# (observation, the demonstrated action) -> condensed observations, shortest first; None = no view
Views = Callable[[str, str], "list[str] | None"]


def webshop_views(observation: str, action: str) -> list[str] | None:
    """Item-page option choices: (1) the selected options and the instruction's option clause;
    (2) the instruction, the option lines and the selected options."""
    lines = observation.split("\n")
    head = lines[0]
    if not head.startswith("Instruction: ") or "[Buy Now]" not in observation or action == "click[Buy Now]":
        return None
    options = [line for line in lines[1:] if ": [" in line]
    selected = [line for line in lines[1:] if line.startswith("Selected options:")]
    if not options or not selected or " with " not in head:
        return None
    clause = "Instruction: " + head.rsplit(" with ", 1)[1]
    return ["\n".join(selected + [clause]), "\n".join([head] + options + selected)]


VIEWS: dict[str, Views] = {"agentprm/WebShop-v0": webshop_views}


def condensed(env_id: str, observation: str, action: str) -> list[str] | None:
    views = VIEWS.get(env_id)
    return views(observation, action) if views else None
