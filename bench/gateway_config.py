"""The benchmark's lockgate config: key auth + a request limit + a token limit + usage accounting, with N consumers
and M routes; `/anthropic/v1` is the same route to an Anthropic-format upstream (the fast mock's /v1/messages):
translated; `/full/v1` adds the whole chain: an ACL, a prompt decorator, a prompt guard and PII redaction both
ways."""

from __future__ import annotations

import hashlib

from lockgate.sdk import (
    Acl,
    ApiKey,
    Consumer,
    ConsumerGroup,
    DecoratorMessage,
    GatewayConfig,
    KeyAuth,
    LlmUpstream,
    PiiRedaction,
    PromptDecorator,
    PromptGuard,
    RateLimit,
    Route,
    RoutePolicies,
    TokenLimit,
    UsageAccounting,
)

BENCH_KEY = "lg-bench-key-0000000000000000000000"
HUGE_LIMIT = RateLimit(requests=10_000_000, window_s=3600)  # counted on every request, never reached
HUGE_TOKENS = TokenLimit(per_day=10_000_000_000)  # admitted and settled on every request, never reached

FULL_CHAIN = RoutePolicies(
    key_auth=KeyAuth(),
    acl=Acl(allow=["bench"]),
    usage=UsageAccounting(),
    prompt_decorator=PromptDecorator(prepend=[DecoratorMessage(content="You are a helpful assistant. Be brief.")]),
    prompt_guard=PromptGuard(deny=[r"(?i)ignore (all )?previous instructions", r"(?i)\bjailbreak\b"]),
    pii_redaction=PiiRedaction(),
)


def bench_config(upstream_base_url: str, consumers: int = 10_000, routes: int = 100) -> GatewayConfig:
    policies = RoutePolicies(key_auth=KeyAuth(), usage=UsageAccounting())
    route_list = [Route(name="chat", paths=["/v1"], upstream="mock", policies=policies)]
    route_list += [Route(name="translated", paths=["/anthropic/v1"], upstream="claude", policies=policies)]
    route_list += [Route(name="full", paths=["/full/v1"], upstream="mock", policies=FULL_CHAIN)]
    route_list += [
        Route(name=f"team-{i}", paths=[f"/teams/team-{i}/v1"], upstream="mock", policies=policies)
        for i in range(routes - 3)
    ]
    people = [Consumer(name="bench", groups=["bench"])]
    people += [Consumer(name=f"consumer-{i}", groups=["bench"]) for i in range(consumers - 1)]
    keys = [ApiKey(name="bench-key", consumer="bench", key_sha256=hashlib.sha256(BENCH_KEY.encode()).hexdigest())]
    keys += [
        ApiKey(name=f"key-{i}", consumer=f"consumer-{i}", key_sha256=hashlib.sha256(f"key-{i}".encode()).hexdigest())
        for i in range(consumers - 1)
    ]
    return GatewayConfig(
        upstreams=[
            LlmUpstream(name="mock", base_url=upstream_base_url),
            LlmUpstream(name="claude", type="anthropic", base_url=upstream_base_url),
        ],
        routes=route_list,
        consumer_groups=[ConsumerGroup(name="bench", rate_limit=HUGE_LIMIT, token_limit=HUGE_TOKENS)],
        consumers=people,
        api_keys=keys,
    )
