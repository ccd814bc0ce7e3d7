"""The access phase: policies in fixed priority order, each returning one closed decision.

    priority  phase     policy       on failure
    1000      access    key_auth     401 missing, unknown or expired key
     950      access    acl          403 consumer not in an allowed group
     900      access    rate_limit   429 with Retry-After (the consumer's groups' limits)
       0      log       usage        never fails a request (runs after the response)

A hook returns `None` to continue or a `Reject` to answer the client; nothing on this path raises for user input.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lockgate.gateway_runtime.data.identities import Identity
from lockgate.gateway_runtime.data.limits import Limiter, whose
from lockgate.gateway_runtime.data.snapshot import CompiledRoute, Snapshot


@dataclass(frozen=True, slots=True)
class Reject:
    status: int
    message: str
    code: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Access:
    """What the access phase learned: who is calling, and headers to add to the response."""

    consumer: Identity | None = None
    response_headers: dict[str, str] = field(default_factory=dict)


def presented_key(headers: Mapping[str, str]) -> str | None:
    authorization = headers.get("Authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return headers.get("x-api-key") or headers.get("apikey") or None


def key_auth(snapshot: Snapshot, headers: Mapping[str, str], access: Access) -> Reject | None:
    key = presented_key(headers)
    if key is None:
        return Reject(
            401,
            "Missing API key: send it as 'Authorization: Bearer <key>', 'x-api-key' or 'apikey'.",
            "missing_api_key",
        )
    # surrogateescape: a header that is not UTF-8 hashes as the bytes sent (and matches no key) instead of raising
    digest = hashlib.sha256(key.encode(errors="surrogateescape")).digest()
    keys = snapshot.keys
    identity = keys.by_digest.get(digest)
    if identity is None:
        return Reject(401, "Invalid API key: it is not known to this gateway.", "invalid_api_key")
    if keys.expiry:
        expires_at = keys.expiry.get(digest)
        if expires_at is not None and expires_at <= time.time():
            when = datetime.fromtimestamp(expires_at, UTC).isoformat().replace("+00:00", "Z")
            return Reject(401, f"Expired API key: it stopped working at {when}; ask for a new one.", "expired_api_key")
    access.consumer = identity
    return None


def acl(route: CompiledRoute, access: Access) -> Reject | None:
    assert route.acl_allow is not None and access.consumer is not None
    if route.acl_allow.isdisjoint(access.consumer.groups):
        return Reject(
            403,
            f"Consumer '{access.consumer.name}' may not use route '{route.name}': "
            f"it is not in any of the groups {sorted(route.acl_allow)}.",
            "access_denied",
        )
    return None


def rate_limit(limiter: Limiter, access: Access) -> Reject | None:
    assert access.consumer is not None
    for limit in access.consumer.limits:
        verdict = limiter.hit(access.consumer.name, limit)
        access.response_headers["x-ratelimit-limit-requests"] = str(verdict.limit)
        access.response_headers["x-ratelimit-remaining-requests"] = str(verdict.remaining)
        if not verdict.allowed:
            return Reject(
                429,
                f"Rate limit reached for consumer '{access.consumer.name}': {limit.requests} requests per "
                f"{limit.window_s}s ({whose(limit.group)}). Retry after {verdict.retry_after_s}s.",
                "rate_limit_exceeded",
                {**access.response_headers, "Retry-After": str(verdict.retry_after_s)},
            )
    return None


def run_access(
    snapshot: Snapshot, route: CompiledRoute, headers: Mapping[str, str], limiter: Limiter
) -> Access | Reject:
    access = Access()
    if route.key_auth:
        rejected = key_auth(snapshot, headers, access)
        if rejected:
            return rejected
        if route.acl_allow is not None:
            rejected = acl(route, access)
            if rejected:
                return rejected
        if access.consumer is not None and access.consumer.limits:
            rejected = rate_limit(limiter, access)
            if rejected:
                return rejected
    return access
