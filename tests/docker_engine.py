"""The real Docker engine for the tests: the one DOCKER_HOST (or the default socket) names, or else a `dockerd`
the tests start themselves and stop at the end (`.ci/run` installs docker.io; a CI machine runs no daemon).

The started daemon keeps its images in REPO/.lockgate/dockerd, so a second test run on the same checkout finds
the runtime image built and `lockgate image build` has nothing to do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
from docker.errors import DockerException

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 30.0


def _answers(host: str | None) -> bool:
    try:
        client = docker.DockerClient(base_url=host) if host else docker.from_env()
        client.ping()
        client.close()
    except DockerException:
        return False
    return True


@contextmanager
def docker_engine() -> Iterator[str]:
    """DOCKER_HOST of a running engine (set in os.environ, so Terraform and the provider see it too)."""
    if _answers(os.environ.get("DOCKER_HOST")):
        yield os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        return
    binary = shutil.which("dockerd")
    if binary is None:
        raise RuntimeError("no Docker engine answers and dockerd is not installed: `apt-get install -y docker.io`")
    run = Path(tempfile.mkdtemp(prefix="lockgate-dockerd-"))
    socket = f"unix://{run}/docker.sock"
    log = (run / "dockerd.log").open("wb")
    process = subprocess.Popen(
        [
            *(binary, "--data-root", str(REPO / ".lockgate" / "dockerd"), "--exec-root", str(run / "exec")),
            *("--host", socket, "--pidfile", str(run / "dockerd.pid")),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    previous = os.environ.get("DOCKER_HOST")
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(socket):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dockerd did not start:\n{(run / 'dockerd.log').read_text()[-2000:]}")
            time.sleep(0.1)
        os.environ["DOCKER_HOST"] = socket
        yield socket
    finally:
        if previous is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = previous
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        shutil.rmtree(run, ignore_errors=True)
