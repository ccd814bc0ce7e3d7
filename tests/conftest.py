"""Fixtures that start real processes (mock LLM, gateways) on loopback and always stop them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from lockgate.sdk import AdminClient

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 20.0, status: int | None = 200) -> None:
    """Wait until `url` answers `status` (any status if None)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            answer: int | None = httpx.get(url, timeout=0.5).status_code
        except httpx.HTTPError:
            answer = None
        if answer is not None and status in (None, answer):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{url} not healthy after {timeout}s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def lockgate(*args: str, log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen([sys.executable, "-m", "lockgate.cli.main", *args], stdout=handle, stderr=subprocess.STDOUT)


@dataclass
class Gateway:
    proxy_url: str
    admin_url: str
    token: str
    process: subprocess.Popen[bytes]
    data_dir: Path

    def admin(self) -> AdminClient:
        return AdminClient(self.admin_url, self.token)


@pytest.fixture(scope="session")
def mock_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (…/v1) of a running `lockgate mock-llm`."""
    port = free_port()
    log = tmp_path_factory.mktemp("mock") / "mock.log"
    process = lockgate("mock-llm", "--port", str(port), "--chunks", "4", log=log)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health", process)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        stop(process)


@pytest.fixture
def start_mock(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start another `lockgate mock-llm` with the given flags; returns its base URL (…/v1); stopped after the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*flags: str) -> str:
        port = free_port()
        process = lockgate("mock-llm", "--port", str(port), *flags, log=tmp_path / f"mock-{len(started)}.log")
        started.append(process)
        wait_healthy(f"http://127.0.0.1:{port}/health", process)
        return f"http://127.0.0.1:{port}/v1"

    yield start
    for process in started:
        stop(process)


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[Callable[..., Gateway]]:
    """Start `lockgate serve` (store in tmp_path, or DB-less with config=FILE); stopped after the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start(
        config: Path | None = None,
        data_dir: Path | None = None,
        token: str = "test-admin-token",
        workers: int = 1,
        name: str | None = None,
    ) -> Gateway:
        data_dir = data_dir or tmp_path / "gateway"
        proxy, admin = free_port(), free_port()
        token_file = tmp_path / "admin-token"
        token_file.write_text(token)
        args = [
            "serve",
            "--data-dir",
            str(data_dir),
            "--proxy-port",
            str(proxy),
            "--admin-port",
            str(admin),
            "--admin-token-file",
            str(token_file),
        ]
        if config is not None:
            args += ["--config", str(config)]
        if workers > 1:
            args += ["--workers", str(workers)]
        if name is not None:
            args += ["--name", name]
        process = lockgate(*args, log=tmp_path / f"gateway-{len(started)}.log")
        started.append(process)
        wait_healthy(f"http://127.0.0.1:{admin}/health", process)
        if workers > 1:  # the workers listen once they have compiled the published config
            wait_healthy(f"http://127.0.0.1:{proxy}/", process, status=None)
        return Gateway(f"http://127.0.0.1:{proxy}", f"http://127.0.0.1:{admin}", token, process, data_dir)

    yield start
    for process in started:
        stop(process)


@pytest.fixture(scope="session")
def docker_host() -> Iterator[str]:
    """A running Docker engine (started for the session when none is: tests/docker_engine.py)."""
    from tests.docker_engine import docker_engine

    with docker_engine() as host:
        yield host


@pytest.fixture(scope="session")
def runtime_image(docker_host: str) -> str:
    """The runtime image, built once per session by `lockgate image build` (a no-op when its inputs are unchanged)."""
    result = subprocess.run(
        [sys.executable, "-m", "lockgate.cli.main", "image", "build"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return "lockgate/runtime:latest"


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private LOCKGATE_HOME, so gateways registered by a test never meet the developer's."""
    home = tmp_path / "lockgate-home"
    monkeypatch.setenv("LOCKGATE_HOME", str(home))
    monkeypatch.setenv("CHECKPOINT_DISABLE", "1")
    return home


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )
