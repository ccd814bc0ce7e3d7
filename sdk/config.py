"""`GatewayConfig`: a whole gateway's declarative configuration, and the cross-entity rules it must satisfy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lockgate.sdk._base import StrictModel
from lockgate.sdk.entities import ApiKey, Consumer, ConsumerGroup, GatewaySettings, LlmUpstream, Route
from lockgate.sdk.kinds import ENTITY_KINDS, KINDS, EntityKind
from pydantic import Field, model_validator

__all__ = ["ENTITY_KINDS", "ConfigProblem", "EntityKind", "GatewayConfig", "find_problems"]


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

    for table in KINDS.values():
        for index, entity in enumerate(getattr(config, table.name)):
            for reference in table.references:
                for loc, name in reference.names(entity):
                    if name not in names[reference.target]:
                        what = KINDS[reference.target].singular
                        message = f"{what} {name!r} does not exist; create it first or fix the name"
                        problems.append(ConfigProblem((table.name, index, *loc), message))
    return problems
