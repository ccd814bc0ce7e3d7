"""The impact report's decisions on plain configs: what changed in gateway terms, who is affected and how much of
their traffic, and what it will cost."""

from __future__ import annotations

from lockgate.cli.impact import ConsumerEffect, FieldChange, Volume, diff, impact
from lockgate.gateway_runtime.data.prices import PriceTable
from lockgate.gateway_runtime.data.usage import Tokens
from lockgate.sdk import (
    Acl,
    Consumer,
    ConsumerGroup,
    CostBudget,
    GatewayConfig,
    KeyAuth,
    LlmUpstream,
    ModelAlias,
    RateLimit,
    Route,
    RoutePolicies,
    TokenLimit,
    UsageRow,
)


def config(allow: list[str], gold_per_minute: int, smart: str, **gold: object) -> GatewayConfig:
    return GatewayConfig(
        upstreams=[LlmUpstream(name="openai", base_url="http://127.0.0.1:9/v1")],
        consumer_groups=[
            ConsumerGroup(name="free", rate_limit=RateLimit.per_minute(10)),
            ConsumerGroup(name="gold", rate_limit=RateLimit.per_minute(gold_per_minute), **gold),  # type: ignore[arg-type]
        ],
        routes=[
            Route(
                name="chat",
                paths=["/v1"],
                upstream="openai",
                models=[
                    ModelAlias(name="fast", upstream="openai", model="gpt-4o-mini"),
                    ModelAlias(name="smart", upstream="openai", model=smart),
                ],
                policies=RoutePolicies(key_auth=KeyAuth(), acl=Acl(allow=allow)),
            )
        ],
        consumers=[Consumer(name="studio-web", groups=["gold"]), Consumer(name="trial", groups=["free"])],
    )


def row(consumer: str, model: str, requests: int, prompt: int, completion: int) -> UsageRow:
    return UsageRow(
        consumer=consumer,
        route="chat",
        model=model,
        requests=requests,
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
    )


USAGE = [
    row("studio-web", "gpt-4o", 20, 30_000, 10_000),
    row("studio-web", "gpt-4o-mini", 5, 1_000, 500),
    row("trial", "gpt-4o-mini", 12, 2_000, 1_400),
]


def test_a_change_names_the_entities_the_consumers_and_their_traffic() -> None:
    before = config(["free", "gold"], 300, "gpt-4o")
    after = config(["gold"], 150, "gpt-4.1")
    result = impact(before, after, USAGE)

    assert [(c.kind, c.name, c.action) for c in result.changes] == [
        ("route", "chat", "changed"),
        ("consumer group", "gold", "changed"),
    ]
    assert result.changes[0].fields == (
        FieldChange("models[smart].model", "gpt-4o", "gpt-4.1"),
        FieldChange("policies.acl.allow", ["free", "gold"], ["gold"]),
    )
    assert result.changes[1].fields == (FieldChange("rate_limit.requests", 300, 150),)
    assert result.consumers == [
        ConsumerEffect(
            "studio-web",
            ("gold",),
            "lower_limit",
            "rate limit: 300/60s -> 150/60s",
            None,
            Volume(25, 41_500),
        ),
        ConsumerEffect(
            "studio-web",
            ("gold",),
            "model_change",
            "route chat, model smart: gpt-4o -> gpt-4.1",
            "chat",
            Volume(20, 40_000),
        ),
        ConsumerEffect(
            "trial",
            ("free",),
            "loses_access",
            "route chat: its groups ['free'] are not allowed",
            "chat",
            Volume(12, 3_400),
        ),
    ]
    assert [(g.group, g.effect, g.detail, g.consumers) for g in result.groups] == [
        ("free", "loses_access", "route chat", 1),
        ("gold", "lower_limit", "rate limit: 300/60s -> 150/60s", 1),
    ]
    prices = PriceTable()

    def cost(usage: UsageRow, model: str) -> int:
        tokens = Tokens(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)
        return prices.cost_micros(model, tokens)

    smart, fast, trial = USAGE
    assert result.cost_before_micros == cost(smart, "gpt-4o") + cost(fast, "gpt-4o-mini") + cost(trial, "gpt-4o-mini")
    # the smart traffic moves to gpt-4.1's prices; trial's is refused from now on
    assert result.cost_after_micros == cost(smart, "gpt-4.1") + cost(fast, "gpt-4o-mini")
    assert 0 < result.cost_after_micros < result.cost_before_micros


