"""Control plane and data planes in containers: the image, config propagation, and failed requests under load.

    python bench/cluster.py [--quick]   # this scenario alone (also run by bench/run.py); writes cluster_results.json

Needs the Docker engine (DOCKER_HOST, or the default socket) and builds the runtime image if it is not built.
Measured: the image's size and the time from `docker run` to a healthy /health (5 starts); then a gateway of one
control-plane container and two data-plane containers (the Docker driver, one worker each) in front of a mock LLM
container, with key auth and usage on: how long a config change (the upstream's model) takes from the admin call to
being served by every data plane (50 changes, each data plane polled every 2 ms), with wrk loading both data planes
throughout; wrk's failed requests (socket errors and non-2xx) while the control plane container is stopped for 60 s
(20 s in --quick) and started again, and on one data plane while the other is killed.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.docker_engine: starts dockerd if none runs

import httpx
from load import body, wrk
from lockgate.provider_bridge.docker_engine import IMAGE, connect
from lockgate.provider_bridge.drivers.docker import DockerDriver, DockerGateway
from lockgate.sdk import (
    AdminClient,
    ApiKeyCreate,
    Consumer,
    KeyAuth,
    LlmUpstream,
    Route,
    RoutePolicies,
    UsageAccounting,
)
from targets import free_port

from tests.docker_engine import docker_engine

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "cluster_results.json"
KEY = "lg-bench-cluster-0123456789abcdef"
NAME = "bench-cluster"


@dataclass
class ClusterResult:
    image_mb: float
    start_to_healthy_s_median: float
    start_to_healthy_s_max: float
    changes: int
    propagation_ms_p50: float
    propagation_ms_p99: float
    propagation_ms_max: float
    requests_during_changes: int
    failed_during_changes: int
    control_plane_stopped_s: int
    requests_while_away: int
    failed_while_away: int
    resync_s: float
    requests_while_sibling_killed: int
    failed_while_sibling_killed: int


def _image_figures(starts: int = 5) -> tuple[float, list[float]]:
    built = subprocess.run(
        [sys.executable, "-m", "lockgate.cli.main", "image", "build"], capture_output=True, text=True
    )
    if built.returncode != 0:
        raise RuntimeError(built.stdout + built.stderr)
    client = connect()
    size = client.images.get(IMAGE).attrs["Size"] / 1e6
    times = []
    for _ in range(starts):
        port = free_port()
        started = time.monotonic()
        container = client.containers.run(
            IMAGE,
            ["serve", "--admin-host", "0.0.0.0", "--proxy-host", "0.0.0.0", "--data-dir", "/var/lib/lockgate/data"],
            detach=True,
            ports={"8001/tcp": ("127.0.0.1", port)},
        )
        try:
            while not _ok(f"http://127.0.0.1:{port}/health"):
                time.sleep(0.01)
            times.append(time.monotonic() - started)
        finally:
            container.remove(force=True)
    return round(size, 1), times


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _model(url: str, client: httpx.Client | None = None) -> str | None:
    """The model `url` answers with (None on any failure)."""
    try:
        answer = (client or httpx).post(  # type: ignore[attr-defined]
            url + "/v1/chat/completions",
            json={"model": "x", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=2,
        )
        return str(answer.json()["model"]) if answer.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError):
        return None


class _Load:
    """wrk against every URL, in threads, for `seconds`."""

    def __init__(self, urls: list[str], seconds: float, connections: int = 8) -> None:
        self.results: list[Any] = []
        payload = body("x", False)
        self._threads = [
            threading.Thread(
                target=lambda u=url: self.results.append(wrk(u + "/v1", KEY, payload, connections, seconds))
            )
            for url in urls
        ]
        for thread in self._threads:
            thread.start()

    def wait(self) -> tuple[int, int]:
        for thread in self._threads:
            thread.join()
        return sum(r.requests for r in self.results), sum(r.errors for r in self.results)


def _deploy(driver: DockerDriver) -> tuple[DockerGateway, str]:
    gateway = DockerGateway(
        name=NAME,
        image=IMAGE,
        admin_port=free_port(),
        proxy_ports=(free_port(), free_port()),
        instance_id=uuid.uuid4().hex,
    )
    admin_token = secrets.token_urlsafe(24)
    driver.stop(NAME)
    driver.start(gateway, admin_token, secrets.token_urlsafe(24))
    client = driver.client
    client.containers.run(
        IMAGE,
        ["mock-llm", "--host", "0.0.0.0"],
        detach=True,
        name=f"{NAME}-mock",
        network=gateway.network,
        labels={"dev.lockgate.gateway": NAME},
    )
    with AdminClient(f"http://127.0.0.1:{gateway.admin_port}", admin_token) as admin:
        admin.upstreams.create(LlmUpstream(name="mock", base_url=f"http://{NAME}-mock:9000/v1", model="m-0"))
        admin.routes.create(
            Route(
                name="chat",
                paths=["/v1"],
                upstream="mock",
                policies=RoutePolicies(key_auth=KeyAuth(), usage=UsageAccounting()),
            )
        )
        admin.consumers.create(Consumer(name="bench"))
        admin.api_keys.create(ApiKeyCreate(name="bench", consumer="bench", key=KEY))
    return gateway, admin_token


def _serving(urls: list[str], model: str) -> None:
    for url in urls:
        while _model(url) != model:
            time.sleep(0.05)


def _propagation(gateway: DockerGateway, admin_token: str, changes: int) -> list[float]:
    """Per change, ms from the admin call to the last data plane serving it (each polled on its own keep-alive
    connection: new connections every 2 ms would measure the host's NAT, not the gateway)."""
    urls = [f"http://127.0.0.1:{p}" for p in gateway.proxy_ports]
    pollers = {url: httpx.Client() for url in urls}
    samples = []
    with (
        AdminClient(f"http://127.0.0.1:{gateway.admin_port}", admin_token) as admin,
        ThreadPoolExecutor(len(urls)) as pool,
    ):
        for index in range(1, changes + 1):
            model = f"m-{index}"
            started = time.monotonic()
            admin.upstreams.update(LlmUpstream(name="mock", base_url=f"http://{NAME}-mock:9000/v1", model=model))

            def served(url: str, model: str = model, started: float = started) -> float:
                while _model(url, pollers[url]) != model:
                    time.sleep(0.002)
                return time.monotonic() - started

            samples.append(max(pool.map(served, urls)) * 1000)
    for poller in pollers.values():
        poller.close()
    return samples


def measure_cluster(quick: bool) -> dict[str, Any]:
    with docker_engine():
        return _measure(quick)


def _measure(quick: bool) -> dict[str, Any]:
    size, starts = _image_figures()
    driver = DockerDriver()
    gateway, admin_token = _deploy(driver)
    urls = [f"http://127.0.0.1:{p}" for p in gateway.proxy_ports]
    try:
        _serving(urls, "m-0")  # the configuration is in place everywhere before the load starts
        changes = 50
        load = _Load(urls, 40 if quick else 60)
        samples = _propagation(gateway, admin_token, changes)
        during, failed_during = load.wait()

        away = 20 if quick else 60
        load = _Load(urls, away + 15)
        time.sleep(5)
        control_plane = driver.client.containers.get(gateway.control_plane)
        control_plane.stop()
        time.sleep(away)
        back = time.monotonic()
        control_plane.start()
        with AdminClient(f"http://127.0.0.1:{gateway.admin_port}", admin_token) as admin:
            while True:
                try:
                    listed = admin.data_planes()
                    if len(listed.data_planes) == 2 and all(d.state == "in_sync" for d in listed.data_planes):
                        break
                except Exception:  # the admin API is starting
                    pass
                time.sleep(0.05)
        resync = time.monotonic() - back
        while_away, failed_away = load.wait()

        load = _Load(urls[1:], 10)
        time.sleep(2)
        driver.client.containers.get(gateway.data_plane(0)).kill()
        sibling, failed_sibling = load.wait()
    finally:
        driver.stop(NAME)
    result = ClusterResult(
        image_mb=size,
        start_to_healthy_s_median=round(statistics.median(starts), 2),
        start_to_healthy_s_max=round(max(starts), 2),
        changes=changes,
        propagation_ms_p50=round(statistics.median(samples), 1),
        propagation_ms_p99=round(statistics.quantiles(samples, n=100, method="inclusive")[98], 1),
        propagation_ms_max=round(max(samples), 1),
        requests_during_changes=during,
        failed_during_changes=failed_during,
        control_plane_stopped_s=away,
        requests_while_away=while_away,
        failed_while_away=failed_away,
        resync_s=round(resync, 2),
        requests_while_sibling_killed=sibling,
        failed_while_sibling_killed=failed_sibling,
    )
    return asdict(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    result = measure_cluster(args.quick)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
