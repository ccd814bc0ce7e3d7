"""`GatewayConfig`: a whole gateway's declarative configuration, and the cross-entity rules it must satisfy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lockgate.sdk._base import StrictModel
from lockgate.sdk.entities import ApiKey, Consumer, ConsumerGroup, GatewaySettings, LlmUpstream, Route
from pydantic import Field, model_validator

EntityKind = Literal["upstreams", "routes", "consumer_groups", "consumers", "api_keys"]
ENTITY_KINDS: tuple[EntityKind, ...] = ("upstreams", "routes", "consumer_groups", "consumers", "api_keys")


@dataclass(frozen=True)
class ConfigProblem:
    """One broken rule: `loc` is the path of the offending field inside the config."""

    loc: tuple[str | int, ...]
    message: str

    def __str__(self) -> str:
        path = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in self.loc).replace(".[", "[")
        return f"{path}: {self.message}"


class GatewayConfig(StrictModel):
    """Everything a gateway serves. Loaded from a file (DB-less mode) or assembled by the control plane's store."""

    format_version: Literal[1] = 1
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    upstreams: list[LlmUpstream] = []
    routes: list[Route] = []
    consumer_groups: list[ConsumerGroup] = []
    consumers: list[Consumer] = []
    api_keys: list[ApiKey] = []

    @model_validator(mode="after")
    def _references(self) -> GatewayConfig:
        problems = find_problems(self)
        if problems:
            raise ValueError("; ".join(str(p) for p in problems))
        return self


def find_problems(config: GatewayConfig) -> list[ConfigProblem]:
    """Cross-entity rules: unique names, and every reference names an entity that exists."""
    problems: list[ConfigProblem] = []
    names: dict[str, set[str]] = {}
    for kind in ENTITY_KINDS:
        seen: set[str] = set()
        for index, entity in enumerate(getattr(config, kind)):
            if entity.name in seen:
                problems.append(ConfigProblem((kind, index, "name"), f"{entity.name!r} is defined twice in {kind}"))
            seen.add(entity.name)
        names[kind] = seen

    def missing(loc: tuple[str | int, ...], kind: EntityKind, name: str, what: str) -> None:
        if name not in names[kind]:
            problems.append(ConfigProblem(loc, f"{what} {name!r} does not exist; create it first or fix the name"))

    for i, route in enumerate(config.routes):
        missing(("routes", i, "upstream"), "upstreams", route.upstream, "upstream")
        if route.policies.acl is not None:
            for j, group in enumerate(route.policies.acl.allow):
                missing(("routes", i, "policies", "acl", "allow", j), "consumer_groups", group, "consumer group")
    for i, consumer in enumerate(config.consumers):
        for j, group in enumerate(consumer.groups):
            missing(("consumers", i, "groups", j), "consumer_groups", group, "consumer group")
    for i, key in enumerate(config.api_keys):
        missing(("api_keys", i, "consumer"), "consumers", key.consumer, "consumer")
    return problems


def referrers(config: GatewayConfig, kind: EntityKind, name: str) -> list[str]:
    """Entities that refer to `kind`/`name`, as 'routes/chat' strings: they block its deletion."""
    found: list[str] = []
    if kind == "upstreams":
        found += [f"routes/{r.name}" for r in config.routes if r.upstream == name]
    elif kind == "consumer_groups":
        found += [f"consumers/{c.name}" for c in config.consumers if name in c.groups]
        found += [f"routes/{r.name}" for r in config.routes if r.policies.acl and name in r.policies.acl.allow]
    elif kind == "consumers":
        found += [f"api_keys/{k.name}" for k in config.api_keys if k.consumer == name]
    return found
