"""Token limits and cost budgets: admit before, settle after, in one table that every worker process shares.

Each (group, consumer, budget) has a slot: (key hash, window, used, reserved), 32 bytes, open addressing with
linear probing, in a memory-mapped file (DATA_DIR/budgets.shm; an anonymous mapping for a single process). Before a
request reaches its upstream it reserves its estimate in each of its budgets, all or none, under one lock: it is
refused if `used + reserved + estimate` would pass a budget. Once answered it settles: the reservation is released
and what the provider counted is charged. So however many requests race, admitted estimates never pass a budget,
and what is charged can pass it by no more than what the in-flight requests use beyond their estimates. A window
that has turned over starts from zero; a request admitted in the old one is charged to the new one.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import math
import mmap
import os
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from lockgate.gateway_runtime.data.limits import whose
from lockgate.sdk import CostBudget, TokenLimit

log = logging.getLogger("lockgate.budgets")
SLOTS = 1 << 16
BUDGETS_FILE = "budgets.shm"
_SLOT = struct.Struct("<Qqqq")
MONTH = 0  # window_s of a calendar-month budget


@dataclass(frozen=True, slots=True)
class Budget:
    group: str
    kind: Literal["tokens", "cost"]  # cost in micro-USD
    amount: int
    window_s: int  # MONTH: the calendar month (UTC)

    def window(self, now: float) -> tuple[int, float]:
        """The current window's number and when it ends."""
        if self.window_s:
            number = int(now // self.window_s)
            return number, (number + 1) * self.window_s
        moment = datetime.fromtimestamp(now, UTC)
        number = moment.year * 12 + moment.month - 1
        year, month = divmod(number + 1, 12)
        return number, datetime(year, month + 1, 1, tzinfo=UTC).timestamp()

    def describe(self) -> str:
        period = {60: "minute", 3600: "hour", 86_400: "day", MONTH: "month"}.get(self.window_s, f"{self.window_s}s")
        if self.kind == "tokens":
            return f"{self.amount:,} tokens per {period}"
        return f"${self.amount / 1_000_000:,.2f} per {period}"


def token_budgets(group: str, limit: TokenLimit | None) -> tuple[Budget, ...]:
    return tuple(Budget(group, "tokens", tokens, window) for tokens, window in limit.windows()) if limit else ()


def cost_budget(group: str, budget: CostBudget | None) -> Budget | None:
    if budget is None:
        return None
    return Budget(group, "cost", round(budget.usd * 1_000_000), 86_400 if budget.per == "day" else MONTH)


@dataclass(frozen=True, slots=True)
class Hold:
    """One admitted reservation, to settle."""

    budget: Budget
    key: int
    window: int
    amount: int


@dataclass(frozen=True, slots=True)
class Refusal:
    budget: Budget
    used: int  # used or reserved
    needed: int
    reset_s: int

    @property
    def left(self) -> int:
        return max(0, self.budget.amount - self.used)

    def message(self, consumer: str) -> str:
        what = "Token limit" if self.budget.kind == "tokens" else "Cost budget"
        if self.budget.kind == "tokens":
            state = f"{self.used:,} used or reserved, {self.left:,} left, this request needs about {self.needed:,}"
        else:
            state = f"${self.used / 1e6:,.4f} used or reserved, this request would cost about ${self.needed / 1e6:,.4f}"
        return (
            f"{what} reached for consumer '{consumer}': {self.budget.describe()} ({whose(self.budget.group)}); "
            f"{state}. It resets in {self.reset_s}s."
        )

    def headers(self) -> dict[str, str]:
        """OpenAI's x-ratelimit-*-tokens headers for a token limit (ours for a budget), and Retry-After."""
        name = "tokens" if self.budget.kind == "tokens" else "cost-micros"
        return {
            "Retry-After": str(self.reset_s),
            f"x-ratelimit-limit-{name}": str(self.budget.amount),
            f"x-ratelimit-remaining-{name}": str(self.left),
            f"x-ratelimit-reset-{name}": f"{self.reset_s}s",
        }


class BudgetTable:
    """The shared table (a file, for worker processes) or this process's own (`path` None)."""

    def __init__(self, path: Path | None = None, slots: int = SLOTS) -> None:
        self._slots = slots
        size = slots * _SLOT.size
        self._fd: int | None = None
        if path is None:
            self._map = mmap.mmap(-1, size)
        else:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            if os.fstat(self._fd).st_size != size:
                os.ftruncate(self._fd, size)
            self._map = mmap.mmap(self._fd, size)
        self._keys: dict[tuple[str, str, str, int], int] = {}
        self._warned = False

    def admit(
        self, consumer: str, needs: Sequence[tuple[Budget, int]], now: float | None = None
    ) -> list[Hold] | Refusal:
        """Reserve `amount` in each budget, or nothing: the first budget it would pass is the refusal."""
        now = time.time() if now is None else now
        with self._locked():
            found = []
            for budget, amount in needs:
                window, ends = budget.window(now)
                key = self._key(consumer, budget)
                offset, used, reserved = self._slot(key, window)
                if used + reserved + amount > budget.amount:
                    return Refusal(budget, used + reserved, amount, max(1, math.ceil(ends - now)))
                found.append((budget, key, window, amount, offset, used, reserved))
            holds = []
            for budget, key, window, amount, offset, used, reserved in found:
                if offset >= 0:
                    _SLOT.pack_into(self._map, offset, key, window, used, reserved + amount)
                    holds.append(Hold(budget, key, window, amount))
        return holds

    def settle(self, holds: Sequence[Hold], tokens: int, cost_micros: int, now: float | None = None) -> None:
        """Release the reservations and charge what was used (`tokens`, or `cost_micros` for a cost budget)."""
        now = time.time() if now is None else now
        with self._locked():
            for hold in holds:
                window, _ = hold.budget.window(now)
                offset, used, reserved = self._slot(hold.key, window)
                if offset < 0:
                    continue
                if window == hold.window:
                    reserved = max(0, reserved - hold.amount)
                charged = tokens if hold.budget.kind == "tokens" else cost_micros
                _SLOT.pack_into(self._map, offset, hold.key, window, used + charged, reserved)

    def _key(self, consumer: str, budget: Budget) -> int:
        name = (budget.group, consumer, budget.kind, budget.window_s)
        key = self._keys.get(name)
        if key is None:
            digest = hashlib.blake2b("\0".join(map(str, name)).encode(), digest_size=8).digest()
            key = self._keys[name] = int.from_bytes(digest, "little") or 1  # 0 marks an empty slot
        return key

    def _slot(self, key: int, window: int) -> tuple[int, int, int]:
        """(offset, used, reserved) of `key` in `window` (a new or older window reads as zero); offset -1 if full."""
        start = key & (self._slots - 1)
        for probe in range(self._slots):
            offset = ((start + probe) & (self._slots - 1)) * _SLOT.size
            slot_key, slot_window, used, reserved = _SLOT.unpack_from(self._map, offset)
            if slot_key == key:
                return (offset, used, reserved) if slot_window == window else (offset, 0, 0)
            if slot_key == 0:
                return offset, 0, 0
        if not self._warned:
            log.error("the budget table is full (%d keys): new consumers' budgets are not enforced", self._slots)
            self._warned = True
        return -1, 0, 0

    def _locked(self) -> _Lock:
        return _Lock(self._fd)

    def close(self) -> None:
        self._map.close()
        if self._fd is not None:
            os.close(self._fd)


class _Lock:
    """An exclusive fcntl lock on the shared file (none for a process's own table: one event loop, no awaits)."""

    __slots__ = ("_fd",)

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    def __enter__(self) -> None:
        if self._fd is not None:
            fcntl.lockf(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *_: object) -> None:
        if self._fd is not None:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)
