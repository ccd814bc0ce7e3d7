"""A docker gateway through the real Terraform, the real provider and the real Docker engine: a control-plane
container and data-plane containers, the OpenAI SDK through each, config changes reaching all of them, the control
plane away, scaling in place, drift, and a destroy that leaves nothing behind."""

from __future__ import annotations

import time
from collections.abc import Callable

import docker
import httpx
import openai
import pytest

GATEWAY = """
variable "data_planes" { default = 2 }
variable "model" { default = "mock-1" }
resource "lockgate_gateway" "gw" {
  name        = "dock"
  driver      = "docker"
  data_planes = var.data_planes
  environment = "staging"
  region      = "eu"
}
resource "lockgate_mock_llm" "mock" {
  name    = "dock-mock"
  driver  = "docker"
  network = lockgate_gateway.gw.network
}
resource "lockgate_llm_upstream" "mock" {
  gateway  = lockgate_gateway.gw.id
  name     = "mock"
  base_url = lockgate_mock_llm.mock.base_url
  model    = var.model
}
resource "lockgate_consumer_group" "team" {
  gateway = lockgate_gateway.gw.id
  name    = "team"
}
resource "lockgate_route" "chat" {
  gateway  = lockgate_gateway.gw.id
  name     = "chat"
  paths    = ["/v1"]
  upstream = lockgate_llm_upstream.mock.name
  policies {
    key_auth {}
    acl { allow = [lockgate_consumer_group.team.name] }
    usage {}
  }
}
resource "lockgate_consumer" "alice" {
  gateway = lockgate_gateway.gw.id
  name    = "alice"
  groups  = [lockgate_consumer_group.team.name]
}
resource "lockgate_api_key" "alice" {
  gateway  = lockgate_gateway.gw.id
  name     = "alice-key"
  consumer = lockgate_consumer.alice.name
}
output "proxy_urls" { value = lockgate_gateway.gw.proxy_urls }
output "states" { value = lockgate_gateway.gw.data_plane_states }
output "key" {
  value     = lockgate_api_key.alice.key
  sensitive = true
}
"""


def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.1)


def models(urls: list[str], key: str) -> list[str]:
    answers = []
    for url in urls:
        client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=5)
        answers.append(client.chat.completions.create(model="x", messages=[{"role": "user", "content": "hi"}]).model)
    return answers


def output(p, name: str):  # type: ignore[no-untyped-def]
    import json

    return json.loads(p.tf("output", "-json", name).stdout)


@pytest.fixture
def engine(runtime_image: str):  # type: ignore[no-untyped-def]
    """The Docker engine; whatever a failed test left of its gateway is removed afterwards."""
    client = docker.from_env()
    yield client
    for label in ("dev.lockgate.gateway=dock", "dev.lockgate.mock=dock-mock"):
        for container in client.containers.list(all=True, filters={"label": label}):
            container.remove(force=True)
    for volume in client.volumes.list(filters={"label": "dev.lockgate.gateway=dock"}):
        volume.remove(force=True)
    for network in client.networks.list(filters={"label": "dev.lockgate.gateway=dock"}):
        network.remove()


