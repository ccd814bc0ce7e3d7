"""A real `lockgate serve` process configured through the SDK's admin client and called over HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from lockgate.sdk import (
    Acl,
    ApiKeyCreate,
    BadRequest,
    Conflict,
    Consumer,
    ConsumerGroup,
    GatewaySettings,
    KeyAuth,
    LlmUpstream,
    NotFound,
    RateLimit,
    Route,
    RoutePolicies,
    Unauthorized,
    UsageAccounting,
)

CHAT = {"model": "any", "messages": [{"role": "user", "content": "hi"}]}


def configure(gateway, mock_llm: str, **upstream: object) -> str:  # type: ignore[no-untyped-def]
    """Upstream + group (2 req/min) + keyed route + alice in the group; returns alice's key."""
    with gateway.admin() as admin:
        admin.upstreams.create(LlmUpstream(name="mock", base_url=mock_llm, model="mock-1", **upstream))
        admin.consumer_groups.create(ConsumerGroup(name="free", rate_limit=RateLimit(requests=2, window_s=60)))
        admin.consumer_groups.create(ConsumerGroup(name="vip"))
        admin.routes.create(
            Route(
                name="chat",
                paths=["/v1"],
                upstream="mock",
                policies=RoutePolicies(key_auth=KeyAuth(), usage=UsageAccounting()),
            )
        )
        admin.routes.create(
            Route(
                name="vip",
                paths=["/vip/v1"],
                upstream="mock",
                policies=RoutePolicies(key_auth=KeyAuth(), acl=Acl(allow=["vip"])),
            )
        )
        admin.consumers.create(Consumer(name="alice", groups=["free"]))
        admin.consumers.create(Consumer(name="bob"))
        admin.api_keys.create(ApiKeyCreate(name="bob-key", consumer="bob", key="bob-key-0123456789abcdef"))
        return admin.api_keys.create(ApiKeyCreate(name="alice-key", consumer="alice")).key  # type: ignore[no-any-return]


