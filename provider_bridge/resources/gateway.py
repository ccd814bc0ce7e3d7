"""lockgate_gateway: a gateway runtime (admin API + proxy) run by the `process` driver. Import ID: the NAME.

Each start gets a fresh instance id (`lockgate serve --instance-id`); the gateway counts as started, and later as
running, only while /health answers with that id, so a gateway already on the ports never passes for this one.
Destroy stops the process, frees its ports and removes its directory (data, token, saved ports).
"""

from __future__ import annotations

import secrets
import shutil
import uuid
from pathlib import Path
from typing import Any

from lockgate.provider_bridge import endpoints
from lockgate.provider_bridge.drivers import process as driver
from lockgate.provider_bridge.diagnostics import is_unknown, report_invalid
from lockgate.provider_bridge.endpoints import Endpoint, gateway_dir, lockgate_home, lookup, register, unregister
from lockgate.provider_bridge.resources.process import ProcessResource, computed
from lockgate.provider_bridge.schema import parse
from lockgate.sdk import GatewayRuntime, GatewaySettings, LockgateError
from pydantic import ValidationError
from tf.iface import CreateContext, DeleteContext, ImportContext, PlanContext, ReadContext, UpdateContext
from tf.types import Number


def _serve_args(state: dict[str, Any], directory: Path, token_file: Path, instance_id: str) -> list[str]:
    host = state["host"]
    return [
        *("serve", "--name", state["name"], "--instance-id", instance_id),
        *("--data-dir", str(directory / "data"), "--admin-token-file", str(token_file)),
        *("--proxy-host", host, "--proxy-port", str(state["proxy_port"])),
        *("--admin-host", host, "--admin-port", str(state["admin_port"])),
    ]


class GatewayResource(ProcessResource):
    name = "gateway"
    label = "Gateway"
    model = GatewayRuntime
    doc = "A gateway runtime (admin API + proxy). Driver 'process' runs it locally. Import ID: NAME."
    ports = ("proxy_port", "admin_port")
    computed = (
        computed("id", "The gateway's name."),
        computed("pid", "Process id (process driver).", Number()),
        computed("proxy_url", "Base URL of the proxy; OpenAI clients use PROXY_URL/v1 as base_url."),
        computed("admin_url", "Base URL of the admin API."),
        computed("admin_token_ref", "Secret reference (file:) to the admin token; the token is not in state."),
    )

    @classmethod
    def directory(cls, name: str) -> Path:
        return gateway_dir(name)

    # -- plan: record whether this gateway is being destroyed (its entities' deletes need to know) -------------
    def plan(self, ctx: PlanContext, current: dict[str, Any] | None, planned: dict[str, Any]) -> dict[str, Any]:
        if not is_unknown(planned.get("name")):
            endpoints.clear_destroy_planned(planned["name"])
        return super().plan(ctx, current, planned)

    def plan_destroy(self, ctx: PlanContext, current: dict[str, Any]) -> None:
        endpoints.mark_destroy_planned(current["name"])

    # -- CRUD ---------------------------------------------------------------------------------------------------
    def create(self, ctx: CreateContext, planned: dict[str, Any]) -> dict[str, Any] | None:
        state = self.choose_ports(planned)
        if self.checked_spec(ctx.diagnostics, state) is None:
            return None
        name, host = state["name"], state["host"]
        if (ep := lookup(name)) is not None and driver.is_ours(ep.pid):
            ctx.diagnostics.add_error(
                f"Gateway '{name}' is already running (pid {ep.pid})",
                "Import it (ID: its name) or pick another name.",
                path=["name"],
            )
            return None
        if self.ports_taken(ctx.diagnostics, state):
            return None
        directory = gateway_dir(name)
        directory.mkdir(parents=True, exist_ok=True)
        token_file = directory / "admin-token"
        token_file.touch(mode=0o600)
        token_file.write_text(secrets.token_urlsafe(32))
        admin_url, instance_id = f"http://{host}:{state['admin_port']}", uuid.uuid4().hex
        expected = Endpoint(admin_url, "", "", 0, instance_id)
        try:
            pid = driver.start(
                _serve_args(state, directory, token_file, instance_id),
                directory / "gateway.log",
                lambda _pid: endpoints.is_registered_process(expected, endpoints.health(admin_url + "/health")),
            )
        except driver.DriverError as exc:
            ctx.diagnostics.add_error(f"Gateway '{name}' did not start", str(exc))
            self.ports_taken(ctx.diagnostics, state)  # name the port (and its holder) if that was why
            return None
        self.keep_ports(state)
        state.update(
            id=name,
            pid=pid,
            admin_url=admin_url,
            proxy_url=f"http://{host}:{state['proxy_port']}",
            admin_token_ref=f"file:{token_file}",
        )
        endpoint = Endpoint(admin_url, state["proxy_url"], state["admin_token_ref"], pid, instance_id)
        register(name, endpoint)
        if state.get("settings"):
            self._put_settings(ctx, endpoint, state)  # a failure is a diagnostic; the running gateway is kept
        return state

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

    def read(self, ctx: ReadContext, current: dict[str, Any]) -> dict[str, Any] | None:
        endpoints.clear_destroy_planned(current["name"])  # a refresh starts every plan: an old destroy plan is void
        endpoint = lookup(current["name"])
        if endpoint is None or not driver.is_ours(endpoint.pid):
            return None  # stopped behind Terraform's back: plan to start it again
        if not endpoints.is_registered_process(endpoint, endpoints.health(endpoint.admin_url + "/health")):
            return None
        try:
            with endpoint.client() as client:
                live = client.settings()
        except LockgateError as exc:
            ctx.diagnostics.add_error(f"Reading gateway '{current['name']}' failed", str(exc))
            return current
        declared = parse(GatewaySettings, current.get("settings") or {})
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
