"""The Docker engine, through the Docker SDK (the Engine API; the `docker` CLI is never run).

It is found where Docker's own clients look: DOCKER_HOST, else the default socket.
"""

from __future__ import annotations

import os

import docker
from docker.errors import DockerException

IMAGE = "lockgate/runtime:latest"  # what `lockgate image build` tags, and the Docker driver runs by default


class EngineUnavailable(RuntimeError):
    """No Docker engine answers; the message says where it looked and how to start one."""


def connect() -> docker.DockerClient:
    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except DockerException as exc:
        reason = str(exc).splitlines()[0][:300]
        raise EngineUnavailable(
            f"Docker is not running, or not at {where} ({reason}). Start the engine (`dockerd &` as root, or "
            "`systemctl start docker`), or set DOCKER_HOST to where it listens."
        ) from None
    return client
