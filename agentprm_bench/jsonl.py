"""JSONL files that survive kills: durable appends, validated reads, resumable tails."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from agentprm_bench.errors import UserError

T = TypeVar("T")


def write_text_atomic(path: Path, text: str) -> None:
    """Write a whole file so that a kill leaves the old file or the new one, never half of it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def append_records(path: Path, records: list[dict[str, Any]]) -> None:
    """Append whole lines and fsync: after return, the records survive a kill."""
    if not records:
        return
    data = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def repair_tail(path: Path) -> int:
    """Drop an unfinished last line (a write cut by a kill). Returns the bytes removed."""
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return 0
        fh.seek(0)
        data = fh.read()
        keep = data.rfind(b"\n") + 1
        fh.truncate(keep)
        return size - keep


def read_records(path: Path, parse: Callable[[dict[str, Any]], T], what: str = "record") -> Iterator[T]:
    """Parse every line with ``parse``; a line that is not UTF-8, not JSON, not an object or that
    ``parse`` rejects (for any reason: it is the validation) raises a UserError naming file and line."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file; check the path (or run the stage that writes it)")
    if path.is_dir():
        raise UserError(f"{path} is a directory, not a {what} file; check the path")
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw.decode("utf-8"))
                if not isinstance(data, dict):
                    raise TypeError(f"a JSON {type(data).__name__}, not an object")
                record = parse(data)
            except Exception as exc:  # noqa: BLE001 - the parser is the validation; any failure is a bad line
                raise UserError(f"{path}:{lineno}: malformed {what} ({type(exc).__name__}: {str(exc)[:120]}); "
                                f"fix or delete that line") from None
            yield record
