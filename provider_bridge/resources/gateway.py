"""lockgate_gateway: a gateway runtime, run by its driver (drivers/): `process` (one local process, the default) or
`docker` (a control-plane container and `data_planes` data-plane containers). Import ID: the NAME.

Each start gets a fresh instance id (`lockgate serve --instance-id`); the gateway counts as started, and later as
running, only while its admin API's /health answers with that id, so a gateway already on the ports never passes
for this one. A docker gateway with fewer data planes running than declared reads back with that many, so the next
plan shows the drift and apply starts the missing ones. Destroy stops everything, frees the ports and removes the
gateway's directory (tokens, saved ports) and, for docker, its containers, network and volumes.
"""

from __future__ import annotations

import secrets
import shutil
import uuid
from pathlib import Path
from typing import Any, cast

from lockgate.provider_bridge import endpoints
from lockgate.provider_bridge.diagnostics import is_unknown, report_invalid
from lockgate.provider_bridge.docker_engine import EngineUnavailable
from lockgate.provider_bridge.drivers import process as process_driver
from lockgate.provider_bridge.drivers.base import DriverError, GatewayDriver, Placement, Started
from lockgate.provider_bridge.endpoints import Endpoint, gateway_dir, lockgate_home, lookup, register, unregister
from lockgate.provider_bridge.resources.process import ProcessResource, computed
from lockgate.provider_bridge.schema import parse
from lockgate.sdk import GatewayRuntime, GatewaySettings, LockgateError
from pydantic import ValidationError
from tf.iface import CreateContext, DeleteContext, ImportContext, PlanContext, ReadContext, UpdateContext
from tf.types import List, Number, String, Unknown
from tf.utils import Diagnostics


def driver_for(spec: GatewayRuntime) -> GatewayDriver:
    if spec.driver == "docker":
        from lockgate.provider_bridge.drivers.docker import DockerGateways  # the Docker SDK only when it is used

        return DockerGateways()
    return process_driver.ProcessGateways()


def _network(state: dict[str, Any]) -> str:
    return f"lockgate-{state['name']}" if state.get("driver") == "docker" else ""


def _extra_port(index: int) -> str:
    return f"proxy_port_{index}"  # data plane INDEX's port in ports.json (index 0 is proxy_port)


