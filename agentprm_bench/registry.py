"""One small registry class: names -> lazily imported objects ("module:attr" targets)."""

from __future__ import annotations

import difflib
import importlib
from typing import Any, Callable, Generic, TypeVar

from agentprm_bench.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects; a target may be the object or a lazy "module:attr" string.

    >>> POLICIES = Registry("policy")
    >>> @POLICIES.register("random")
    ... class RandomPolicy: ...
    >>> POLICIES.register("hf", "agentprm_bench.agents.hf:HFPolicy")  # imported on first get
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._targets: dict[str, T | str] = {}

    def register(self, name: str, target: T | str | None = None) -> Any:
        if name in self._targets:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        if target is not None:
            self._targets[name] = target
            return target

        def decorator(obj: T) -> T:
            self.register(name, obj)
            return obj

        return decorator

    def get(self, name: str) -> T:
        if name not in self._targets:
            close = difflib.get_close_matches(name, list(self._targets), n=2, cutoff=0.5)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise UserError(f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(sorted(self._targets))}.")
        target = self._targets[name]
        if isinstance(target, str):
            module, _, attr = target.partition(":")
            target = getattr(importlib.import_module(module), attr)
            self._targets[name] = target
        return target  # type: ignore[return-value]

    def names(self) -> list[str]:
        return sorted(self._targets)

    def __contains__(self, name: object) -> bool:
        return name in self._targets


def call_with_known(factory: Callable[..., T], options: dict[str, Any]) -> T:
    """Call ``factory`` with the options it accepts (CLI options not meant for it are dropped)."""
    import inspect

    params = inspect.signature(factory).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return factory(**options)
    return factory(**{k: v for k, v in options.items() if k in params and v is not None})
