"""Policies: what a route or a consumer group enforces. One optional field per policy kind, at most one of each."""

from __future__ import annotations

from typing import Literal

from lockgate.sdk._base import Name, StrictModel
from pydantic import ConfigDict, Field, model_validator
from pydantic.config import JsonDict


class KeyAuth(StrictModel):
    """Identify the consumer by an API key in `Authorization: Bearer`, `x-api-key` or `apikey`."""

    hide_credentials: bool = Field(
        default=True, description="Strip the consumer's key from the request before it reaches the upstream."
    )


class Acl(StrictModel):
    """Allow only consumers that belong to one of the listed consumer groups (requires key auth)."""

    allow: list[Name] = Field(min_length=1, description="Consumer group names allowed through this route.")


class RateLimit(StrictModel):
    """At most `requests` requests per consumer in each fixed window of `window_s` seconds."""

    requests: int = Field(gt=0, le=10_000_000, description="Requests allowed per consumer in one window.")
    window_s: int = Field(default=60, gt=0, le=86_400, description="Window length in seconds (default 60).")

    @classmethod
    def per_minute(cls, requests: int) -> RateLimit:
        return cls(requests=requests, window_s=60)

    @classmethod
    def per_second(cls, requests: int) -> RateLimit:
        return cls(requests=requests, window_s=1)


def _one_of(*fields: str) -> JsonDict:
    return {"anyOf": [{"properties": {f: {"type": "integer"}}, "required": [f]} for f in fields]}


class TokenLimit(StrictModel):
    """Tokens (prompt + completion) per consumer in each window, aligned to the clock (UTC); set one or more. A
    request is admitted only if its estimate fits what is left in every window (its prompt, estimated, plus its
    max_tokens or the gateway's `completion_reserve_tokens`); once answered, it is charged what the provider
    counted and the rest of the estimate is released."""

    model_config = ConfigDict(json_schema_extra=_one_of("per_minute", "per_hour", "per_day"))  # as _some checks

    per_minute: int | None = Field(default=None, gt=0, le=10_000_000_000, description="Tokens per minute.")
    per_hour: int | None = Field(default=None, gt=0, le=10_000_000_000, description="Tokens per hour.")
    per_day: int | None = Field(default=None, gt=0, le=10_000_000_000, description="Tokens per day.")

    @model_validator(mode="after")
    def _some(self) -> TokenLimit:
        if self.per_minute is None and self.per_hour is None and self.per_day is None:
            raise ValueError("token_limit: set per_minute, per_hour or per_day (or leave token_limit out)")
        return self

    def windows(self) -> list[tuple[int, int]]:
        """(tokens, window in seconds) of each limit set."""
        given = ((self.per_minute, 60), (self.per_hour, 3600), (self.per_day, 86_400))
        return [(tokens, window) for tokens, window in given if tokens is not None]


class CostBudget(StrictModel):
    """At most `usd` of cost per consumer in each `per` period (UTC day or calendar month), priced from the
    gateway's price catalogue; admitted on an estimate, charged the actual cost."""

    usd: float = Field(gt=0, le=10_000_000, description="USD allowed per consumer in one period.")
    per: Literal["day", "month"] = Field(default="month", description="The period: day or month (UTC).")


class UsageAccounting(StrictModel):
    """Record prompt, completion and total tokens per request from the upstream's usage (streams included)."""

    include_usage_in_streams: bool = Field(
        default=True,
        description="Ask OpenAI-compatible upstreams for a final usage chunk on streams (hidden from clients that "
        "did not ask for it), so streamed usage is exact.",
    )


class RoutePolicies(StrictModel):
    """The policies a route runs, in fixed priority order: key_auth (1000), acl (950), usage (log phase). An acl
    needs key_auth (an ACL can only check identified consumers)."""

    # Route checks the acl/key_auth rule (naming the field); the JSON Schema says it too
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"acl": {"type": "object"}}, "required": ["acl"]},
            "then": {"properties": {"key_auth": {"type": "object"}}, "required": ["key_auth"]},
        }
    )

    key_auth: KeyAuth | None = Field(default=None, description="Require an API key (see KeyAuth).")
    acl: Acl | None = Field(default=None, description="Restrict the route to consumer groups (see Acl).")
    usage: UsageAccounting | None = Field(default=None, description="Record token usage (see UsageAccounting).")
