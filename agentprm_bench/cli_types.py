"""Argument types for the command line: numbers are checked when the command line is parsed,
so a bad value is argparse's one-line error (exit 2) before any work starts."""

from __future__ import annotations

import argparse
import math
from typing import Callable


def _number(kind: type, low: float | None = None, high: float | None = None, low_open: bool = False,
            what: str = "") -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        if (low is not None and (value < low or (low_open and value == low))) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.__name__ = what  # argparse names the type in some messages
    return parse


positive_int = _number(int, 1, what="an integer >= 1")
nonneg_int = _number(int, 0, what="an integer >= 0")
probability = _number(float, 0.0, 1.0, what="a number from 0 to 1")
nonneg_float = _number(float, 0.0, what="a number >= 0")
positive_float = _number(float, 0.0, low_open=True, what="a number > 0")
top_p = _number(float, 0.0, 1.0, low_open=True, what="a number in (0, 1]")


def _int_list(low: int) -> Callable[[str], tuple[int, ...]]:
    what = f"comma-separated integers >= {low}"

    def parse(text: str) -> tuple[int, ...]:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts or not all(p.isdigit() and int(p) >= low for p in parts):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return tuple(int(p) for p in parts)

    parse.__name__ = what
    return parse


positive_ints = _int_list(1)  # e.g. budgets 1,2,4,8
nonneg_ints = _int_list(0)  # e.g. seeds 0,1,2
