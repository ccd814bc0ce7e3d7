"""Usage accounting: what a request used, read from the upstream's answer (see usage_log.py for where it goes).

An upstream's `usage` is read defensively: a field that is not a non-negative integer counts as 0 and is logged,
so accounting can never fail a response.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NamedTuple

log = logging.getLogger("lockgate.usage")
MAX_TOKENS = 2**31 - 1  # more is no real count, and the store (SQLite INTEGER sums) must never overflow
RECENT_PER_CONSUMER = 100  # the store keeps as many; holding more would only make the flush slower


class Tokens(NamedTuple):  # a tuple: made on every request, and a frozen dataclass is several times slower to build
    """A request's tokens, as the provider counted them. `prompt` includes `cached` (tokens read from the provider's
    prompt cache, billed lower); `completion` includes `reasoning`."""

    prompt: int = 0
    completion: int = 0
    total: int = 0
    cached: int = 0
    reasoning: int = 0


NO_TOKENS = Tokens()


def count(raw: object, name: str, upstream: str) -> int:
    """`raw[name]` as a token count: absent is 0; anything but a non-negative integer is logged and counted as 0."""
    value = raw.get(name) if isinstance(raw, dict) else None
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKENS:
        return value
    log.warning("upstream %r sent usage.%s = %.40r, not a count: counted as 0", upstream, name, value)
    return 0


def usage_object(raw: object, upstream: str) -> dict[str, object] | None:
    """`raw` when it is an object; else None, logged (a usage that is not an object counts as nothing)."""
    if raw is None or isinstance(raw, dict):
        return raw
    log.warning("upstream %r sent a usage that is not an object (%s): counted as 0", upstream, type(raw).__name__)
    return None


BUCKET_S = 3600  # usage is also added up per consumer, route, model and hour


@dataclass(slots=True)
class Delta:
    """What some records add to one total: a consumer's, or a (consumer, route, model, hour) bucket's."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cost_micros: int = 0
    estimated: int = 0  # requests whose counts are the gateway's estimate

    def add(self, counts: tuple[int, ...], estimated: bool, cost_micros: int) -> None:
        self.requests += 1
        self.prompt_tokens += counts[0]
        self.completion_tokens += counts[1]
        self.total_tokens += counts[2]
        self.cached_tokens += counts[3]
        self.reasoning_tokens += counts[4]
        self.cost_micros += cost_micros
        self.estimated += estimated

    def row(self) -> tuple[int, ...]:
        return (
            self.requests,
            self.prompt_tokens,
            self.completion_tokens,
            self.total_tokens,
            self.cached_tokens,
            self.reasoning_tokens,
            self.cost_micros,
            self.estimated,
        )
