"""request_transform and response_transform: headers passed, renamed and added, body fields changed, identity
headers the backend can verify (HMAC), the answer's headers; their config errors; and through a real gateway with
the official OpenAI and Anthropic SDKs to an OpenAI and an Anthropic upstream, streamed and not."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import openai
import pytest
from lockgate.gateway_runtime.data.clients import CLIENT_APIS
from lockgate.gateway_runtime.data.identities import Identity
from lockgate.gateway_runtime.data.pipeline import run_request
from lockgate.gateway_runtime.data.policies import RequestContext, chain, scope_of
from lockgate.gateway_runtime.mock_llm import REPLY
from lockgate.sdk import (
    ApiKeyCreate,
    BodyValue,
    Consumer,
    ConsumerGroup,
    FieldRename,
    Header,
    HeaderRename,
    IdentityHeaders,
    KeyAuth,
    LlmUpstream,
    PromptPolicies,
    RequestTransform,
    ResponseTransform,
    Route,
    RoutePolicies,
)
from multidict import CIMultiDict
from pydantic import ValidationError

SECRET = "hmac-test-secret-0123456789"
TRANSFORM = RequestTransform(
    forward_headers=["x-team"],
    rename_headers=[HeaderRename(name="x-trace", to="x-request-trace")],
    add_headers=[Header(name="x-gateway", value="lockgate")],
    set_body=[BodyValue(field="temperature", json_value="0.25")],
    remove_body=["user"],
    rename_body=[FieldRename(name="seed_value", to="seed")],
    identity=IdentityHeaders(secret="env:LOCKGATE_TEST_HMAC"),
)
ANSWER = ResponseTransform(
    remove_headers=["x-ratelimit-limit-requests", "X-RateLimit-Remaining-Requests"],
    add_headers=[Header(name="x-served-by", value="lockgate")],
)


def verified(headers: dict[str, str]) -> bool:
    """What a backend does (IdentityHeaders' docstring)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    signed = f"{lowered['x-lockgate-timestamp']}\n{lowered['x-consumer-name']}\n{lowered['x-consumer-groups']}"
    expected = hmac.new(SECRET.encode(), signed.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, lowered["x-lockgate-signature"])


def test_the_request_transform_changes_headers_and_body(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKGATE_TEST_HMAC", SECRET)
    ready = chain(scope_of(PromptPolicies(request_transform=TRANSFORM, response_transform=ANSWER)))
    assert [p.name for p in ready.checked] == ["request_transform", "response_transform"]
    body = {"model": "m", "messages": [], "user": "u-1", "seed_value": 7}
    client = CIMultiDict({"X-Team": "blue", "x-trace": "t-1", "x-other": "no", "Authorization": "Bearer lg-key"})
    alice = Identity("alice", frozenset({"silver", "gold"}), ())
    context = RequestContext(CLIENT_APIS["chat"], body, alice, client)
    assert run_request(ready.checked, context) is None
    assert body == {"model": "m", "messages": [], "temperature": 0.25, "seed": 7}
    sent = context.upstream_headers
    assert {k: sent[k] for k in ("x-team", "x-request-trace", "x-gateway")} == {
        "x-team": "blue",
        "x-request-trace": "t-1",
        "x-gateway": "lockgate",
    }
    assert "x-other" not in sent and "Authorization" not in sent, "only what is named; never the client's key"
    assert sent["x-consumer-name"] == "alice" and sent["x-consumer-groups"] == "gold,silver"
    assert verified(sent)
    assert not verified(sent | {"x-consumer-name": "mallory"}), "the signature covers the name"
    answer = {"x-ratelimit-limit-requests": "10", "x-ratelimit-remaining-requests": "9", "x-request-id": "r"}
    for edit in context.header_edits:
        edit(answer)
    assert answer == {"x-request-id": "r", "x-served-by": "lockgate"}


def test_transform_configs_name_what_is_not_allowed() -> None:
    for given, field in (
        ({"add_headers": [{"name": "Authorization", "value": "Bearer x"}]}, ("add_headers",)),
        ({"forward_headers": ["x-api-key"]}, ("forward_headers",)),
        ({"rename_headers": [{"name": "x-key", "to": "api-key"}]}, ("rename_headers",)),
        ({"set_body": [{"field": "model", "json_value": '"gpt-4o"'}]}, ("set_body", 0, "field")),
        ({"set_body": [{"field": "temperature", "json_value": "warm"}]}, ("set_body", 0, "json_value")),
        ({"add_headers": [{"name": "x-a", "value": "one\r\nx-b: two"}]}, ("add_headers", 0, "value")),
        ({"identity": {"secret": "s3cret-in-plain-text"}}, ("identity", "secret")),
    ):
        with pytest.raises(ValidationError) as refused:
            RequestTransform.model_validate(given)
        assert refused.value.errors()[0]["loc"] == field, given


def _gateway(start_gateway: Callable, upstream: LlmUpstream) -> tuple[Any, str]:
    gateway = start_gateway()
    with gateway.admin() as admin:
        admin.upstreams.create(upstream)
        admin.consumer_groups.create(ConsumerGroup(name="gold"))
        policies = RoutePolicies(key_auth=KeyAuth(), request_transform=TRANSFORM, response_transform=ANSWER)
        admin.routes.create(Route(name="chat", paths=["/v1"], upstream=upstream.name, policies=policies))
        admin.consumers.create(Consumer(name="alice", groups=["gold"]))
        key = admin.api_keys.create(ApiKeyCreate(name="alice-key", consumer="alice")).key
    return gateway, key


def last(mock: str) -> dict[str, Any]:
    return httpx.get(f"{mock.split('/v1')[0]}/_mock/last-request").json()


def _transformed(mock: str, key: str) -> None:
    request = last(mock)
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["x-team"] == "blue" and headers["x-request-trace"] == "t-1" and headers["x-gateway"] == "lockgate"
    assert headers["x-consumer-name"] == "alice" and headers["x-consumer-groups"] == "gold" and verified(headers)
    assert key not in str(headers), "the consumer's key never reaches the upstream"
    assert "user" not in request["body"]


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_the_openai_sdk_through_the_transforms(
    kind: str, start_gateway: Callable, start_mock: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCKGATE_TEST_HMAC", SECRET)  # the gateway's environment: resolved where it runs
    mock = start_mock("--provider", kind, "--chunks", "4")
    gateway, key = _gateway(start_gateway, LlmUpstream(name="llm", type=kind, base_url=mock))
    client = openai.OpenAI(
        base_url=f"{gateway.proxy_url}/v1",
        api_key=key,
        max_retries=0,
        default_headers={"x-team": "blue", "x-trace": "t-1"},
    )
    hi: list[Any] = [{"role": "user", "content": "hi"}]
    raw = client.chat.completions.with_raw_response.create(model="m", messages=hi, user="u-1")
    assert raw.parse().choices[0].message.content == REPLY
    assert raw.headers["x-served-by"] == "lockgate" and "x-ratelimit-limit-requests" not in raw.headers
    _transformed(mock, key)
    assert last(mock)["body"]["temperature"] == 0.25, "set in the client's format, relayed or translated"
    with client.chat.completions.with_streaming_response.create(model="m", messages=hi, stream=True) as streamed:
        assert streamed.headers["x-served-by"] == "lockgate"
        assert "".join(streamed.iter_lines()).count("data:") > 1
    _transformed(mock, key)


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
def test_the_anthropic_sdk_through_the_transforms(
    kind: str, start_gateway: Callable, start_mock: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCKGATE_TEST_HMAC", SECRET)
    mock = start_mock("--provider", kind, "--chunks", "4")
    gateway, key = _gateway(start_gateway, LlmUpstream(name="llm", type=kind, base_url=mock))
    client = anthropic.Anthropic(
        base_url=gateway.proxy_url, api_key=key, max_retries=0, default_headers={"x-team": "blue", "x-trace": "t-1"}
    )
    hi: list[Any] = [{"role": "user", "content": "hi"}]
    raw = client.messages.with_raw_response.create(model="m", max_tokens=64, messages=hi)
    assert raw.parse().content[0].text == REPLY  # type: ignore[union-attr]
    assert raw.headers["x-served-by"] == "lockgate"
    _transformed(mock, key)
    with client.messages.stream(model="m", max_tokens=64, messages=hi) as stream:
        assert "".join(stream.text_stream) == REPLY
    _transformed(mock, key)


def test_an_unresolvable_signing_secret_refuses_the_change_whole(
    start_gateway: Callable, mock_llm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOCKGATE_TEST_HMAC", raising=False)
    gateway = start_gateway()
    with gateway.admin() as admin:
        admin.upstreams.create(LlmUpstream(name="llm", base_url=mock_llm))
        admin.routes.create(Route(name="chat", paths=["/v1"], upstream="llm"))
        route = Route(name="chat", paths=["/v1"], upstream="llm", policies=RoutePolicies(request_transform=TRANSFORM))
    headers = {"Authorization": f"Bearer {gateway.token}"}
    refused = httpx.put(f"{gateway.admin_url}/routes/chat", json=route.model_dump(mode="json"), headers=headers)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["field"][-4:] == ["policies", "request_transform", "identity", "secret"]
    assert "env:LOCKGATE_TEST_HMAC is not set" in error["message"]
    with gateway.admin() as admin:
        assert admin.routes.get("chat").policies.request_transform is None, "the running config is untouched"
    answer = httpx.post(
        f"{gateway.proxy_url}/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert answer.status_code == 200
