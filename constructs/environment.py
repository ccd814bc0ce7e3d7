"""Environments: one definition of a gateway, deployed per environment and region with each one's overlay.

An `EnvironmentStack` subclass defines the gateway once (`define`); each `Environment` (staging-us, prod-eu) is a
stack of it, named `APP-ENV-REGION`, whose `Overlay` the constructs apply to what `define` declares: upstream URLs,
models and secret references by upstream name, every consumer limit scaled, the number of data planes. What differs
per environment is data in one place, so `lockgate promote` can say that a target runs its source's definition with
its own overlay (the `environment` output names the app, the environment and the region).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cdktn import TerraformOutput, TerraformStack
from lockgate.constructs.errors import ConstructValidationError
from lockgate.constructs.runtime import DockerRuntime, Gateway, ProcessRuntime

from constructs import Construct

if TYPE_CHECKING:
    from lockgate.constructs.consumers import Consumer
    from lockgate.constructs.route import Route

LIMIT_PROPS = ("rate_limit", "token_limit", "cost_budget")  # on consumer groups and consumers
ENVIRONMENT_OUTPUT = "environment"
SMOKE_OUTPUT = "smoke_check"


@dataclass(frozen=True, kw_only=True)
class UpstreamOverlay:
    """What an environment changes on one upstream (by its name); unset fields keep the definition's."""

    base_url: str | None = None
    auth: str | None = None  # a secret reference (env:NAME, file:PATH), never the key
    model: str | None = None


@dataclass(frozen=True, kw_only=True)
class Overlay:
    """What differs per environment: `upstreams` by name; `limits_scale` multiplies every consumer limit (requests,
    tokens, USD; rounded, at least 1); `data_planes` for a Docker runtime."""

    upstreams: Mapping[str, UpstreamOverlay] = field(default_factory=dict)
    limits_scale: float = 1.0
    data_planes: int | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.limits_scale) and self.limits_scale > 0):
            raise ConstructValidationError(f"Overlay: limits_scale must be a number above 0, not {self.limits_scale!r}")

    def apply(self, type_name: str, name: str, props: dict[str, Any]) -> dict[str, Any]:
        """The props of entity `name` of `type_name` in this environment."""
        out = dict(props)
        upstream = self.upstreams.get(name) if type_name == "llm_upstream" else None
        if upstream is not None:
            out.update({k: v for k, v in dataclasses.asdict(upstream).items() if v is not None})
        if self.limits_scale != 1.0:
            for key in LIMIT_PROPS:
                if isinstance(out.get(key), dict):
                    out[key] = _scaled(out[key], self.limits_scale)
        return out


def _scaled(limit: dict[str, Any], scale: float) -> dict[str, Any]:
    out = dict(limit)
    for key, value in limit.items():
        if key == "usd":
            out[key] = round(value * scale, 6)
        elif key != "window_s" and isinstance(value, int) and not isinstance(value, bool):
            out[key] = max(1, round(value * scale))
    return out


@dataclass(frozen=True)
class Environment:
    """An environment (`staging`, `prod`) in one region (`us`, `eu`), with what differs there."""

    name: str
    region: str
    overlay: Overlay = field(default_factory=Overlay)

    def runtime(self, runtime: ProcessRuntime | DockerRuntime | None) -> ProcessRuntime | DockerRuntime:
        """`runtime` labelled with this environment and region, with the overlay's number of data planes."""
        if isinstance(runtime, DockerRuntime):
            planes = self.overlay.data_planes if self.overlay.data_planes is not None else runtime.data_planes
            return dataclasses.replace(runtime, environment=self.name, region=self.region, data_planes=planes)
        return runtime or ProcessRuntime()


class EnvironmentStack(TerraformStack):
    """One environment of an app: a stack named `APP-ENV-REGION` with a gateway of that name, built by `define`
    (override it) with the environment's overlay. `runtime`: how the gateway runs (a process by default)."""

    app = ""  # the definition's name: stacks of one app are promoted between each other

    def __init__(
        self, scope: Construct, environment: Environment, runtime: ProcessRuntime | DockerRuntime | None = None
    ) -> None:
        if not self.app:
            name = type(self).__name__
            raise ConstructValidationError(f"{name}: set the class attribute `app` (the definition's name)")
        super().__init__(scope, f"{self.app}-{environment.name}-{environment.region}")
        self.environment = environment
        self.gateway = Gateway(
            self, "gateway", name=self.node.id, runtime=environment.runtime(runtime), overlay=environment.overlay
        )
        about = {"app": self.app, "environment": environment.name, "region": environment.region}
        TerraformOutput(self, ENVIRONMENT_OUTPUT, value=about, description="what `lockgate promote` checks")
        self.define(self.gateway)

    def define(self, gateway: Gateway) -> None:
        """Declare the gateway's upstreams, groups and routes (the same code in every environment)."""
        raise NotImplementedError

    def smoke_check(self, route: Route, consumer: Consumer, model: str = "smoke-check") -> None:
        """What `lockgate promote --apply` sends through every data plane after an apply: a one-token chat
        completion on `route`'s first path, with `consumer`'s key (a sensitive output)."""
        path = next((p for p in route.paths if not p.startswith("~")), None)
        if path is None:
            raise ConstructValidationError(f"{route.node.path}: a smoke check needs a plain path (not only ~patterns)")
        value = {"proxy_urls": self.gateway.proxy_urls, "path": path, "api_key": consumer.api_key, "model": model}
        TerraformOutput(self, SMOKE_OUTPUT, value=value, sensitive=True, description="lockgate promote's check")
