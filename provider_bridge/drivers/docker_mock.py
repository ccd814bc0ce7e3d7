"""The mock LLM (`lockgate mock-llm`) as a container on a docker gateway's network, where its data planes reach it
(lockgate_mock_llm with driver = "docker")."""

from __future__ import annotations

from docker.errors import APIError, NotFound
from lockgate.provider_bridge.drivers.base import DriverError
from lockgate.provider_bridge.drivers.docker import (
    DockerDriver,
    listens,
    remove,
    remove_container,
    start_failure,
    wait_ready,
)

MOCK_PORT = 9000


def mock_container(name: str) -> str:
    return f"lockgate-mock-{name}"


def start_mock(name: str, image: str, network: str, host: str, port: int, args: list[str]) -> str:
    """Run `lockgate mock-llm ARGS` on `network` (published on host:port); answers the base URL the network's
    data planes use. DriverError (nothing left behind) if it does not answer."""
    client = DockerDriver().client
    DockerDriver(client).require_image(image)
    try:
        client.networks.get(network)
    except NotFound:
        raise DriverError(
            f"there is no Docker network {network!r}: use a docker lockgate_gateway's `network`"
        ) from None
    remove_container(client, mock_container(name))
    try:
        container = client.containers.run(
            image,
            ["mock-llm", "--host", "0.0.0.0", "--port", str(MOCK_PORT), *args],
            name=mock_container(name),
            hostname=mock_container(name),
            detach=True,
            network=network,
            ports={f"{MOCK_PORT}/tcp": (host, port)},
            labels={"dev.lockgate.mock": name},
            restart_policy={"Name": "unless-stopped"},
        )
    except APIError as exc:
        remove_container(client, mock_container(name))
        raise DriverError(start_failure(mock_container(name), exc, {"port": (host, port)})) from None
    try:
        wait_ready(container, lambda: listens(f"http://{host}:{port}/health"), f"mock LLM {name}")
    except DriverError:
        remove(container)
        raise
    return f"http://{mock_container(name)}:{MOCK_PORT}/v1"


def mock_running(name: str) -> bool:
    try:
        return bool(DockerDriver().client.containers.get(mock_container(name)).status == "running")
    except NotFound:
        return False


def remove_mock(name: str) -> None:
    remove_container(DockerDriver().client, mock_container(name))
