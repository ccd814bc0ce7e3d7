"""error_template: the gateway's own errors in a company's shape, gateway-wide and per route (a route's wins, and
`enabled: false` brings the API's own shape back), through a real gateway with the official SDKs; upstream errors
relayed as they are; bad templates refused naming the field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import openai
import pytest
from lockgate.sdk import (
    ApiKeyCreate,
    Consumer,
    ConsumerGroup,
    ErrorTemplate,
    GatewaySettings,
    KeyAuth,
    LlmUpstream,
    PromptPolicies,
    RateLimit,
    Route,
    RoutePolicies,
)
from pydantic import ValidationError

COMPANY = ErrorTemplate(
    body='{"fault": {"status": {{ status }}, "code": {{ code | tojson }}, "text": {{ message | tojson }}, '
    '"trace": {{ request_id | tojson }}}}'
)
PLAIN = ErrorTemplate(body="{{ status }} {{ code }}: {{ message }}\n", content_type="text/plain")


def _gateway(start_gateway: Callable, mock: str) -> tuple[Any, str]:
    """The company shape gateway-wide; route `plain` has its own (text), route `native` turns it off."""
    gateway = start_gateway()
    with gateway.admin() as admin:
        admin.update_settings(GatewaySettings(policies=PromptPolicies(error_template=COMPANY)))
        admin.upstreams.create(LlmUpstream(name="llm", base_url=mock))
        admin.consumer_groups.create(ConsumerGroup(name="tight", rate_limit=RateLimit(requests=1, window_s=60)))
        for name, template in (("chat", None), ("plain", PLAIN), ("native", ErrorTemplate(enabled=False))):
            policies = RoutePolicies(key_auth=KeyAuth(), error_template=template)
            paths = ["/v1"] if name == "chat" else [f"/{name}/v1"]
            admin.routes.create(Route(name=name, paths=paths, upstream="llm", policies=policies))
        admin.consumers.create(Consumer(name="alice", groups=["tight"]))
        key = admin.api_keys.create(ApiKeyCreate(name="alice-key", consumer="alice")).key
    return gateway, key


def test_the_gateways_errors_in_the_configured_shape(start_gateway: Callable, mock_llm: str) -> None:
    gateway, key = _gateway(start_gateway, mock_llm)
    hi = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    nowhere = httpx.post(f"{gateway.proxy_url}/nowhere", json=hi)
    assert nowhere.status_code == 404 and nowhere.json()["fault"]["code"] == "route_not_found"
    assert nowhere.json()["fault"]["trace"] == nowhere.headers["x-request-id"], "one id, in the body and the header"

    client = openai.OpenAI(base_url=f"{gateway.proxy_url}/v1", api_key="lg-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert refused.value.body == {
        "fault": {
            "status": 401,
            "code": "invalid_api_key",
            "text": "Invalid API key: it is not known to this gateway.",
            "trace": refused.value.response.headers["x-request-id"],
        }
    }
    claude = anthropic.Anthropic(base_url=gateway.proxy_url, api_key="lg-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as also:
        claude.messages.create(model="m", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    assert also.value.body["fault"]["code"] == "invalid_api_key"  # type: ignore[index]

    auth = {"Authorization": f"Bearer {key}"}
    assert httpx.post(f"{gateway.proxy_url}/v1/chat/completions", json=hi, headers=auth).status_code == 200
    limited = httpx.post(f"{gateway.proxy_url}/v1/chat/completions", json=hi, headers=auth)
    assert limited.status_code == 429 and limited.headers["Retry-After"], "the error's headers stay"
    assert limited.json()["fault"]["code"] == "rate_limit_exceeded"

    plain = httpx.post(f"{gateway.proxy_url}/plain/v1/chat/completions", json=hi)
    assert plain.headers["content-type"].startswith("text/plain")
    assert (
        plain.text == "401 missing_api_key: Missing API key: send it as 'Authorization: Bearer <key>', "
        "'x-api-key' or 'apikey'.\n"
    ), "the route's own template wins over the gateway's"
    native = httpx.post(f"{gateway.proxy_url}/native/v1/chat/completions", json=hi)
    assert native.json()["error"]["code"] == "missing_api_key", "turned off: the OpenAI shape"


def test_upstream_errors_relayed_are_not_the_gateways(start_gateway: Callable, mock_llm: str) -> None:
    gateway, key = _gateway(start_gateway, mock_llm)
    failing = {"model": "m", "messages": [{"role": "user", "content": "mock:status=500"}]}
    answer = httpx.post(f"{gateway.proxy_url}/v1/chat/completions", json=failing, headers={"x-api-key": key})
    assert answer.status_code == 500 and "error" in answer.json(), "the upstream's own error passes as it is"


def test_bad_error_templates_are_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="does not render JSON"):
        ErrorTemplate(body='{"text": "{{ message }}"}')
    with pytest.raises(ValidationError, match="'status_code' is undefined"):
        ErrorTemplate(body="{{ status_code }}", content_type="text/plain")
    with pytest.raises(ValidationError) as on_group:
        ConsumerGroup(name="g", policies=PromptPolicies(error_template=COMPANY))
    assert on_group.value.errors()[0]["loc"] == ("policies", "error_template"), "per gateway or route only"
    assert ErrorTemplate(body='{"e": {{ message | tojson }}}').content_type == "application/json"
