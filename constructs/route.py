"""Route: paths of a gateway, its upstream, model aliases and policies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lockgate.constructs._resource import GatewayEntity
from lockgate.constructs.policies import Policy, policy_props
from lockgate.constructs.runtime import GatewayRef
from lockgate.constructs.upstream import LlmUpstream
from lockgate.sdk import Route as RouteModel

from constructs import Construct


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
        props = {
            "paths": list(paths),
            "methods": list(methods) if methods else None,
            "upstream": upstream.ref,
            "models": [{"name": n, "upstream": up.ref, "model": m} for n, (up, m) in models.items()]
            if models
            else None,
            "policies": policy_props(f"{scope.node.path}/{id}", policies),
        }
        super().__init__(scope, id, gateway=gateway, name=name, type_name="route", model=RouteModel, props=props)
        self.paths = list(paths)
