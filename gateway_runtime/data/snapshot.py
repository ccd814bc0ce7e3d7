"""Compile a validated GatewayConfig into an immutable snapshot: everything the request path needs, precomputed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lockgate.gateway_runtime.data.identities import KeyEntry, KeyTable
from lockgate.gateway_runtime.data.limits import Limit
from lockgate.gateway_runtime.data.router import Router
from lockgate.gateway_runtime.data.upstream import Upstream, UpstreamPool
from lockgate.sdk import GatewayConfig, GatewaySettings
from lockgate.sdk.config import ConfigProblem
from lockgate.sdk.entities import expiry_time
from lockgate.sdk.secrets import SecretError, resolve_secret


class CompileError(ValueError):
    """The config is valid as data but cannot be served (e.g. a secret reference does not resolve)."""

    def __init__(self, problem: ConfigProblem) -> None:
        super().__init__(str(problem))
        self.problem = problem


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    name: str
    methods: frozenset[str]
    upstream: Upstream
    key_auth: bool
    hide_credentials: bool
    acl_allow: frozenset[str] | None
    usage: bool
    include_usage_in_streams: bool


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int  # the version compiled; key deltas of later versions change `keys` in place
    settings: GatewaySettings
    router: Router[CompiledRoute]
    keys: KeyTable
    upstreams: tuple[Upstream, ...]


def resolve_auth(config: GatewayConfig) -> list[str | None]:
    """Each upstream's credential, resolved here (secrets travel as references): CompileError if one does not."""
    resolved = []
    for index, spec in enumerate(config.upstreams):
        try:
            resolved.append(None if spec.auth is None else resolve_secret(spec.auth))
        except SecretError as exc:
            raise CompileError(ConfigProblem(("upstreams", index, "auth"), str(exc))) from None
    return resolved


def compile_snapshot(
    config: GatewayConfig, version: int, pool: UpstreamPool, keys: Iterable[KeyEntry] | None = None
) -> Snapshot:
    """`keys`, when given, are the key table's entries (a worker reads them as published, leaner than the config's
    consumers and API keys as models); else they come from the config."""
    upstreams: dict[str, Upstream] = {
        spec.name: pool.upstream(spec, auth) for spec, auth in zip(config.upstreams, resolve_auth(config), strict=True)
    }

    entries: list[tuple[str, CompiledRoute]] = []
    for route in config.routes:
        policies = route.policies
        compiled = CompiledRoute(
            name=route.name,
            methods=frozenset(route.methods),
            upstream=upstreams[route.upstream],
            key_auth=policies.key_auth is not None,
            hide_credentials=policies.key_auth.hide_credentials if policies.key_auth else False,
            acl_allow=frozenset(policies.acl.allow) if policies.acl else None,
            usage=policies.usage is not None,
            include_usage_in_streams=bool(policies.usage and policies.usage.include_usage_in_streams),
        )
        entries.extend((path, compiled) for path in route.paths)

    group_limits = {
        g.name: Limit(g.name, g.rate_limit.requests, g.rate_limit.window_s)
        for g in config.consumer_groups
        if g.rate_limit is not None
    }
    if keys is None:
        groups = {c.name: tuple(c.groups) for c in config.consumers}
        keys = (
            KeyEntry(bytes.fromhex(k.key_sha256), k.consumer, groups[k.consumer], expiry_time(k.expires_at))
            for k in sorted(config.api_keys, key=lambda k: k.consumer)  # a consumer's keys in a row share an Identity
        )
    table = KeyTable(group_limits)
    table.put(keys)
    return Snapshot(
        version=version,
        settings=config.gateway,
        router=Router(entries),
        keys=table,
        upstreams=tuple(upstreams.values()),
    )
