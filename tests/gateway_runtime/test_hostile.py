"""What a hostile client, a broken upstream or a careless config can do to a real `lockgate serve`: each gets a
defined answer in the gateway's error shape, and nothing stalls the data plane for other clients."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import orjson
import pytest
from lockgate.sdk import (
    ApiKeyCreate,
    BadRequest,
    Consumer,
    GatewaySettings,
    KeyAuth,
    LlmUpstream,
    Route,
    RoutePolicies,
    UsageAccounting,
)

KEY = "hostile-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


def chat(content: str = "hi", **extra: object) -> dict[str, object]:
    return {"model": "m", "messages": [{"role": "user", "content": content}], **extra}


def setup(gateway, base_url: str, **upstream: object) -> None:  # type: ignore[no-untyped-def]
    with gateway.admin() as admin:
        admin.upstreams.create(LlmUpstream(name="mock", base_url=base_url, model="mock-1", **upstream))
        policies = RoutePolicies(key_auth=KeyAuth(), usage=UsageAccounting())
        admin.routes.create(Route(name="chat", paths=["/v1"], upstream="mock", policies=policies))
        admin.consumers.create(Consumer(name="eve"))
        admin.api_keys.create(ApiKeyCreate(name="eve-key", consumer="eve", key=KEY))


def raw_exchange(url: str, request: bytes, timeout: float = 5.0) -> tuple[bytes, bool]:
    """Send raw bytes; return everything answered and whether the server closed the connection."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            return received, False
        return received, True


def error_of(raw: bytes) -> tuple[int, dict[str, str], str]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    headers = head.decode("latin-1").lower()
    assert "content-type: application/json" in headers, raw[:300]
    return status, orjson.loads(body)["error"], headers


@pytest.fixture
def served(start_gateway: Callable, mock_llm: str):  # type: ignore[no-untyped-def]
    gateway = start_gateway()
    setup(gateway, mock_llm)
    return gateway


def test_route_patterns_run_in_linear_time_and_unsupported_ones_are_rejected(served) -> None:  # type: ignore[no-untyped-def]
    with served.admin() as admin:
        admin.routes.create(Route(name="redos", paths=["~/(a+)+$"], upstream="mock"))
        with pytest.raises(BadRequest) as rejected:
            admin.routes.create(Route.model_construct(name="backref", paths=["~/(a)\\1"], upstream="mock"))
    assert "paths[0] '~/(a)\\\\1'" in rejected.value.message and "backreferences" in rejected.value.message
    # With Python's backtracking engine one such request held the event loop for seconds (minutes for longer
    # paths); with RE2 each is answered at once, and the timeout below only bounds a regression.
    hostile = "/" + "a" * 8000 + "b"
    for _ in range(20):
        response = httpx.post(served.proxy_url + hostile, json=chat(), timeout=5)
        assert response.status_code == 404 and response.json()["error"]["code"] == "route_not_found"
    assert httpx.post(served.proxy_url + "/v1/chat/completions", json=chat(), headers=AUTH).status_code == 200


def test_upstream_errors_reach_the_client_in_the_gateway_shape(served) -> None:  # type: ignore[no-untyped-def]
    client = openai.OpenAI(base_url=served.proxy_url + "/v1", api_key=KEY, max_retries=0)
    with pytest.raises(openai.APIStatusError) as text_error:
        client.chat.completions.create(**chat("mock:text-status=500"))  # type: ignore[call-overload]
    assert text_error.value.status_code == 502
    assert text_error.value.response.headers["content-type"] == "application/json"
    assert "answered HTTP 500 with a body that is not an OpenAI-style JSON error (text/plain" in str(
        text_error.value.message
    )
    with pytest.raises(openai.APIStatusError) as json_error:  # an OpenAI-style error keeps its status and message
        client.chat.completions.create(**chat("mock:status=429"))  # type: ignore[call-overload]
    assert json_error.value.status_code == 429 and "mock failure" in str(json_error.value.message)
    with pytest.raises(openai.APIStatusError) as streamed:
        list(client.chat.completions.create(**chat("mock:text-status=503", stream=True)))  # type: ignore[call-overload]
    assert streamed.value.status_code == 502


def test_usage_of_an_unexpected_shape_never_fails_a_response(served) -> None:  # type: ignore[no-untyped-def]
    client = openai.OpenAI(base_url=served.proxy_url + "/v1", api_key=KEY, max_retries=0)
    for variant in ("1", "2"):
        raw = client.chat.completions.with_raw_response.create(**chat(f"mock:bad-usage={variant}"))  # type: ignore[call-overload]
        assert raw.status_code == 200
        chunks = list(client.chat.completions.create(**chat(f"mock:bad-usage={variant}", stream=True)))  # type: ignore[call-overload]
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).startswith("Hello")
    with served.admin() as admin:
        usage = admin.consumers.usage("eve")
    assert usage.requests == 4
    # usage [1] says nothing: estimated, never a silent zero; {"completion_tokens": 3, ...}: what could be read
    assert [r.estimated for r in usage.recent] == [True, True, False, False] and usage.estimated_requests == 2
    assert [r.completion_tokens for r in usage.recent][2:] == [3, 3] and usage.recent[0].completion_tokens > 0


