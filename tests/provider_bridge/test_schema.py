"""The Terraform schema is generated from the SDK models; plans fill defaults; diagnostics carry paths."""

from __future__ import annotations

from lockgate.provider_bridge.diagnostics import validate_known
from lockgate.provider_bridge.provider import RESOURCES
from lockgate.provider_bridge.resources.api_key import ApiKeyResource
from lockgate.provider_bridge.resources.entities import ConsumerGroupResource, RouteResource
from lockgate.provider_bridge.schema import ListNestedBlock, SingleNestedBlock, fill_defaults, parse, spec_values
from lockgate.sdk import ApiKeyCreate, ConsumerGroup, GatewayRuntime, LlmUpstream, RateLimit, Route
from msgpack import ExtType
from tf import types as tft
from tf.types import Unknown
from tf.utils import Diagnostics


def test_route_schema_mirrors_the_sdk_model() -> None:
    schema = RouteResource.get_schema()
    attrs = {a.name: a for a in schema.attributes}
    assert list(attrs) == ["id", "gateway", "name", "paths", "methods", "upstream"]
    assert attrs["id"].computed and not attrs["id"].optional
    assert attrs["gateway"].required and attrs["gateway"].requires_replace and attrs["name"].requires_replace
    assert isinstance(attrs["paths"].type, tft.List) and attrs["paths"].required
    assert attrs["methods"].optional and attrs["methods"].computed and attrs["methods"].default == ["GET", "POST"]
    assert attrs["upstream"].description == Route.model_fields["upstream"].description
    models, policies = schema.block_types
    assert isinstance(models, ListNestedBlock) and [a.name for a in models.block.attributes] == [
        "name",
        "upstream",
        "model",
    ], "model aliases: a repeated block"
    assert isinstance(policies, SingleNestedBlock) and policies.type_name == "policies"
    blocks = {b.type_name: b for b in policies.block.block_types}
    assert list(blocks) == [
        "prompt_decorator",
        "prompt_guard",
        "pii_redaction",
        "prompt_template",
        "request_validation",
        "request_transform",
        "response_transform",
        "error_template",
        "key_auth",
        "acl",
        "usage",
    ]
    transform = {b.type_name: b for b in blocks["request_transform"].block.block_types}
    assert isinstance(transform["add_headers"], ListNestedBlock) and isinstance(
        transform["identity"], SingleNestedBlock
    )
    validation = {a.name: a for a in blocks["request_validation"].block.attributes}
    assert isinstance(validation["body_schema"].type, tft.String), "a JSON Schema travels as JSON text"
    decorator = {b.type_name: b for b in blocks["prompt_decorator"].block.block_types}
    assert isinstance(decorator["prepend"], ListNestedBlock), "decorator messages: repeated typed blocks"
    guard = {a.name: a for a in blocks["prompt_guard"].block.attributes}
    assert isinstance(guard["deny"].type, tft.List) and guard["roles"].default == "user"


def test_every_resource_has_described_attributes() -> None:
    for resource in RESOURCES:
        for attr in resource.get_schema().attributes:
            assert attr.description, f"{resource.get_name()}.{attr.name} has no description"


def test_api_key_is_sensitive_and_computed() -> None:
    attrs = {a.name: a for a in ApiKeyResource.get_schema().attributes}
    assert attrs["key"].sensitive and attrs["key"].computed and attrs["key"].optional


def test_plan_fills_nested_defaults_without_touching_set_values() -> None:
    planned = {"name": "free", "gateway": "g", "id": None, "rate_limit": {"requests": 3, "window_s": None}}
    filled = ConsumerGroupResource(None).plan(None, None, planned)  # type: ignore[arg-type]
    assert filled["rate_limit"] == {"requests": 3, "window_s": 60} and filled["id"] is Unknown
    assert fill_defaults(Route, {"methods": ["POST"]}) == {"methods": ["POST"]}


def test_spec_values_drop_nulls_so_model_defaults_apply() -> None:
    state = {
        "id": "x",
        "name": "chat",
        "paths": ["/v1"],
        "methods": None,
        "upstream": "u",
        "policies": {"key_auth": {"hide_credentials": None}, "acl": None, "usage": None},
    }
    route = Route.model_validate(spec_values(Route, state))
    assert route.methods == ["GET", "POST"] and route.policies.key_auth is not None


def test_validation_diagnostics_point_at_the_attribute_and_skip_unknowns() -> None:
    diags = Diagnostics()
    validate_known(diags, Route, {"name": "chat", "paths": ["/v1", "bad"], "upstream": Unknown}, "lockgate_route")
    [diag] = diags.diagnostics
    assert diag.path == ["paths"] and "paths[1] must start with '/'" in diag.summary and "'bad'" in diag.detail
    clean = Diagnostics()
    validate_known(clean, Route, {"name": Unknown, "paths": ["/v1"], "upstream": Unknown}, "lockgate_route")
    assert clean.diagnostics == []


def test_whole_numbers_reach_int_fields_as_int_for_strict_models() -> None:
    values = spec_values(ConsumerGroup, {"name": "g", "rate_limit": {"requests": 10.0, "window_s": 60.0}})
    assert values["rate_limit"] == {"requests": 10, "window_s": 60}
    assert type(values["rate_limit"]["requests"]) is int
    assert parse(ConsumerGroup, {"name": "g", "rate_limit": {"requests": 10.0}}).rate_limit == RateLimit(requests=10)
    diags = Diagnostics()
    validate_known(diags, ConsumerGroup, {"name": "g", "rate_limit": {"requests": 10.5}}, "lockgate_consumer_group")
    [diag] = diags.diagnostics
    assert diag.path == ["rate_limit", "requests"] and "got 10.5" in diag.detail


def test_refined_unknowns_are_skipped_and_hidden_values_never_shown() -> None:
    refined = ExtType(12, b"\x82\x01\xc2\x02\xa3gw-")  # Terraform: unknown, but starts with "gw-"
    clean = Diagnostics()
    validate_known(clean, GatewayRuntime, {"name": refined, "host": "127.0.0.1"}, "lockgate_gateway")
    assert clean.diagnostics == []
    secret = "sk-live-PASTEDSECRET-1234"
    diags = Diagnostics()
    validate_known(
        diags, LlmUpstream, {"name": "u", "base_url": "http://x/v1", "auth": secret}, "lockgate_llm_upstream"
    )
    validate_known(diags, ApiKeyCreate, {"name": "k", "consumer": "c", "key": secret[:12]}, "lockgate_api_key", {"key"})
    assert [d.path for d in diags.diagnostics] == [["auth"], ["key"]]
    assert all(secret[:12] not in d.summary + (d.detail or "") for d in diags.diagnostics)
