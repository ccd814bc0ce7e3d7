"""prompt_template and request_validation: their decisions on both client APIs' bodies, their config errors, and
both through a real gateway with the official OpenAI and Anthropic SDKs to an OpenAI and an Anthropic upstream,
streamed and not (what reached the upstream read back from the mock)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import openai
import pytest
from lockgate.gateway_runtime.data.clients import CLIENT_APIS
from lockgate.gateway_runtime.data.pipeline import run_request
from lockgate.gateway_runtime.data.policies import RequestContext, chain, scope_of
from lockgate.gateway_runtime.mock_llm import REPLY
from lockgate.sdk import (
    ApiKeyCreate,
    Consumer,
    KeyAuth,
    LlmUpstream,
    ModelAlias,
    NamedTemplate,
    PromptPolicies,
    PromptTemplate,
    RequestValidation,
    Route,
    RoutePolicies,
    TemplateMessage,
)
from pydantic import ValidationError

OPENAI, ANTHROPIC = CLIENT_APIS["chat"], CLIENT_APIS["messages"]
SUMMARY = NamedTemplate(
    name="summary",
    messages=[
        TemplateMessage(role="system", content="You summarise {{ kind | default('text') }}."),
        TemplateMessage(content="Summarise in {{ words }} words:\n{% for p in points %}- {{ p }}\n{% endfor %}"),
    ],
)
TEMPLATES = PromptTemplate(templates=[SUMMARY])
SCHEMA = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": {"model": {"enum": ["fast"]}, "temperature": {"type": "number", "maximum": 1}},
}
VALIDATED = RequestValidation(body_schema=json.dumps(SCHEMA))
ASK: dict[str, Any] = {"role": "user", "content": "{template://summary}"}
PROPERTIES = {"words": 10, "points": ["one", "two"]}


def decided(policies: PromptPolicies, api: Any, body: dict[str, Any]) -> Any:
    ready, context = chain(scope_of(policies)), RequestContext(api, body, None)
    return run_request(ready.sent, context) or run_request(ready.checked, context)


def test_a_template_becomes_messages_in_each_apis_shape() -> None:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}, dict(ASK)], "properties": PROPERTIES}
    assert decided(PromptPolicies(prompt_template=TEMPLATES), OPENAI, body) is None
    assert body == {
        "messages": [
            {"role": "system", "content": "You summarise text."},
            {"role": "user", "content": "hi"},
            {"role": "user", "content": "Summarise in 10 words:\n- one\n- two\n"},
        ]
    }, "in place of the asking message, system first, `properties` gone"
    claude: dict[str, Any] = {
        "system": "Be kind.",
        "messages": [dict(ASK)],
        "properties": PROPERTIES | {"kind": "code"},
    }
    assert decided(PromptPolicies(prompt_template=TEMPLATES), ANTHROPIC, claude) is None
    assert claude["system"] == "You summarise code.\n\nBe kind."
    assert claude["messages"] == [{"role": "user", "content": "Summarise in 10 words:\n- one\n- two\n"}]


def test_template_refusals_name_what_is_wrong() -> None:
    policies = PromptPolicies(prompt_template=TEMPLATES)
    unknown = decided(policies, OPENAI, {"messages": [{"role": "user", "content": "{template://sumary}"}]})
    assert (unknown.status, unknown.code, unknown.param) == (400, "unknown_template", "messages[0].content")
    assert "'sumary'" in unknown.message and "summary" in unknown.message
    missing = decided(policies, OPENAI, {"messages": [dict(ASK)], "properties": {"points": []}})
    assert (missing.code, missing.param) == ("template_error", "properties") and "'words'" in missing.message
    probing = PromptTemplate(
        templates=[NamedTemplate(name="t", messages=[TemplateMessage(content="{{ x.__class__ }}")])]
    )
    escaped = decided(
        PromptPolicies(prompt_template=probing),
        OPENAI,
        {"messages": [dict(ASK, content="{template://t}")], "properties": {"x": 1}},
    )
    assert escaped.code == "template_error" and "unsafe" in escaped.message, "the sandbox: no Python internals"
    huge = decided(policies, OPENAI, {"messages": [dict(ASK)], "properties": {"words": "w" * 70_000, "points": []}})
    assert huge.code == "template_error" and "max_output_chars (65536)" in huge.message
    strict = PromptPolicies(prompt_template=TEMPLATES.model_copy(update={"allow_untemplated": False}))
    untemplated = decided(strict, OPENAI, {"messages": [{"role": "user", "content": "hi"}]})
    assert (untemplated.code, untemplated.param) == ("template_required", "messages")
    assert decided(policies, OPENAI, {"messages": [{"role": "user", "content": "hi"}]}) is None


def test_validation_names_the_path_and_what_was_expected() -> None:
    policies = PromptPolicies(request_validation=VALIDATED)
    body = {"model": "fast", "messages": [], "temperature": "hot"}
    refused = decided(policies, OPENAI, body)
    assert (refused.status, refused.code, refused.param) == (400, "invalid_request_body", "temperature")
    assert '"hot" is not of type "number"' in refused.message
    assert decided(policies, OPENAI, {"model": "fast", "messages": [], "temperature": 2}).param == "temperature"
    assert decided(policies, OPENAI, {"messages": []}).param == "body", "a missing field: the body's fault"
    assert decided(policies, OPENAI, {"model": "fast", "messages": [], "temperature": 0.5}) is None
    nested = RequestValidation(body_schema=json.dumps({"properties": {"messages": {"items": {"required": ["name"]}}}}))
    where = decided(PromptPolicies(request_validation=nested), OPENAI, {"messages": [{"name": "a"}, {"role": "user"}]})
    assert where.param == "messages[1]"


def test_bad_templates_and_schemas_are_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as syntax:
        NamedTemplate.model_validate({"name": "t", "messages": [{"content": "{% for x in y %}"}]})
    assert syntax.value.errors()[0]["loc"] == ("messages", 0, "content") and "line 1" in str(syntax.value)
    with pytest.raises(ValidationError, match="may not nest loops"):
        TemplateMessage(content="{% for a in b %}{% for c in a %}{% endfor %}{% endfor %}")
    with pytest.raises(ValidationError, match="uses 'include'"):
        TemplateMessage(content="{% include 'x' %}")
    with pytest.raises(ValidationError, match="more than once"):
        PromptTemplate(templates=[SUMMARY, SUMMARY])
    for schema, said in (
        ('{"type": "objekt"}', "not a valid JSON Schema at /type"),
        ('{"$ref": "https://schemas.example/chat.json"}', "Retrieval is disabled"),
        ('{"properties": {"a": {"pattern": "(a)\\\\1"}}}', "no backreferences"),
        ("{nope", "not valid JSON"),
    ):
        with pytest.raises(ValidationError, match=said) as refused:
            RequestValidation(body_schema=schema)
        assert refused.value.errors()[0]["loc"] == ("body_schema",)


def _gateway(start_gateway: Callable, upstream: LlmUpstream) -> tuple[Any, str]:
    """A route `chat` with both policies and a model alias `fast` (the schema names the client's model, not the
    upstream's); a key of alice."""
    gateway = start_gateway()
    with gateway.admin() as admin:
        admin.upstreams.create(upstream)
        policies = RoutePolicies(key_auth=KeyAuth(), prompt_template=TEMPLATES, request_validation=VALIDATED)
        models = [ModelAlias(name="fast", upstream=upstream.name, model="upstream-model-1")]
        admin.routes.create(Route(name="chat", paths=["/v1"], upstream=upstream.name, models=models, policies=policies))
        admin.consumers.create(Consumer(name="alice"))
        key = admin.api_keys.create(ApiKeyCreate(name="alice-key", consumer="alice")).key
    return gateway, key


def sent(mock: str) -> dict[str, Any]:
    return httpx.get(f"{mock.split('/v1')[0]}/_mock/last-request").json()["body"]


def _rendered(kind: str, upstream: dict[str, Any]) -> None:
    assert "properties" not in upstream
    assert upstream["model"] == "upstream-model-1"
    user = upstream["messages"][-1]["content"]
    text = user if isinstance(user, str) else user[-1]["text"]
    assert text == "Summarise in 10 words:\n- one\n- two\n"
    system = upstream["system"] if kind == "anthropic" else upstream["messages"][0]["content"]
    assert "You summarise text." in (system if isinstance(system, str) else system[0]["text"])


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_the_openai_sdk_through_template_and_validation(
    kind: str, start_gateway: Callable, start_mock: Callable
) -> None:
    mock = start_mock("--provider", kind, "--chunks", "4")
    gateway, key = _gateway(start_gateway, LlmUpstream(name="llm", type=kind, base_url=mock))
    client = openai.OpenAI(base_url=f"{gateway.proxy_url}/v1", api_key=key, max_retries=0)
    ask: list[Any] = [ASK]
    extra = {"properties": PROPERTIES}
    answer = client.chat.completions.create(model="fast", messages=ask, extra_body=extra)
    assert answer.choices[0].message.content == REPLY
    _rendered(kind, sent(mock))
    streamed = client.chat.completions.create(model="fast", messages=ask, extra_body=extra, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == REPLY
    _rendered(kind, sent(mock))
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as invalid:
            client.chat.completions.create(model="fast", messages=ask, extra_body=extra, temperature=3, stream=stream)
        assert invalid.value.code == "invalid_request_body" and invalid.value.param == "temperature"
    with pytest.raises(openai.BadRequestError) as missing:
        client.chat.completions.create(model="fast", messages=ask)
    assert missing.value.code == "template_error" and "'words'" in missing.value.message


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
def test_the_anthropic_sdk_through_template_and_validation(
    kind: str, start_gateway: Callable, start_mock: Callable
) -> None:
    mock = start_mock("--provider", kind, "--chunks", "4")
    gateway, key = _gateway(start_gateway, LlmUpstream(name="llm", type=kind, base_url=mock))
    client = anthropic.Anthropic(base_url=gateway.proxy_url, api_key=key, max_retries=0)
    ask: list[Any] = [ASK]
    extra = {"properties": PROPERTIES}
    answer = client.messages.create(model="fast", max_tokens=64, messages=ask, extra_body=extra)
    assert answer.content[0].text == REPLY  # type: ignore[union-attr]
    _rendered(kind, sent(mock))
    with client.messages.stream(model="fast", max_tokens=64, messages=ask, extra_body=extra) as stream:
        assert "".join(stream.text_stream) == REPLY
    _rendered(kind, sent(mock))
    with pytest.raises(anthropic.BadRequestError) as invalid:
        client.messages.create(model="slow", max_tokens=64, messages=ask, extra_body=extra)
    assert invalid.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "at model" in invalid.value.message, "checked as sent: before the alias is resolved"


def test_the_sandbox_bounds_what_a_render_can_do() -> None:
    from lockgate.sdk.templates import TemplateError, compile_template, render

    for source, said in (
        ("{{ 'a' * 100000 }}", "'*' would make 100000 items"),
        ("{{ words * 100000 }}", "'*' would make"),
        ("{{ 2 ** 1000 }}", "at most 64"),
        ("{% for i in range(1000000) %}{% endfor %}", "range() of 1000000 items"),
        ("{{ ''.__class__.__mro__ }}", "unsafe"),
        ("{{ points.append(1) }}", "unsafe"),
        ("{{ lipsum() }}", "'lipsum' is undefined"),
    ):
        with pytest.raises(TemplateError, match=re.escape(said)):
            render(compile_template(source), {"words": "w", "points": []}, 65_536)
    assert render(compile_template("{{ words * 3 }}"), {"words": "ab"}, 10) == "ababab"
