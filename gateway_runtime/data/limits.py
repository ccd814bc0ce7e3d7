"""Fixed-window request limits, counted per (group, consumer): in this process (see shared_limits for workers)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol

OWN = ""  # the group of a consumer's own limits and budgets


def whose(group: str) -> str:
    return f"group '{group}'" if group != OWN else "its own limit"


@dataclass(frozen=True, slots=True)
class Limit:
    group: str  # OWN: the consumer's own
    requests: int
    window_s: int


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int


class Limiter(Protocol):
    def hit(self, consumer: str, limit: Limit, now: float | None = None) -> Verdict: ...


class FixedWindowLimiter:
    """Windows are aligned to the clock (like Kong's): a window of 60 s starts at each whole minute."""

    def __init__(self) -> None:
        self._counters: dict[tuple[str, str, int], tuple[int, int]] = {}

    def hit(self, consumer: str, limit: Limit, now: float | None = None) -> Verdict:
        now = time.time() if now is None else now
        window = int(now // limit.window_s)
        key = (limit.group, consumer, limit.window_s)
        started, count = self._counters.get(key, (window, 0))
        if started != window:
            count = 0
        if count >= limit.requests:
            retry = max(1, math.ceil((window + 1) * limit.window_s - now))
            return Verdict(False, limit.requests, 0, retry)
        self._counters[key] = (window, count + 1)
        return Verdict(True, limit.requests, limit.requests - count - 1, 0)
