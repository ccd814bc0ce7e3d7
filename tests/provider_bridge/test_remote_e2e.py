"""A gateway this machine did not start (another host or region): the provider reaches it through a `gateway`
block of its configuration (admin URL + token reference), the real Terraform against a real `lockgate serve`."""

from __future__ import annotations

import pytest

REMOTE = """
provider "lockgate" {
  gateway {
    name            = "remote-eu"
    admin_url       = "%s"
    admin_token_ref = "%s"
  }
}
resource "lockgate_consumer_group" "gold" {
  gateway = "remote-eu"
  name    = "gold"
}
"""


@pytest.mark.e2e
def test_config_resources_manage_a_remote_gateway_by_url_and_token_ref(project, start_gateway) -> None:  # type: ignore[no-untyped-def]
    gateway = start_gateway(token="remote-admin-token-0123456789", name="remote-eu")
    p = project(REMOTE % (gateway.admin_url, "env:REMOTE_EU_TOKEN"))
    p.env["REMOTE_EU_TOKEN"] = gateway.token  # Terraform's environment, as a pipeline would set it
    p.apply()
    with gateway.admin() as admin:
        assert [g.name for g in admin.consumer_groups.list()] == ["gold"]
        assert admin.consumer_groups.get("gold").owner == "terraform"
    assert p.tf("plan", "-detailed-exitcode").returncode == 0
    p.tf("destroy", "-auto-approve", "-input=false")
    with gateway.admin() as admin:
        assert admin.consumer_groups.list() == []


@pytest.mark.e2e
def test_a_remote_gateways_mistakes_are_diagnostics(project, start_gateway) -> None:  # type: ignore[no-untyped-def]
    gateway = start_gateway(token="remote-admin-token-0123456789", name="remote-eu")
    plain = project(REMOTE % (gateway.admin_url, "remote-admin-token-0123456789"), name="plain")
    refused = plain.tf("plan", ok=(1,))
    assert "admin_token_ref must be a secret reference" in _flat(refused.stderr)
    assert "remote-admin-token-0123456789" not in refused.stdout + refused.stderr

    unset = project(REMOTE % (gateway.admin_url, "env:LOCKGATE_NOT_SET"), name="unset")
    failed = unset.apply(ok=(1,))
    assert "admin_token_ref: env:LOCKGATE_NOT_SET is not set in Terraform's environment" in _flat(failed.stderr)

    us = start_gateway(data_dir=gateway.data_dir.parent / "us", name="remote-us")  # answering at the URL given
    other = project(REMOTE % (us.admin_url, "env:REMOTE_EU_TOKEN"), name="other")
    other.env["REMOTE_EU_TOKEN"] = us.token
    wrong = other.apply(ok=(1,))
    assert "is gateway 'remote-us', not 'remote-eu'" in _flat(wrong.stderr), wrong.stderr


def _flat(text: str) -> str:
    return " ".join(text.split())  # Terraform wraps its diagnostics
