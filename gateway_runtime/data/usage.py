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
_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")


class Tokens(NamedTuple):  # a tuple: made on every request, and a frozen dataclass is several times slower to build
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
        elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKENS:
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
