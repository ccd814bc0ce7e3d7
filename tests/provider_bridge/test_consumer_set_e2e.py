"""lockgate_consumer_set through the real Terraform: create from a source file, no-op plan, an edited file planned as
counts, apply, drift, ownership against a pipeline, import of a pipeline's consumers, destroy."""

from __future__ import annotations

import csv
import json
import os
import stat
from pathlib import Path

import httpx
import pytest
from lockgate.sdk import AdminClient, Consumer, ConsumerRow, KeyRow

SET = """
resource "lockgate_gateway" "gw" { name = "demo" }
resource "lockgate_llm_upstream" "mock" {
  gateway  = lockgate_gateway.gw.id
  name     = "mock"
  base_url = "MOCK_URL"
}
resource "lockgate_route" "chat" {
  gateway  = lockgate_gateway.gw.id
  name     = "chat"
  paths    = ["/v1"]
  upstream = lockgate_llm_upstream.mock.name
  policies {
    key_auth {}
  }
}
resource "lockgate_consumer_group" "gold" {
  gateway = lockgate_gateway.gw.id
  name    = "gold"
}
resource "lockgate_consumer_set" "customers" {
  gateway     = lockgate_gateway.gw.id
  name        = "customers"
  source_file = "${path.module}/customers.csv"
  keys_file   = "${path.module}/keys.csv"
  depends_on  = [lockgate_consumer_group.gold]
}
resource "lockgate_consumer_set" "small" {
  gateway    = lockgate_gateway.gw.id
  name       = "small"
  members    = jsonencode([{ name = "tiny-1", groups = ["gold"] }, { name = "tiny-2" }])
  depends_on = [lockgate_consumer_group.gold]
}
output "small_keys" {
  value     = lockgate_consumer_set.small.keys
  sensitive = true
}
"""
MEMBERS = 2_000


def write_customers(path: Path, names: list[str]) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(("name", "groups"))
        writer.writerows((name, "gold") for name in names)


def admin(home: Path) -> AdminClient:
    endpoint = json.loads((home / "gateways" / "demo" / "endpoint.json").read_text())
    token = Path(endpoint["admin_token_ref"].removeprefix("file:")).read_text()
    return AdminClient(endpoint["admin_url"], token)


def proxy_status(home: Path, key: str) -> int:
    endpoint = json.loads((home / "gateways" / "demo" / "endpoint.json").read_text())
    return httpx.get(f"{endpoint['proxy_url']}/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code


@pytest.mark.e2e
def test_consumer_set_lifecycle(project, mock_llm: str) -> None:  # type: ignore[no-untyped-def]
    body = SET.replace("MOCK_URL", mock_llm)
    p = project(body)
    names = [f"cust-{i}" for i in range(MEMBERS)]
    write_customers(p.workdir / "customers.csv", names)

    applied = p.apply()
    assert "Apply complete! Resources: 6 added" in applied.stdout, applied.stdout
    keys_file = p.workdir / "keys.csv"
    assert stat.S_IMODE(os.stat(keys_file).st_mode) == 0o600
    keys = list(csv.DictReader(keys_file.open()))
    assert len(keys) == MEMBERS and keys[0]["key"] not in applied.stdout + applied.stderr
    assert proxy_status(p.home, keys[0]["key"]) == 200
    state = (p.workdir / "terraform.tfstate").read_text()
    assert "cust-1999" not in state and keys[0]["key"] not in state  # no member list, no file's keys in state
    small = json.loads(p.tf("output", "-json", "small_keys").stdout)
    assert set(small) == {"tiny-1-key", "tiny-2-key"} and proxy_status(p.home, small["tiny-1-key"]) == 200

    with admin(p.home) as gateway:
        assert gateway.consumers.get("cust-5").owner == "terraform:customers"
        # a pipeline's consumers beside the set: never drift, never touched
        gateway.consumers.apply([ConsumerRow(name="pipe-1", keys=[KeyRow(name="pipe-1-key")])], owner="pipeline:web")

    p.tf("plan", "-detailed-exitcode", "-input=false")  # exit 0: no changes

    # an edited file: the plan says how many, and names a few, instead of listing 2,000 lines
    write_customers(p.workdir / "customers.csv", [*names[3:], "new-1", "new-2"])
    planned = p.tf("plan", "-detailed-exitcode", "-input=false", ok=(2,))
    assert "+2 added  ~0 changed  -3 removed; added: new-1, new-2; removed: cust-0, cust-1, cust-2" in planned.stdout
    assert "cust-1500" not in planned.stdout
    p.apply()
    with admin(p.home) as gateway:
        held = {c.name for c in gateway.consumers.list(owner="terraform:customers")}
        assert len(held) == MEMBERS - 1 and "new-1" in held and "cust-0" not in held
        assert gateway.consumers.get("pipe-1").owner == "pipeline:web"
    assert proxy_status(p.home, keys[0]["key"]) == 401  # cust-0 removed: its key stopped
    assert len(list(csv.DictReader(keys_file.open()))) == MEMBERS + 2  # the new keys appended

    # drift: a member changed through the admin API is planned back
    with admin(p.home) as gateway:
        gateway.consumers.update(Consumer(name="cust-10", groups=[]))
    drift = p.tf("plan", "-detailed-exitcode", "-input=false", ok=(2,))
    assert "~1 changed" in drift.stdout and "changed: cust-10" in drift.stdout
    p.apply()
    p.tf("plan", "-detailed-exitcode", "-input=false")

    # a bad row fails the plan, naming the file's line
    write_customers(p.workdir / "customers.csv", [*names[3:], "new-1", "Bad Name"])
    bad = p.tf("plan", "-input=false", ok=(1,))
    assert "customers.csv line 2000: name:" in bad.stderr and "Bad Name" in bad.stderr, bad.stderr
    write_customers(p.workdir / "customers.csv", [*names[3:], "new-1", "new-2"])

    # import: a pipeline's consumers adopted as a set
    with admin(p.home) as gateway:
        rows = [ConsumerRow(name=f"crm-{i}", groups=["gold"], keys=[KeyRow(name=f"crm-{i}-key")]) for i in range(5)]
        gateway.consumers.apply(rows, owner="pipeline:crm")
    p.write(
        body
        + """
resource "lockgate_consumer_set" "crm" {
  gateway = lockgate_gateway.gw.id
  name    = "crm"
  members = jsonencode([
    for i in range(5) : { name = "crm-${i}", groups = ["gold"], keys = [{ name = "crm-${i}-key" }] }
  ])
}
"""
    )
    p.tf("import", "-input=false", "lockgate_consumer_set.crm", "demo/pipeline:crm")
    with admin(p.home) as gateway:
        assert gateway.consumers.get("crm-3").owner == "terraform:crm"
        assert gateway.api_keys.get("crm-3-key").owner == "terraform:crm"
    p.apply()  # the imported set takes its config; nothing to change among the members
    with admin(p.home) as gateway:
        assert len(gateway.consumers.list(owner="terraform:crm")) == 5
        assert gateway.consumers.get("pipe-1").owner == "pipeline:web"  # another pipeline's: not adopted

    destroyed = p.tf("destroy", "-auto-approve", "-input=false")
    assert "Destroy complete!" in destroyed.stdout
