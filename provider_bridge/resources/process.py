"""What lockgate_gateway and lockgate_mock_llm share: a local process on ports that stay its ports.

Ports the user leaves unset are picked free once, at the first create, and saved in the runtime's directory
(`ports.json`); a runtime that is re-created (its process died) or planned again gets them back, so client URLs do not
change. The directory goes only with a destroy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from lockgate.provider_bridge.diagnostics import is_unknown
from lockgate.provider_bridge.drivers import process as driver
from lockgate.provider_bridge.endpoints import save_ports, saved_ports
from lockgate.provider_bridge.framework import ModelResource
from tf.iface import PlanContext
from tf.schema import Attribute, Schema
from tf.types import String, Unknown
from tf.utils import Diagnostics


def computed(name: str, description: str, type_: Any = None, sensitive: bool = False) -> Attribute:
    return Attribute(name, type_ or String(), description=description, computed=True, sensitive=sensitive)


class ProcessResource(ModelResource):
    ports: ClassVar[tuple[str, ...]] = ()
    label: ClassVar[str]  # "Gateway", "Mock LLM": how messages name it

    @classmethod
    def get_schema(cls) -> Schema:
        schema = super().get_schema()
        for attr in schema.attributes:
            if attr.name in cls.ports:
                attr.computed = True
            attr.requires_replace = attr.requires_replace or attr.name in (*cls.ports, "host", "driver", "name")
        return schema

    @classmethod
    def directory(cls, name: str) -> Path:
        raise NotImplementedError

    def plan(self, ctx: PlanContext, current: dict[str, Any] | None, planned: dict[str, Any]) -> dict[str, Any]:
        planned = super().plan(ctx, current, planned)
        planned["id"] = planned["name"]  # known at plan time, so dependents plan with known values
        name = planned["name"]
        saved = {} if current or is_unknown(name) else saved_ports(self.directory(name))
        for port in self.ports:
            if planned.get(port) is None:
                planned[port] = current[port] if current else saved.get(port, Unknown)
        return planned

    def choose_ports(self, planned: dict[str, Any]) -> dict[str, Any]:
        """The planned state with every port known: free ones where still unknown."""
        chosen = dict(planned)
        for port in self.ports:
            if chosen.get(port) in (None, Unknown):
                taken = {chosen.get(other) for other in self.ports}
                while (candidate := driver.free_port(chosen["host"])) in taken:
                    pass  # nothing listens on a port chosen a moment ago: do not hand it out twice
                chosen[port] = candidate
            chosen[port] = int(chosen[port])
        return chosen

    def keep_ports(self, state: dict[str, Any]) -> None:
        """Once the process runs on them, these are its ports for every re-creation until a destroy."""
        save_ports(self.directory(state["name"]), {port: state[port] for port in self.ports})

    def ports_taken(self, diags: Diagnostics, state: dict[str, Any]) -> bool:
        """An error on each port something else listens on (naming the holder); True if there was any."""
        taken = False
        for port in self.ports:
            if driver.port_in_use(state["host"], state[port]):
                holder = driver.port_holder(state[port]) or "another process"
                diags.add_error(
                    f"{self.label} '{state['name']}' did not start: {port} {state[port]} is in use",
                    f"{state['host']}:{state[port]} is already held by {holder}. Stop that process, or set {port} "
                    "to a free port (a port chosen by lockgate is kept for this name until it is destroyed).",
                    path=[port],
                )
                taken = True
        return taken
