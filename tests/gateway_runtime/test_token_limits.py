"""Token limits and cost budgets through a real gateway: admitted on an estimate before the upstream is called,
charged what the provider counted after; one limit across `--workers`, refusals that say which limit, its window,
what is left and when it resets. Per-day windows, so that no window turns over during a test."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest
from lockgate.sdk import (
    ApiKeyCreate,
    Consumer,
    ConsumerGroup,
    CostBudget,
    GatewaySettings,
    KeyAuth,
    LlmUpstream,
    ModelPrice,
    Route,
    RoutePolicies,
    TokenLimit,
    UsageAccounting,
)

HI: list[Any] = [{"role": "user", "content": "hi"}]  # estimated at 1 prompt token; the mock counts 1 + 17


def metered(gateway: Any, mock: str, group: ConsumerGroup, settings: GatewaySettings | None = None) -> str:
    with gateway.admin() as admin:
        if settings is not None:
            admin.update_settings(settings)
        admin.upstreams.create(LlmUpstream(name="mock", base_url=mock, model="mock-1"))
        admin.consumer_groups.create(group)
        policies = RoutePolicies(key_auth=KeyAuth(), usage=UsageAccounting())
        admin.routes.create(Route(name="chat", paths=["/v1"], upstream="mock", policies=policies))
        admin.consumers.create(Consumer(name="alice", groups=[group.name]))
        return str(admin.api_keys.create(ApiKeyCreate(name="alice-key", consumer="alice")).key)


def test_a_token_limit_admits_estimates_and_charges_what_was_used(start_gateway: Callable, mock_llm: str) -> None:
    gateway = start_gateway()
    key = metered(gateway, mock_llm, ConsumerGroup(name="metered", token_limit=TokenLimit(per_day=200)))
    client = openai.OpenAI(base_url=f"{gateway.proxy_url}/v1", api_key=key, max_retries=0)
    answered = 0
    with pytest.raises(openai.RateLimitError) as refused:
        for _ in range(20):  # each reserves 1 + 50 (its max_tokens) and is charged 18
            client.chat.completions.create(model="m", messages=HI, max_tokens=50)
            answered += 1
    assert answered == 9, "admitted while 18 x used + 51 fits 200: charged the actual, not the estimate"
    error = refused.value
    assert error.code == "token_limit_exceeded"
    assert "200 tokens per day (group 'metered')" in error.message and "162 used or reserved, 38 left" in error.message
    assert "needs about 51" in error.message and "resets in" in error.message
    headers = error.response.headers
    assert headers["x-ratelimit-limit-tokens"] == "200" and headers["x-ratelimit-remaining-tokens"] == "38"
    assert int(headers["Retry-After"]) > 0 and headers["x-ratelimit-reset-tokens"].endswith("s")
    small = client.chat.completions.create(model="m", messages=HI, max_tokens=10)  # 11 still fits 38
    assert small.usage is not None and small.usage.total_tokens == 18

    claude = anthropic.Anthropic(base_url=gateway.proxy_url, api_key=key, max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as shaped:
        claude.messages.create(model="m", max_tokens=50, messages=HI)
    assert shaped.value.body["error"]["type"] == "rate_limit_error" and "Token limit" in shaped.value.message


def test_a_cost_budget_is_priced_from_the_gateways_prices(start_gateway: Callable, mock_llm: str) -> None:
    gateway = start_gateway()
    settings = GatewaySettings(prices=[ModelPrice(model="mock-1", input=1000, output=1000)])  # 1 token: 1,000 µUSD
    group = ConsumerGroup(name="budgeted", cost_budget=CostBudget(usd=0.1, per="day"))
    key = metered(gateway, mock_llm, group, settings)
    client = openai.OpenAI(base_url=f"{gateway.proxy_url}/v1", api_key=key, max_retries=0)
    answered = 0
    with pytest.raises(openai.RateLimitError) as refused:
        for _ in range(10):  # each would cost about 51 tokens ($0.051), costs 18 ($0.018)
            client.chat.completions.create(model="m", messages=HI, max_tokens=50)
            answered += 1
    assert answered == 3 and refused.value.code == "cost_budget_exceeded"
    assert "$0.10 per day (group 'budgeted')" in refused.value.message
    assert "$0.0540 used or reserved" in refused.value.message
    deadline = time.monotonic() + 10
    with gateway.admin() as admin:
        while (usage := admin.consumers.usage("alice")).requests < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
    assert usage.cost_micros == 3 * 18_000


async def _hammer(url: str, key: str, clients: int, requests: int) -> tuple[int, int]:
    client = openai.AsyncOpenAI(base_url=url, api_key=key, max_retries=0)

    async def one() -> tuple[int, int]:
        ok = limited = 0
        for _ in range(requests):
            try:
                stream = await client.chat.completions.create(model="m", messages=HI, max_tokens=50, stream=True)
                async for _chunk in stream:
                    pass
                ok += 1
            except openai.RateLimitError:
                limited += 1
        return ok, limited

    results = await asyncio.gather(*(one() for _ in range(clients)))
    await client.close()
    return sum(r[0] for r in results), sum(r[1] for r in results)


def test_one_token_limit_across_workers_under_concurrency(start_gateway: Callable, mock_llm: str) -> None:
    gateway = start_gateway(workers=2)
    key = metered(gateway, mock_llm, ConsumerGroup(name="metered", token_limit=TokenLimit(per_day=1000)))
    time.sleep(1)  # the workers pick the new config up
    answered, limited = asyncio.run(_hammer(f"{gateway.proxy_url}/v1", key, clients=16, requests=8))
    assert answered + limited == 16 * 8 and limited > 0
    # each answer is charged 18 and reserved 51: whatever the interleaving, what both workers admitted fits 1,000
    assert answered * 18 <= 1000, f"{answered} answered: the two workers each allowed the whole limit"
    assert answered >= (1000 - 16 * 51) // 18, "refused only when the limit (with what is in flight) was reached"


def _answered_until_refused(client: openai.OpenAI, most: int) -> tuple[int, openai.RateLimitError | None]:
    for answered in range(most):
        try:
            client.chat.completions.create(model="m", messages=HI, max_tokens=50)
        except openai.RateLimitError as refused:
            return answered, refused
    return most, None


def test_a_consumers_own_limits_override_its_groups_across_workers(start_gateway: Callable, mock_llm: str) -> None:
    """Own limits come in a batch row, travel to the workers with the consumer's keys, and go with its next row."""
    gateway = start_gateway(workers=2)
    key = metered(gateway, mock_llm, ConsumerGroup(name="metered", token_limit=TokenLimit(per_day=1000)))
    own = {"token_limit": {"per_day": 100}, "rate_limit": {"requests": 50, "window_s": 86_400}}
    with gateway.admin() as admin:
        result = admin.consumers.apply(
            [{"name": "bob", "groups": ["metered"], "keys": [{"name": "bob-key"}], **own}], owner="pipeline:crm"
        )
        assert admin.consumers.export("pipeline:crm")[0].token_limit == TokenLimit(per_day=100)
    bob = openai.OpenAI(base_url=f"{gateway.proxy_url}/v1", api_key=result.keys[0].key, max_retries=0)
    alice = openai.OpenAI(base_url=f"{gateway.proxy_url}/v1", api_key=key, max_retries=0)
    time.sleep(1)  # the workers pick the new keys up

    answered, refused = _answered_until_refused(bob, 20)
    assert answered == 3 and refused is not None, "18 x 3 + 51 passes bob's own 100 a day, not the group's 1,000"
    assert "100 tokens per day (its own limit)" in refused.message
    assert refused.response.headers["x-ratelimit-limit-requests"] == "50", "and his own request limit"
    assert _answered_until_refused(alice, 5) == (5, None), "the group's limit for alice, untouched"

    with gateway.admin() as admin:  # the override dropped: bob is back on the group's limit
        admin.consumers.apply(
            [{"name": "bob", "groups": ["metered"], "keys": [{"name": "bob-key"}]}], owner="pipeline:crm"
        )
    time.sleep(1)
    answered, refused = _answered_until_refused(bob, 5)
    assert answered == 5, f"refused after {answered}: {refused}"