def test_openai_sdk_through_the_gateway_with_auth_limits_and_usage(start_gateway: Callable, mock_llm: str) -> None:
    gateway = start_gateway()
    key = configure(gateway, mock_llm)
    client = openai.OpenAI(base_url=gateway.proxy_url + "/v1", api_key=key, max_retries=0)

    reply = client.chat.completions.create(model="whatever", messages=[{"role": "user", "content": "hello there"}])
    assert reply.model == "mock-1" and reply.usage is not None and reply.usage.prompt_tokens == 2
    chunks = list(client.chat.completions.create(model="x", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks).startswith("Hello from the lockgate mock")
    assert all(c.choices for c in chunks), "the usage-only chunk the gateway asked for must not reach the client"

    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(**CHAT)
    assert limited.value.response.headers["Retry-After"].isdigit()
    assert "2 requests per 60s" in limited.value.message

    time.sleep(1.2)  # usage is saved to the store every second
    with gateway.admin() as admin:
        usage = admin.consumers.usage("alice")
    assert usage.requests == 2 and [r.stream for r in usage.recent] == [False, True]
    assert usage.prompt_tokens == 2 + 1 and usage.completion_tokens == 2 * 17 and usage.total_tokens == 3 + 34


def test_proxy_errors_are_openai_shaped(start_gateway: Callable, mock_llm: str) -> None:
    gateway = start_gateway()
    configure(gateway, mock_llm)
    bob = {"Authorization": "Bearer bob-key-0123456789abcdef"}

    def post(body: object, headers: dict[str, str] | None = None, path: str = "/v1/chat/completions") -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.post(
            gateway.proxy_url + path, content=content, headers=bob if headers is None else headers, timeout=10
        )

    cases = [
        (post(CHAT, headers={}), 401, "missing_api_key"),
        (post(CHAT, headers={"x-api-key": "wrong-key"}), 401, "invalid_api_key"),
        (post(CHAT, path="/vip/v1/chat/completions"), 403, "access_denied"),
        (post(CHAT, path="/nowhere/chat/completions"), 404, "route_not_found"),
        (post(CHAT, path="/v1/completions"), 404, "operation_not_found"),
        (post(b"{not json"), 400, "invalid_json"),
        (post({"model": "x", "messages": []}), 400, "invalid_request"),
        (post({"model": "x", "messages": [{"role": "user", "content": "x" * 2_000_000}]}), 413, "body_too_large"),
        (
            post({"model": "x", "messages": [{"role": "user", "content": "mock:invalid-json"}]}),
            502,
            "upstream_invalid_response",
        ),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["code"] == code and error["message"] and error["type"]
    assert post({"model": "x", "messages": [{"role": "user", "content": "mock:status=500"}]}).status_code == 500


def test_upstream_unreachable_timeout_and_broken_stream(start_gateway: Callable, mock_llm: str) -> None:
    gateway = start_gateway()
    configure(gateway, mock_llm, read_timeout_s=0.5)
    client = openai.OpenAI(base_url=gateway.proxy_url + "/v1", api_key="bob-key-0123456789abcdef", max_retries=0)

    with pytest.raises(openai.APIStatusError) as timeout:
        client.chat.completions.create(model="x", messages=[{"role": "user", "content": "mock:sleep=2000"}])
    assert timeout.value.status_code == 504
    with pytest.raises(openai.APIError, match="broke the stream"):
        for _ in client.chat.completions.create(
            model="x", messages=[{"role": "user", "content": "mock:break-stream"}], stream=True
        ):
            pass
    with gateway.admin() as admin:
        admin.upstreams.update(LlmUpstream(name="mock", base_url="http://127.0.0.1:9/v1", model="mock-1"))
    with pytest.raises(openai.APIStatusError) as unreachable:
        client.chat.completions.create(**CHAT)  # type: ignore[arg-type]
    assert unreachable.value.status_code == 502 and "unreachable" in unreachable.value.message


def test_admin_api_rejects_bad_changes_and_keeps_the_running_config(start_gateway: Callable, mock_llm: str) -> None:
    gateway = start_gateway()
    key = configure(gateway, mock_llm)
    with gateway.admin() as admin:
        before = admin.status()
        with pytest.raises(BadRequest) as bad:
            admin.routes.create(Route(name="other", paths=["/o"], upstream="missing"))
        assert bad.value.field == ["upstream"] and "'missing' does not exist" in bad.value.message
        with pytest.raises(BadRequest) as secret:
            admin.upstreams.create(LlmUpstream(name="openai", base_url="https://a/v1", auth="env:LG_NOT_SET_ANYWHERE"))
        assert secret.value.field == ["auth"] and "LG_NOT_SET_ANYWHERE" in secret.value.message
        with pytest.raises(Conflict, match="still used by routes/chat, routes/vip"):
            admin.upstreams.delete("mock")
        with pytest.raises(Conflict):
            admin.consumers.create(Consumer(name="alice"))
        with pytest.raises(NotFound):
            admin.routes.get("nope")
        assert admin.status() == before
        raw = httpx.post(
            gateway.admin_url + "/routes",
            json={"name": "r", "paths": ["v1"], "upstream": "mock"},
            headers={"Authorization": f"Bearer {gateway.token}"},
        )
        assert raw.status_code == 422
        message = raw.json()["error"]["message"]
        assert raw.json()["error"]["field"] == ["paths"] and "got 'v1'" in message and "(got" not in message
        admin.update_settings(GatewaySettings(max_body_bytes=40))
    assert (
        httpx.post(
            gateway.proxy_url + "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key}"}
        ).status_code
        == 413
    )
    with pytest.raises(Unauthorized):
        from lockgate.sdk import AdminClient

        AdminClient(gateway.admin_url, "wrong").routes.list()
    assert "/routes/{name}" in httpx.get(gateway.admin_url + "/openapi.json").json()["paths"]


def test_config_and_usage_survive_a_restart(start_gateway: Callable, mock_llm: str, tmp_path: Path) -> None:
    gateway = start_gateway(data_dir=tmp_path / "persist")
    key = configure(gateway, mock_llm)
    assert (
        httpx.post(
            gateway.proxy_url + "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key}"}
        ).status_code
        == 200
    )
    with gateway.admin() as admin:
        served = admin.status().config_version
    gateway.process.terminate()
    gateway.process.wait(10)
    again = start_gateway(data_dir=tmp_path / "persist")
    with again.admin() as admin:
        assert admin.status().config_version == served + 1  # versions only grow, across restarts too
        assert [r.name for r in admin.routes.list()] == ["chat", "vip"]
        assert admin.consumers.usage("alice").requests == 1
    assert (
        httpx.post(
            again.proxy_url + "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key}"}
        ).status_code
        == 200
    )


