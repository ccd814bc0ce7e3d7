"""The pipeline's runner: the access phase (key_auth, acl, rate_limit, in priority order), then the request phase's
chain for the route and the consumer's groups (policies/, where the priority table is). A hook returns `None` to
continue or a `Respond` to answer the client; nothing on this path raises for user input."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lockgate.gateway_runtime.data.identities import Identity
from lockgate.gateway_runtime.data.limits import Limiter, whose
from lockgate.gateway_runtime.data.policies import (
    Chain,
    RequestContext,
    RequestPolicy,
    Respond,
    chain,
    group_scope,
    merged,
)
from lockgate.gateway_runtime.data.snapshot import CompiledRoute, Snapshot


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


def key_auth(snapshot: Snapshot, headers: Mapping[str, str], access: Access) -> Respond | None:
    key = presented_key(headers)
    if key is None:
        return Respond(
            401,
            "Missing API key: send it as 'Authorization: Bearer <key>', 'x-api-key' or 'apikey'.",
            "missing_api_key",
        )
    # surrogateescape: a header that is not UTF-8 hashes as the bytes sent (and matches no key) instead of raising
    digest = hashlib.sha256(key.encode(errors="surrogateescape")).digest()
    keys = snapshot.keys
    identity = keys.by_digest.get(digest)
    if identity is None:
        return Respond(401, "Invalid API key: it is not known to this gateway.", "invalid_api_key")
    if keys.expiry:
        expires_at = keys.expiry.get(digest)
        if expires_at is not None and expires_at <= time.time():
            when = datetime.fromtimestamp(expires_at, UTC).isoformat().replace("+00:00", "Z")
            return Respond(401, f"Expired API key: it stopped working at {when}; ask for a new one.", "expired_api_key")
    access.consumer = identity
    return None


def acl(route: CompiledRoute, access: Access) -> Respond | None:
    assert route.acl_allow is not None and access.consumer is not None
    if route.acl_allow.isdisjoint(access.consumer.groups):
        return Respond(
            403,
            f"Consumer '{access.consumer.name}' may not use route '{route.name}': "
            f"it is not in any of the groups {sorted(route.acl_allow)}.",
            "access_denied",
        )
    return None


def rate_limit(limiter: Limiter, access: Access) -> Respond | None:
    assert access.consumer is not None
    for limit in access.consumer.limits:
        verdict = limiter.hit(access.consumer.name, limit)
        access.response_headers["x-ratelimit-limit-requests"] = str(verdict.limit)
        access.response_headers["x-ratelimit-remaining-requests"] = str(verdict.remaining)
        if not verdict.allowed:
            return Respond(
                429,
                f"Rate limit reached for consumer '{access.consumer.name}': {limit.requests} requests per "
                f"{limit.window_s}s ({whose(limit.group)}). Retry after {verdict.retry_after_s}s.",
                "rate_limit_exceeded",
                headers={**access.response_headers, "Retry-After": str(verdict.retry_after_s)},
            )
    return None


def run_access(
    snapshot: Snapshot, route: CompiledRoute, headers: Mapping[str, str], limiter: Limiter
) -> Access | Respond:
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


MAX_CHAINS = 4096  # (route, groups) chains kept per snapshot; past it, a rare mix is merged per request


def request_chain(snapshot: Snapshot, route: CompiledRoute, consumer: Identity | None) -> Chain:
    """The request phase's policies for this route and this consumer: its groups' over the route's over the
    gateway's (merged once per (route, groups) and kept)."""
    if consumer is None or not snapshot.group_scopes:
        return route.prompt_chain
    groups = consumer.groups & snapshot.group_scopes.keys()
    if not groups:
        return route.prompt_chain
    key = (route.name, frozenset(groups))
    found = snapshot.chains.get(key)
    if found is None:
        found = chain(merged(route.prompt_scope, group_scope(snapshot.group_scopes, groups)))
        if len(snapshot.chains) < MAX_CHAINS:
            snapshot.chains[key] = found
    return found


def run_request(policies: tuple[RequestPolicy, ...], context: RequestContext) -> Respond | None:
    """Policies of the request phase, in priority order, on the body (changed in place)."""
    for policy in policies:
        decided = policy.on_request(context)
        if decided is not None:
            return decided
    return None
