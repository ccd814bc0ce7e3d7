"""The pipeline's runner: the access phase (key_auth, acl, rate_limit, in priority order), then the request phase's
chain for the route and the consumer's groups (policies/, one module each, where the priority table is). A hook
returns `None` to continue or a `Respond` to answer the client; nothing on this path raises for user input."""

from __future__ import annotations

from collections.abc import Mapping

from lockgate.gateway_runtime.data.identities import Identity
from lockgate.gateway_runtime.data.limits import Limiter
from lockgate.gateway_runtime.data.policies import (
    Chain,
    RequestContext,
    RequestPolicy,
    Respond,
    chain,
    group_scope,
    merged,
)
from lockgate.gateway_runtime.data.policies.acl import acl
from lockgate.gateway_runtime.data.policies.base import Access
from lockgate.gateway_runtime.data.policies.key_auth import key_auth
from lockgate.gateway_runtime.data.policies.rate_limit import rate_limit
from lockgate.gateway_runtime.data.snapshot import CompiledRoute, Snapshot


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
