"""Who presented a key: the key table, built by a full compile and then changed in place by deltas, so a change to
k consumers or keys costs O(their keys) on every data plane, not a recompile of everything.

Keys are the SHA-256 digests (32 bytes, half the size of their hex), and consumers that share the same groups share
one groups set and one limits tuple: what 1,000,000 keys take is measured by `bench/consumer_scale.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lockgate.gateway_runtime.data.budgets import Budget, cost_budget, token_budgets
from lockgate.gateway_runtime.data.limits import OWN, Limit
from lockgate.sdk import Consumer


@dataclass(frozen=True, slots=True)
class Identity:
    """A consumer as the data plane sees it after key auth."""

    name: str
    groups: frozenset[str]
    limits: tuple[Limit, ...]
    budgets: tuple[Budget, ...] = ()  # token limits and cost budgets, admitted before the upstream call


@dataclass(frozen=True, slots=True)
class OwnLimits:
    """A consumer's own limits: each kind it sets replaces all of its groups' limits of that kind."""

    requests: Limit | None
    tokens: tuple[Budget, ...]  # empty: its groups'
    cost: Budget | None

    @classmethod
    def of(cls, consumer: Consumer) -> OwnLimits | None:
        rate = consumer.rate_limit
        own = cls(
            Limit(OWN, rate.requests, rate.window_s) if rate else None,
            token_budgets(OWN, consumer.token_limit),
            cost_budget(OWN, consumer.cost_budget),
        )
        return own if own.requests or own.tokens or own.cost else None

    def to_json(self) -> list[Any]:
        requests, cost = self.requests, self.cost
        return [
            [requests.requests, requests.window_s] if requests else None,
            [[b.amount, b.window_s] for b in self.tokens],
            [cost.amount, cost.window_s] if cost else None,
        ]

    @classmethod
    def from_json(cls, raw: list[Any]) -> OwnLimits:
        requests, tokens, cost = raw
        return cls(
            Limit(OWN, *requests) if requests else None,
            tuple(Budget(OWN, "tokens", *b) for b in tokens),
            Budget(OWN, "cost", *cost) if cost else None,
        )


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One key as a delta carries it: enough to serve it without the rest of the config."""

    digest: bytes
    consumer: str
    groups: tuple[str, ...]
    expires_at: float | None = None  # Unix time
    own: OwnLimits | None = None

    def to_json(self) -> list[Any]:
        head = [self.digest.hex(), self.consumer, list(self.groups), self.expires_at]
        return head if self.own is None else [*head, self.own.to_json()]

    @classmethod
    def from_json(cls, raw: list[Any]) -> KeyEntry:
        digest, consumer, groups, expires_at, *own = raw
        return cls(
            bytes.fromhex(digest), consumer, tuple(groups), expires_at, OwnLimits.from_json(own[0]) if own else None
        )


@dataclass(slots=True)
class KeyDelta:
    """Keys to drop (by digest), then keys to add or replace."""

    drop: list[bytes] = field(default_factory=list)
    put: list[KeyEntry] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"drop": [d.hex() for d in self.drop], "put": [e.to_json() for e in self.put]}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> KeyDelta:
        return cls([bytes.fromhex(d) for d in raw["drop"]], [KeyEntry.from_json(e) for e in raw["put"]])


class KeyTable:
    """Digest -> Identity, and digest -> expiry for the keys that expire. Read by the request path; changed only by
    `apply` (single dict operations, each atomic for the requests served meanwhile)."""

    __slots__ = ("_group_budgets", "_group_limits", "_groups", "by_digest", "expiry")

    def __init__(
        self, group_limits: Mapping[str, Limit], group_budgets: Mapping[str, tuple[Budget, ...]] | None = None
    ) -> None:
        self.by_digest: dict[bytes, Identity] = {}
        self.expiry: dict[bytes, float] = {}
        self._group_limits = group_limits
        self._group_budgets = group_budgets or {}
        self._groups: dict[tuple[str, ...], tuple[frozenset[str], tuple[Limit, ...], tuple[Budget, ...]]] = {}

    def apply(self, delta: KeyDelta) -> None:
        for digest in delta.drop:
            self.by_digest.pop(digest, None)
            self.expiry.pop(digest, None)
        self.put(delta.put)

    def put(self, entries: Iterable[KeyEntry]) -> None:
        last: tuple[str, tuple[str, ...]] | None = None
        identity: Identity | None = None
        for entry in entries:
            if identity is None or last != (entry.consumer, entry.groups):  # a consumer's keys share one Identity
                identity, last = self._identity(entry.consumer, entry.groups, entry.own), (entry.consumer, entry.groups)
            self.by_digest[entry.digest] = identity
            if entry.expires_at is None:
                self.expiry.pop(entry.digest, None)
            else:
                self.expiry[entry.digest] = entry.expires_at

    def _identity(self, consumer: str, groups: tuple[str, ...], own: OwnLimits | None) -> Identity:
        shared = self._groups.get(groups)
        if shared is None:
            limits = tuple(self._group_limits[g] for g in groups if g in self._group_limits)
            budgets = tuple(b for g in groups for b in self._group_budgets.get(g, ()))
            shared = self._groups[groups] = (frozenset(groups), limits, budgets)
        if own is None:
            return Identity(consumer, *shared)
        members, limits, budgets = shared
        tokens = own.tokens or tuple(b for b in budgets if b.kind == "tokens")
        cost = (own.cost,) if own.cost else tuple(b for b in budgets if b.kind == "cost")
        return Identity(consumer, members, (own.requests,) if own.requests else limits, tokens + cost)
