"""What a promotion changes on a target, in the gateway's terms, and for whom.

`impact(before, after, usage)` compares two GatewayConfigs (what the target runs, what it will run) generically over
the SDK models: every entity kind but consumers and API keys (an environment's own, never promoted) is diffed field
by field, so kinds and fields added later appear without changes here. Then, from the target's usage over the last
24 hours, each consumer the change reaches: access lost or gained to a route, a lower or higher limit (the tightest
of its groups', or its own), another upstream, provider or model on a route it used, and the expected cost of its
last day's traffic at the new models and prices.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from lockgate.gateway_runtime.data.prices import PriceTable
from lockgate.gateway_runtime.data.usage import Tokens
from lockgate.sdk import Consumer, GatewayConfig, LlmUpstream, Route, UsageRow
from lockgate.sdk.config import ENTITY_KINDS
from lockgate.sdk.kinds import KINDS

NOT_PROMOTED = frozenset({"consumers", "api_keys"})  # each environment's own
LIMITS = ("rate_limit", "token_limit", "cost_budget")
MONTH_DAYS = 30  # a monthly budget compared with a daily one as 1/30 of it a day

Effect = Literal["loses_access", "gains_access", "lower_limit", "higher_limit", "model_change"]


@dataclass(frozen=True)
class FieldChange:
    path: str
    before: Any
    after: Any


@dataclass(frozen=True)
class EntityChange:
    kind: str  # singular, as the gateway says it: "route", "consumer group", "gateway settings"
    name: str
    action: Literal["added", "changed", "removed"]
    fields: tuple[FieldChange, ...] = ()


@dataclass(frozen=True)
class Volume:
    requests: int = 0
    tokens: int = 0

    def __add__(self, other: Volume) -> Volume:
        return Volume(self.requests + other.requests, self.tokens + other.tokens)


@dataclass(frozen=True)
class ConsumerEffect:
    consumer: str
    groups: tuple[str, ...]
    effect: Effect
    detail: str
    route: str | None
    volume: Volume  # over the last 24 h, of what the effect reaches (the route, the model, or all it sent)


@dataclass(frozen=True)
class GroupEffect:
    group: str
    effect: Effect
    detail: str
    consumers: int
    volume: Volume


@dataclass
class Impact:
    changes: list[EntityChange] = field(default_factory=list)
    consumers: list[ConsumerEffect] = field(default_factory=list)
    groups: list[GroupEffect] = field(default_factory=list)
    cost_before_micros: int = 0  # the last 24 h's traffic at today's models and prices
    cost_after_micros: int = 0  # the same traffic after the change (none where access is lost)

    @property
    def empty(self) -> bool:
        return not (self.changes or self.consumers or self.groups)


def impact(before: GatewayConfig, after: GatewayConfig, usage: Iterable[UsageRow]) -> Impact:
    """`usage`: rows grouped by consumer, route and model."""
    rows = list(usage)
    result = Impact(changes=entity_changes(before, after))
    old, new = _Index(before), _Index(after)
    volumes: dict[str, Volume] = {}
    for row in rows:
        if row.consumer:
            volumes[row.consumer] = volumes.get(row.consumer, Volume()) + _volume(row)
    for consumer in sorted(old.consumers.values(), key=lambda c: c.name):
        now = new.consumers.get(consumer.name, consumer)
        mine = [r for r in rows if r.consumer == consumer.name]
        result.consumers += _access_effects(old, new, consumer, now, mine)
        result.consumers += _limit_effects(old, new, consumer, now, volumes.get(consumer.name, Volume()))
        result.consumers += _model_effects(old, new, consumer, now, mine)
    result.groups = _group_effects(old, new, volumes)
    for row in rows:
        caller = old.consumers.get(row.consumer or "")
        if caller is None or row.route is None or row.model is None:
            continue
        tokens = Tokens(row.prompt_tokens, row.completion_tokens, row.total_tokens, row.cached_tokens)
        result.cost_before_micros += old.prices.cost_micros(row.model, tokens)
        route = new.routes.get(row.route)
        if route is not None and _can_use(route, new.consumers.get(caller.name, caller)):
            model = _served_after(old, new, row.route, row.model)
            result.cost_after_micros += new.prices.cost_micros(model or row.model, tokens)
    return result


# -- entities, generically --------------------------------------------------------------------------------------
def entity_changes(before: GatewayConfig, after: GatewayConfig) -> list[EntityChange]:
    changes: list[EntityChange] = []
    settings = diff(before.gateway.model_dump(mode="json"), after.gateway.model_dump(mode="json"))
    if settings:
        changes.append(EntityChange("gateway settings", "", "changed", tuple(settings)))
    for kind in ENTITY_KINDS:
        if kind in NOT_PROMOTED:
            continue
        singular = KINDS[kind].singular
        old = {e.name: e.model_dump(mode="json") for e in getattr(before, kind)}
        new = {e.name: e.model_dump(mode="json") for e in getattr(after, kind)}
        for name in sorted(old.keys() | new.keys()):
            if name not in new:
                changes.append(EntityChange(singular, name, "removed"))
            elif name not in old:
                changes.append(EntityChange(singular, name, "added", tuple(diff({}, _without_name(new[name])))))
            elif fields := diff(old[name], new[name]):
                changes.append(EntityChange(singular, name, "changed", tuple(fields)))
    return changes


def diff(before: Any, after: Any, path: str = "") -> list[FieldChange]:
    """Field by field: objects by key, lists of named objects by name (`models[smart].model`), other lists whole."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[FieldChange] = []
        for key in list(before) + [k for k in after if k not in before]:
            out += diff(before.get(key), after.get(key), f"{path}.{key}" if path else key)
        return out
    if _named(before) and _named(after):
        old, new = {i["name"]: i for i in before}, {i["name"]: i for i in after}
        out = []
        for name in list(old) + [n for n in new if n not in old]:
            out += diff(old.get(name), new.get(name), f"{path}[{name}]")
        return out
    if isinstance(before, dict) and after is None:
        return [FieldChange(path, before, None)]
    if before is None and isinstance(after, dict):
        return [FieldChange(path, None, after)]
    return [] if before == after else [FieldChange(path, before, after)]


