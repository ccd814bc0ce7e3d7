"""lockgate_mock_llm: the local mock upstream (in one provider's wire format) as a process. Import ID: the NAME.

Like the gateway, each start gets a fresh instance id (`lockgate mock-llm --instance-id`, kept in the mock's
directory): it counts as started, and later as running, only while /health answers with that id. The port is also
checked before the start, so a taken one is an error naming its holder.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any, cast

from lockgate.provider_bridge import endpoints
from lockgate.provider_bridge.docker_engine import EngineUnavailable
from lockgate.provider_bridge.drivers import process as driver
from lockgate.provider_bridge.endpoints import lockgate_home
from lockgate.provider_bridge.resources.process import ProcessResource, computed
from lockgate.sdk import MockLlmRuntime
from tf.iface import CreateContext, DeleteContext, ImportContext, ReadContext, UpdateContext
from tf.types import Number


def _answers(base: str, instance_id: str) -> bool:
    answer = endpoints.health(base + "/health")
    return answer is not None and answer.instance_id == instance_id


class MockLlmResource(ProcessResource):
    name = "mock_llm"
    label = "Mock LLM"
    model = MockLlmRuntime
    doc = "A local mock LLM for demos and tests (`lockgate mock-llm`), in one provider's wire format."
    ports = ("port",)
    computed = (
        computed("id", "The mock's name."),
        computed("pid", "Process id.", Number()),
        computed(
            "base_url",
            "Base URL of the mock, for an llm_upstream of its provider (its base_url); docker: as the network's "
            "data planes reach it.",
        ),
    )
    replace_on = frozenset({"name", "type", "chunks", "chunk_delay_ms", "latency_ms", "network", "image"})

    @classmethod
    def directory(cls, name: str) -> Path:
        return lockgate_home() / "mocks" / name

    def create(self, ctx: CreateContext, planned: dict[str, Any]) -> dict[str, Any] | None:
        state = self.choose_ports(planned)
        spec = cast(MockLlmRuntime | None, self.checked_spec(ctx.diagnostics, state))  # ints as ints: "8", not "8.0"
        if spec is None or self.ports_taken(ctx.diagnostics, state):
            return None
        directory = self.directory(state["name"])
        base = f"http://{state['host']}:{state['port']}"
        instance_id = uuid.uuid4().hex
        shape = [
            *("--chunks", str(spec.chunks), "--chunk-delay-ms", str(spec.chunk_delay_ms)),
            *("--latency-ms", str(spec.latency_ms), "--name", state["name"], "--instance-id", instance_id),
            *("--provider", spec.type),
        ]
        suffix = spec.base_path
        try:
            if spec.driver == "docker":
                from lockgate.provider_bridge.drivers import docker_mock as docker

                assert spec.network is not None  # the model requires it
                url = docker.start_mock(spec.name, spec.image, spec.network, spec.host, state["port"], shape)
                self.keep_ports(state)
                return {**state, "id": state["name"], "pid": 0, "base_url": url.removesuffix("/v1") + suffix}
            args = ["mock-llm", "--host", state["host"], "--port", str(state["port"]), *shape]
            pid = driver.start(args, directory / "mock.log", lambda _pid: _answers(base, instance_id))
        except (driver.DriverError, EngineUnavailable) as exc:
            ctx.diagnostics.add_error(f"Mock LLM '{state['name']}' did not start", str(exc))
            return None
        self.keep_ports(state)
        state = {**state, "id": state["name"], "pid": pid, "base_url": base + suffix}
        (directory / "state.json").write_text(json.dumps(state))
        (directory / "instance-id").write_text(instance_id)
        return state

    def read(self, ctx: ReadContext, current: dict[str, Any]) -> dict[str, Any] | None:
        if current.get("driver") == "docker":
            from lockgate.provider_bridge.drivers import docker_mock as docker

            try:
                return current if docker.mock_running(current["name"]) else None
            except EngineUnavailable:
                return None
        try:
            instance_id = (self.directory(current["name"]) / "instance-id").read_text()
        except OSError:
            return None  # started by an older provider, or its directory is gone: plan to start it again
        base = "http://{host}:{port}".format(**current)
        alive = driver.is_ours(int(current["pid"])) and _answers(base, instance_id)
        return current if alive else None

    def update(self, ctx: UpdateContext, current: dict[str, Any], planned: dict[str, Any]) -> dict[str, Any] | None:
        return planned

    def delete(self, ctx: DeleteContext, current: dict[str, Any]) -> None:
        if current.get("driver") == "docker":
            from lockgate.provider_bridge.drivers import docker_mock as docker

            docker.remove_mock(current["name"])
        driver.stop(int(current.get("pid") or 0))
        shutil.rmtree(self.directory(current["name"]), ignore_errors=True)

    def import_(self, ctx: ImportContext, id: str) -> dict[str, Any] | None:
        try:
            state: dict[str, Any] = json.loads((self.directory(id) / "state.json").read_text())
        except (OSError, ValueError):
            state = {}
        if not state or not driver.is_ours(int(state["pid"])):
            ctx.diagnostics.add_error(
                f"Cannot import mock LLM {id!r}",
                "Import ID is the mock's NAME; no running mock of that name is registered.",
            )
            return None
        return state
