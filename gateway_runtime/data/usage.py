"""Usage accounting on the request path: cheap in-memory deltas, drained to the store about once a second.

Several processes (workers) may each hold a ledger; the store adds their deltas up, so totals stay exact.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

RECENT_PER_CONSUMER = 100  # the store keeps as many; holding more would only make the flush slower


@dataclass(slots=True)
class Delta:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


@dataclass(slots=True)
class UsageLedger:
    deltas: dict[str, Delta] = field(default_factory=dict)
    recent: dict[str, deque[tuple[object, ...]]] = field(default_factory=dict)

    def record(
        self, consumer: str, route: str, model: str, stream: bool, status: int, usage: dict[str, int] | None
    ) -> None:
        usage = usage or {}
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        total = int(usage.get("total_tokens") or prompt + completion)
        delta = self.deltas.get(consumer)
        if delta is None:
            delta = self.deltas[consumer] = Delta()
            self.recent[consumer] = deque(maxlen=RECENT_PER_CONSUMER)
        delta.requests += 1
        delta.prompt_tokens += prompt
        delta.completion_tokens += completion
        delta.total_tokens += total
        self.recent[consumer].append((consumer, time.time(), route, model, stream, status, prompt, completion, total))

    def drain(self) -> tuple[dict[str, Delta], list[tuple[object, ...]]]:
        deltas, recent = self.deltas, self.recent
        self.deltas, self.recent = {}, {}
        return deltas, [record for records in recent.values() for record in records]