def test_nothing_changed_is_an_empty_report() -> None:
    same = config(["free", "gold"], 300, "gpt-4o")
    result = impact(same, same.model_copy(deep=True), USAGE)
    assert result.empty and result.cost_before_micros == result.cost_after_micros > 0


def test_limits_compare_the_tightest_allowance_per_window() -> None:
    before = config(["free", "gold"], 300, "gpt-4o", token_limit=TokenLimit(per_day=100_000))
    higher = config(["free", "gold"], 300, "gpt-4o", token_limit=TokenLimit(per_day=200_000))
    added = config(
        ["free", "gold"], 300, "gpt-4o", token_limit=TokenLimit(per_day=100_000), cost_budget=CostBudget(usd=30)
    )
    effects = {e.effect for e in impact(before, higher, USAGE).consumers}
    assert effects == {"higher_limit"}
    budget = [e for e in impact(before, added, USAGE).consumers if e.effect == "lower_limit"]
    assert [e.detail for e in budget] == ["cost budget: none -> $30/month"]
    removed = impact(higher, config(["free", "gold"], 300, "gpt-4o"), USAGE).consumers
    assert [(e.effect, e.detail) for e in removed] == [("higher_limit", "token limit: 200,000/day -> none")]


def test_a_removed_route_and_a_new_one() -> None:
    before = config(["free", "gold"], 300, "gpt-4o")
    after = before.model_copy(update={"routes": [before.routes[0].model_copy(update={"name": "chat-v2"})]})
    result = impact(before, after, USAGE)
    assert [(c.kind, c.name, c.action) for c in result.changes] == [
        ("route", "chat", "removed"),
        ("route", "chat-v2", "added"),
    ]
    lost = [(e.consumer, e.effect, e.detail) for e in result.consumers if e.route == "chat"]
    assert lost == [
        ("studio-web", "loses_access", "route chat: the route is removed"),
        ("trial", "loses_access", "route chat: the route is removed"),
    ]
    assert {(e.consumer, e.effect) for e in result.consumers if e.route == "chat-v2"} == {
        ("studio-web", "gains_access"),
        ("trial", "gains_access"),
    }
    assert result.cost_after_micros == 0  # all of the last day's traffic went to the removed route


def test_diff_goes_into_named_lists_and_nested_objects() -> None:
    assert diff({"a": {"b": 1, "c": [1, 2]}}, {"a": {"b": 2, "c": [1, 2]}}) == [FieldChange("a.b", 1, 2)]
    named = diff({"m": [{"name": "x", "v": 1}]}, {"m": [{"name": "x", "v": 1}, {"name": "y", "v": 2}]})
    assert named == [FieldChange("m[y]", None, {"name": "y", "v": 2})]
    assert diff({"p": None}, {"p": {"q": 1}}) == [FieldChange("p", None, {"q": 1})]


def test_a_model_moved_to_another_provider_names_the_upstream() -> None:
    before = config(["free", "gold"], 300, "gpt-4o")
    claude = LlmUpstream(name="claude", type="anthropic", base_url="http://127.0.0.1:9")
    route = before.routes[0]
    moved = route.model_copy(
        update={"models": [route.models[0], ModelAlias(name="smart", upstream="claude", model="claude-sonnet-4")]}  # type: ignore[index]
    )
    after = before.model_copy(update={"upstreams": [*before.upstreams, claude], "routes": [moved]})
    result = impact(before, after, USAGE)
    assert [c.name for c in result.changes if c.action == "added"] == ["claude"]
    [effect] = [e for e in result.consumers if e.effect == "model_change"]
    assert effect.detail == (
        "route chat, model smart: gpt-4o (upstream openai, openai) -> claude-sonnet-4 (upstream claude, anthropic)"
    )
    assert result.cost_after_micros > result.cost_before_micros  # claude-sonnet-4 costs more than gpt-4o