def test_db_less_mode_serves_a_declarative_file(start_gateway: Callable, mock_llm: str, tmp_path: Path) -> None:
    import hashlib

    config = tmp_path / "gateway.yaml"
    config.write_text(f"""
upstreams: [{{name: mock, base_url: "{mock_llm}", model: mock-1}}]
routes: [{{name: chat, paths: [/v1], upstream: mock, policies: {{key_auth: {{}}, usage: {{}}}}}}]
consumers: [{{name: app}}]
api_keys: [{{name: app-key, consumer: app, key_sha256: "{hashlib.sha256(b"file-key-0123456789").hexdigest()}"}}]
""")
    gateway = start_gateway(config=config)
    reply = httpx.post(gateway.proxy_url + "/v1/chat/completions", json=CHAT, headers={"apikey": "file-key-0123456789"})
    assert reply.status_code == 200
    with gateway.admin() as admin:
        with pytest.raises(Exception, match="declarative config file"):
            admin.consumers.create(Consumer(name="x"))
        assert [u.name for u in admin.config().upstreams] == ["mock"]


def test_db_less_mode_reloads_an_edited_file_atomically(start_gateway: Callable, mock_llm: str, tmp_path: Path) -> None:
    import hashlib
    import signal

    def write(key: str, extra: str = "") -> None:
        config.write_text(f"""
upstreams: [{{name: mock, base_url: "{mock_llm}", model: mock-1}}]
routes: [{{name: chat, paths: [/v1], upstream: mock, policies: {{key_auth: {{}}}}}}]
consumers: [{{name: app}}]
api_keys: [{{name: app-key, consumer: app, key_sha256: "{hashlib.sha256(key.encode()).hexdigest()}"}}]
{extra}""")

    def status(key: str) -> int:
        return httpx.post(gateway.proxy_url + "/v1/chat/completions", json=CHAT, headers={"apikey": key}).status_code

    config = tmp_path / "gateway.yaml"
    write("first-key-0123456789")
    gateway = start_gateway(config=config)
    write("second-key-0123456789")
    assert status("first-key-0123456789") == 200  # an edit alone changes nothing ...
    gateway.process.send_signal(signal.SIGHUP)  # ... until SIGHUP
    deadline = time.monotonic() + 10
    while status("second-key-0123456789") != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status("second-key-0123456789") == 200 and status("first-key-0123456789") == 401
    with gateway.admin() as admin:
        before = admin.status()
        write("third-key-0123456789", extra="consumer_groups: [{name: Bad!}]")
        gateway.process.send_signal(signal.SIGHUP)
        with pytest.raises(BadRequest, match=r"consumer_groups\[0\]\.name"):
            admin.reload_config()
        assert admin.status() == before and status("second-key-0123456789") == 200
        write("third-key-0123456789")
        assert admin.reload_config().config_version == before.config_version + 1
    assert status("third-key-0123456789") == 200
    assert "kept config version" in (tmp_path / "gateway-0.log").read_text()


