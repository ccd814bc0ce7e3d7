"""The official OpenAI SDK through a real gateway to upstreams of each provider's wire format (`lockgate mock-llm
--provider NAME`), streamed and not, with tools, images, errors and the usage read back through the admin SDK."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from lockgate.gateway_runtime.mock_llm import REPLY, VECTOR
from lockgate.sdk import (
    AnthropicSettings,
    ApiKeyCreate,
    AzureSettings,
    BadRequest,
    BedrockSettings,
    Consumer,
    GatewaySettings,
    KeyAuth,
    LlmUpstream,
    ModelAlias,
    ModelPrice,
    Route,
    RoutePolicies,
    UsageAccounting,
)

TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "The weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
PIXEL = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)

HI: list[Any] = [{"role": "user", "content": "hi"}]


def serve(gateway: Any, upstream: LlmUpstream) -> openai.OpenAI:
    with gateway.admin() as admin:
        admin.upstreams.create(upstream)
        policies = RoutePolicies(key_auth=KeyAuth(), usage=UsageAccounting())
        admin.routes.create(Route(name="chat", paths=["/v1"], upstream=upstream.name, policies=policies))
        admin.consumers.create(Consumer(name="alice"))
        key = admin.api_keys.create(ApiKeyCreate(name="alice-key", consumer="alice")).key
    return openai.OpenAI(base_url=f"{gateway.proxy_url}/v1", api_key=key, max_retries=0)


def recorded(gateway: Any, requests: int) -> Any:
    deadline = time.monotonic() + 10
    with gateway.admin() as admin:
        while True:
            usage = admin.consumers.usage("alice")
            if usage.requests >= requests or time.monotonic() > deadline:
                return usage
            time.sleep(0.2)


@pytest.fixture
def anthropic_client(start_gateway: Callable, start_mock: Callable) -> tuple[openai.OpenAI, Any]:
    mock = start_mock("--provider", "anthropic", "--chunks", "4")
    gateway = start_gateway()
    upstream = LlmUpstream(name="claude", type="anthropic", base_url=mock, anthropic=AnthropicSettings(max_tokens=512))
    return serve(gateway, upstream), gateway


def test_openai_sdk_to_an_anthropic_upstream(anthropic_client: tuple[openai.OpenAI, Any]) -> None:
    client, gateway = anthropic_client
    messages: list[Any] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "What is this? mock:cached=2"}]},
    ]
    messages[1]["content"].append({"type": "image_url", "image_url": {"url": PIXEL}})
    reply = client.chat.completions.create(model="claude-x", messages=messages)
    assert reply.choices[0].message.content == REPLY and reply.choices[0].finish_reason == "stop"
    assert reply.model == "claude-x" and reply.id.startswith("msg_mock")
    usage = reply.usage
    assert usage is not None and usage.prompt_tokens_details is not None
    # system (3: "Be brief.") + user text (9); the image part has no text; 2 of them read from the cache
    assert (usage.prompt_tokens, usage.prompt_tokens_details.cached_tokens) == (12, 2)
    assert usage.completion_tokens == 17 and usage.total_tokens == 29

    chunks = list(
        client.chat.completions.create(
            model="claude-x",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == REPLY
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage is not None and (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (
        1,
        17,
    )

    plain = list(
        client.chat.completions.create(model="claude-x", messages=[{"role": "user", "content": "hi"}], stream=True)
    )
    assert all(c.usage is None for c in plain), "a client that did not ask for the usage chunk gets none"

    usage_read = recorded(gateway, 3)
    assert usage_read.requests == 3 and usage_read.prompt_tokens == 12 + 1 + 1
    assert usage_read.completion_tokens == 3 * 17 and [r.stream for r in usage_read.recent] == [False, True, True]


def test_tool_calls_through_an_anthropic_upstream(anthropic_client: tuple[openai.OpenAI, Any]) -> None:
    client, _ = anthropic_client
    ask: list[Any] = [{"role": "user", "content": "Weather in Paris? mock:tool"}]
    reply = client.chat.completions.create(model="claude-x", messages=ask, tools=TOOLS, tool_choice="required")
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.function.name == "weather" and json.loads(call.function.arguments) == {
        "city": "Paris",
        "unit": "celsius",
    }

    stream = client.chat.completions.create(model="claude-x", messages=ask, tools=TOOLS, stream=True)
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        for delta_call in chunk.choices[0].delta.tool_calls or ():
            entry = calls.setdefault(delta_call.index, {"name": "", "arguments": ""})
            if delta_call.function and delta_call.function.name:
                entry["name"] = delta_call.function.name
            if delta_call.function and delta_call.function.arguments:
                entry["arguments"] += delta_call.function.arguments
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls" and calls[0]["name"] == "weather"
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris", "unit": "celsius"}

    # the answer goes back as a tool message: translated into a tool_result the upstream accepts
    follow_up = [
        *ask,
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18 degrees"},
    ]
    assert client.chat.completions.create(model="claude-x", messages=follow_up).choices[0].message.content == REPLY


def test_anthropic_errors_in_the_gateway_shape(anthropic_client: tuple[openai.OpenAI, Any]) -> None:
    client, _ = anthropic_client
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="claude-x", messages=[{"role": "user", "content": "mock:status=429"}])
    assert limited.value.code == "rate_limit_error" and "mock failure" in limited.value.message
    with pytest.raises(openai.InternalServerError) as overloaded:
        client.chat.completions.create(model="claude-x", messages=[{"role": "user", "content": "mock:status=529"}])
    assert overloaded.value.status_code == 503 and overloaded.value.code == "overloaded_error"
    with pytest.raises(openai.InternalServerError) as garbled:
        client.chat.completions.create(model="claude-x", messages=[{"role": "user", "content": "mock:text-status=500"}])
    assert garbled.value.status_code == 502 and "not an Anthropic JSON error" in garbled.value.message
    with pytest.raises(openai.BadRequestError) as untranslatable:
        client.chat.completions.create(model="claude-x", messages=[{"role": "user", "content": "hi"}], n=2)
    assert untranslatable.value.param == "n"
    with pytest.raises(openai.APIError) as mid_stream:
        for _ in client.chat.completions.create(
            model="claude-x", messages=[{"role": "user", "content": "mock:stream-error"}], stream=True
        ):
            pass
    assert "failed mid-stream" in mid_stream.value.message and "Overloaded" in mid_stream.value.message


def test_models_of_an_anthropic_upstream(anthropic_client: tuple[openai.OpenAI, Any]) -> None:
    client, _ = anthropic_client
    assert [m.id for m in client.models.list()] == ["mock-claude-1"]


def test_openai_sdk_to_an_azure_upstream(start_gateway: Callable, start_mock: Callable, tmp_path: Any) -> None:
    mock = start_mock("--provider", "azure", "--chunks", "3").removesuffix("/v1")
    gateway = start_gateway()
    upstream = LlmUpstream(name="azure", type="azure", base_url=mock, azure=AzureSettings(deployment="gpt-4o-prod"))
    client = serve(gateway, upstream)
    reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi mock:cached=1"}])
    assert reply.model == "gpt-4o-prod", "the deployment answered"
    assert reply.usage is not None and reply.usage.prompt_tokens_details is not None
    assert reply.usage.prompt_tokens_details.cached_tokens == 1
    chunks = list(
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True)
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    assert all(c.choices for c in chunks), "the usage chunk the gateway asked for is hidden, as for OpenAI"
    usage = recorded(gateway, 2)
    assert usage.prompt_tokens == 6 + 1 and usage.completion_tokens == 2 * 17


def test_a_wrong_provider_block_is_refused_naming_the_field(start_gateway: Callable) -> None:
    gateway = start_gateway()
    body = {"name": "x", "type": "openai", "azure": {"deployment": "d"}}
    answer = httpx.post(
        f"{gateway.admin_url}/upstreams", json=body, headers={"Authorization": f"Bearer {gateway.token}"}
    )
    assert answer.status_code == 422 and "azure" in answer.text and "type is 'openai'" in answer.text
    body = {"name": "x", "type": "azure"}
    answer = httpx.post(
        f"{gateway.admin_url}/upstreams", json=body, headers={"Authorization": f"Bearer {gateway.token}"}
    )
    assert answer.status_code == 422 and "base_url: required for type 'azure'" in answer.text


def test_openai_sdk_to_a_gemini_upstream(start_gateway: Callable, start_mock: Callable) -> None:
    mock = start_mock("--provider", "gemini", "--chunks", "4").removesuffix("/v1") + "/v1beta"
    gateway = start_gateway()
    client = serve(gateway, LlmUpstream(name="gemini", type="gemini", base_url=mock))
    ask: list[Any] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Think. mock:thoughts=5 mock:cached=2"},
    ]
    reply = client.chat.completions.create(model="gemini-x", messages=ask)
    assert reply.choices[0].message.content == REPLY and reply.model == "gemini-x"
    usage = reply.usage
    assert usage is not None and usage.completion_tokens_details is not None
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 2
    # system 3 + user 12; completion = the reply's 17 + 5 thinking tokens
    assert (usage.prompt_tokens, usage.completion_tokens, usage.completion_tokens_details.reasoning_tokens) == (
        15,
        22,
        5,
    )

    asked = {"include_usage": True}
    chunks = list(client.chat.completions.create(model="gemini-x", messages=HI, stream=True, stream_options=asked))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    final = chunks[-1].usage
    assert final is not None and (final.prompt_tokens, final.completion_tokens) == (1, 17)

    tool_ask: list[Any] = [{"role": "user", "content": "Weather? mock:tool"}]
    called = client.chat.completions.create(model="gemini-x", messages=tool_ask, tools=TOOLS)
    assert called.choices[0].finish_reason == "tool_calls" and called.choices[0].message.tool_calls is not None
    call = called.choices[0].message.tool_calls[0]
    assert call.function.name == "weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    follow_up = [
        *tool_ask,
        called.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18 degrees"},
    ]
    assert client.chat.completions.create(model="gemini-x", messages=follow_up).choices[0].message.content == REPLY
    with pytest.raises(openai.BadRequestError) as orphan:
        client.chat.completions.create(
            model="gemini-x", messages=[*HI, {"role": "tool", "tool_call_id": "nope", "content": "x"}]
        )
    assert orphan.value.param == "messages[1].tool_call_id"
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="gemini-x", messages=[{"role": "user", "content": "mock:status=429"}])
    assert limited.value.code == "RESOURCE_EXHAUSTED"
    assert [m.id for m in client.models.list()] == ["mock-gemini-1"]

    usage_read = recorded(gateway, 5)
    assert usage_read.prompt_tokens >= 15 + 1 and usage_read.completion_tokens >= 22 + 17


def test_openai_sdk_to_a_cohere_upstream(start_gateway: Callable, start_mock: Callable) -> None:
    mock = start_mock("--provider", "cohere", "--chunks", "4").removesuffix("/v1") + "/v2"
    gateway = start_gateway()
    client = serve(gateway, LlmUpstream(name="cohere", type="cohere", base_url=mock))
    reply = client.chat.completions.create(
        model="command-x", messages=[{"role": "user", "content": "hi mock:cached=1"}]
    )
    assert reply.choices[0].message.content == REPLY and reply.model == "command-x"
    usage = reply.usage
    assert usage is not None and usage.prompt_tokens_details is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.prompt_tokens_details.cached_tokens) == (6, 17, 1)

    asked = {"include_usage": True}
    chunks = list(client.chat.completions.create(model="command-x", messages=HI, stream=True, stream_options=asked))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    final = chunks[-1].usage
    assert final is not None and (final.prompt_tokens, final.completion_tokens) == (1, 17), "billed, not internal"

    tool_ask: list[Any] = [{"role": "user", "content": "Weather? mock:tool"}]
    stream = client.chat.completions.create(model="command-x", messages=tool_ask, tools=TOOLS, stream=True)
    arguments, finish = "", None
    for chunk in stream:
        for call in chunk.choices[0].delta.tool_calls or () if chunk.choices else ():
            arguments += call.function.arguments or "" if call.function else ""
        finish = (chunk.choices[0].finish_reason if chunk.choices else None) or finish
    assert finish == "tool_calls" and json.loads(arguments) == {"city": "Paris"}
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="command-x", messages=[{"role": "user", "content": "mock:status=429"}])
    assert recorded(gateway, 3).prompt_tokens >= 6 + 1


def test_openai_sdk_to_a_bedrock_upstream_signed_with_sigv4(
    start_gateway: Callable, start_mock: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lockgate.gateway_runtime import mock_bedrock

    mock = start_mock("--provider", "bedrock", "--chunks", "4").removesuffix("/v1")
    monkeypatch.setenv("TEST_AWS_KEY_ID", mock_bedrock.ACCESS_KEY_ID)
    monkeypatch.setenv("TEST_AWS_SECRET", mock_bedrock.SECRET_ACCESS_KEY)
    monkeypatch.setenv("TEST_AWS_WRONG_SECRET", "not-the-secret")
    monkeypatch.setenv("TEST_BEDROCK_KEY", mock_bedrock.API_KEY)
    gateway = start_gateway()  # the gateway's environment holds the secrets the references name
    keys = BedrockSettings(
        region="us-east-1", access_key_id="env:TEST_AWS_KEY_ID", secret_access_key="env:TEST_AWS_SECRET"
    )
    client = serve(gateway, LlmUpstream(name="bedrock", type="bedrock", base_url=mock, bedrock=keys))
    model = "anthropic.claude-3-5-sonnet-20240620-v1:0"  # a ':' in the path, signed as AWS's SDKs sign it
    reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi mock:cached=1"}])
    assert reply.choices[0].message.content == REPLY and reply.model == model
    assert reply.usage is not None and (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (6, 17)

    asked = {"include_usage": True}
    tool_ask: list[Any] = [{"role": "user", "content": "Weather? mock:tool"}]
    chunks = list(
        client.chat.completions.create(model=model, messages=tool_ask, tools=TOOLS, stream=True, stream_options=asked)
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    arguments = "".join(
        call.function.arguments or ""
        for c in chunks
        if c.choices
        for call in c.choices[0].delta.tool_calls or ()
        if call.function
    )
    assert json.loads(arguments) == {"city": "Paris"}
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 20

    with pytest.raises(openai.APIError) as throttled:
        for _ in client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "mock:stream-error"}], stream=True
        ):
            pass
    assert "throttlingException" in str(throttled.value.code) or "Too many requests" in throttled.value.message

    with gateway.admin() as admin:
        wrong = keys.model_copy(update={"secret_access_key": "env:TEST_AWS_WRONG_SECRET"})
        admin.upstreams.create(LlmUpstream(name="wrong", type="bedrock", base_url=mock, bedrock=wrong))
        admin.upstreams.create(
            LlmUpstream(
                name="keyed",
                type="bedrock",
                base_url=mock,
                auth="env:TEST_BEDROCK_KEY",
                bedrock=BedrockSettings(region="us-east-1"),
            )
        )
        policies = RoutePolicies(key_auth=KeyAuth())
        admin.routes.create(Route(name="wrong", paths=["/wrong/v1"], upstream="wrong", policies=policies))
        admin.routes.create(Route(name="keyed", paths=["/keyed/v1"], upstream="keyed", policies=policies))
    time.sleep(0.5)
    key = client.api_key
    with pytest.raises(openai.InternalServerError) as refused:
        openai.OpenAI(base_url=f"{gateway.proxy_url}/wrong/v1", api_key=key, max_retries=0).chat.completions.create(
            model=model, messages=HI
        )
    assert refused.value.status_code == 502 and refused.value.code == "upstream_auth"
    keyed = openai.OpenAI(base_url=f"{gateway.proxy_url}/keyed/v1", api_key=key, max_retries=0)
    assert keyed.chat.completions.create(model=model, messages=HI).choices[0].message.content == REPLY


def test_usage_and_cost_recorded_exactly_or_marked_estimated(start_gateway: Callable, start_mock: Callable) -> None:
    """Cost from the catalogue (and the gateway's own prices) in integer micro-USD; a stream the upstream cut is
    recorded with what was known, marked estimated; the report sums per route, model and hour."""
    claude_mock = start_mock("--provider", "anthropic", "--chunks", "4")
    gateway = start_gateway()
    claude = serve(gateway, LlmUpstream(name="claude", type="anthropic", base_url=claude_mock))
    with gateway.admin() as admin:
        admin.update_settings(GatewaySettings(prices=[ModelPrice(model="house", input=1.0, output=2.0)]))
        admin.upstreams.create(LlmUpstream(name="house", base_url=start_mock("--chunks", "4"), model="house"))
        policies = RoutePolicies(key_auth=KeyAuth(), usage=UsageAccounting())
        admin.routes.create(Route(name="house", paths=["/house/v1"], upstream="house", policies=policies))
    time.sleep(0.5)
    house = openai.OpenAI(base_url=f"{gateway.proxy_url}/house/v1", api_key=claude.api_key, max_retries=0)

    claude.chat.completions.create(
        model="claude-sonnet-4-20250514", messages=[{"role": "user", "content": "hi mock:cached=1"}]
    )
    house.chat.completions.create(model="any", messages=HI)
    with pytest.raises(openai.APIError):
        for _ in house.chat.completions.create(
            model="any", messages=[{"role": "user", "content": "mock:break-stream"}], stream=True
        ):
            pass

    usage = recorded(gateway, 3)
    first, second, cut = usage.recent
    # claude-sonnet-4: 5 uncached in at 3.00, 1 cached at 0.30, 17 out at 15.00 per million -> 270.3 micro-USD
    assert (first.prompt_tokens, first.cached_tokens, first.completion_tokens) == (6, 1, 17) and not first.estimated
    assert first.cost_micros == 270
    assert second.cost_micros == round(1 * 1.0 + 17 * 2.0) and not second.estimated  # the gateway's own price
    assert cut.estimated and cut.status == 502 and cut.prompt_tokens >= 1 and cut.completion_tokens >= 1
    assert usage.estimated_requests == 1 and usage.cost_micros == 270 + 35 + cut.cost_micros

    with gateway.admin() as admin:
        report = admin.usage(group_by=["route", "model"], bucket="hour")
    assert {(r.route, r.model): r.requests for r in report.rows} == {
        ("chat", "claude-sonnet-4-20250514"): 1,
        ("house", "house"): 2,
    }
    assert all(r.bucket_start is not None and r.bucket_start % 3600 == 0 for r in report.rows)
    assert sum(r.cost_micros for r in report.rows) == usage.cost_micros
    with gateway.admin() as admin:
        only = admin.usage(group_by=["consumer"], model="house")
    assert [(r.consumer, r.requests, r.estimated_requests) for r in only.rows] == [("alice", 2, 1)]


def test_model_aliases_send_each_name_to_its_upstream_and_model(start_gateway: Callable, start_mock: Callable) -> None:
    """Clients ask for `fast` or `smart`; the route maps each to a provider and a model, and lists only them."""
    openai_mock, claude_mock = start_mock("--chunks", "2"), start_mock("--provider", "anthropic", "--chunks", "2")
    gateway = start_gateway()
    with gateway.admin() as admin:
        admin.upstreams.create(LlmUpstream(name="oai", base_url=openai_mock))
        admin.upstreams.create(LlmUpstream(name="claude", type="anthropic", base_url=claude_mock))
        aliases = [
            ModelAlias(name="fast", upstream="oai", model="mock-fast"),
            ModelAlias(name="smart", upstream="claude", model="claude-sonnet-4-20250514"),
        ]
        policies = RoutePolicies(key_auth=KeyAuth(), usage=UsageAccounting())
        admin.routes.create(Route(name="chat", paths=["/v1"], upstream="oai", models=aliases, policies=policies))
        admin.consumers.create(Consumer(name="alice"))
        key = admin.api_keys.create(ApiKeyCreate(name="alice-key", consumer="alice")).key
    client = openai.OpenAI(base_url=f"{gateway.proxy_url}/v1", api_key=key, max_retries=0)
    assert [(m.id, m.owned_by) for m in client.models.list()] == [("fast", "oai"), ("smart", "claude")]
    assert client.chat.completions.create(model="fast", messages=HI).model == "mock-fast"
    smart = client.chat.completions.create(model="smart", messages=HI)
    assert smart.model == "claude-sonnet-4-20250514" and smart.id.startswith("msg_mock"), "the Anthropic upstream"
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="gpt-4o", messages=HI)
    assert unknown.value.code == "model_not_found" and "ask for one of fast, smart" in unknown.value.message
    assert [r.model for r in recorded(gateway, 2).recent] == ["mock-fast", "claude-sonnet-4-20250514"]
    with gateway.admin() as admin, pytest.raises(BadRequest) as missing:
        bad = [ModelAlias(name="x", upstream="nowhere", model="m")]
        admin.routes.create(Route(name="bad", paths=["/bad"], upstream="oai", models=bad))
    assert missing.value.field[-3:] == ["models", 0, "upstream"] and "'nowhere' does not exist" in str(missing.value)


def test_embeddings_relayed_to_openai_and_azure_upstreams(start_gateway: Callable, start_mock: Callable) -> None:
    gateway = start_gateway()
    client = serve(gateway, LlmUpstream(name="oai", base_url=start_mock()))
    with gateway.admin() as admin:
        azure_mock = start_mock("--provider", "azure").removesuffix("/v1")
        admin.upstreams.create(
            LlmUpstream(name="az", type="azure", base_url=azure_mock, azure=AzureSettings(deployment="embed-prod"))
        )
        admin.upstreams.create(LlmUpstream(name="claude", type="anthropic", base_url="http://127.0.0.1:9/v1"))
        policies = RoutePolicies(key_auth=KeyAuth(), usage=UsageAccounting())
        admin.routes.create(Route(name="az", paths=["/az/v1"], upstream="az", policies=policies))
        admin.routes.create(Route(name="claude", paths=["/claude/v1"], upstream="claude", policies=policies))
    time.sleep(0.5)
    vectors = client.embeddings.create(model="text-embedding-3-small", input=["hello world", "hi"])
    assert [d.embedding for d in vectors.data] == [VECTOR] * 2 and vectors.usage.prompt_tokens == 3
    azure = openai.OpenAI(base_url=f"{gateway.proxy_url}/az/v1", api_key=client.api_key, max_retries=0)
    assert azure.embeddings.create(model="x", input="hello").model == "embed-prod"
    claude = openai.OpenAI(base_url=f"{gateway.proxy_url}/claude/v1", api_key=client.api_key, max_retries=0)
    with pytest.raises(openai.BadRequestError) as none:
        claude.embeddings.create(model="x", input="hello")
    assert "no embeddings API" in none.value.message
    with pytest.raises(openai.BadRequestError) as empty:
        client.embeddings.create(model="x", input=[])
    assert empty.value.param == "input"
    usage = recorded(gateway, 2)
    assert [(r.model, r.prompt_tokens, r.completion_tokens) for r in usage.recent][:1] == [
        ("text-embedding-3-small", 3, 0)
    ]
    assert usage.recent[0].cost_micros == 0, "3 tokens at $0.02 per million round to 0 micro-USD"


def test_embeddings_translated_to_gemini_cohere_and_bedrock(
    start_gateway: Callable, start_mock: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lockgate.gateway_runtime import mock_bedrock

    monkeypatch.setenv("TEST_AWS_KEY_ID", mock_bedrock.ACCESS_KEY_ID)
    monkeypatch.setenv("TEST_AWS_SECRET", mock_bedrock.SECRET_ACCESS_KEY)
    gateway = start_gateway()
    gemini_mock = start_mock("--provider", "gemini").removesuffix("/v1") + "/v1beta"
    client = serve(gateway, LlmUpstream(name="gemini", type="gemini", base_url=gemini_mock))
    with gateway.admin() as admin:
        cohere_mock = start_mock("--provider", "cohere").removesuffix("/v1") + "/v2"
        admin.upstreams.create(LlmUpstream(name="cohere", type="cohere", base_url=cohere_mock))
        bedrock = BedrockSettings(
            region="us-east-1", access_key_id="env:TEST_AWS_KEY_ID", secret_access_key="env:TEST_AWS_SECRET"
        )
        bedrock_mock = start_mock("--provider", "bedrock").removesuffix("/v1")
        admin.upstreams.create(LlmUpstream(name="bedrock", type="bedrock", base_url=bedrock_mock, bedrock=bedrock))
        policies = RoutePolicies(key_auth=KeyAuth(), usage=UsageAccounting())
        for name in ("cohere", "bedrock"):
            admin.routes.create(Route(name=name, paths=[f"/{name}/v1"], upstream=name, policies=policies))
    time.sleep(0.5)

    def embed(route: str, model: str, given: str | list[str]) -> Any:
        via = openai.OpenAI(base_url=f"{gateway.proxy_url}/{route}", api_key=client.api_key, max_retries=0)
        return via.embeddings.create(model=model, input=given)

    both = ["hello world", "hi"]  # the mocks count 2 + 1 tokens
    for route, model, prompt in (
        ("v1", "gemini-embedding-001", 0),  # Gemini counts nothing: the answer says so, the record is estimated
        ("cohere/v1", "embed-v4.0", 3),
        ("bedrock/v1", "cohere.embed-english-v3", 0),  # nor does Cohere Embed on Bedrock
    ):
        vectors = embed(route, model, both)
        assert [d.embedding for d in vectors.data] == [VECTOR] * 2 and vectors.model == model
        assert vectors.usage.prompt_tokens == prompt
    titan = embed("bedrock/v1", "amazon.titan-embed-text-v2:0", "hello world")
    assert titan.data[0].embedding == VECTOR and titan.usage.prompt_tokens == 2
    with pytest.raises(openai.BadRequestError) as one_by_one:
        embed("bedrock/v1", "amazon.titan-embed-text-v2:0", both)
    assert one_by_one.value.param == "input" and "one input a request" in one_by_one.value.message
    with pytest.raises(openai.BadRequestError) as tokens:
        embed("cohere/v1", "embed-v4.0", [[1, 2, 3]])  # type: ignore[list-item]
    assert tokens.value.param == "input[0]"

    usage = recorded(gateway, 4)
    assert [(r.model, r.prompt_tokens, r.completion_tokens, r.estimated) for r in usage.recent] == [
        ("gemini-embedding-001", 4, 0, True),
        ("embed-v4.0", 3, 0, False),
        ("cohere.embed-english-v3", 4, 0, True),
        ("amazon.titan-embed-text-v2:0", 2, 0, False),
    ], "the provider's count where it gives one, else the gateway's estimate (13 characters, 4 a token), marked"