def _named(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(i, dict) and "name" in i for i in value)


def _without_name(entity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entity.items() if k != "name" and v not in (None, [], {})}


# -- who -----------------------------------------------------------------------------------------------------------
class _Index:
    def __init__(self, config: GatewayConfig) -> None:
        self.routes: dict[str, Route] = {r.name: r for r in config.routes}
        self.upstreams: dict[str, LlmUpstream] = {u.name: u for u in config.upstreams}
        self.groups = {g.name: g for g in config.consumer_groups}
        self.consumers: dict[str, Consumer] = {c.name: c for c in config.consumers}
        self.prices = PriceTable(config.gateway.prices)

    def limits(self, consumer: Consumer, kind: str) -> list[Any]:
        own = getattr(consumer, kind)
        if own is not None:
            return [own]
        return [
            getattr(self.groups[g], kind) for g in consumer.groups if g in self.groups and getattr(self.groups[g], kind)
        ]

    def served(self, route: Route) -> dict[str | None, tuple[str, str, str | None]]:
        """What serves each model a client may ask for: alias -> (upstream, provider, model); None -> the route's
        upstream (model None: the client's own). An upstream's fixed model wins over an alias's."""

        def entry(upstream_name: str, model: str | None) -> tuple[str, str, str | None]:
            upstream = self.upstreams.get(upstream_name)
            if upstream is None:
                return upstream_name, "?", model
            return upstream_name, upstream.type, upstream.model or model

        if route.models:
            return {alias.name: entry(alias.upstream, alias.model) for alias in route.models}
        return {None: entry(route.upstream, None)}


def _can_use(route: Route, consumer: Consumer) -> bool:
    if route.policies.key_auth is None:
        return True
    acl = route.policies.acl
    return acl is None or not set(acl.allow).isdisjoint(consumer.groups)


def _volume(row: UsageRow) -> Volume:
    return Volume(row.requests, row.total_tokens)


def _access_effects(
    old: _Index, new: _Index, was: Consumer, now: Consumer, rows: list[UsageRow]
) -> list[ConsumerEffect]:
    out = []
    for name in sorted(old.routes.keys() | new.routes.keys()):
        before = name in old.routes and _can_use(old.routes[name], was)
        after = name in new.routes and _can_use(new.routes[name], now)
        if before == after:
            continue
        volume = sum((_volume(r) for r in rows if r.route == name), Volume())
        if before:
            why = (
                "the route is removed" if name not in new.routes else f"its groups {sorted(now.groups)} are not allowed"
            )
            out.append(
                ConsumerEffect(was.name, tuple(now.groups), "loses_access", f"route {name}: {why}", name, volume)
            )
        else:
            out.append(ConsumerEffect(was.name, tuple(now.groups), "gains_access", f"route {name}", name, volume))
    return out


def _limit_effects(old: _Index, new: _Index, was: Consumer, now: Consumer, volume: Volume) -> list[ConsumerEffect]:
    out = []
    for kind in LIMITS:
        before, after = old.limits(was, kind), new.limits(now, kind)
        effect = _direction(_allowances(kind, before, after))
        if effect is not None:
            detail = f"{kind.replace('_', ' ')}: {_describe(kind, before)} -> {_describe(kind, after)}"
            out.append(ConsumerEffect(was.name, tuple(now.groups), effect, detail, None, volume))
    return out


def _direction(allowances: list[tuple[float | None, float | None]]) -> Effect | None:
    """Lower when any window's allowance shrinks (a limit where there was none included), else higher if any grows."""
    changed = [(b, a) for b, a in allowances if a != b]
    if not changed:
        return None
    lower = any(b is None or (a is not None and a < b) for b, a in changed)
    return "lower_limit" if lower else "higher_limit"


