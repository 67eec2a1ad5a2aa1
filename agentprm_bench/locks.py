"""Exclusive locks on the directories commands write into.

Two processes appending to one collection, sample pool, results file, label set or checkpoint
would write lines twice or interleave training states. Every writer holds an OS file lock
(``filelock``) on its output directory while it writes; a second writer waits for the first
to finish (it says so once) and then resumes from what the first one left, so the pair ends
with the records one run would have written.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from agentprm_bench.errors import UserError

log = logging.getLogger(__name__)
LOCK_NAME = ".agentprm.lock"
_HELD: dict[str, int] = {}  # lock files this process holds -> depth (OS locks do not nest within a process)


@contextmanager
def exclusive(directory: str | Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the lock of ``directory`` (created if missing); wait for another holder to finish,
    at most ``timeout`` seconds (None: as long as it takes), then raise a UserError."""
    directory = Path(directory)
    key = str(directory.resolve() / LOCK_NAME)
    if key in _HELD:  # already ours (e.g. a sweep's run): nest
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    writable_dir(directory)
    lock = FileLock(str(directory / LOCK_NAME))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.warning("%s is being written by another agentprm-bench process; waiting for it to finish", directory)
        try:
            lock.acquire(timeout=-1 if timeout is None else timeout)
        except Timeout:
            raise UserError(f"{directory} is still being written by another process after {timeout:.0f} s; "
                            f"wait for it or choose another --out") from None
    except OSError as exc:
        raise UserError(f"cannot lock {directory} ({exc.strerror}); choose a writable --out") from None
    _HELD[key] = 1
    try:
        yield
    finally:
        del _HELD[key]
        lock.release()


def writable_dir(directory: str | Path) -> Path:
    """``directory``, created if missing; a UserError if it cannot be (a file, no permission)."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {directory} ({exc.strerror}); choose a writable --out") from None
    if not directory.is_dir():
        raise UserError(f"{directory} is not a directory; choose another --out")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UserError(f"{directory} is not writable; choose a writable --out")
    return directory
