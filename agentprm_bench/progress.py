"""Progress bars that also work without a terminal, and log lines that never share a bar's line.

On a terminal, ``bar`` is an ordinary tqdm bar. When stderr is not a terminal (piped output,
CI logs), tqdm would keep redrawing one line with carriage returns, which a log shows as one
endless line or nothing; there ``bar`` prints a plain status line at most every
``PLAIN_INTERVAL`` seconds (and a last one at the end). Intervals only pace the display; no
result depends on them. ``TqdmLogHandler`` writes log records through ``tqdm.write``, which
clears and redraws any active bar around them.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Iterable

from tqdm import tqdm

PLAIN_INTERVAL = 30.0


class _Lines:
    """A file for tqdm that turns each redraw into one plain line."""

    def __init__(self, stream: Any):
        self.stream = stream

    def write(self, text: str) -> None:
        line = text.replace("\r", "").strip()
        if line:
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


class _PlainBar(tqdm):
    """A tqdm whose postfix changes wait for the next periodic line instead of printing one each."""

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> None:
        super().set_postfix(ordered_dict, refresh=False, **kwargs)

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        super().set_description(desc, refresh=False)


def bar(iterable: Iterable | None = None, **kwargs: Any) -> tqdm:
    """``tqdm(iterable, **kwargs)``, as plain periodic lines where stderr is not a terminal."""
    stream = kwargs.pop("file", None) or sys.stderr
    if kwargs.get("disable") or getattr(stream, "isatty", lambda: False)():
        return tqdm(iterable, file=stream, **kwargs)
    return _PlainBar(iterable, file=_Lines(stream), mininterval=PLAIN_INTERVAL, maxinterval=PLAIN_INTERVAL,
                ascii=True, dynamic_ncols=False, ncols=100, **kwargs)


class TqdmLogHandler(logging.StreamHandler):
    """Log records through ``tqdm.write``, so a message never lands on a progress bar's line."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # noqa: BLE001 - logging must not raise
            self.handleError(record)
