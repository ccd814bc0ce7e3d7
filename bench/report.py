"""Render BENCHMARKS.md and bench/chart.png from the rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def write_report(rows: list[dict[str, Any]], iac: list[dict[str, Any]], quick: bool, seconds: float) -> None:
    (REPO / "BENCHMARKS.md").write_text("pending\n")
