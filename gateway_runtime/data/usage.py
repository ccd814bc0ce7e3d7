"""Usage accounting: per-consumer totals and a ring of recent requests, drained to the store by the control plane."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

RECENT_PER_CONSUMER = 100


@dataclass(slots=True)
class Totals:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    recent: deque[dict[str, object]] = field(default_factory=lambda: deque(maxlen=RECENT_PER_CONSUMER))


class UsageLedger:
    def __init__(self) -> None:
        self.totals: dict[str, Totals] = {}
        self.dirty: set[str] = set()

    def record(
        self, consumer: str, route: str, model: str, stream: bool, status: int, usage: dict[str, int] | None
    ) -> None:
        usage = usage or {}
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        total = int(usage.get("total_tokens") or prompt + completion)
        totals = self.totals.get(consumer)
        if totals is None:
            totals = self.totals[consumer] = Totals()
        totals.requests += 1
        totals.prompt_tokens += prompt
        totals.completion_tokens += completion
        totals.total_tokens += total
        totals.recent.append(
            {
                "at": time.time(),
                "route": route,
                "model": model,
                "stream": stream,
                "status": status,
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": total,
            }
        )
        self.dirty.add(consumer)

    def load(self, consumer: str, requests: int, prompt: int, completion: int, total: int) -> None:
        self.totals[consumer] = Totals(requests, prompt, completion, total)

    def drain_dirty(self) -> dict[str, Totals]:
        dirty, self.dirty = self.dirty, set()
        return {name: self.totals[name] for name in dirty}
