"""Synthesise stacks and assert on the Terraform JSON; invalid props fail at construction, naming the path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cdktn import App, TerraformOutput, TerraformStack
from cdktn import Testing as Synth
from lockgate.constructs import (
    ConstructValidationError,
    ConsumerSet,
    DockerRuntime,
    Gateway,
    LlmUpstream,
    MockLlm,
    Policy,
    RateLimit,
    RemoteGateway,
    Route,
)
from lockgate.sdk import ConsumerRow

from constructs import Construct

REPO = Path(__file__).resolve().parents[2]


def synth(tmp_path: Path, build: Any) -> dict[str, Any]:
    app = App(outdir=str(tmp_path))
    stack = TerraformStack(app, "s")
    build(stack)
    app.synth()
    return json.loads((tmp_path / "stacks" / "s" / "cdk.tf.json").read_text())  # type: ignore[no-any-return]


def resources(doc: dict[str, Any], type_name: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "//"} for r in doc["resource"].get(type_name, {}).values()]


def test_objects_not_ids_become_references(tmp_path: Path) -> None:
    def build(stack: TerraformStack) -> None:
        mock = MockLlm(stack, "mock", chunks=3)
        gateway = Gateway(stack, "gw", max_body_bytes=4096, idle_timeout_s=30)
        llm = LlmUpstream.mock(stack, "llm", gateway=gateway, mock=mock)
        LlmUpstream(stack, "busy", gateway=gateway, base_url="http://127.0.0.1:9/v1", max_connections=50)
        gold = gateway.add_consumer_group("gold", rate_limit=RateLimit.per_minute(600))
        gateway.add_route("chat", upstream=llm, paths=["/v1"], policies=[Policy.key_auth(), Policy.acl(gold)])
        user = gold.add_consumer("alice")
        TerraformOutput(stack, "key", value=user.api_key, sensitive=True)

    doc = synth(tmp_path, build)
    assert doc["terraform"]["required_providers"]["lockgate"] == {
        "source": "lockgate.dev/lockgate/lockgate",
        "version": "~> 0.1",
    }
    [gateway] = resources(doc, "lockgate_gateway")
    settings = {"max_body_bytes": 4096, "idle_timeout_s": 30}
    assert gateway == {"name": "gw", "driver": "process", "settings": settings, "provider": "lockgate"}
    [route] = resources(doc, "lockgate_route")
    assert route["gateway"].startswith("${lockgate_gateway.gw_resource_") and route["gateway"].endswith(".id}")
    assert route["upstream"].startswith("${lockgate_llm_upstream.llm_resource_") and route["paths"] == ["/v1"]
    assert route["policies"]["acl"]["allow"][0].startswith("${lockgate_consumer_group.gw_gold_resource_")
    assert route["policies"]["key_auth"] == {"hide_credentials": True}
    upstream, busy = sorted(resources(doc, "lockgate_llm_upstream"), key=lambda u: u["name"] != "llm")
    assert busy["max_connections"] == 50 and "max_connections" not in upstream
    assert upstream["base_url"].startswith("${lockgate_mock_llm.mock_resource_") and upstream["model"] == "mock-1"
    [group] = resources(doc, "lockgate_consumer_group")
    assert group["rate_limit"] == {"requests": 600, "window_s": 60}
    [consumer] = resources(doc, "lockgate_consumer")
    [key] = resources(doc, "lockgate_api_key")
    assert consumer["name"] == "alice" and key["name"] == "alice-key"
    assert doc["output"]["key"]["sensitive"] is True


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda s, g, u: Route(s, "chat", gateway=g, upstream=u, paths=["v1/chat"]),
            "s/chat: paths: paths[0] must start with '/'",
        ),
        (
            lambda s, g, u: LlmUpstream.openai(s, "o", gateway=g, model="gpt-4o", api_key="sk-123"),
            "s/o: auth: must be a secret reference",
        ),
        (lambda s, g, u: Gateway(s, "BadName"), "s/BadName: name: String should match pattern"),
        (lambda s, g, u: Gateway(s, "g2", max_body_bytes=0), "s/g2: max_body_bytes: Input should be greater than 0"),
        (
            lambda s, g, u: Route(s, "r", gateway=g, upstream=u, paths=["/v1"], policies=[Policy.acl()]),
            "s/r: policies.acl.allow: List should have at least 1 item",
        ),
        (
            lambda s, g, u: LlmUpstream(s, "t", gateway=g, base_url="https://x.test/v1", read_timeout_s=-1),
            "s/t: read_timeout_s: Input should be greater than 0, got -1 (allowed: more than 0 to 3600)",
        ),
    ],
)
def test_invalid_props_fail_at_construction_naming_path_and_field(build: Any, message: str) -> None:
    app = App(outdir="/tmp/unused")
    stack = TerraformStack(app, "s")
    gateway = Gateway(stack, "gw")
    upstream = LlmUpstream(stack, "up", gateway=gateway, base_url="https://api.openai.com/v1")
    with pytest.raises(ConstructValidationError) as error:
        build(stack, gateway, upstream)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value) and "(got " not in str(error.value)  # one line, the value said once


def test_a_secret_put_where_a_reference_belongs_is_not_repeated() -> None:
    stack = TerraformStack(App(outdir="/tmp/unused"), "s")
    with pytest.raises(ConstructValidationError) as error:
        LlmUpstream.openai(stack, "o", gateway=Gateway(stack, "gw"), model="gpt-4o", api_key="sk-live-0123456789")
    assert "0123456789" not in str(error.value)


def test_an_invalid_rate_limit_names_the_field_the_value_and_the_range() -> None:
    with pytest.raises(ConstructValidationError) as error:
        RateLimit.per_minute(-5)
    assert str(error.value) == "RateLimit.requests: Input should be greater than 0, got -5 (allowed: 1 to 10000000)"
    with pytest.raises(ConstructValidationError, match=r"^RateLimit.window_s: .*got 0 \(allowed: 1 to 86400\)$"):
        RateLimit(requests=1, window_s=0)
    assert RateLimit.per_second(10).model_dump() == {"requests": 10, "window_s": 1}


def test_a_rate_limit_built_in_a_construct_names_that_construct_and_the_line() -> None:
    lines = []

    class Team(Construct):
        def __init__(self, scope: Construct, id: str, gateway: Gateway) -> None:
            super().__init__(scope, id)
            lines.append(sys._getframe().f_lineno + 1)
            gateway.add_consumer_group("gold", rate_limit=RateLimit.per_minute(0))

    stack = TerraformStack(App(outdir="/tmp/unused"), "s")
    with pytest.raises(ConstructValidationError) as error:
        Team(stack, "team", Gateway(stack, "gw"))
    here = Path(__file__)
    where = here.relative_to(Path.cwd()) if here.is_relative_to(Path.cwd()) else here
    assert str(error.value) == (
        f"s/team ({where}:{lines[0]}): RateLimit.requests: Input should be greater than 0, got 0 (allowed: 1 to "
        "10000000)"
    )


def test_the_app_synthesises_demo_and_four_ai_studio_stacks(tmp_path: Path) -> None:
    env = {**os.environ, "CDKTF_OUTDIR": str(tmp_path), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    subprocess.run([sys.executable, "stacks/main.py"], cwd=REPO, env=env, check=True)
    stacks = sorted(p.name for p in (tmp_path / "stacks").iterdir())
    assert stacks == ["ai-studio-prod-eu", "ai-studio-prod-us", "ai-studio-staging-eu", "ai-studio-staging-us", "demo"]
    demo = json.loads((tmp_path / "stacks" / "demo" / "cdk.tf.json").read_text())
    assert set(demo["output"]) == {"proxy_url", "admin_url", "demo_api_key"}
    assert demo["output"]["demo_api_key"]["sensitive"] is True
    prod_eu = json.loads((tmp_path / "stacks" / "ai-studio-prod-eu" / "cdk.tf.json").read_text())
    [openai] = resources(prod_eu, "lockgate_llm_upstream")
    assert openai["auth"] == "env:OPENAI_API_KEY" and openai["base_url"] == "https://api.openai.com/v1"
    [gateway] = resources(prod_eu, "lockgate_gateway")
    assert gateway["name"] == "ai-studio-prod-eu"
    assert (gateway["driver"], gateway["data_planes"], gateway["region"]) == ("docker", 2, "eu")
    assert gateway["pass_env"] == ["OPENAI_API_KEY"] and not resources(prod_eu, "lockgate_mock_llm")
    assert "sk-" not in json.dumps(prod_eu)
    # one definition, each environment's overlay: prod has twice staging's limits
    staging_eu = json.loads((tmp_path / "stacks" / "ai-studio-staging-eu" / "cdk.tf.json").read_text())
    limits = [
        {g["name"]: g["rate_limit"]["requests"] for g in resources(d, "lockgate_consumer_group")}
        for d in (staging_eu, prod_eu)
    ]
    assert limits == [{"free": 10, "gold": 300}, {"free": 20, "gold": 600}]
    assert resources(staging_eu, "lockgate_route") == resources(prod_eu, "lockgate_route")  # word for word
    assert {"environment", "smoke_check"} <= set(prod_eu["output"])

    # the documented switch: the same stacks in front of a mock LLM container on each gateway's network
    mocked = tmp_path / "mocked"
    subprocess.run(
        [sys.executable, "stacks/main.py"],
        cwd=REPO,
        env={**env, "CDKTF_OUTDIR": str(mocked), "LOCKGATE_AI_STUDIO_UPSTREAM": "mock"},
        check=True,
    )
    staging_us = json.loads((mocked / "stacks" / "ai-studio-staging-us" / "cdk.tf.json").read_text())
    [mock] = resources(staging_us, "lockgate_mock_llm")
    assert mock["driver"] == "docker" and mock["network"].startswith("${lockgate_gateway.")
    [upstream] = resources(staging_us, "lockgate_llm_upstream")
    assert upstream["base_url"].startswith("${lockgate_mock_llm.") and "auth" not in upstream


def test_docker_runtime_props_are_checked_at_synth(tmp_path: Path) -> None:
    stack = TerraformStack(App(outdir=str(tmp_path)), "s")
    with pytest.raises(ConstructValidationError, match=r"s/gw: .*data_planes: Input should be greater than or equal"):
        Gateway(stack, "gw", runtime=DockerRuntime(data_planes=0))


def test_consumer_set_from_a_csv_or_inline_rows(tmp_path: Path) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text("name,groups,expires_at\nacme,gold;free,2027-01-31T00:00:00Z\nglobex,free,\n")

    def build(stack: TerraformStack) -> None:
        gateway = Gateway(stack, "gw")
        gateway.add_consumer_group("gold")
        gateway.add_consumer_group("free")
        gateway.add_consumer_group("unused")
        ConsumerSet.from_csv(stack, "customers", gateway=gateway, path=customers, keys_file=tmp_path / "keys.csv")
        team = ConsumerSet(stack, "team", gateway=gateway, members=[ConsumerRow(name="ops", groups=["gold"])])
        TerraformOutput(stack, "team_keys", value=team.keys, sensitive=True)

    doc = synth(tmp_path / "out", build)
    by_name = {r["name"]: r for r in resources(doc, "lockgate_consumer_set")}
    assert by_name["customers"]["source_file"] == str(customers.resolve())
    assert by_name["customers"]["keys_file"] == str((tmp_path / "keys.csv").resolve())
    waits_for = by_name["customers"]["depends_on"]  # the groups its members name, not the others
    assert len(waits_for) == 2 and all(d.startswith("lockgate_consumer_group.") for d in waits_for)
    assert not any("unused" in d for d in waits_for) and "depends_on" in by_name["team"]
    assert json.loads(by_name["team"]["members"]) == [{"name": "ops", "groups": ["gold"]}]
    assert "source_file" not in by_name["team"]


def test_consumer_set_rows_are_checked_at_synth_naming_file_line_and_field(tmp_path: Path) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text("name,groups\nacme,gold\nAcme Corp,gold\n")
    stack = TerraformStack(App(outdir=str(tmp_path)), "s")
    gateway = Gateway(stack, "gw")
    with pytest.raises(ConstructValidationError, match=r"s/customers: .*customers.csv line 3: name: .*'Acme Corp'"):
        ConsumerSet.from_csv(stack, "customers", gateway=gateway, path=customers)
    with pytest.raises(ConstructValidationError, match=r"s/team: members item \[0\]: keys\[0\].expires_at: .*RFC 3339"):
        ConsumerSet(stack, "team", gateway=gateway, members=[{"name": "ops", "expires_at": "tomorrow"}])


def test_a_remote_gateway_is_a_provider_block_and_entities_name_it(tmp_path: Path) -> None:
    def build(stack: TerraformStack) -> None:
        eu = RemoteGateway(stack, "eu", name="ai-eu", admin_url="https://cp.eu.example:8001", admin_token_ref="env:EU")
        us = RemoteGateway(stack, "us", name="ai-us", admin_url="https://cp.us.example:8001", admin_token_ref="env:US")
        for gateway in (eu, us):
            gateway.add_consumer_group("gold")

    doc = synth(tmp_path / "out", build)
    (provider,) = doc["provider"]["lockgate"]
    assert [g["name"] for g in provider["gateway"]] == ["ai-eu", "ai-us"]
    assert sorted(r["gateway"] for r in resources(doc, "lockgate_consumer_group")) == ["ai-eu", "ai-us"]
    stack = TerraformStack(App(outdir=str(tmp_path / "bad")), "s")
    with pytest.raises(ConstructValidationError, match=r"s/eu: admin_token_ref: must be a secret reference"):
        RemoteGateway(stack, "eu", admin_url="https://cp.eu.example:8001", admin_token_ref="hunter2-the-token")


def test_upstream_types_and_prices_are_typed_blocks_checked_at_synth() -> None:
    from lockgate.constructs import Gateway, LlmUpstream, MockLlm, ModelPrice

    stack = TerraformStack(App(), "providers")
    gateway = Gateway(stack, "gw", prices=[ModelPrice(model="house", input=0.5, output=1.5)])
    LlmUpstream.azure(stack, "azure", gateway=gateway, endpoint="https://r.openai.azure.com", deployment="gpt-4o")
    LlmUpstream.anthropic(stack, "claude", gateway=gateway, max_tokens=512)
    LlmUpstream.mock(stack, "gemini", gateway=gateway, mock=MockLlm(stack, "mock", type="gemini"))
    synth = json.loads(Synth.synth(stack))
    upstreams = synth["resource"]["lockgate_llm_upstream"]
    by_name = {u["name"]: u for u in upstreams.values()}
    assert by_name["azure"]["type"] == "azure" and by_name["azure"]["azure"] == {"deployment": "gpt-4o"}
    assert by_name["claude"]["anthropic"] == {"max_tokens": 512} and "base_url" not in by_name["claude"]
    assert by_name["gemini"]["type"] == "gemini"
    settings = next(iter(synth["resource"]["lockgate_gateway"].values()))["settings"]
    assert settings["prices"] == [{"model": "house", "input": 0.5, "output": 1.5}]
    with pytest.raises(ConstructValidationError, match=r"ModelPrice.input: .*greater than or equal to 0"):
        ModelPrice(model="x", input=-1, output=0)
    with pytest.raises(ConstructValidationError, match=r"claude2: anthropic.max_tokens"):
        LlmUpstream.anthropic(stack, "claude2", gateway=gateway, max_tokens=0)


def test_a_route_maps_model_aliases_to_upstreams_by_reference() -> None:
    from lockgate.constructs import Gateway, LlmUpstream, Route

    stack = TerraformStack(App(), "aliases")
    gateway = Gateway(stack, "gw")
    fast = LlmUpstream.openai(stack, "oai", gateway=gateway, model="gpt-4o-mini")
    smart = LlmUpstream.anthropic(stack, "claude", gateway=gateway)
    Route(stack, "chat", gateway=gateway, upstream=fast, paths=["/v1"], models={"smart": (smart, "claude-sonnet-4")})
    (route,) = json.loads(Synth.synth(stack))["resource"]["lockgate_route"].values()
    (alias,) = route["models"]
    assert alias["name"] == "smart" and alias["model"] == "claude-sonnet-4"
    assert alias["upstream"].startswith("${lockgate_llm_upstream.claude_") and alias["upstream"].endswith(".name}")


def test_token_limits_and_cost_budgets_of_a_group_and_a_consumer() -> None:
    from lockgate.constructs import ConsumerGroup, CostBudget, Gateway, RateLimit, TokenLimit

    stack = TerraformStack(App(), "limits")
    gateway = Gateway(stack, "gw")
    ConsumerGroup(
        stack, "gold", gateway=gateway, token_limit=TokenLimit(per_minute=10_000), cost_budget=CostBudget(usd=50)
    ).add_consumer("vip", token_limit=TokenLimit(per_day=5_000_000), rate_limit=RateLimit.per_minute(600))
    resources = json.loads(Synth.synth(stack))["resource"]
    group = next(iter(resources["lockgate_consumer_group"].values()))
    assert group["token_limit"] == {"per_minute": 10_000} and group["cost_budget"] == {"usd": 50.0, "per": "month"}
    vip = next(iter(resources["lockgate_consumer"].values()))
    assert vip["token_limit"] == {"per_day": 5_000_000} and vip["rate_limit"] == {"requests": 600, "window_s": 60}
    assert "cost_budget" not in vip, "its own limits only where set: the group's cost budget applies"
    with pytest.raises(ConstructValidationError, match=r"TokenLimit.*set per_minute, per_hour or per_day"):
        TokenLimit()
    with pytest.raises(ConstructValidationError, match=r"CostBudget.per: .*'day' or 'month'"):
        CostBudget(usd=1, per="week")


def test_prompt_policies_on_a_route_a_group_and_the_gateway() -> None:
    from lockgate.constructs import ConsumerGroup, Gateway, LlmUpstream, Policy, Route
    from lockgate.sdk import DecoratorMessage

    stack = TerraformStack(App(), "prompts")
    gateway = Gateway(stack, "gw", policies=[Policy.prompt_guard(deny=[r"(?i)ignore previous"])])
    ConsumerGroup(stack, "gold", gateway=gateway, policies=[Policy.prompt_guard(enabled=False)])
    upstream = LlmUpstream.openai(stack, "oai", gateway=gateway, model="gpt-4o-mini")
    decorator = Policy.prompt_decorator(prepend=["Be brief."], append=[DecoratorMessage(role="user", content="Cite.")])
    Route(stack, "chat", gateway=gateway, upstream=upstream, paths=["/v1"], policies=[decorator])
    resources = json.loads(Synth.synth(stack))["resource"]
    (route,) = resources["lockgate_route"].values()
    assert route["policies"]["prompt_decorator"]["prepend"] == [{"role": "system", "content": "Be brief."}]
    assert route["policies"]["prompt_decorator"]["append"] == [{"role": "user", "content": "Cite."}]
    (group,) = resources["lockgate_consumer_group"].values()
    assert group["policies"]["prompt_guard"]["enabled"] is False
    (runtime,) = resources["lockgate_gateway"].values()
    assert runtime["settings"]["policies"]["prompt_guard"]["deny"] == ["(?i)ignore previous"]
    with pytest.raises(
        ConstructValidationError, match=r"prompts/bad: policies.prompt_guard.deny: .*\[0\] '\(a\)\\\\1'"
    ):
        Route(
            stack,
            "bad",
            gateway=gateway,
            upstream=upstream,
            paths=["/b"],
            policies=[Policy.prompt_guard(deny=[r"(a)\1"])],
        )
    with pytest.raises(ConstructValidationError, match=r"policies.key_auth: .*not permitted"):
        ConsumerGroup(stack, "odd", gateway=gateway, policies=[Policy.key_auth()])


def test_pii_redaction_policy() -> None:
    from lockgate.constructs import Gateway, LlmUpstream, Policy, Route
    from lockgate.sdk import PiiPattern

    stack = TerraformStack(App(), "pii")
    gateway = Gateway(stack, "gw", policies=[Policy.pii_redaction()])
    upstream = LlmUpstream.openai(stack, "oai", gateway=gateway, model="gpt-4o-mini")
    staff = PiiPattern(name="employee_id", pattern=r"\bEMP-[0-9]{6}\b", max_length=10)
    pii = Policy.pii_redaction(detectors=["email"], custom=[staff], mode="reject", direction="request")
    Route(stack, "chat", gateway=gateway, upstream=upstream, paths=["/v1"], policies=[pii])
    resources = json.loads(Synth.synth(stack))["resource"]
    (route,) = resources["lockgate_route"].values()
    assert route["policies"]["pii_redaction"]["detectors"] == ["email"]
    assert route["policies"]["pii_redaction"]["custom"] == [staff.model_dump()]
    (runtime,) = resources["lockgate_gateway"].values()
    assert runtime["settings"]["policies"]["pii_redaction"]["mode"] == "mask"
    with pytest.raises(
        ConstructValidationError, match=r"pii_redaction.detectors\[0\]: Input should be 'email', 'phone'"
    ):
        Route(
            stack,
            "bad",
            gateway=gateway,
            upstream=upstream,
            paths=["/b"],
            policies=[Policy.pii_redaction(detectors=["emails"])],
        )


def test_templates_validation_transforms_and_error_templates() -> None:
    from lockgate.constructs import ConsumerGroup, Gateway, LlmUpstream, Policy, Route
    from lockgate.sdk import NamedTemplate, TemplateMessage

    stack = TerraformStack(App(), "more")
    company = '{"fault": {"text": {{ message | tojson }}}}'
    gateway = Gateway(stack, "gw", policies=[Policy.error_template(company)])
    upstream = LlmUpstream.openai(stack, "oai", gateway=gateway, model="gpt-4o-mini")
    summary = NamedTemplate(name="summary", messages=[TemplateMessage(content="Summarise {{ text }}")])
    policies = [
        Policy.prompt_template(summary, allow_untemplated=False),
        Policy.request_validation({"type": "object", "required": ["messages"]}),
        Policy.request_transform(
            add_headers={"x-team": "blue"}, set_body={"temperature": 0.2}, identity_secret="env:K"
        ),
        Policy.response_transform(remove_headers=["openai-processing-ms"]),
        Policy.error_template(enabled=False),
    ]
    Route(stack, "chat", gateway=gateway, upstream=upstream, paths=["/v1"], policies=policies)
    resources = json.loads(Synth.synth(stack))["resource"]
    (route,) = resources["lockgate_route"].values()
    given = route["policies"]
    assert given["prompt_template"]["templates"][0]["messages"] == [{"role": "user", "content": "Summarise {{ text }}"}]
    assert json.loads(given["request_validation"]["body_schema"]) == {"required": ["messages"], "type": "object"}
    assert given["request_transform"]["add_headers"] == [{"name": "x-team", "value": "blue"}]
    assert given["request_transform"]["set_body"] == [{"field": "temperature", "json_value": "0.2"}]
    assert given["request_transform"]["identity"] == {"secret": "env:K"}
    assert given["error_template"] == {"enabled": False}
    (runtime,) = resources["lockgate_gateway"].values()
    assert runtime["settings"]["policies"]["error_template"]["body"] == company
    with pytest.raises(ConstructValidationError, match=r"request_validation.body_schema: .*not a valid JSON Schema"):
        Route(
            stack,
            "bad",
            gateway=gateway,
            upstream=upstream,
            paths=["/b"],
            policies=[Policy.request_validation({"type": "objekt"})],
        )
    with pytest.raises(ConstructValidationError, match=r"request_transform.add_headers: .*the gateway's own"):
        Route(
            stack,
            "worse",
            gateway=gateway,
            upstream=upstream,
            paths=["/c"],
            policies=[Policy.request_transform(add_headers={"Authorization": "x"})],
        )
    with pytest.raises(ConstructValidationError, match=r"policies.error_template: .*not permitted"):
        ConsumerGroup(stack, "odd", gateway=gateway, policies=[Policy.error_template(company)])


def test_an_environment_stack_applies_its_overlay_to_what_the_definition_declares(tmp_path: Path) -> None:
    from lockgate.constructs import (
        ConsumerGroup,
        CostBudget,
        Environment,
        EnvironmentStack,
        Overlay,
        TokenLimit,
        UpstreamOverlay,
    )

    class Studio(EnvironmentStack):
        app = "studio"

        def define(self, gateway: Gateway) -> None:
            llm = LlmUpstream.openai(self, "openai", gateway=gateway, model="gpt-4o-mini")
            LlmUpstream.openai(self, "other", gateway=gateway)
            gold = ConsumerGroup(
                self,
                "gold",
                gateway=gateway,
                rate_limit=RateLimit.per_minute(7),
                token_limit=TokenLimit(per_minute=1_000, per_day=10_000),
                cost_budget=CostBudget(usd=12.5),
            )
            chat = gateway.add_route(
                "chat", upstream=llm, paths=["/v1"], policies=[Policy.key_auth(), Policy.acl(gold)]
            )
            self.smoke_check(chat, gold.add_consumer("probe"), model="fast")

    prod = Overlay(
        upstreams={"openai": UpstreamOverlay(base_url="https://llm.prod.example/v1", auth="env:PROD_KEY")},
        limits_scale=3,
        data_planes=4,
    )
    app = App(outdir=str(tmp_path))
    Studio(app, Environment("staging", "us"), DockerRuntime(data_planes=1))
    Studio(app, Environment("prod", "eu", prod), DockerRuntime(data_planes=1))
    app.synth()
    staging, production = (
        json.loads((tmp_path / "stacks" / name / "cdk.tf.json").read_text())
        for name in ("studio-staging-us", "studio-prod-eu")
    )
    assert production["output"]["environment"]["value"] == {"app": "studio", "environment": "prod", "region": "eu"}
    [gateway] = resources(production, "lockgate_gateway")
    assert (gateway["name"], gateway["data_planes"], gateway["environment"], gateway["region"]) == (
        "studio-prod-eu",
        4,
        "prod",
        "eu",
    )
    [gateway] = resources(staging, "lockgate_gateway")
    assert (gateway["name"], gateway["data_planes"]) == ("studio-staging-us", 1)
    upstreams = {u["name"]: u for u in resources(production, "lockgate_llm_upstream")}
    assert (
        upstreams["openai"]["base_url"] == "https://llm.prod.example/v1"
        and upstreams["openai"]["auth"] == "env:PROD_KEY"
    )
    assert upstreams["openai"]["model"] == "gpt-4o-mini"  # what the overlay leaves unset stays the definition's
    assert upstreams["other"]["base_url"] == "https://api.openai.com/v1"  # other upstreams untouched
    [group] = resources(production, "lockgate_consumer_group")
    assert group["rate_limit"] == {"requests": 21, "window_s": 60}
    assert group["token_limit"] == {"per_minute": 3_000, "per_day": 30_000} and group["cost_budget"]["usd"] == 37.5
    [group] = resources(staging, "lockgate_consumer_group")
    assert group["rate_limit"] == {"requests": 7, "window_s": 60}
    smoke = production["output"]["smoke_check"]
    assert smoke["sensitive"] is True and smoke["value"]["path"] == "/v1" and smoke["value"]["model"] == "fast"
    assert smoke["value"]["api_key"].startswith("${lockgate_api_key.")

    with pytest.raises(ConstructValidationError, match="limits_scale must be a number above 0"):
        Overlay(limits_scale=0)
    with pytest.raises(ConstructValidationError, match="set the class attribute `app`"):
        type("Nameless", (EnvironmentStack,), {})(App(), Environment("dev", "us"))


def test_the_readmes_environment_example_synthesises_with_its_overlay(tmp_path: Path) -> None:
    import re

    readme = (REPO / "README.md").read_text()
    found = re.search(r"## Promoting a change.*?```python\n(.*?)```", readme, re.S)
    assert found, "README.md: the Promoting a change section's python block"
    scope: dict[str, Any] = {}
    exec(compile(found[1], "README.md", "exec"), scope)
    app = App(outdir=str(tmp_path))
    for environment in scope["ENVIRONMENTS"]:
        scope["AiStudioStack"](app, environment)
    app.synth()
    names = sorted(p.name for p in (tmp_path / "stacks").iterdir())
    assert names == ["ai-studio-prod-eu", "ai-studio-prod-us", "ai-studio-staging-us"]
    prod = json.loads((tmp_path / "stacks" / "ai-studio-prod-eu" / "cdk.tf.json").read_text())
    [upstream] = resources(prod, "lockgate_llm_upstream")
    assert upstream["auth"] == "env:OPENAI_API_KEY_PROD"
    [group] = resources(prod, "lockgate_consumer_group")
    assert group["rate_limit"]["requests"] == 600
    assert prod["output"]["smoke_check"]["value"]["model"] == "smart"
