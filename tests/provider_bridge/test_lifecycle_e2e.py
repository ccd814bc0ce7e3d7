"""Gateway lifecycle through the real Terraform: destroy always finishes, ports stay, a gateway is never mistaken."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from lockgate.provider_bridge.drivers import process as process_driver

TEAM = """
resource "lockgate_gateway" "gw" { name = "demo" }
resource "lockgate_consumer_group" "team" {
  count   = var.with_group ? 1 : 0
  gateway = lockgate_gateway.gw.id
  name    = "demo-team"
}
resource "lockgate_consumer" "alice" {
  gateway = lockgate_gateway.gw.id
  name    = "alice"
  groups  = lockgate_consumer_group.team[*].name
}
variable "with_group" { default = true }
"""


def _admin(home: Path, gateway: str) -> tuple[str, dict[str, str]]:
    endpoint = json.loads((home / "gateways" / gateway / "endpoint.json").read_text())
    token = Path(endpoint["admin_token_ref"].removeprefix("file:")).read_text()
    return endpoint["admin_url"], {"Authorization": f"Bearer {token}"}


def _add_consumer_behind_terraforms_back(home: Path) -> str:
    admin_url, headers = _admin(home, "demo")
    created = httpx.post(f"{admin_url}/consumers", headers=headers, json={"name": "acme", "groups": ["demo-team"]})
    assert created.status_code == 201, created.text
    return admin_url


def _gone(admin_url: str, home: Path) -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get(admin_url + "/health")
    assert not (home / "gateways" / "demo").exists()


@pytest.mark.e2e
def test_destroy_finishes_when_the_admin_api_added_entities(project) -> None:  # type: ignore[no-untyped-def]
    p = project(TEAM)

    # `terraform destroy` (what `make demo-down` runs)
    p.apply()
    admin_url = _add_consumer_behind_terraforms_back(p.home)
    destroyed = p.tf("destroy", "-auto-approve", "-input=false")
    assert "Destroy complete! Resources: 3 destroyed." in destroyed.stdout, destroyed.stdout
    assert "left to the destroy of gateway 'demo'" in destroyed.stdout + destroyed.stderr  # said, as a warning
    _gone(admin_url, p.home)

    # a saved destroy plan, applied by other provider processes than the ones that planned it
    p.apply()
    admin_url = _add_consumer_behind_terraforms_back(p.home)
    p.tf("plan", "-destroy", "-input=false", "-out=destroy.tfplan")
    p.tf("apply", "-input=false", "destroy.tfplan")
    _gone(admin_url, p.home)


@pytest.mark.e2e
def test_a_delete_blocked_while_the_gateway_stays_still_fails(project) -> None:  # type: ignore[no-untyped-def]
    p = project(TEAM)
    p.tf("plan", "-destroy", "-input=false")  # a destroy planned but never applied must not count later
    p.apply()
    admin_url = _add_consumer_behind_terraforms_back(p.home)
    p.tf("plan", "-destroy", "-input=false")
    failed = p.apply("-var", "with_group=false", ok=(1,))
    assert "Deleting consumer_group failed: consumer group 'demo-team' is still used by" in failed.stderr
    assert "consumers/acme" in failed.stderr
    assert httpx.get(admin_url + "/health").status_code == 200


GATEWAY_AND_MOCK = """
resource "lockgate_gateway" "gw" { name = "demo" }
resource "lockgate_mock_llm" "mock" { name = "mock" }
output "proxy_url" { value = lockgate_gateway.gw.proxy_url }
output "admin_url" { value = lockgate_gateway.gw.admin_url }
output "mock_url" { value = lockgate_mock_llm.mock.base_url }
"""


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while process_driver.is_ours(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.e2e
def test_a_gateway_recreated_after_its_process_died_keeps_its_ports(project) -> None:  # type: ignore[no-untyped-def]
    p = project(GATEWAY_AND_MOCK)
    p.apply()
    urls = {name: p.tf("output", "-raw", name).stdout for name in ("proxy_url", "admin_url", "mock_url")}

    _kill(int(p.endpoint("demo")["pid"]))
    _kill(int(json.loads((p.home / "mocks" / "mock" / "state.json").read_text())["pid"]))
    plan = p.tf("plan", "-input=false").stdout
    assert "2 to add" in plan and "(known after apply)" not in plan.split("lockgate_mock_llm")[0]
    for url in urls.values():  # planned on the ports they had, as known values
        assert f"= {url.rpartition(':')[2].removesuffix('/v1')}\n" in plan
    p.apply()
    assert {name: p.tf("output", "-raw", name).stdout for name in urls} == urls
    assert httpx.get(urls["admin_url"] + "/health").json()["name"] == "demo"


def _ports(n: int) -> list[int]:
    return [process_driver.free_port() for _ in range(n)]


@pytest.mark.e2e
def test_a_second_gateway_on_taken_ports_is_an_apply_error(project) -> None:  # type: ignore[no-untyped-def]
    proxy, admin = _ports(2)
    ports = f"proxy_port = {proxy}\n  admin_port = {admin}"
    first = project(f'resource "lockgate_gateway" "a" {{\n  name = "a"\n  {ports}\n}}', name="first")
    first.apply()
    second = project(f'resource "lockgate_gateway" "b" {{\n  name = "b"\n  {ports}\n}}', name="second")
    failed = second.apply(ok=(1,))
    assert "Creation complete" not in failed.stdout
    assert f"Gateway 'b' did not start: admin_port {admin} is in use" in failed.stderr
    assert f"proxy_port {proxy} is in use" in failed.stderr
    assert "lockgate" in failed.stderr and f"pid {first.endpoint('a')['pid']}" in failed.stderr  # who holds it
    assert not (first.home / "gateways" / "b" / "endpoint.json").exists()


@pytest.mark.e2e
def test_config_is_never_written_to_another_gateway_on_the_port(project) -> None:  # type: ignore[no-untyped-def]
    """Gateway b dies; gateway a starts on b's admin port. b's consumers must not land on a."""
    b = project('resource "lockgate_gateway" "b" { name = "b" }', name="b")
    b.apply()
    b_admin_port = int(str(b.endpoint("b")["admin_url"]).rpartition(":")[2])
    _kill(int(b.endpoint("b")["pid"]))
    a = project(f'resource "lockgate_gateway" "a" {{\n  name = "a"\n  admin_port = {b_admin_port}\n}}', name="a")
    a.apply()

    b.write(
        'resource "lockgate_gateway" "b" { name = "b" }\n'
        'resource "lockgate_consumer" "x" {\n  gateway = lockgate_gateway.b.id\n  name = "x"\n}'
    )
    failed = b.apply("-refresh=false", ok=(1,))  # state still believes b runs
    assert "Gateway 'b' is not the process registered for it" in failed.stderr
    assert "is answered by gateway 'a'" in failed.stderr
    admin_url, headers = _admin(a.home, "a")
    assert httpx.get(f"{admin_url}/consumers", headers=headers).json() == {"data": []}
