"""A control plane and data planes as real processes: config sync, last-known-good, usage hand-in, tokens."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from lockgate.sdk import (
    Acl,
    AdminClient,
    ApiKeyCreate,
    Consumer,
    ConsumerGroup,
    DataPlanes,
    KeyAuth,
    LlmUpstream,
    Route,
    RoutePolicies,
    UsageAccounting,
)

from tests.conftest import free_port, lockgate, stop, wait_healthy

KEY = "sk-cluster-test-0123456789"
CHAT = {"model": "any", "messages": [{"role": "user", "content": "hi"}]}


@dataclass
class ControlPlane:
    admin_url: str
    cluster_url: str
    data_dir: Path
    process: subprocess.Popen[bytes]

    def admin(self) -> AdminClient:
        return AdminClient(self.admin_url, (self.data_dir / "admin-token").read_text())


@dataclass
class DataPlane:
    proxy_url: str
    status_url: str
    data_dir: Path
    process: subprocess.Popen[bytes]

    def status(self) -> dict[str, Any]:
        return dict(httpx.get(self.status_url + "/status").json())

    def models(self) -> httpx.Response:  # served once the route is: no usage is counted for it
        return httpx.get(self.proxy_url + "/v1/models", headers={"Authorization": f"Bearer {KEY}"})

    def chat(self, key: str = KEY) -> httpx.Response:
        return httpx.post(
            self.proxy_url + "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key}"}
        )


@dataclass
class Cluster:
    tmp: Path
    started: list[subprocess.Popen[bytes]]
    admin_port: int = 0
    cluster_port: int = 0

    def control_plane(self) -> ControlPlane:
        """Started on the same ports and store every time (a restart)."""
        self.admin_port = self.admin_port or free_port()
        self.cluster_port = self.cluster_port or free_port()
        data_dir = self.tmp / "cp"
        process = lockgate(
            *("serve", "--role", "control-plane", "--data-dir", str(data_dir)),
            *("--admin-port", str(self.admin_port), "--cluster-port", str(self.cluster_port)),
            log=self.tmp / f"cp-{len(self.started)}.log",
        )
        self.started.append(process)
        wait_healthy(f"http://127.0.0.1:{self.admin_port}/health", process)
        return ControlPlane(
            f"http://127.0.0.1:{self.admin_port}", f"http://127.0.0.1:{self.cluster_port}", data_dir, process
        )

    def data_plane(self, name: str, *flags: str, ready: bool = True, ports: tuple[int, int] | None = None) -> DataPlane:
        proxy, status = ports or (free_port(), free_port())
        data_dir = self.tmp / name
        process = lockgate(
            *("serve", "--role", "data-plane", "--data-dir", str(data_dir), "--name", name),
            *("--control-plane", f"http://127.0.0.1:{self.cluster_port}"),
            *("--cluster-token-file", str(self.tmp / "cp" / "cluster-token")),
            *("--proxy-port", str(proxy), "--admin-port", str(status), *flags),
            log=self.tmp / f"{name}-{len(self.started)}.log",
        )
        self.started.append(process)
        wait_healthy(f"http://127.0.0.1:{status}/health", process, status=200 if ready else 503)
        if ready:
            wait_healthy(f"http://127.0.0.1:{proxy}/", process, status=None)  # its worker(s) listen
        return DataPlane(f"http://127.0.0.1:{proxy}", f"http://127.0.0.1:{status}", data_dir, process)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    started: list[subprocess.Popen[bytes]] = []
    yield Cluster(tmp_path, started)
    for process in reversed(started):
        stop(process)


def configure(cp: ControlPlane, mock_llm: str) -> None:
    with cp.admin() as admin:
        admin.upstreams.create(LlmUpstream(name="mock", base_url=mock_llm, model="mock-1"))
        admin.consumer_groups.create(ConsumerGroup(name="team"))
        admin.routes.create(
            Route(
                name="chat",
                paths=["/v1"],
                upstream="mock",
                policies=RoutePolicies(key_auth=KeyAuth(), acl=Acl(allow=["team"]), usage=UsageAccounting()),
            )
        )
        admin.consumers.create(Consumer(name="alice", groups=["team"]))
        admin.api_keys.create(ApiKeyCreate(name="alice-key", consumer="alice", key=KEY))


def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.05)


def in_sync(cp: ControlPlane, count: int) -> Callable[[], bool]:
    def check() -> bool:
        with cp.admin() as admin:
            listed: DataPlanes = admin.data_planes()
        return len(listed.data_planes) == count and all(d.state == "in_sync" for d in listed.data_planes)

    return check


def test_data_planes_serve_the_control_planes_config_and_hand_in_their_usage(cluster: Cluster, mock_llm: str) -> None:
    cp = cluster.control_plane()
    one = cluster.data_plane("dp-one")
    two = cluster.data_plane("dp-two", "--workers", "2")
    configure(cp, mock_llm)
    until(in_sync(cp, 2))
    with cp.admin() as admin:
        listed = admin.data_planes()
    assert {d.name for d in listed.data_planes} == {"dp-one", "dp-two"}
    assert {(d.version, d.config_hash) for d in listed.data_planes} == {(listed.config_version, listed.config_hash)}
    # in sync = the files are in place; the workers serve them within their next look (0.25 s)
    until(lambda: one.models().status_code == 200 and two.models().status_code == 200, timeout=5)

    for dp in (one, two):
        client = openai.OpenAI(base_url=dp.proxy_url + "/v1", api_key=KEY, max_retries=0)
        reply = client.chat.completions.create(model="x", messages=[{"role": "user", "content": "hello"}])
        assert reply.model == "mock-1"
    until(lambda: cp.admin().consumers.usage("alice").requests == 2)

    with cp.admin() as admin:  # a key revoked on the control plane stops working on every data plane
        admin.api_keys.delete("alice-key")
    until(lambda: one.chat().status_code == 401 and two.chat().status_code == 401, timeout=5)
    with cp.admin() as admin:  # and a route change (a whole config) reaches them too
        admin.api_keys.create(ApiKeyCreate(name="alice-key", consumer="alice", key=KEY))
        admin.consumer_groups.create(ConsumerGroup(name="others"))
        admin.routes.update(
            Route(
                name="chat",
                paths=["/v1"],
                upstream="mock",
                policies=RoutePolicies(key_auth=KeyAuth(), acl=Acl(allow=["others"])),
            )
        )
    until(lambda: one.chat().status_code == 403 and two.chat().status_code == 403, timeout=5)
    until(in_sync(cp, 2))


def test_data_planes_keep_serving_while_the_control_plane_is_away(cluster: Cluster, mock_llm: str) -> None:
    cp = cluster.control_plane()
    one = cluster.data_plane("dp-one")
    configure(cp, mock_llm)
    until(lambda: one.chat().status_code == 200)
    stop(cp.process)

    assert [one.chat().status_code for _ in range(3)] == [200] * 3
    stop(one.process)  # restarted while the control plane is down: it serves what it kept on disk
    again = cluster.data_plane("dp-one")
    assert again.chat().status_code == 200
    assert again.status()["control_plane_reachable"] is False
    empty = cluster.data_plane("dp-new", ready=False)  # nothing on disk: it does not listen at all
    with pytest.raises(httpx.ConnectError):
        empty.chat()

    cp = cluster.control_plane()  # back: every data plane catches up, and the usage kept meanwhile is handed in
    until(in_sync(cp, 2), timeout=20)
    wait_healthy(empty.status_url + "/health", empty.process)
    until(lambda: empty.chat().status_code == 200)
    # 1 + 3 before the restart, 1 after it, 1 on the new data plane: each handed in once
    until(lambda: cp.admin().consumers.usage("alice").requests == 6, timeout=10)
    # the log of the data plane that stopped is removed once handed in; the running one's stays
    until(lambda: len(list((again.data_dir / "usage").glob("*.log"))) == 1)
    assert cp.admin().consumers.usage("alice").requests == 6


def test_a_config_a_data_plane_cannot_serve_is_refused_whole_and_reported(cluster: Cluster, mock_llm: str) -> None:
    cp = cluster.control_plane()
    dp = cluster.data_plane("dp-one")
    configure(cp, mock_llm)
    until(lambda: dp.chat().status_code == 200)
    with cp.admin() as admin:  # the control plane stores it: only data planes resolve secrets
        admin.upstreams.update(LlmUpstream(name="mock", base_url=mock_llm, model="mock-1", auth="env:LOCKGATE_NOT_SET"))

    def refused() -> bool:
        with cp.admin() as admin:
            (listed,) = admin.data_planes().data_planes
        return listed.state == "error" and "LOCKGATE_NOT_SET" in (listed.error or "")

    until(refused)
    assert dp.chat().status_code == 200, "the previous config keeps serving"
    assert dp.chat().json()["model"] == "mock-1"
    with cp.admin() as admin:  # but a key revoked meanwhile stops working there too
        admin.api_keys.delete("alice-key")
    until(lambda: dp.chat().status_code == 401, timeout=5)
    assert refused(), "and it still says it refuses the config"
    with cp.admin() as admin:
        admin.api_keys.create(ApiKeyCreate(name="alice-key", consumer="alice", key=KEY))
        admin.upstreams.update(LlmUpstream(name="mock", base_url=mock_llm, model="mock-2"))
    until(in_sync(cp, 1))
    until(lambda: dp.chat().json()["model"] == "mock-2", timeout=2)


def test_the_cluster_token_opens_only_the_cluster_endpoint(cluster: Cluster) -> None:
    cp = cluster.control_plane()
    cluster_token = (cp.data_dir / "cluster-token").read_text()
    admin_token = (cp.data_dir / "admin-token").read_text()
    assert cluster_token != admin_token
    assert (cp.data_dir / "cluster-token").stat().st_mode & 0o777 == 0o600

    report = {"id": "probe", "wait_s": 0}
    sync = cp.cluster_url + "/cluster/v1/sync"
    assert httpx.post(sync, json=report, headers={"Authorization": f"Bearer {admin_token}"}).status_code == 401
    refused = httpx.post(sync, json=report)
    assert refused.status_code == 401 and "cluster-token" in refused.json()["error"]["message"]
    assert httpx.post(sync, json=report, headers={"Authorization": f"Bearer {cluster_token}"}).status_code == 200
    assert httpx.get(cp.admin_url + "/config", headers={"Authorization": f"Bearer {cluster_token}"}).status_code == 401
