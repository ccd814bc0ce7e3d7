"""Compile a validated GatewayConfig into an immutable snapshot: everything the request path needs, precomputed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lockgate.gateway_runtime.data.budgets import Budget, cost_budget, token_budgets
from lockgate.gateway_runtime.data.identities import KeyEntry, KeyTable, OwnLimits
from lockgate.gateway_runtime.data.limits import Limit
from lockgate.gateway_runtime.data.policies import Chain, PolicyError, Scope, chain, merged, scope_of
from lockgate.gateway_runtime.data.policies.error_template import ErrorTemplatePolicy
from lockgate.gateway_runtime.data.prices import PriceTable
from lockgate.gateway_runtime.data.router import Router
from lockgate.gateway_runtime.data.upstream import Upstream, UpstreamPool
from lockgate.sdk import ConsumerGroup, ErrorTemplate, GatewayConfig, GatewaySettings, GroupPolicies, LlmUpstream
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
    aliases: dict[str, tuple[Upstream, str]] | None  # model name -> (upstream, its model); None: no aliases
    prompt_scope: Scope  # the request-phase policies of the gateway and the route, merged
    prompt_chain: Chain  # ... ready to run, for consumers whose groups set none
    errors: ErrorTemplatePolicy | None  # the route's error template, or the gateway's; None: the API's shape


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int  # the version compiled; key deltas of later versions change `keys` in place
    settings: GatewaySettings
    router: Router[CompiledRoute]
    keys: KeyTable
    upstreams: tuple[Upstream, ...]
    prices: PriceTable
    errors: ErrorTemplatePolicy | None  # the gateway's error template (for requests no route matches)
    group_scopes: dict[str, Scope]  # the groups that set request-phase policies
    chains: dict[tuple[str, frozenset[str]], Chain]  # (route, groups) -> chain, filled as met


def resolve_secrets(config: GatewayConfig) -> list[dict[str, str]]:
    """Each upstream's credentials (by field: 'auth', 'bedrock.secret_access_key'), resolved here (secrets travel
    as references): CompileError, naming the field, if one does not resolve."""
    resolved = []
    for index, spec in enumerate(config.upstreams):
        secrets: dict[str, str] = {}
        for field, ref in secret_refs(spec):
            try:
                secrets[".".join(field)] = resolve_secret(ref)
            except SecretError as exc:
                raise CompileError(ConfigProblem(("upstreams", index, *field), str(exc))) from None
        resolved.append(secrets)
    return resolved


def secret_refs(spec: LlmUpstream) -> list[tuple[tuple[str, ...], str]]:
    refs: list[tuple[tuple[str, ...], str | None]] = [(("auth",), spec.auth)]
    if spec.bedrock is not None:
        bedrock = spec.bedrock
        refs += [(("bedrock", "access_key_id"), bedrock.access_key_id)]
        refs += [(("bedrock", "secret_access_key"), bedrock.secret_access_key)]
        refs += [(("bedrock", "session_token"), bedrock.session_token)]
    return [(field, ref) for field, ref in refs if ref is not None]


def compiled_scope(policies: GroupPolicies, where: tuple[str | int, ...]) -> Scope:
    """A scope's policies compiled; CompileError naming the field of one that cannot run here."""
    try:
        return scope_of(policies)
    except PolicyError as exc:
        raise CompileError(ConfigProblem((*where, "policies", *exc.field), str(exc))) from None


def error_template(spec: ErrorTemplate | None, wider: ErrorTemplatePolicy | None) -> ErrorTemplatePolicy | None:
    """A scope's error template: its own, none where it turns the wider one off, else the wider one."""
    if spec is None:
        return wider
    return ErrorTemplatePolicy(spec) if spec.enabled else None


def group_budgets(group: ConsumerGroup) -> tuple[Budget, ...]:
    """A group's token limits and cost budget, as each of its consumers' budgets."""
    cost = cost_budget(group.name, group.cost_budget)
    return token_budgets(group.name, group.token_limit) + ((cost,) if cost else ())


def compile_snapshot(
    config: GatewayConfig, version: int, pool: UpstreamPool, keys: Iterable[KeyEntry] | None = None
) -> Snapshot:
    """`keys`, when given, are the key table's entries (a worker reads them as published, leaner than the config's
    consumers and API keys as models); else they come from the config."""
    upstreams: dict[str, Upstream] = {
        spec.name: pool.upstream(spec, secrets)
        for spec, secrets in zip(config.upstreams, resolve_secrets(config), strict=True)
    }

    gateway_scope = compiled_scope(config.gateway.policies, ("gateway",))
    gateway_errors = error_template(config.gateway.policies.error_template, None)
    entries: list[tuple[str, CompiledRoute]] = []
    for index, route in enumerate(config.routes):
        policies = route.policies
        prompt_scope = merged(gateway_scope, compiled_scope(policies, ("routes", index)))
        compiled = CompiledRoute(
            name=route.name,
            methods=frozenset(route.methods),
            upstream=upstreams[route.upstream],
            key_auth=policies.key_auth is not None,
            hide_credentials=policies.key_auth.hide_credentials if policies.key_auth else False,
            acl_allow=frozenset(policies.acl.allow) if policies.acl else None,
            usage=policies.usage is not None,
            include_usage_in_streams=bool(policies.usage and policies.usage.include_usage_in_streams),
            aliases={a.name: (upstreams[a.upstream], a.model) for a in route.models} if route.models else None,
            prompt_scope=prompt_scope,
            prompt_chain=chain(prompt_scope),
            errors=error_template(policies.error_template, gateway_errors),
        )
        entries.extend((path, compiled) for path in route.paths)

    group_limits = {
        g.name: Limit(g.name, g.rate_limit.requests, g.rate_limit.window_s)
        for g in config.consumer_groups
        if g.rate_limit is not None
    }
    if keys is None:
        consumers = {c.name: (tuple(c.groups), OwnLimits.of(c)) for c in config.consumers}
        keys = (
            KeyEntry(bytes.fromhex(k.key_sha256), k.consumer, groups, expiry_time(k.expires_at), own)
            for k in sorted(config.api_keys, key=lambda k: k.consumer)  # a consumer's keys in a row share an Identity
            for groups, own in (consumers[k.consumer],)
        )
    table = KeyTable(group_limits, {g.name: group_budgets(g) for g in config.consumer_groups})
    table.put(keys)
    return Snapshot(
        version=version,
        settings=config.gateway,
        router=Router(entries),
        keys=table,
        upstreams=tuple(upstreams.values()),
        prices=PriceTable(config.gateway.prices),
        errors=gateway_errors,
        group_scopes={
            g.name: scope
            for index, g in enumerate(config.consumer_groups)
            if (scope := compiled_scope(g.policies, ("consumer_groups", index)))
        },
        chains={},
    )