def test_what_the_http_parser_rejects_is_answered_in_the_error_shape(served) -> None:  # type: ignore[no-untyped-def]
    url = served.proxy_url
    body = json.dumps(chat()).encode()
    start = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode() + b"\r\n"
    cases = {
        "big header": (start + b"X-Big: " + b"a" * 65536 + b"\r\n\r\n", 431, "header_too_large"),
        "many headers": (start + b"".join(b"X-%d: 1\r\n" % i for i in range(1000)) + b"\r\n", 431, "too_many_headers"),
        "long request line": (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
        "smuggling": (
            start + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /v1/models HTTP/1.1\r\n\r\n",
            400,
            "invalid_http",
        ),
        "two lengths": (start + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400, "invalid_http"),
        "space before colon": (start + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400, "invalid_http"),
        "bytes in path": (b"GET /v1/\xff\xfe/models HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid_http"),
        "bad utf-8 key": (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nx-api-key: \xff\xfe\xc3\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body),
            401,
            "invalid_api_key",
        ),
    }
    for name, (request, status, code) in cases.items():
        raw, closed = raw_exchange(url, request, timeout=3)
        got_status, error, _ = error_of(raw)
        assert (got_status, error["code"]) == (status, code), f"{name}: {raw[:300]!r}"
        assert error["message"] and error["type"], name
        assert b"a" * 100 not in raw and KEY.encode() not in raw, f"{name}: the answer quotes the request"
        if status != 401:
            answers = len(re.findall(rb"HTTP/1\.[01] \d{3} ", raw))
            assert closed and answers == 1, f"{name}: the connection must close, with nothing behind the answer"


def test_expect_100_continue_is_answered_before_the_body(served) -> None:  # type: ignore[no-untyped-def]
    host, port = served.proxy_url.removeprefix("http://").split(":")
    body = json.dumps(chat()).encode()
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nExpect: 100-continue\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (KEY.encode(), len(body))
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(body)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    # a rejected request is answered without waiting for its body
    raw, _ = raw_exchange(
        served.proxy_url,
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n",
        timeout=2,
    )
    assert error_of(raw)[:2][0] == 401


def test_slow_headers_and_idle_connections_are_closed(served) -> None:  # type: ignore[no-untyped-def]
    with served.admin() as admin:
        admin.update_settings(GatewaySettings(header_timeout_s=1, idle_timeout_s=2))
    host, port = served.proxy_url.removeprefix("http://").split(":")
    idle = [socket.create_connection((host, int(port)), timeout=10) for _ in range(300)]
    try:
        # hundreds of idle connections do not keep anyone else out
        assert httpx.get(served.proxy_url + "/v1/models", headers=AUTH, timeout=5).status_code == 200
        slow = socket.create_connection((host, int(port)), timeout=10)
        slow.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")  # ... and never the rest
        started = time.monotonic()
        raw = slow.recv(65536)
        assert error_of(raw)[:2][0] == 408 and error_of(raw)[1]["code"] == "header_timeout"
        assert slow.recv(10) == b"" and time.monotonic() - started < 8
        slow.close()
        for sock in idle[:20]:
            assert sock.recv(10) == b""  # closed by the gateway after idle_timeout_s
    finally:
        for sock in idle:
            sock.close()


def test_a_client_that_leaves_mid_stream_stops_the_upstream_and_is_billed(start_gateway, start_mock) -> None:  # type: ignore[no-untyped-def]
    base_url = start_mock("--chunks", "20", "--chunk-delay-ms", "200")
    if True:
        gateway = start_gateway()
        setup(gateway, base_url)
        host, port = gateway.proxy_url.removeprefix("http://").split(":")
        body = json.dumps(chat(stream=True)).encode()
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (KEY.encode(), len(body), body)
            )
            received = b""
            while b"data: " not in received:
                received += sock.recv(65536)
        assert httpx.post(gateway.proxy_url + "/v1/chat/completions", json=chat(), headers=AUTH).status_code == 200
        deadline = time.monotonic() + 10
        with gateway.admin() as admin:
            while time.monotonic() < deadline:
                statuses = [r.status for r in admin.consumers.usage("eve").recent]
                if 499 in statuses:
                    break
                time.sleep(0.2)
        assert sorted(statuses) == [200, 499]


