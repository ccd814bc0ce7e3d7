"""Policies: what a route or a consumer group enforces. One optional field per policy kind, at most one of each."""

from __future__ import annotations

from lockgate.sdk._base import Name, StrictModel
from pydantic import ConfigDict, Field


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
