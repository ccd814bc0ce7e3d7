"""Diagnostics through the real Terraform: unknowns wait until known, secrets are never shown, numbers are ints."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

SECRET = "sk-live-PASTEDSECRET-4f9a1c"

VARIABLES = """
variable "env" { default = "dev" }
variable "requests" { default = 10 }
resource "lockgate_gateway" "gw" { name = "gw-${var.env}" }
resource "lockgate_consumer_group" "team" {
  gateway = lockgate_gateway.gw.id
  name    = "team-${var.env}"
  rate_limit {
    requests = var.requests
    window_s = 60
  }
}
resource "lockgate_llm_upstream" "u" {
  gateway  = lockgate_gateway.gw.id
  name     = "u-${var.env}"
  base_url = "http://127.0.0.1:9/${var.env}"
}
resource "lockgate_route" "chat" {
  gateway  = lockgate_gateway.gw.id
  name     = "chat"
  paths    = ["/${var.env}"]
  upstream = lockgate_llm_upstream.u.name
}
"""


def _admin(home: Path, gateway: str) -> tuple[str, dict[str, str]]:
    endpoint = json.loads((home / "gateways" / gateway / "endpoint.json").read_text())
    token = Path(endpoint["admin_token_ref"].removeprefix("file:")).read_text()
    return endpoint["admin_url"], {"Authorization": f"Bearer {token}"}


@pytest.mark.e2e
def test_values_from_variables_are_validated_once_known(project) -> None:  # type: ignore[no-untyped-def]
    p = project(VARIABLES)
    checked = p.tf("validate")  # variables are unknown here: nothing to say about them yet
    assert "Success" in checked.stdout and "ExtType" not in checked.stdout + checked.stderr

    # at plan they are known, and a bad one is a diagnostic on its attribute that shows the value
    bad = p.tf("plan", "-input=false", "-var", "env=Dev", ok=(1,))
    assert "ExtType" not in bad.stdout + bad.stderr
    assert "Invalid lockgate_gateway: name: String should match pattern" in bad.stderr
    assert 'name = "gw-${var.env}"' in bad.stderr and "got 'gw-Dev'" in bad.stderr

    # a number from a variable reaches the (strict) SDK model as an int
    p.tf("plan", "-input=false", "-var", "requests=10.0", "-out=plan")
    p.tf("apply", "-input=false", "plan")
    admin_url, headers = _admin(p.home, "gw-dev")
    group = httpx.get(f"{admin_url}/consumer-groups/team-dev", headers=headers).json()
    assert group["rate_limit"] == {"requests": 10, "window_s": 60}
    assert p.tf("plan", "-detailed-exitcode", "-input=false").returncode == 0


UPSTREAM = """
variable "upstream_auth" { type = string }
resource "lockgate_gateway" "gw" { name = "gw" }
resource "lockgate_llm_upstream" "openai" {
  gateway  = lockgate_gateway.gw.id
  name     = "openai"
  base_url = "https://api.openai.com/v1"
  auth     = var.upstream_auth
}
"""


@pytest.mark.e2e
def test_a_pasted_upstream_key_is_rejected_without_being_shown(project) -> None:  # type: ignore[no-untyped-def]
    p = project(UPSTREAM)
    failed = p.tf("plan", "-input=false", ok=(1,), env={"TF_VAR_upstream_auth": SECRET})
    output = failed.stdout + failed.stderr
    assert "Invalid lockgate_llm_upstream: auth: must be a secret reference such as 'env:OPENAI_API_KEY'" in output
    assert "auth     = var.upstream_auth" in output  # attached to the attribute
    assert SECRET not in output and SECRET[4:] not in output


LITERALS = f"""
resource "lockgate_gateway" "gw" {{ name = "gw" }}
resource "lockgate_llm_upstream" "openai" {{
  gateway  = lockgate_gateway.gw.id
  name     = "openai"
  base_url = "https://api.openai.com/v1"
  auth     = "{SECRET}"
}}
resource "lockgate_api_key" "k" {{
  gateway  = lockgate_gateway.gw.id
  name     = "k"
  consumer = "c"
  key      = "short-{SECRET[-6:]}"
}}
"""


@pytest.mark.e2e
def test_diagnostics_on_secrets_name_the_attribute_not_the_value(project) -> None:  # type: ignore[no-untyped-def]
    """Literal secrets: Terraform quotes the user's own source line; our summary and detail never hold the value."""
    p = project(LITERALS)
    report = json.loads(p.tf("validate", "-json", ok=(1,)).stdout)
    diags = {d["address"]: d for d in report["diagnostics"]}
    auth, key = diags["lockgate_llm_upstream.openai"], diags["lockgate_api_key.k"]
    assert auth["snippet"]["code"].strip().startswith("auth") and key["snippet"]["code"].strip().startswith("key")
    assert "secret reference" in auth["summary"] and "at least 20 characters" in key["summary"]
    for diag in (auth, key):
        assert SECRET not in diag["summary"] + diag["detail"] and SECRET[-6:] not in diag["summary"] + diag["detail"]
        assert "not shown (sensitive)" in diag["detail"]


KEY_KNOWN_AT_APPLY = """
resource "lockgate_gateway" "gw" { name = "gw" }
resource "lockgate_consumer" "c" {
  gateway = lockgate_gateway.gw.id
  name    = "c"
}
resource "lockgate_api_key" "k" {
  gateway  = lockgate_gateway.gw.id
  name     = "k"
  consumer = lockgate_consumer.c.name
  key      = "sk-${lockgate_gateway.gw.pid}"
}
"""


@pytest.mark.e2e
def test_a_key_known_only_at_apply_is_checked_there_on_its_attribute(project) -> None:  # type: ignore[no-untyped-def]
    p = project(KEY_KNOWN_AT_APPLY)
    failed = p.apply(ok=(1,))
    key = f"sk-{p.endpoint('gw')['pid']}"
    assert "Invalid lockgate_api_key: key: String should have at least 20 characters" in failed.stderr
    assert 'key      = "sk-${lockgate_gateway.gw.pid}"' in failed.stderr  # on the attribute
    assert key not in failed.stdout + failed.stderr
