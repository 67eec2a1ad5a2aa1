"""Reading the project's own files with their types checked: one place for every damaged-file error.

Records (``Trajectory``, ``ResultRecord``, ...) are frozen dataclasses; ``check_fields``
verifies a built record against its type hints, recursively (numbers, strings, booleans,
``None`` unions, tuples, lists, dicts, nested dataclasses), so a mistyped field fails where
the file is read, not deep inside a later computation. ``read_json`` reads a JSON object
file. Both raise ``UserError`` naming the file and the fix; ``jsonl.read_records`` does the
same per line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from functools import lru_cache
from pathlib import Path
from typing import Any

from agentprm_bench.errors import UserError


@lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def fits(value: Any, hint: Any) -> bool:
    """Whether a JSON-loaded ``value`` fits the type ``hint``."""
    if hint is Any:
        return True
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and not (
            isinstance(value, float) and math.isinf(value))
    if hint is str:
        return isinstance(value, str)
    if origin in (tuple, list):
        if not isinstance(value, (tuple, list)):
            return False
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return all(fits(v, args[0]) for v in value)
        if origin is tuple and args:
            return len(args) == len(value) and all(fits(v, a) for v, a in zip(value, args))
        return not args or all(fits(v, args[0]) for v in value)
    if origin is dict or hint is dict:
        return isinstance(value, dict) and (not args or all(fits(k, args[0]) and fits(v, args[1])
                                                            for k, v in value.items()))
    if dataclasses.is_dataclass(hint):
        return isinstance(value, hint) and check_fields(value) is None
    return isinstance(value, hint) if isinstance(hint, type) else True


def check_fields(record: Any) -> None:
    """Raise TypeError naming the first field of a dataclass record whose value does not fit its type."""
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if not fits(value, _hints(type(record))[f.name]):
            raise TypeError(f"{type(record).__name__}.{f.name} has the wrong type ({type(value).__name__}: "
                            f"{str(value)[:40]!r})")


def read_json(path: str | Path, fix: str) -> dict[str, Any]:
    """A JSON object file; anything else (missing, not UTF-8, not JSON, not an object) -> UserError."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such file; {fix}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is damaged ({type(exc).__name__}); {fix}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} is damaged (a JSON {type(data).__name__}, not an object); {fix}")
    return data


def file_digest(path: str | Path) -> str:
    """sha256 of a file (weights are saved with their digest and checked against it when loaded)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_digest(path: Path, recorded: Any, where: Path, fix: str) -> None:
    """A UserError if ``path``'s sha256 differs from the digest ``where`` records (none recorded: no check)."""
    if recorded is None:
        return
    if not isinstance(recorded, str) or file_digest(path) != recorded:
        raise UserError(f"{path} does not match the digest recorded in {where} (the file is damaged); {fix}")