def _allowances(kind: str, before: list[Any], after: list[Any]) -> list[tuple[float | None, float | None]]:
    """The tightest allowance before and after, per window, as numbers (None: no limit)."""

    def tightest(values: Iterable[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return min(present) if present else None

    if kind == "rate_limit":
        return [(tightest(r.requests / r.window_s for r in before), tightest(r.requests / r.window_s for r in after))]
    if kind == "token_limit":
        windows = ("per_minute", "per_hour", "per_day")
        return [(tightest(getattr(t, w) for t in before), tightest(getattr(t, w) for t in after)) for w in windows]
    daily = [c.usd if c.per == "day" else c.usd / MONTH_DAYS for c in before]
    return [(tightest(daily), tightest(c.usd if c.per == "day" else c.usd / MONTH_DAYS for c in after))]


def _describe(kind: str, limits: list[Any]) -> str:
    if not limits:
        return "none"
    if kind == "rate_limit":
        return ", ".join(f"{r.requests}/{r.window_s}s" for r in limits)
    if kind == "token_limit":
        windows = ("per_minute", "per_hour", "per_day")
        return ", ".join(
            " ".join(f"{getattr(t, w):,}/{w.removeprefix('per_')}" for w in windows if getattr(t, w)) for t in limits
        )
    return ", ".join(f"${c.usd:g}/{c.per}" for c in limits)


def _served_before(old: _Index, route: str, model: str) -> str | None:
    """The alias (or None: the route's upstream) that served `model` on `route`."""
    for alias, (_, _, served) in old.served(old.routes[route]).items():
        if served is None or served == model:
            return alias
    return None


def _served_after(old: _Index, new: _Index, route: str, model: str) -> str | None:
    """The model a request that got `model` on `route` gets after the change (None: unknown, or the client's)."""
    if route not in old.routes or route not in new.routes:
        return None
    alias = _served_before(old, route, model)
    entry = new.served(new.routes[route]).get(alias)
    return entry[2] if entry is not None else None


def _model_effects(
    old: _Index, new: _Index, was: Consumer, now: Consumer, rows: list[UsageRow]
) -> list[ConsumerEffect]:
    out = []
    for row in rows:
        route, model = row.route, row.model
        if route is None or model is None or route not in old.routes or route not in new.routes:
            continue
        if not _can_use(new.routes[route], now):
            continue  # reported as lost access
        alias = _served_before(old, route, model)
        before = old.served(old.routes[route]).get(alias)
        after = new.served(new.routes[route]).get(alias)
        if before == after or before is None:
            continue
        asked = f"model {alias}" if alias is not None else "its model"
        if after is None:
            detail = f"route {route}, {asked}: removed (was {_serving(before, model, True)})"
        else:
            moved = before[:2] != after[:2]  # another upstream or provider: say which
            detail = f"route {route}, {asked}: {_serving(before, model, moved)} -> {_serving(after, model, moved)}"
        out.append(ConsumerEffect(was.name, tuple(now.groups), "model_change", detail, route, _volume(row)))
    return out


def _serving(entry: tuple[str, str, str | None], asked: str, where: bool) -> str:
    upstream, provider, model = entry
    return f"{model or asked} (upstream {upstream}, {provider})" if where else model or asked


def _group_effects(old: _Index, new: _Index, used: dict[str, Volume]) -> list[GroupEffect]:
    members: dict[str, list[str]] = {}
    for consumer in old.consumers.values():
        for group in consumer.groups:
            members.setdefault(group, []).append(consumer.name)
    out = []
    for name in sorted(old.groups):
        names = members.get(name, [])
        volume = sum((used.get(c, Volume()) for c in names), Volume())
        probe = Consumer(name="probe", groups=[name])
        for route in sorted(old.routes):
            acl = old.routes[route].policies.acl
            if acl is None or name not in acl.allow:
                continue
            if route not in new.routes or not _can_use(new.routes[route], probe):
                out.append(GroupEffect(name, "loses_access", f"route {route}", len(names), volume))
        if name in new.groups:
            for kind in LIMITS:
                b, a = getattr(old.groups[name], kind), getattr(new.groups[name], kind)
                before, after = [b] if b else [], [a] if a else []
                effect = _direction(_allowances(kind, before, after))
                if effect is not None:
                    detail = f"{kind.replace('_', ' ')}: {_describe(kind, before)} -> {_describe(kind, after)}"
                    out.append(GroupEffect(name, effect, detail, len(names), volume))
        else:
            out.append(GroupEffect(name, "loses_access", "the group is removed", len(names), volume))
    return out


def as_json(result: Impact) -> dict[str, Any]:
    """For `--format json`."""

    def plain(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if hasattr(value, "__dataclass_fields__"):
            return {k: plain(getattr(value, k)) for k in value.__dataclass_fields__}
        return value

    out: dict[str, Any] = plain(result)
    out["cost_change_micros"] = result.cost_after_micros - result.cost_before_micros
    return out
