"""The one table of entity kinds: name, admin API path, models, and what each kind refers to. The config's
reference checks, the admin API's routes, the admin client and the control plane derive from it, so adding a kind or
a reference is one row here.

    kind             path              model          record               refers to
    upstreams        upstreams         LlmUpstream    UpstreamRecord       -
    routes           routes            Route          RouteRecord          upstream, models[].upstream,
                                                                            policies.acl.allow[]
    consumer_groups  consumer-groups   ConsumerGroup  ConsumerGroupRecord  -
    consumers        consumers         Consumer       ConsumerRecord       groups[]
    api_keys         api-keys          ApiKey         ApiKeyRecord         consumer   (created from ApiKeyCreate)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from lockgate.sdk.api import (
    ApiKeyRecord,
    ConsumerGroupRecord,
    ConsumerRecord,
    RouteRecord,
    UpstreamRecord,
)
from lockgate.sdk.entities import ApiKey, ApiKeyCreate, Consumer, ConsumerGroup, LlmUpstream, Route
from pydantic import BaseModel

EntityKind = Literal["upstreams", "routes", "consumer_groups", "consumers", "api_keys"]
Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Reference:
    """Names of `target` entities that an entity mentions, each with its location inside the entity."""

    target: EntityKind
    names: Callable[[Any], Iterator[tuple[Loc, str]]]


@dataclass(frozen=True)
class Kind:
    name: EntityKind
    path: str  # the admin API's URL segment
    singular: str  # for messages: "consumer group 'gold' does not exist"
    model: type[BaseModel]  # what is stored and served
    record: type[BaseModel]  # what the admin API answers
    create: type[BaseModel] | None = None  # what a create takes, when not `model`
    references: tuple[Reference, ...] = field(default=())


def _route_refs(route: Route) -> Iterator[tuple[Loc, str]]:
    yield ("upstream",), route.upstream
    for index, alias in enumerate(route.models):
        yield ("models", index, "upstream"), alias.upstream


def _acl_refs(route: Route) -> Iterator[tuple[Loc, str]]:
    if route.policies.acl is not None:
        for index, group in enumerate(route.policies.acl.allow):
            yield ("policies", "acl", "allow", index), group


def _group_refs(consumer: Consumer) -> Iterator[tuple[Loc, str]]:
    for index, group in enumerate(consumer.groups):
        yield ("groups", index), group


def _consumer_ref(key: ApiKey) -> Iterator[tuple[Loc, str]]:
    yield ("consumer",), key.consumer


KINDS: dict[EntityKind, Kind] = {
    kind.name: kind
    for kind in (
        Kind("upstreams", "upstreams", "upstream", LlmUpstream, UpstreamRecord),
        Kind(
            "routes",
            "routes",
            "route",
            Route,
            RouteRecord,
            references=(Reference("upstreams", _route_refs), Reference("consumer_groups", _acl_refs)),
        ),
        Kind("consumer_groups", "consumer-groups", "consumer group", ConsumerGroup, ConsumerGroupRecord),
        Kind(
            "consumers",
            "consumers",
            "consumer",
            Consumer,
            ConsumerRecord,
            references=(Reference("consumer_groups", _group_refs),),
        ),
        Kind(
            "api_keys",
            "api-keys",
            "API key",
            ApiKey,
            ApiKeyRecord,
            create=ApiKeyCreate,
            references=(Reference("consumers", _consumer_ref),),
        ),
    )
}
ENTITY_KINDS: tuple[EntityKind, ...] = tuple(KINDS)