def test_requests_beyond_an_upstreams_connection_limit_wait_then_get_503(start_gateway, mock_llm) -> None:  # type: ignore[no-untyped-def]
    gateway = start_gateway()
    setup(gateway, mock_llm, max_connections=1, pool_timeout_s=0.5)
    first: list[int] = []
    slow = threading.Thread(
        target=lambda: first.append(
            httpx.post(
                gateway.proxy_url + "/v1/chat/completions", json=chat("mock:sleep=2000"), headers=AUTH, timeout=10
            ).status_code
        )
    )
    slow.start()
    time.sleep(0.5)
    busy = httpx.post(gateway.proxy_url + "/v1/chat/completions", json=chat(), headers=AUTH, timeout=10)
    slow.join()
    assert first == [200]
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
    error = busy.json()["error"]
    assert (
        error["code"] == "upstream_busy"
        and "max_connections" in error["message"]
        and "pool_timeout_s" in (error["message"])
    )
    assert httpx.post(gateway.proxy_url + "/v1/chat/completions", json=chat(), headers=AUTH).status_code == 200


def test_an_upstream_that_does_not_accept_a_connection_gets_504(start_gateway) -> None:  # type: ignore[no-untyped-def]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)  # never accepted: once the backlog is full, new connections hang in SYN-SENT
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    try:
        gateway = start_gateway()
        setup(gateway, f"http://127.0.0.1:{port}/v1", connect_timeout_s=0.5)
        response = httpx.post(gateway.proxy_url + "/v1/chat/completions", json=chat(), headers=AUTH, timeout=10)
        assert response.status_code == 504, response.text
        assert "did not accept a connection within 0.5s" in response.json()["error"]["message"]
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_the_mock_llm_answers_malformed_messages_with_400(mock_llm: str) -> None:
    for body in ({"model": "m", "messages": [1, 2]}, {"messages": []}, [1], {"messages": [{"content": 5}]}):
        response = httpx.post(mock_llm + "/chat/completions", json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["type"] == "invalid_request_error"
    assert httpx.post(mock_llm + "/chat/completions", content=b"{nope").status_code == 400


def test_the_mock_llm_says_who_it_is(start_mock) -> None:  # type: ignore[no-untyped-def]
    base = start_mock("--name", "m1", "--instance-id", "abc123")
    assert httpx.get(base.removesuffix("/v1") + "/health").json() == {
        "status": "ok",
        "name": "m1",
        "instance_id": "abc123",
    }


def test_a_rejected_change_leaves_the_upstreams_connection_limit_as_it_was(start_gateway, mock_llm) -> None:  # type: ignore[no-untyped-def]
    gateway = start_gateway()
    setup(gateway, mock_llm, max_connections=100, pool_timeout_s=0.3)
    with gateway.admin() as admin, pytest.raises(BadRequest):
        admin.upstreams.update(
            LlmUpstream(name="mock", base_url=mock_llm, model="mock-1", max_connections=1, auth="env:LG_UNSET_VAR")
        )
    statuses: list[int] = []

    def slow() -> None:
        url = gateway.proxy_url + "/v1/chat/completions"
        statuses.append(httpx.post(url, json=chat("mock:sleep=1000"), headers=AUTH, timeout=10).status_code)

    threads = [threading.Thread(target=slow) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200, 200]  # with the rejected limit of 1, the second would have waited 0.3 s, then 503


def test_a_refused_request_whose_body_is_still_coming_gets_one_answer(served) -> None:  # type: ignore[no-untyped-def]
    with served.admin() as admin:
        admin.update_settings(GatewaySettings(header_timeout_s=1))
    host, port = served.proxy_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        received = b""
        for _ in range(10):  # the body trickles in for 2 s, longer than header_timeout_s, while aiohttp drains it
            time.sleep(0.2)
            with contextlib.suppress(OSError):
                sock.sendall(b"x" * 1000)
        sock.settimeout(0.5)
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                received += chunk
    assert received.startswith(b"HTTP/1.1 401") and b"408" not in received, received[:400]


def test_a_gateway_process_may_open_as_many_files_as_the_system_allows(tmp_path: Path) -> None:
    import resource
    import subprocess
    import sys

    from tests.conftest import free_port, stop, wait_healthy

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    admin = free_port()
    serve = f"{sys.executable} -m lockgate.cli.main serve --data-dir {tmp_path / 'd'} --admin-port {admin} "
    serve += f"--proxy-port {free_port()}"
    process = subprocess.Popen(["sh", "-c", f"ulimit -S -n 1024 && exec {serve}"], stderr=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{admin}/health", process)
        limits = Path(f"/proc/{process.pid}/limits").read_text()
        line = next(row for row in limits.splitlines() if row.startswith("Max open files"))
        assert line.split()[3:5] == [str(hard), str(hard)]  # started with a soft limit of 1,024
    finally:
        stop(process)
