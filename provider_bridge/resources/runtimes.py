"""lockgate_gateway and lockgate_mock_llm: local processes run by the `process` driver.

Import ID of both: the NAME (it must be running and registered under LOCKGATE_HOME).
Destroy stops the process, frees its ports and removes its data directory.
"""

from __future__ import annotations

import json
import secrets
import shutil
from typing import Any

from lockgate.provider_bridge import process_driver as driver
from lockgate.provider_bridge.endpoints import Endpoint, gateway_dir, lockgate_home, lookup, register, unregister
from lockgate.provider_bridge.framework import ModelResource
from lockgate.provider_bridge.schema import spec_values
from lockgate.sdk import GatewayRuntime, GatewaySettings, LockgateError, MockLlmRuntime
from tf.iface import CreateContext, DeleteContext, ImportContext, PlanContext, ReadContext, UpdateContext
from tf.schema import Attribute, Schema
from tf.types import Number, String, Unknown


def _computed(name: str, description: str, type_: Any = None, sensitive: bool = False) -> Attribute:
    return Attribute(name, type_ or String(), description=description, computed=True, sensitive=sensitive)


class _ProcessResource(ModelResource):
    ports: tuple[str, ...] = ()

    @classmethod
    def get_schema(cls) -> Schema:
        schema = super().get_schema()
        for attr in schema.attributes:
            if attr.name in cls.ports:
                attr.computed = True
            attr.requires_replace = attr.requires_replace or attr.name in (*cls.ports, "host", "driver", "name")
        return schema

    def plan(self, ctx: PlanContext, current: dict[str, Any] | None, planned: dict[str, Any]) -> dict[str, Any]:
        planned = super().plan(ctx, current, planned)
        planned["id"] = planned["name"]  # known at plan time, so dependents plan with known values
        for port in self.ports:
            if planned.get(port) is None:
                planned[port] = current[port] if current else Unknown
        return planned

    def _choose_ports(self, planned: dict[str, Any]) -> dict[str, Any]:
        chosen = dict(planned)
        for port in self.ports:
            if chosen.get(port) in (None, Unknown):
                chosen[port] = driver.free_port(chosen["host"])
        return chosen


class GatewayResource(_ProcessResource):
    name = "gateway"
    model = GatewayRuntime
    doc = "A gateway runtime (admin API + proxy). Driver 'process' runs it locally. Import ID: NAME."
    ports = ("proxy_port", "admin_port")
    computed = (
        _computed("id", "The gateway's name."),
        _computed("pid", "Process id (process driver).", Number()),
        _computed("proxy_url", "Base URL of the proxy; OpenAI clients use PROXY_URL/v1 as base_url."),
        _computed("admin_url", "Base URL of the admin API."),
        _computed("admin_token_ref", "Secret reference (file:) to the admin token; the token is not in state."),
    )

    def create(self, ctx: CreateContext, planned: dict[str, Any]) -> dict[str, Any] | None:
        state = self._choose_ports(planned)
        name, host = state["name"], state["host"]
        directory = gateway_dir(name)
        if (ep := lookup(name)) is not None and driver.is_ours(ep.pid):
            ctx.diagnostics.add_error(
                f"Gateway '{name}' is already running (pid {ep.pid})",
                "Import it (ID: its name) or pick another name.",
                path=["name"],
            )
            return None
        directory.mkdir(parents=True, exist_ok=True)
        token_file = directory / "admin-token"
        token_file.touch(mode=0o600)
        token_file.write_text(secrets.token_urlsafe(32))
        admin_url = f"http://{host}:{state['admin_port']}"
        try:
            pid = driver.start(
                [
                    "serve",
                    "--data-dir",
                    str(directory / "data"),
                    "--proxy-host",
                    host,
                    "--proxy-port",
                    str(state["proxy_port"]),
                    "--admin-host",
                    host,
                    "--admin-port",
                    str(state["admin_port"]),
                    "--admin-token-file",
                    str(token_file),
                ],
                directory / "gateway.log",
                admin_url + "/health",
            )
        except driver.DriverError as exc:
            ctx.diagnostics.add_error(f"Gateway '{name}' did not start", str(exc))
            return None
        state.update(
            id=name,
            pid=pid,
            admin_url=admin_url,
            proxy_url=f"http://{host}:{state['proxy_port']}",
            admin_token_ref=f"file:{token_file}",
        )
        endpoint = Endpoint(state["admin_url"], state["proxy_url"], state["admin_token_ref"], pid)
        register(name, endpoint)
        if state.get("settings"):
            self._put_settings(ctx, endpoint, state)  # a failure is a diagnostic; the running gateway is kept
        return state

    def _put_settings(self, ctx: Any, endpoint: Endpoint, state: dict[str, Any]) -> bool:
        settings = GatewaySettings.model_validate(spec_values(GatewaySettings, state.get("settings") or {}))
        try:
            with endpoint.client() as client:
                client.update_settings(settings)
        except LockgateError as exc:
            ctx.diagnostics.add_error("Updating gateway settings failed", str(exc), path=["settings"])
            return False
        return True

    def read(self, ctx: ReadContext, current: dict[str, Any]) -> dict[str, Any] | None:
        endpoint = lookup(current["name"])
        if endpoint is None or not driver.is_ours(endpoint.pid) or not driver.healthy(endpoint.admin_url + "/health"):
            return None  # stopped behind Terraform's back: plan to start it again
        try:
            with endpoint.client() as client:
                live = client.settings()
        except LockgateError as exc:
            ctx.diagnostics.add_error(f"Reading gateway '{current['name']}' failed", str(exc))
            return current
        declared = GatewaySettings.model_validate(spec_values(GatewaySettings, current.get("settings") or {}))
        if live != declared:
            return {**current, "settings": live.model_dump()}
        return current

    def update(self, ctx: UpdateContext, current: dict[str, Any], planned: dict[str, Any]) -> dict[str, Any] | None:
        endpoint = lookup(current["name"])
        if endpoint is None:
            ctx.diagnostics.add_error(f"Gateway '{current['name']}' is not running", "Run terraform apply again.")
            return current
        return planned if self._put_settings(ctx, endpoint, planned) else current

    def delete(self, ctx: DeleteContext, current: dict[str, Any]) -> None:
        endpoint = lookup(current["name"])
        driver.stop(int(endpoint.pid if endpoint else current.get("pid") or 0))
        unregister(current["name"])
        directory = gateway_dir(current["name"])
        if directory.is_relative_to(lockgate_home()):
            shutil.rmtree(directory, ignore_errors=True)

    def import_(self, ctx: ImportContext, id: str) -> dict[str, Any] | None:
        endpoint = lookup(id)
        if endpoint is None or not driver.is_ours(endpoint.pid):
            ctx.diagnostics.add_error(
                f"Cannot import gateway {id!r}",
                "Import ID is the gateway's NAME; no running gateway of that name is registered.",
            )
            return None
        host, _, admin_port = endpoint.admin_url.removeprefix("http://").rpartition(":")
        return {
            "id": id,
            "name": id,
            "driver": "process",
            "host": host,
            "admin_port": int(admin_port),
            "proxy_port": int(endpoint.proxy_url.rpartition(":")[2]),
            "settings": None,
            "pid": endpoint.pid,
            "admin_url": endpoint.admin_url,
            "proxy_url": endpoint.proxy_url,
            "admin_token_ref": endpoint.admin_token_ref,
        }


