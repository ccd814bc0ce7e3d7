"""The runtime image: built here from Debian's packages with the real Docker engine, non-root, with a health check,
and a container of it serving the OpenAI SDK."""

from __future__ import annotations

import subprocess
import sys
import time

import docker
import openai
from lockgate.sdk import AdminClient, LlmUpstream, Route

from tests.conftest import free_port


def test_the_image_is_rebuilt_only_when_its_inputs_change(runtime_image: str) -> None:
    again = subprocess.run(
        [sys.executable, "-m", "lockgate.cli.main", "image", "build"], capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0 and "is up to date" in again.stdout, again.stdout + again.stderr
    image = docker.from_env().images.get(runtime_image)
    config = image.attrs["Config"]
    assert config["User"] == "lockgate"
    assert config["Healthcheck"]["Test"][0] == "CMD"
    assert image.labels["dev.lockgate.inputs"]
    assert image.attrs["Size"] < 250e6


def test_a_container_of_the_image_serves_the_openai_sdk(runtime_image: str) -> None:
    client = docker.from_env()
    admin_port, proxy_port = free_port(), free_port()
    mock = client.containers.run(
        runtime_image, ["mock-llm", "--host", "0.0.0.0"], detach=True, name=f"mock-{admin_port}"
    )
    gateway = client.containers.run(
        runtime_image,
        ["serve", "--admin-host", "0.0.0.0", "--proxy-host", "0.0.0.0", "--data-dir", "/var/lib/lockgate/data"],
        detach=True,
        ports={"8001/tcp": ("127.0.0.1", admin_port), "8000/tcp": ("127.0.0.1", proxy_port)},
        links={mock.name: "mock"},
    )
    try:
        deadline = time.monotonic() + 30
        while (gateway.reload() or gateway.attrs["State"]["Health"]["Status"]) != "healthy":
            assert time.monotonic() < deadline, gateway.logs().decode()
            time.sleep(0.2)
        token = gateway.exec_run(["cat", "/var/lib/lockgate/data/admin-token"], user="lockgate").output.decode()
        with AdminClient(f"http://127.0.0.1:{admin_port}", token.strip()) as admin:
            admin.upstreams.create(LlmUpstream(name="mock", base_url="http://mock:9000/v1", model="mock-1"))
            admin.routes.create(Route(name="chat", paths=["/v1"], upstream="mock"))
        sdk = openai.OpenAI(base_url=f"http://127.0.0.1:{proxy_port}/v1", api_key="unused", max_retries=0)
        reply = sdk.chat.completions.create(model="x", messages=[{"role": "user", "content": "hi"}])
        assert reply.model == "mock-1"
        assert gateway.exec_run(["id", "-u"]).output.strip() == b"10001"
    finally:
        for container in (gateway, mock):
            container.remove(force=True)