@pytest.mark.e2e
def test_docker_gateway_lifecycle(project, engine) -> None:  # type: ignore[no-untyped-def]
    p = project(GATEWAY)
    p.apply()
    urls, key = output(p, "proxy_urls"), output(p, "key")
    assert len(urls) == 2 and all(u.startswith("http://127.0.0.1:") for u in urls)
    containers = engine.containers.list(filters={"label": "dev.lockgate.gateway=dock"})
    assert sorted(c.name for c in containers) == ["lockgate-dock-cp", "lockgate-dock-dp-0", "lockgate-dock-dp-1"]
    assert {c.labels["dev.lockgate.region"] for c in containers} == {"eu"}
    for container in containers:  # published on loopback only
        for bindings in container.attrs["NetworkSettings"]["Ports"].values():
            assert all(b["HostIp"] == "127.0.0.1" for b in bindings or [])
    assert models(urls, key) == ["mock-1", "mock-1"]
    assert p.tf("plan", "-detailed-exitcode", ok=(0,)).returncode == 0  # nothing to do after an apply
    assert output(p, "states") == ["lockgate-dock-dp-0=in_sync", "lockgate-dock-dp-1=in_sync"]

    # a config change reaches both data planes
    p.apply("-var", "model=mock-2")
    until(lambda: models(urls, key) == ["mock-2", "mock-2"], timeout=5)

    # the control plane away: the data planes keep serving; one restarted meanwhile serves from its volume
    control_plane = engine.containers.get("lockgate-dock-cp")
    control_plane.stop()
    assert models(urls, key) == ["mock-2", "mock-2"]
    engine.containers.get("lockgate-dock-dp-0").restart()
    until(lambda: _listens(urls[0]), timeout=20)
    assert models(urls, key) == ["mock-2", "mock-2"]
    control_plane.start()
    until(lambda: _listens(_admin_url(p)), timeout=20)

    # scale 2 -> 3 -> 1, in place
    grown = p.apply("-var", "data_planes=3", "-var", "model=mock-2")
    assert "0 added, 1 changed, 0 destroyed" in grown.stdout, grown.stdout
    urls3 = output(p, "proxy_urls")
    assert urls3[:2] == urls and len(urls3) == 3
    assert models(urls3, key) == ["mock-2"] * 3
    shrunk = p.apply("-var", "data_planes=1", "-var", "model=mock-2")
    assert "0 added, 1 changed, 0 destroyed" in shrunk.stdout, shrunk.stdout
    assert output(p, "proxy_urls") == urls[:1]
    assert not _listens(urls3[2])

    # a data plane removed behind Terraform's back is drift, and apply brings it back
    engine.containers.get("lockgate-dock-dp-0").remove(force=True)
    drift = p.tf("plan", "-detailed-exitcode", "-var", "data_planes=1", "-var", "model=mock-2", ok=(2,))
    assert "data_planes" in drift.stdout, drift.stdout
    p.apply("-var", "data_planes=1", "-var", "model=mock-2")
    assert models(urls[:1], key) == ["mock-2"]

    destroyed = p.tf("destroy", "-auto-approve", "-input=false", "-var", "data_planes=1", "-var", "model=mock-2")
    assert "Destroy complete!" in destroyed.stdout
    assert not engine.containers.list(all=True, filters={"label": "dev.lockgate.gateway=dock"})
    assert not engine.containers.list(all=True, filters={"label": "dev.lockgate.mock=dock-mock"})
    assert not engine.volumes.list(filters={"label": "dev.lockgate.gateway=dock"})
    assert not engine.networks.list(filters={"label": "dev.lockgate.gateway=dock"})


def _admin_url(p) -> str:  # type: ignore[no-untyped-def]
    return str(p.endpoint("dock")["admin_url"])


def _listens(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
    except httpx.HTTPError:
        return False
    return True


FAULTY = """
variable "image" { default = "lockgate/runtime:latest" }
variable "admin_port" { default = null }
resource "lockgate_gateway" "gw" {
  name       = "dock"
  driver     = "docker"
  image      = var.image
  admin_port = var.admin_port
}
"""


@pytest.mark.e2e
def test_docker_faults_are_diagnostics_and_leave_nothing(project, engine) -> None:  # type: ignore[no-untyped-def]
    import socket

    p = project(FAULTY)
    missing = p.apply("-var", "image=lockgate/not-built:1", ok=(1,))
    assert "'lockgate/not-built:1' is not on this Docker engine" in missing.stderr
    assert "lockgate image build" in missing.stderr

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        taken = p.apply("-var", f"admin_port={port}", ok=(1,))
        assert f"admin_port {port} is in use" in taken.stderr, taken.stderr

    away = p.tf("apply", "-auto-approve", "-input=false", ok=(1,), env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert "Docker is not running, or not at unix:///nonexistent.sock" in away.stderr, away.stderr
    assert "dockerd" in away.stderr
    assert not engine.containers.list(all=True, filters={"label": "dev.lockgate.gateway=dock"})
    assert not engine.networks.list(filters={"label": "dev.lockgate.gateway=dock"})
