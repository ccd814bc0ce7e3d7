"""Route and its policies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lockgate.constructs._resource import GatewayEntity
from lockgate.constructs.consumers import ConsumerGroup
from lockgate.constructs.errors import ConstructValidationError
from lockgate.constructs.runtime import GatewayRef
from lockgate.constructs.upstream import LlmUpstream
from lockgate.sdk import Route as RouteModel

from constructs import Construct


@dataclass(frozen=True)
class Policy:
    """A route policy. Use the factories: `Policy.key_auth()`, `Policy.acl(gold, silver)`, `Policy.usage()`."""

    kind: str
    props: dict[str, Any]
    groups: tuple[ConsumerGroup, ...] = ()

    @classmethod
    def key_auth(cls, *, hide_credentials: bool = True) -> Policy:
        """Require an API key (Bearer, x-api-key or apikey); the key is stripped before the upstream."""
        return cls("key_auth", {"hide_credentials": hide_credentials})

    @classmethod
    def acl(cls, *groups: ConsumerGroup) -> Policy:
        """Allow only consumers in one of these groups (needs key_auth)."""
        return cls("acl", {}, tuple(groups))

    @classmethod
    def usage(cls, *, include_usage_in_streams: bool = True) -> Policy:
        """Record prompt/completion/total tokens per request, streams included."""
        return cls("usage", {"include_usage_in_streams": include_usage_in_streams})


class Route(GatewayEntity):
    """Paths of a gateway served by an upstream through policies (see `lockgate.sdk.Route` for matching)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        gateway: GatewayRef,
        upstream: LlmUpstream,
        paths: Sequence[str],
        policies: Sequence[Policy] | None = None,
        methods: Sequence[str] | None = None,
        models: Mapping[str, tuple[LlmUpstream, str]] | None = None,
        name: str | None = None,
    ) -> None:
        """`models`: aliases clients ask for, each served by an upstream and its model
        (`{"fast": (openai, "gpt-4o-mini"), "smart": (claude, "claude-sonnet-4")}`); when given, only they."""
        policy_props: dict[str, Any] = {}
        for policy in policies or ():
            if policy.kind in policy_props:
                raise ConstructValidationError(f"{scope.node.path}/{id}: policies lists {policy.kind} twice")
            props = dict(policy.props)
            if policy.kind == "acl":
                props["allow"] = [g.ref for g in policy.groups]
            policy_props[policy.kind] = props
        props = {
            "paths": list(paths),
            "methods": list(methods) if methods else None,
            "upstream": upstream.ref,
            "models": [{"name": n, "upstream": up.ref, "model": m} for n, (up, m) in models.items()]
            if models
            else None,
            "policies": policy_props or None,
        }
        super().__init__(scope, id, gateway=gateway, name=name, type_name="route", model=RouteModel, props=props)
