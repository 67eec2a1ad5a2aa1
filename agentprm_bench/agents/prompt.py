"""ReAct-style chat prompts from histories, and parsing the action out of a reply.

The chat is: a system message (the env's rules), the first observation as the user's first
message, then for each turn the assistant's "Action: ..." and the next observation. Long
histories keep the first observation and the most recent turns that fit a character
budget; each observation is clipped in the middle if it alone is too long.
"""

from __future__ import annotations

import re
from typing import Any

from agentprm_bench.agents.base import History

SYSTEM = {
    "agentprm/WebShop-v1": (
        "You are web shopping for the product the instruction describes. The page's items are separated "
        "by [SEP]. Reply with one action: search[keywords] where there is a search box, or click[item] "
        "for a clickable item of the page (a button, a product's ASIN, an option value)."),
    "agentprm/BabyAI-v1": (
        "You are an agent in a grid world. Reply with one action from the available actions listed "
        "after each observation, e.g. turn left, move forward, go to <color> <object> <n>, pickup <color> <object> <n>, "
        "toggle and go through <color> <state> door <n>, drop."),
    "agentprm/TextCraft-v1": (
        "You craft Minecraft items. Reply with one command: get N <item> (items without a recipe), "
        "craft N <item> using n1 <item1>, n2 <item2> (a concrete item for a tag such as planks), or inventory."),
}
ACTION_PREFIX = "Action: "
_ACTION = re.compile(r"Action:\s*(.*)")
OMITTED = "({n} earlier turns omitted)"
OMITTED_ACTIONS = "({n} earlier turns omitted; their actions: {actions})"


def clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = max(0, (limit - 5) // 2)
    return text[:half] + " ... " + text[len(text) - half:]


def build_messages(history: History, max_chars: int = 24_000, max_obs_chars: int = 8_000,
                   omitted_actions: int = 0) -> list[dict[str, str]]:
    """Chat messages for the policy's next action (the last message is the current observation).

    ``omitted_actions``: where turns are left out, the note after the first observation also
    lists the actions of up to that many of the latest of them (e.g. the options already
    clicked on a WebShop item page, which the page itself does not show)."""
    obs = [clip(o, max_obs_chars) for o in history.observations]
    head = [{"role": "system", "content": SYSTEM.get(history.env_id, "Reply with one action.")},
            {"role": "user", "content": obs[0]}]
    turns: list[list[dict[str, str]]] = [
        [{"role": "assistant", "content": ACTION_PREFIX + a}, {"role": "user", "content": obs[t + 1]}]
        for t, a in enumerate(history.actions)
    ]
    budget = max_chars - sum(len(m["content"]) for m in head)
    kept: list[list[dict[str, str]]] = []
    for turn in reversed(turns):
        size = sum(len(m["content"]) for m in turn)
        if kept and size > budget:
            break
        kept.append(turn)
        budget -= size
    kept.reverse()
    dropped = len(turns) - len(kept)
    if dropped:
        shown = history.actions[:dropped][-omitted_actions:] if omitted_actions > 0 else []
        note = OMITTED_ACTIONS.format(n=dropped, actions="; ".join(shown)) if shown else OMITTED.format(n=dropped)
        head[1] = {"role": "user", "content": obs[0] + "\n" + note}
    return head + [m for turn in kept for m in turn]


def render_plain(messages: list[dict[str, str]]) -> str:
    """A chat rendering for tokenizers without a chat template (ends with the assistant cue)."""
    parts = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n\n".join(parts) + "\n\nAssistant: "


def render_prompt(messages: list[dict[str, str]], tokenizer: Any | None) -> str:
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return render_plain(messages)


def parse_action(reply: str) -> tuple[str, bool]:
    """The action in a reply: the text after the last "Action:", else the first non-empty line.

    Returns (action, parsed); an empty reply gives ("", False), which the env treats as an
    invalid action.
    """
    matches = _ACTION.findall(reply)
    if matches:
        action = matches[-1].strip()
    else:
        lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
        action = lines[0] if lines else ""
    action = action.split("\n")[0].strip()
    return action, bool(action)
