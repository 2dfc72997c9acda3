"""Small geometry helpers: open this file in an editor with ananke-lsp and run
"Implement function" on `polygon_area`."""

from __future__ import annotations

import math


def distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Euclidean distance between two points."""
    return math.hypot(b[0] - a[0], b[1] - a[1])


def polygon_area(points: list[tuple[float, float]]) -> float:
    """Area of a simple polygon given its vertices in order (the shoelace formula).

    >>> polygon_area([(0, 0), (4, 0), (4, 3), (0, 3)])
    12.0
    """
    pass


def circle_area(radius: float) -> float: ...
