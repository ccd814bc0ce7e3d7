"""Usage accounting on the request path: cheap in-memory deltas, drained to the store about once a second.

Several processes (workers) may each hold a ledger; the store adds their deltas up, so totals stay exact.
An upstream's `usage` is read defensively: a field that is not a non-negative integer counts as 0 and is logged,
so accounting can never fail a response.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field

log = logging.getLogger("lockgate.usage")
RECENT_PER_CONSUMER = 100  # the store keeps as many; holding more would only make the flush slower
_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")


@dataclass(frozen=True, slots=True)
class Tokens:
    prompt: int = 0
    completion: int = 0
    total: int = 0


NO_TOKENS = Tokens()


def read_usage(raw: object, upstream: str) -> Tokens:
    """The token counts in an upstream's `usage` object; whatever cannot be read is logged and counted as 0."""
    if raw is None:
        return NO_TOKENS
    if not isinstance(raw, dict):
        log.warning("upstream %r sent a usage that is not an object (%s): counted as 0", upstream, type(raw).__name__)
        return NO_TOKENS
    counts: list[int | None] = []
    for name in _FIELDS:
        value = raw.get(name)
        if value is None:
            counts.append(None)
        elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            counts.append(value)
        else:
            log.warning("upstream %r sent usage.%s = %.40r, not a count: counted as 0", upstream, name, value)
            counts.append(None)
    prompt, completion, total = (c or 0 for c in counts)
    return Tokens(prompt, completion, total if counts[2] is not None else prompt + completion)


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

    def record(self, consumer: str, route: str, model: str, stream: bool, status: int, tokens: Tokens) -> None:
        delta = self.deltas.get(consumer)
        if delta is None:
            delta = self.deltas[consumer] = Delta()
            self.recent[consumer] = deque(maxlen=RECENT_PER_CONSUMER)
        delta.requests += 1
        delta.prompt_tokens += tokens.prompt
        delta.completion_tokens += tokens.completion
        delta.total_tokens += tokens.total
        self.recent[consumer].append(
            (consumer, time.time(), route, model, stream, status, tokens.prompt, tokens.completion, tokens.total)
        )

    def drain(self) -> tuple[dict[str, Delta], list[tuple[object, ...]]]:
        deltas, recent = self.deltas, self.recent
        self.deltas, self.recent = {}, {}
        return deltas, [record for records in recent.values() for record in records]