def test_serve_rejects_an_invalid_file_naming_the_field(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = tmp_path / "bad.yaml"
    config.write_text("routes: [{name: chat, paths: [v1], upstream: nope}]\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lockgate.cli.main",
            "serve",
            "--config",
            str(config),
            "--data-dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "routes[0].paths" in result.stderr and "must start with '/'" in result.stderr


def test_async_admin_client(start_gateway: Callable, mock_llm: str) -> None:
    import asyncio

    from lockgate.sdk import AsyncAdminClient

    gateway = start_gateway()

    async def journey() -> None:
        async with AsyncAdminClient(gateway.admin_url, gateway.token) as admin:
            await admin.upstreams.create(LlmUpstream(name="mock", base_url=mock_llm))
            await admin.consumers.create(Consumer(name="carol"))
            created = await admin.api_keys.create(ApiKeyCreate(name="carol-key", consumer="carol"))
            assert created.key.startswith("lg-") and created.key_prefix == created.key[:6]
            assert [k.name for k in await admin.api_keys.list()] == ["carol-key"]
            assert (await admin.consumers.usage("carol")).requests == 0
            with pytest.raises(NotFound):
                await admin.consumers.get("nobody")
            await admin.api_keys.delete("carol-key")
            assert (await admin.status()).config_version == 5

    asyncio.run(journey())


def test_several_workers_share_one_port_one_limit_and_one_usage_ledger(start_gateway: Callable, mock_llm: str) -> None:
    gateway = start_gateway(workers=2)
    key = configure(gateway, mock_llm)  # alice: 2 requests per minute; bob: no limit

    def fresh_post(api_key: str) -> int:
        with httpx.Client() as fresh:  # a new connection each time: the kernel spreads them over the workers
            return fresh.post(
                gateway.proxy_url + "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {api_key}"}
            ).status_code

    def eventually(check: Callable[[], bool], seconds: float = 10.0) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(0.1)
        return False

    bob = "bob-key-0123456789abcdef"
    assert eventually(lambda: all(fresh_post(bob) == 200 for _ in range(6))), "workers never served the new config"
    while time.time() % 60 > 50:  # limit windows are whole minutes: keep these eight requests inside one
        time.sleep(0.5)
    statuses = [fresh_post(key) for _ in range(8)]
    assert sorted(statuses) == [200, 200] + [429] * 6
    assert len(psutil_children(gateway.process.pid)) == 2
    with gateway.admin() as admin:
        assert eventually(lambda: admin.consumers.usage("alice").requests == 2)  # workers flush every second
        admin.consumer_groups.update(ConsumerGroup(name="free", rate_limit=RateLimit(requests=100, window_s=60)))
    assert eventually(lambda: fresh_post(key) == 200)


def psutil_children(pid: int) -> list[Any]:
    from pathlib import Path as _Path

    children = []
    for status in _Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            children.append(type("Child", (), {"pid": int(status.parent.name)}))
    return children


def test_usage_of_every_answered_request_survives_a_worker_killed_under_load(
    start_gateway: Callable, mock_llm: str
) -> None:
    import os
    import signal
    import threading

    gateway = start_gateway(workers=2)
    configure(gateway, mock_llm)
    bob = {"Authorization": "Bearer bob-key-0123456789abcdef"}
    answered, failed = [0], [0]
    lock, stop = threading.Lock(), threading.Event()

    def load() -> None:
        while not stop.is_set():
            with httpx.Client(timeout=5) as client:  # new connections, so both workers get some
                for _ in range(20):
                    try:
                        ok = client.post(gateway.proxy_url + "/v1/chat/completions", json=CHAT, headers=bob)
                        outcome = answered if ok.status_code == 200 else failed
                    except httpx.HTTPError:
                        outcome = failed
                    with lock:
                        outcome[0] += 1

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(psutil_children(gateway.process.pid)) < 2:
        time.sleep(0.1)
    threads = [threading.Thread(target=load) for _ in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    os.kill(psutil_children(gateway.process.pid)[0].pid, signal.SIGKILL)
    time.sleep(1.5)
    stop.set()
    for thread in threads:
        thread.join()
    assert answered[0] > 100
    with gateway.admin() as admin:
        recorded = admin.consumers.usage("bob").requests
    # every answered request counts; a request cut off by the kill may count too (it was logged, then not sent)
    assert answered[0] <= recorded <= answered[0] + failed[0], (answered, failed, recorded)