class MockLlmResource(_ProcessResource):
    name = "mock_llm"
    model = MockLlmRuntime
    doc = "A local OpenAI-compatible mock LLM for demos and tests (`lockgate mock-llm`)."
    ports = ("port",)
    computed = (
        _computed("id", "The mock's name."),
        _computed("pid", "Process id.", Number()),
        _computed("base_url", "OpenAI base URL of the mock (use it as an llm_upstream's base_url)."),
    )
    replace_on = frozenset({"name", "chunks", "chunk_delay_ms", "latency_ms"})

    def create(self, ctx: CreateContext, planned: dict[str, Any]) -> dict[str, Any] | None:
        state = self._choose_ports(planned)
        directory = lockgate_home() / "mocks" / state["name"]
        base = f"http://{state['host']}:{state['port']}"
        try:
            pid = driver.start(
                [
                    "mock-llm",
                    "--host",
                    state["host"],
                    "--port",
                    str(state["port"]),
                    "--chunks",
                    str(state["chunks"]),
                    "--chunk-delay-ms",
                    str(state["chunk_delay_ms"]),
                    "--latency-ms",
                    str(state["latency_ms"]),
                ],
                directory / "mock.log",
                base + "/health",
            )
        except driver.DriverError as exc:
            ctx.diagnostics.add_error(f"Mock LLM '{state['name']}' did not start", str(exc))
            return None
        state = {**state, "id": state["name"], "pid": pid, "base_url": base + "/v1"}
        (directory / "state.json").write_text(json.dumps(state))
        return state

    def read(self, ctx: ReadContext, current: dict[str, Any]) -> dict[str, Any] | None:
        alive = driver.is_ours(int(current["pid"])) and driver.healthy(
            current["base_url"].removesuffix("/v1") + "/health"
        )
        return current if alive else None

    def update(self, ctx: UpdateContext, current: dict[str, Any], planned: dict[str, Any]) -> dict[str, Any] | None:
        return planned

    def delete(self, ctx: DeleteContext, current: dict[str, Any]) -> None:
        driver.stop(int(current.get("pid") or 0))
        shutil.rmtree(lockgate_home() / "mocks" / current["name"], ignore_errors=True)

    def import_(self, ctx: ImportContext, id: str) -> dict[str, Any] | None:
        try:
            state: dict[str, Any] = json.loads((lockgate_home() / "mocks" / id / "state.json").read_text())
        except (OSError, ValueError):
            state = {}
        if not state or not driver.is_ours(int(state["pid"])):
            ctx.diagnostics.add_error(
                f"Cannot import mock LLM {id!r}",
                "Import ID is the mock's NAME; no running mock of that name is registered.",
            )
            return None
        return state
