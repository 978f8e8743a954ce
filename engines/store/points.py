"""MemoryPoints: where engine-perfdata writes when no InfluxDB is configured (the embedded chain)."""

from __future__ import annotations

from collections.abc import Sequence

from framework import Point

__all__ = ["MemoryPoints"]


class MemoryPoints:
    """A PointWriter that keeps every point written, in order."""

    def __init__(self) -> None:
        self.points: list[Point] = []

    def __repr__(self) -> str:
        return f"<MemoryPoints {len(self.points)} points>"

    async def write(self, points: Sequence[Point]) -> None:
        self.points.extend(points)
