from __future__ import annotations

import re

import pytest
from lockgate.sdk import (
    Acl,
    ApiKey,
    Consumer,
    GatewayConfig,
    KeyAuth,
    LlmUpstream,
    RateLimit,
    Route,
    RoutePolicies,
    find_problems,
    resolve_secret,
)
from lockgate.sdk.secrets import SecretError
from pydantic import ValidationError

UP = LlmUpstream(name="openai", base_url="https://api.openai.com/v1/", auth="env:OPENAI_API_KEY")


def test_models_are_strict_and_frozen() -> None:
    with pytest.raises(ValidationError, match="extra"):
        Route(name="chat", paths=["/v1"], upstream="openai", path="/typo")  # type: ignore[call-arg]
    route = Route(name="chat", paths=["/v1/"], upstream="openai")
    with pytest.raises(ValidationError):
        route.name = "other"  # type: ignore[misc]
    assert route.paths == ["/v1"] and route.methods == ["GET", "POST"]
    assert UP.base_url == "https://api.openai.com/v1"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"paths": ["v1"]}, "paths[0] must start with '/'"),
        ({"paths": ["~(unclosed"]}, "cannot be run by the gateway's linear-time pattern engine (RE2): missing )"),
        ({"paths": ["~/(a)\\1"]}, "not backreferences"),
        ({"paths": ["~/(?=x)"]}, "lookarounds"),
        ({"paths": []}, "at least 1"),
        ({"name": "Chat!"}, "should match pattern"),
        ({"policies": RoutePolicies(acl=Acl(allow=["gold"]))}, "policies.acl needs policies.key_auth"),
    ],
)
def test_route_errors_name_the_field(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        Route.model_validate({"name": "chat", "paths": ["/v1"], "upstream": "openai", **kwargs})


def test_secrets_are_references_never_values() -> None:
    with pytest.raises(ValidationError, match="secret reference"):
        LlmUpstream(name="x", base_url="https://a/v1", auth="sk-live-123456")
    with pytest.raises(ValidationError, match="http"):
        LlmUpstream(name="x", base_url="ftp://a")


def test_resolve_secret(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LG_TEST_KEY", "s3cret")
    assert resolve_secret("env:LG_TEST_KEY") == "s3cret"
    (tmp_path / "k").write_text("filekey\n")
    assert resolve_secret(f"file:{tmp_path / 'k'}") == "filekey"
    monkeypatch.delenv("LG_TEST_KEY")
    with pytest.raises(SecretError, match="export LG_TEST_KEY") as error:
        resolve_secret("env:LG_TEST_KEY")
    assert "s3cret" not in str(error.value)


def test_rate_limit_factories() -> None:
    assert RateLimit.per_minute(10) == RateLimit(requests=10, window_s=60)
    assert RateLimit.per_second(2).window_s == 1
    with pytest.raises(ValidationError):
        RateLimit(requests=0)


def test_config_cross_references_are_checked() -> None:
    config = GatewayConfig.model_construct(
        upstreams=[UP],
        routes=[
            Route(
                name="chat",
                paths=["/v1"],
                upstream="nope",
                policies=RoutePolicies(key_auth=KeyAuth(), acl=Acl(allow=["gold"])),
            )
        ],
        consumer_groups=[],
        consumers=[Consumer(name="alice", groups=["gold"])],
        api_keys=[ApiKey(name="k", consumer="bob", key_sha256="0" * 64)],
    )
    problems = {str(p) for p in find_problems(config)}
    assert problems == {
        "routes[0].upstream: upstream 'nope' does not exist; create it first or fix the name",
        "routes[0].policies.acl.allow[0]: consumer group 'gold' does not exist; create it first or fix the name",
        "consumers[0].groups[0]: consumer group 'gold' does not exist; create it first or fix the name",
        "api_keys[0].consumer: consumer 'bob' does not exist; create it first or fix the name",
    }
    with pytest.raises(ValidationError, match="defined twice"):
        GatewayConfig(upstreams=[UP, UP])
