"""The official Anthropic SDK through a real gateway (`POST .../v1/messages`): relayed as it is to an Anthropic
upstream, translated for every other provider's (OpenAI, Azure, Gemini, Cohere, Bedrock); streamed and not, with
tools, errors in Anthropic's shape and the usage read back through the admin SDK."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anthropic
import pytest
from lockgate.gateway_runtime import mock_bedrock
from lockgate.gateway_runtime.mock_llm import REPLY
from lockgate.sdk import (
    ApiKeyCreate,
    AzureSettings,
    BedrockSettings,
    Consumer,
    ConsumerGroup,
    KeyAuth,
    LlmUpstream,
    RateLimit,
    Route,
    RoutePolicies,
    UsageAccounting,
)

TOOLS: list[Any] = [
    {
        "name": "weather",
        "description": "The weather in a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
PATHS = {"openai": "/v1", "anthropic": "/v1", "gemini": "/v1beta", "cohere": "/v2", "bedrock": "", "azure": ""}
SETTINGS: dict[str, dict[str, Any]] = {
    "azure": {"azure": AzureSettings(deployment="claude-x")},
    "bedrock": {
        "bedrock": BedrockSettings(
            region="us-east-1", access_key_id="env:TEST_AWS_KEY_ID", secret_access_key="env:TEST_AWS_SECRET"
        )
    },
}


@pytest.fixture(params=list(PATHS))
def claude(
    request: pytest.FixtureRequest, start_gateway: Callable, start_mock: Callable, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, Any, str]:
    """An Anthropic SDK client whose route goes to an upstream of each type."""
    kind = request.param
    mock = start_mock("--provider", kind, "--chunks", "4").removesuffix("/v1") + PATHS[kind]
    monkeypatch.setenv("TEST_AWS_KEY_ID", mock_bedrock.ACCESS_KEY_ID)  # the gateway resolves Bedrock's references
    monkeypatch.setenv("TEST_AWS_SECRET", mock_bedrock.SECRET_ACCESS_KEY)
    gateway = start_gateway()
    with gateway.admin() as admin:
        admin.upstreams.create(LlmUpstream(name="llm", type=kind, base_url=mock, **SETTINGS.get(kind, {})))
        admin.consumer_groups.create(ConsumerGroup(name="team", rate_limit=RateLimit(requests=8, window_s=60)))
        policies = RoutePolicies(key_auth=KeyAuth(), usage=UsageAccounting())
        admin.routes.create(Route(name="chat", paths=["/claude/v1"], upstream="llm", policies=policies))
        admin.consumers.create(Consumer(name="alice", groups=["team"]))
        key = admin.api_keys.create(ApiKeyCreate(name="alice-key", consumer="alice")).key
    # the SDK posts to BASE/v1/messages: the route's prefix is /claude/v1, the OpenAI SDK's base_url would be that
    return anthropic.Anthropic(base_url=f"{gateway.proxy_url}/claude", api_key=key, max_retries=0), gateway, kind


def test_anthropic_sdk_to_every_upstream_type(claude: tuple[Any, Any, str]) -> None:
    client, gateway, kind = claude
    message = client.messages.create(
        model="claude-x", max_tokens=100, system="Be brief.", messages=[{"role": "user", "content": "hi"}]
    )
    assert message.type == "message" and message.content[0].text == REPLY and message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 17
    assert message.usage.input_tokens == 1 + 3, "the user's and the system's tokens"

    with client.messages.stream(model="claude-x", max_tokens=100, messages=[{"role": "user", "content": "hi"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == REPLY and final.stop_reason == "end_turn" and final.usage.output_tokens == 17

    ask: list[Any] = [{"role": "user", "content": "Weather in Paris? mock:tool"}]
    called = client.messages.create(model="claude-x", max_tokens=100, messages=ask, tools=TOOLS)
    if kind not in ("openai", "azure"):  # the OpenAI mock answers no tool calls
        use = next(block for block in called.content if block.type == "tool_use")
        assert called.stop_reason == "tool_use" and use.name == "weather" and use.input["city"] == "Paris"
        follow_up = [
            *ask,
            {"role": "assistant", "content": [block.model_dump() for block in called.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18 degrees"}]},
        ]
        again = client.messages.create(model="claude-x", max_tokens=100, messages=follow_up, tools=TOOLS)
        assert again.content[0].text == REPLY
        with client.messages.stream(model="claude-x", max_tokens=100, messages=ask, tools=TOOLS) as s:
            streamed = s.get_final_message()
        streamed_use = next(block for block in streamed.content if block.type == "tool_use")
        assert streamed.stop_reason == "tool_use" and streamed_use.input["city"] == "Paris"

    deadline = time.monotonic() + 10
    with gateway.admin() as admin:
        while (usage := admin.consumers.usage("alice")).requests < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
    assert usage.requests >= 3 and usage.completion_tokens >= 3 * 17
    assert [r.stream for r in usage.recent][:2] == [False, True]


def test_errors_in_anthropic_shape(claude: tuple[Any, Any, str]) -> None:
    client, _, kind = claude
    nobody = anthropic.Anthropic(base_url=client.base_url, api_key="not-a-key-000000000000", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as refused:
        nobody.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert refused.value.body["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model="m", max_tokens=0, messages=[{"role": "user", "content": "hi"}])
    assert "max_tokens" in bad.value.message
    with pytest.raises(anthropic.RateLimitError) as limited:
        client.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "mock:status=429"}])
    assert limited.value.body["type"] == "error" and limited.value.body["error"]["type"] == "rate_limit_error"
    if kind == "anthropic":
        with pytest.raises(anthropic.InternalServerError) as overloaded:
            client.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "mock:status=529"}])
        assert overloaded.value.status_code == 529, "an Anthropic upstream's own error passes as it came"
    for _ in range(8):  # the group allows 8 a minute: the limit answers in Anthropic's shape too
        try:
            client.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
        except anthropic.RateLimitError as exc:
            assert "Rate limit reached for consumer 'alice'" in exc.body["error"]["message"]
            break
    else:
        pytest.fail("the group's request limit never answered")
