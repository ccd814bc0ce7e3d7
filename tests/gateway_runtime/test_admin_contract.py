"""The admin API's error contract, through a real `lockgate serve`: every error is `{"error": {...}}`, values that may
be secrets are never echoed, a request without the token is refused before its body is read, and a rejected change
leaves the served configuration exactly as it was."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from lockgate.sdk import Consumer, ConsumerGroup, LlmUpstream

SECRET = "sk-live-PASTEDSECRET0123456789"


@pytest.fixture
def admin(start_gateway: Callable, mock_llm: str) -> httpx.Client:  # type: ignore[misc]
    gateway = start_gateway()
    with gateway.admin() as client:
        client.upstreams.create(LlmUpstream(name="mock", base_url=mock_llm))
        client.consumer_groups.create(ConsumerGroup(name="free"))
        client.consumers.create(Consumer(name="alice", groups=["free"]))
    with httpx.Client(base_url=gateway.admin_url, headers={"Authorization": f"Bearer {gateway.token}"}) as http:
        yield http


def error(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and {"message", "type", "code", "field"} <= set(body["error"]), body
    return body["error"]  # type: ignore[no-any-return]


def test_what_fastapi_answers_itself_follows_the_contract(admin: httpx.Client) -> None:
    missing = error(admin.get("/nowhere"), 404)
    assert "/nowhere" in str(missing["message"])
    assert missing["type"] == "invalid_request_error"  # the proxy's vocabulary: the type OpenAI gives a 404
    wrong = admin.patch("/routes")
    assert error(wrong, 405) == {
        "message": "PATCH is not allowed on /routes; use GET, POST",
        "type": "method_not_allowed",
        "code": None,
        "field": None,
    }
    assert wrong.headers["Allow"] == "GET, POST"
    assert admin.put("/api-keys/x").headers["Allow"] == "DELETE, GET"
    not_utf8 = admin.post("/consumers", content=b"\xff\xfe{", headers={"Content-Type": "application/json"})
    assert "not valid UTF-8 JSON" in str(error(not_utf8, 400)["message"])
    not_object = error(admin.post("/consumers", json=[1]), 422)
    assert str(not_object["message"]).startswith("body: Input should be a valid dictionary")


def test_models_are_strict(admin: httpx.Client) -> None:
    coerced = error(admin.post("/consumer-groups", json={"name": "g", "rate_limit": {"requests": "5"}}), 422)
    assert coerced["field"] == ["rate_limit", "requests"]
    assert coerced["message"] == "rate_limit.requests: Input should be a valid integer, got '5'"
    assert error(admin.post("/consumers", json={"name": "bob", "groups": "free"}), 422)["field"] == ["groups"]


def test_values_that_may_be_secrets_are_never_echoed(admin: httpx.Client) -> None:
    pasted = admin.post("/upstreams", json={"name": "x", "base_url": "https://a/v1", "auth": SECRET})
    assert error(pasted, 422)["field"] == ["auth"] and "secret reference" in pasted.text
    short = admin.post("/api-keys", json={"name": "k", "consumer": "alice", "key": "sk-short-secret"})
    assert error(short, 422)["field"] == ["key"]
    for response in (pasted, short):
        assert "sk-l" not in response.text and "short-secret" not in response.text, response.text


def test_a_request_without_the_token_is_refused_before_its_body_is_read(admin: httpx.Client) -> None:
    url = str(admin.base_url)
    huge = b'{"name": "' + b"a" * (64 << 20) + b'"}'
    refused = httpx.post(url + "/consumers", content=huge, headers={"Content-Type": "application/json"}, timeout=30)
    assert "admin token" in str(error(refused, 401)["message"])
    assert error(admin.post("/consumers", content=huge, headers={"Content-Type": "application/json"}), 413)

    def chunked() -> Iterator[bytes]:  # no Content-Length: the cap is counted as the body arrives
        yield b'{"name": "'
        for _ in range(40):
            yield b"a" * (1 << 20)

    assert error(admin.post("/consumers", content=chunked(), headers={"Content-Type": "application/json"}), 413)
    assert httpx.get(url + "/health").status_code == 200  # public


def test_every_rejected_change_leaves_status_and_config_as_they_were(admin: httpx.Client) -> None:
    before = admin.get("/status").json(), admin.get("/config").json()
    rejected = [
        (admin.post("/routes", json={"name": "r", "paths": ["/r"], "upstream": "missing"}), 422),
        (admin.post("/routes", json={"name": "r", "paths": ["~/(a)\\1"], "upstream": "mock"}), 422),
        (admin.post("/consumers", json={"name": "alice"}), 409),
        (admin.delete("/consumer-groups/free"), 409),
        (admin.put("/consumers/alice", json={"name": "alice", "groups": ["nope"]}), 422),
        (admin.put("/consumers/alice", json={"name": "bob"}), 400),
        (admin.put("/gateway", json={"max_body_bytes": 0}), 422),
        (admin.post("/upstreams", json={"name": "e", "base_url": "https://a/v1", "auth": "env:LG_UNSET_VAR"}), 422),
        (admin.delete("/consumers/nobody"), 404),
        (admin.patch("/consumers/alice"), 405),
    ]
    for response, status in rejected:
        error(response, status)
    assert (admin.get("/status").json(), admin.get("/config").json()) == before


def test_promotions_are_recorded_newest_first_and_checked(admin: httpx.Client) -> None:
    record = {
        "id": "p1",
        "at": 100.0,
        "actor": "rm@example",
        "source": "app-staging-us",
        "source_config_hash": "abc",
        "targets": ["app-prod-us", "app-prod-eu"],
        "target": "app-prod-us",
        "result": "applied",
    }
    assert admin.post("/promotions", json=record).status_code == 201
    assert (
        admin.post("/promotions", json=record | {"id": "p2", "at": 200.0, "result": "smoke_failed"}).status_code == 201
    )
    listed = admin.get("/promotions").json()["promotions"]
    assert [(p["id"], p["result"], p["config_hash_after"]) for p in listed] == [
        ("p2", "smoke_failed", ""),
        ("p1", "applied", ""),
    ]
    wrong = error(admin.post("/promotions", json=record | {"result": "maybe"}), 422)
    assert wrong["field"] == ["result"] and "applied" in str(wrong["message"])
    assert len(admin.get("/promotions").json()["promotions"]) == 2  # the refused one is not kept