class GatewayResource(ProcessResource):
    name = "gateway"
    label = "Gateway"
    model = GatewayRuntime
    doc = (
        "A gateway runtime. Driver 'process' runs it as a local process, 'docker' as a control-plane container and "
        "data-plane containers. Import ID: NAME."
    )
    ports = ("proxy_port", "admin_port")
    replace_on = frozenset({"name", "environment", "region"})
    computed = (
        computed("id", "The gateway's name."),
        computed("pid", "Process id (process driver; 0 for docker).", Number()),
        computed("proxy_url", "Base URL of the (first data plane's) proxy; OpenAI clients use PROXY_URL/v1."),
        computed("proxy_urls", "Base URL of every data plane's proxy (put a load balancer in front).", List(String())),
        computed("admin_url", "Base URL of the admin API."),
        computed("admin_token_ref", "Secret reference (file:) to the admin token; the token is not in state."),
        computed("network", "docker: the gateway's Docker network (a docker lockgate_mock_llm joins it); else ''."),
        computed(
            "data_plane_states",
            "Each data plane as NAME=STATE (in_sync, behind, error, lost), from the control plane (docker).",
            List(String()),
        ),
    )

    @classmethod
    def directory(cls, name: str) -> Path:
        return gateway_dir(name)

    # -- plan ---------------------------------------------------------------------------------------------------
    def plan(self, ctx: PlanContext, current: dict[str, Any] | None, planned: dict[str, Any]) -> dict[str, Any]:
        if not is_unknown(planned.get("name")):
            endpoints.clear_destroy_planned(planned["name"])  # its entities' deletes need to know (endpoints.py)
        planned = super().plan(ctx, current, planned)
        if not is_unknown(planned.get("name")) and not is_unknown(planned.get("driver")):
            planned["network"] = _network(planned)  # known at plan time: a mock on it plans with it
        if current is not None:
            for name in ("pid", "proxy_url", "proxy_urls", "admin_url", "admin_token_ref", "data_plane_states"):
                planned[name] = current.get(name)
            if any(planned.get(f) != current.get(f) for f in GatewayRuntime.model_fields):
                planned["data_plane_states"] = Unknown  # what the data planes report once the change is made
            if planned.get("data_planes") != current.get("data_planes"):
                planned["proxy_urls"] = Unknown
            if planned.get("workers") != current.get("workers") and planned.get("driver") == "process":
                planned["pid"] = Unknown  # the process starts again with its new workers
        return planned

    def plan_destroy(self, ctx: PlanContext, current: dict[str, Any]) -> None:
        endpoints.mark_destroy_planned(current["name"])

    # -- ports: data planes after the first get theirs here, kept like the others ----------------------------------
    def _proxy_ports(self, state: dict[str, Any], count: int) -> tuple[int, ...]:
        saved = endpoints.saved_ports(gateway_dir(state["name"]))
        chosen = [int(state["proxy_port"])]
        taken = {int(state["admin_port"]), chosen[0]}
        for index in range(1, count):
            port = saved.get(_extra_port(index))
            while port is None or port in taken:
                port = process_driver.free_port(state["host"])
            chosen.append(port)
            taken.add(port)
        return tuple(chosen)

    def _keep(self, state: dict[str, Any], where: Placement) -> None:
        saved = endpoints.saved_ports(where.directory)
        saved.update({port: int(state[port]) for port in self.ports})
        saved.update({_extra_port(i): port for i, port in enumerate(where.proxy_ports) if i})
        endpoints.save_ports(where.directory, saved)

    def _spec(self, diags: Diagnostics, state: dict[str, Any]) -> GatewayRuntime | None:
        return cast(GatewayRuntime | None, self.checked_spec(diags, state))

    # -- CRUD ---------------------------------------------------------------------------------------------------
    def create(self, ctx: CreateContext, planned: dict[str, Any]) -> dict[str, Any] | None:
        state = self.choose_ports(planned)
        spec = self._spec(ctx.diagnostics, state)
        if spec is None:
            return None
        name = spec.name
        driver = driver_for(spec)
        if (ep := lookup(name)) is not None and self._alive(ctx.diagnostics, spec, driver, ep):
            ctx.diagnostics.add_error(
                f"Gateway '{name}' is already running", "Import it (ID: its name) or pick another name.", path=["name"]
            )
            return None
        if self.ports_taken(ctx.diagnostics, state):
            return None
        directory = gateway_dir(name)
        new_directory = not directory.exists()
        directory.mkdir(parents=True, exist_ok=True)
        where = Placement(state["admin_port"], self._proxy_ports(state, spec.data_planes), directory, uuid.uuid4().hex)
        for token_file in (where.admin_token_file, where.cluster_token_file):
            token_file.touch(mode=0o600)
            token_file.write_text(secrets.token_urlsafe(32))
        try:
            started = driver.start(spec, where)
        except (DriverError, EngineUnavailable) as exc:
            ctx.diagnostics.add_error(f"Gateway '{name}' did not start", str(exc))
            self.ports_taken(ctx.diagnostics, state)  # name the port (and its holder) if that was why
            if new_directory:
                shutil.rmtree(directory, ignore_errors=True)  # nothing of a start that failed stays behind
            return None
        self._keep(state, where)
        state = self._started(state, started, where)
        endpoint = Endpoint(
            started.admin_url, started.proxy_urls[0], state["admin_token_ref"], started.pid, where.instance_id
        )
        register(name, endpoint)
        if state.get("settings"):
            self._put_settings(ctx, endpoint, state)  # a failure is a diagnostic; the running gateway is kept
        state["data_plane_states"] = self._data_plane_states(spec, endpoint)
        return state

    def _started(self, state: dict[str, Any], started: Started, where: Placement) -> dict[str, Any]:
        return {
            **state,
            "id": state["name"],
            "pid": started.pid,
            "admin_url": started.admin_url,
            "proxy_url": started.proxy_urls[0],
            "proxy_urls": list(started.proxy_urls),
            "admin_token_ref": f"file:{where.admin_token_file}",
            "network": _network(state),
        }

    def _alive(self, diags: Diagnostics, spec: GatewayRuntime, driver: GatewayDriver, ep: Endpoint) -> bool:
        """Whether the registered gateway runs and is the process registered for it."""
        try:
            running = driver.running(spec, ep.pid)
        except EngineUnavailable as exc:
            diags.add_warning(f"Cannot tell whether gateway '{spec.name}' runs", str(exc))
            return False
        return running is not None and endpoints.is_registered_process(ep, endpoints.health(ep.admin_url + "/health"))

    def _put_settings(self, ctx: Any, endpoint: Endpoint, state: dict[str, Any]) -> bool:
        try:
            settings = parse(GatewaySettings, state.get("settings") or {})
        except ValidationError as exc:
            report_invalid(ctx.diagnostics, exc, GatewaySettings, "lockgate_gateway", prefix=("settings",))
            return False
        try:
            with endpoint.client() as client:
                client.update_settings(settings)
        except LockgateError as exc:
            ctx.diagnostics.add_error("Updating gateway settings failed", str(exc), path=["settings"])
            return False
        return True

    def _data_plane_states(self, spec: GatewayRuntime, endpoint: Endpoint) -> list[str]:
        if spec.driver != "docker":
            return []
        try:
            with endpoint.client() as client:
                listed = client.data_planes()
        except LockgateError:
            return []
        return [f"{d.name or d.id}={d.state}" for d in listed.data_planes]

    def read(self, ctx: ReadContext, current: dict[str, Any]) -> dict[str, Any] | None:
        endpoints.clear_destroy_planned(current["name"])  # a refresh starts every plan: an old destroy plan is void
        endpoint = lookup(current["name"])
        spec = self._spec(ctx.diagnostics, current)
        if endpoint is None or spec is None:
            return None
        driver = driver_for(spec)
        try:
            running = driver.running(spec, endpoint.pid)
        except EngineUnavailable as exc:
            ctx.diagnostics.add_warning(f"Gateway '{spec.name}' cannot be running: {exc}", "Apply starts it again.")
            return None
        if running is None:
            return None  # stopped or removed behind Terraform's back: plan to start it again
        if not endpoints.is_registered_process(endpoint, endpoints.health(endpoint.admin_url + "/health")):
            if spec.driver != "docker":
                return None
            # its control plane is down while data planes serve: the plan updates it in place (no new ports)
            return {**current, "data_planes": 0, "data_plane_states": []}
        state = {**current, "data_plane_states": self._data_plane_states(spec, endpoint)}
        if spec.driver == "docker" and running < spec.data_planes:
            state["data_planes"] = running  # the plan shows it, and apply starts the missing ones
        try:
            with endpoint.client() as client:
                live = client.settings()
        except LockgateError as exc:
            ctx.diagnostics.add_error(f"Reading gateway '{current['name']}' failed", str(exc))
            return current
        if live != parse(GatewaySettings, current.get("settings") or {}):
            state["settings"] = live.model_dump()
        return state

    def update(self, ctx: UpdateContext, current: dict[str, Any], planned: dict[str, Any]) -> dict[str, Any] | None:
        endpoint = lookup(current["name"])
        running = {**current, "data_planes": max(1, int(current.get("data_planes") or 1))}  # 0 read back: none run
        old, new = self._spec(ctx.diagnostics, running), self._spec(ctx.diagnostics, planned)
        if endpoint is None or old is None or new is None:
            if endpoint is None:
                ctx.diagnostics.add_error(f"Gateway '{current['name']}' is not running", "Run terraform apply again.")
            return current
        directory = gateway_dir(new.name)
        where = Placement(
            planned["admin_port"], self._proxy_ports(planned, new.data_planes), directory, endpoint.instance_id
        )
        try:
            started = driver_for(new).update(old, new, where, endpoint.pid)
        except (DriverError, EngineUnavailable) as exc:
            ctx.diagnostics.add_error(f"Updating gateway '{new.name}' failed", str(exc))
            return current
        self._keep(planned, where)
        state = self._started(planned, started, where)
        endpoint = Endpoint(
            started.admin_url, started.proxy_urls[0], state["admin_token_ref"], started.pid, where.instance_id
        )
        register(new.name, endpoint)
        if current.get("settings") != planned.get("settings") and not self._put_settings(ctx, endpoint, planned):
            state["settings"] = current.get("settings")
        state["data_plane_states"] = self._data_plane_states(new, endpoint)
        return state

    def delete(self, ctx: DeleteContext, current: dict[str, Any]) -> None:
        endpoint = lookup(current["name"])
        spec = parse(GatewayRuntime, current)
        try:
            driver_for(spec).stop(spec, int(endpoint.pid if endpoint else current.get("pid") or 0))
        except (DriverError, EngineUnavailable) as exc:
            ctx.diagnostics.add_error(f"Gateway '{spec.name}' could not be removed", str(exc))
            return
        unregister(current["name"])
        directory = gateway_dir(current["name"])
        if directory.is_relative_to(lockgate_home()):
            shutil.rmtree(directory, ignore_errors=True)

    def import_(self, ctx: ImportContext, id: str) -> dict[str, Any] | None:
        endpoint = lookup(id)
        if endpoint is None or not process_driver.is_ours(endpoint.pid):
            ctx.diagnostics.add_error(
                f"Cannot import gateway {id!r}",
                "Import ID is the gateway's NAME; no running gateway of that name is registered (a docker gateway "
                "is imported with its saved state: `terraform import` only adopts process gateways so far).",
            )
            return None
        host, _, admin_port = endpoint.admin_url.removeprefix("http://").rpartition(":")
        proxy_port = int(endpoint.proxy_url.rpartition(":")[2])
        return {
            **GatewayRuntime(name=id, host=host, admin_port=int(admin_port), proxy_port=proxy_port).model_dump(),
            "id": id,
            "pid": endpoint.pid,
            "admin_url": endpoint.admin_url,
            "proxy_url": endpoint.proxy_url,
            "proxy_urls": [endpoint.proxy_url],
            "admin_token_ref": endpoint.admin_token_ref,
            "network": "",
            "data_plane_states": [],
        }
