"""Condensed views of demonstration states: a warm-up before behaviour cloning on whole prompts.

Some decisions need a value copied from one place of a long prompt to the reply, found by
its content rather than its position. A from-scratch model of ~0.25M parameters learns such
a copy very slowly inside a 200-token page (on WebShop item pages: ~0.15 of held-out option
choices right after 1,700 steps), but quickly when the prompt holds little besides the value
(0.88 after 1,500 steps of 40 tokens), and what it learned there carries over to longer
prompts. ``train-policy --curriculum-steps N`` therefore trains N steps on each view an env
defines here, shortest first, and then behaviour-clones the whole prompts as the ``hf``
policy renders them. Views keep real items of the observation (WebShop's `` [SEP] ``-joined
text items) and only leave items out; WebShop's item page does not show the options already
selected, so its views add the option values clicked on the page so far, as the prompt's
action history shows them.
"""

from __future__ import annotations

from typing import Callable, Sequence

# (observation, the demonstrated action, the actions before it) -> condensed observations,
# shortest first; None = no view
Views = Callable[[str, str, Sequence[str]], "list[str] | None"]
SEP = " [SEP] "
ITEM_TAIL = ["Description", "Features", "Reviews", "Buy Now"]


def webshop_views(observation: str, action: str, previous: Sequence[str] = ()) -> list[str] | None:
    """Item-page option choices: (1) the instruction's option clause and the values clicked so
    far; (2) the instruction, the page's option names and values, and the values clicked so far."""
    items = observation.split(SEP)
    if len(items) < 11 or items[0] != "Instruction:" or items[-4:] != ITEM_TAIL or action == "click[Buy Now]":
        return None
    options, instruction = items[4:-7], items[1]
    if not options or " with " not in instruction:
        return None
    clicked: list[str] = []
    for prev in reversed(previous):  # the option clicks since this item page was opened
        value = prev[6:-1] if prev.startswith("click[") and prev.endswith("]") else None
        if value is None or value not in options:
            break
        clicked.insert(0, value)
    done = "clicked: " + (", ".join(clicked) if clicked else "nothing yet")
    clause = "with " + instruction.rsplit(" with ", 1)[1]
    return [SEP.join(["Instruction:", clause, done]), SEP.join(["Instruction:", instruction, *options, done])]


VIEWS: dict[str, Views] = {"agentprm/WebShop-v1": webshop_views}


def condensed(env_id: str, observation: str, action: str, previous: Sequence[str] = ()) -> list[str] | None:
    views = VIEWS.get(env_id)
    return views(observation, action, previous) if views else None
