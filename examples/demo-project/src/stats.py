"""Statistics helpers: place the cursor on the empty line in `variance` (after its
indentation) for an inline suggestion, e.g. `ananke complete src/stats.py:15:5`."""

from __future__ import annotations


def mean(values: list[float]) -> float:
    """The arithmetic mean of values."""
    return sum(values) / len(values)


def variance(values: list[float]) -> float:
    """The population variance of values."""
    average = mean(values)

    return total / len(values)
