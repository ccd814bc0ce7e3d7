"""The entities of a gateway's declarative configuration."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from lockgate.sdk._base import Name, SecretRef, StrictModel
from lockgate.sdk.patterns import PatternError, compile_pattern
from lockgate.sdk.policies import CostBudget, GroupPolicies, PromptPolicies, RateLimit, RoutePolicies, TokenLimit
from lockgate.sdk.prices import ModelPrice
from lockgate.sdk.providers import (
    DEFAULT_BASE_URLS,
    SETTINGS_BLOCKS,
    AnthropicSettings,
    AzureSettings,
    BedrockSettings,
    Provider,
)
from pydantic import AfterValidator, ConfigDict, Field, JsonValue, field_validator, model_validator

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
# What the validators below check, for the JSON Schema (documentation only: the validators give the messages).
# An http(s) URL with a host (ASCII; IPv6 literals are accepted but not described): scheme in any case, userinfo@,
# host, :port, then a path, query or fragment.
HTTP_URL_PATTERN = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://([-A-Za-z0-9._~%!$&'()*+,;=:]*@)?[-A-Za-z0-9._~%!$&'()*+,;=]+(:[0-9]*)?([/?#].*)?$"
)
ROUTE_PATH_PATTERN = r"^[/~]"  # a prefix, or '~' and a pattern (RE2: no backreferences, no lookarounds)


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value.upper())  # RFC 3339 allows 't' and 'z'
    if moment.tzinfo is None:
        raise ValueError("no offset")
    return moment


def _rfc3339(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        _moment(value)
    except ValueError:
        raise ValueError(
            f"must be an RFC 3339 time with an offset, such as '2027-01-31T00:00:00Z', got {value[:40]!r}"
        ) from None
    return value  # kept as written (a normalised form would show as drift in Terraform)


Expiry = Annotated[
    str | None,
    AfterValidator(_rfc3339),
    Field(
        description="When the key stops working: an RFC 3339 time with an offset ('2027-01-31T00:00:00Z'); never "
        "when omitted. An expired key is answered 401 expired_api_key.",
        json_schema_extra={"format": "date-time"},
        examples=["2027-01-31T00:00:00Z"],
    ),
]


def expiry_time(expires_at: str | None) -> float | None:
    """Unix time of an `Expiry`."""
    return _moment(expires_at).timestamp() if expires_at is not None else None


class GatewaySettings(StrictModel):
    """Gateway-wide settings of the data plane."""

    max_body_bytes: int = Field(
        default=1_048_576, gt=0, le=64 * 1_048_576, description="Largest request body accepted (413 above it)."
    )
    max_header_bytes: int = Field(
        default=16_384,
        ge=1024,
        le=1_048_576,
        description="Largest single request header name or value accepted (431 above it).",
    )
    max_headers: int = Field(default=128, ge=16, le=1024, description="Most request headers accepted (431 above).")
    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="Seconds a client may take to send a request's headers once it started (408 after).",
    )
    idle_timeout_s: float = Field(
        default=60.0, gt=0, le=3600, description="Seconds an idle keep-alive connection stays open."
    )
    completion_reserve_tokens: int = Field(
        default=1024,
        ge=1,
        le=1_000_000,
        description="Tokens a token limit or cost budget reserves for the answer of a request that sets no max_tokens.",
    )
    prices: list[ModelPrice] = Field(
        default=[],
        max_length=1000,
        description="Model prices that override or add to the gateway's catalogue (the cost of each request); "
        "for a model listed twice, the last one applies.",
    )
    policies: PromptPolicies = Field(
        default_factory=PromptPolicies,
        description="Policies on every route's prompts, unless a route or consumer group sets its own.",
    )


_SETTINGS_RULES: list[JsonValue] = [
    {
        "if": {"properties": {block: {"type": "object"}}, "required": [block]},
        "then": {"properties": {"type": {"const": block}}, "required": ["type"]},
    }
    for block in SETTINGS_BLOCKS
]
_AZURE_NEEDS_URL: JsonValue = {
    "if": {"properties": {"type": {"const": "azure"}}, "required": ["type"]},
    "then": {"properties": {"base_url": {"type": "string"}}, "required": ["base_url"]},
}
_BEDROCK_NEEDS_BLOCK: JsonValue = {
    "if": {"properties": {"type": {"const": "bedrock"}}, "required": ["type"]},
    "then": {"properties": {"bedrock": {"type": "object"}}, "required": ["bedrock"]},
}
_BEDROCK_NEEDS_CREDENTIALS: JsonValue = {  # no access key: a Bedrock API key in auth
    "if": {
        "properties": {
            "bedrock": {
                "type": "object",
                "not": {"properties": {"access_key_id": {"type": "string"}}, "required": ["access_key_id"]},
            }
        },
        "required": ["bedrock"],
    },
    "then": {"properties": {"auth": {"type": "string"}}, "required": ["auth"]},
}


class LlmUpstream(StrictModel):
    """An LLM provider endpoint: `type` names the provider (its adapter, sdk/providers.py), and a block named after
    the provider holds its own settings. `openai` is any OpenAI-compatible base URL (OpenAI, vLLM, Ollama, the
    mock). (The field is not called `provider`: that is a meta-argument of every Terraform resource.)"""

    # _provider_settings checks these rules (naming the field); the JSON Schema says them too
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [*_SETTINGS_RULES, _AZURE_NEEDS_URL, _BEDROCK_NEEDS_BLOCK, _BEDROCK_NEEDS_CREDENTIALS]
        }
    )

    name: Name
    type: Provider = Field(
        default="openai",
        description="The provider: 'openai' (and every OpenAI-compatible server), 'azure', 'anthropic', 'gemini' "
        "'cohere' or 'bedrock'.",
    )
    base_url: str | None = Field(
        default=None,
        description="Base URL including the API version path, e.g. 'https://api.openai.com/v1'. Defaults to the "
        "provider's public API ('openai', 'anthropic'); required for 'azure' (the resource's endpoint).",
        examples=["https://api.openai.com/v1"],
        json_schema_extra={"pattern": HTTP_URL_PATTERN},  # documents _http_url (its message is the better one)
    )
    model: str | None = Field(
        default=None,
        min_length=1,
        description="If set, every request through this upstream uses this model, whatever the client asked for.",
    )
    auth: SecretRef | None = Field(
        default=None,
        description="Secret reference for the upstream API key, e.g. 'env:OPENAI_API_KEY'; sent as the provider "
        "expects it (Authorization: Bearer, api-key, x-api-key).",
    )
    azure: AzureSettings | None = Field(default=None, description="Azure OpenAI's settings (type 'azure').")
    anthropic: AnthropicSettings | None = Field(default=None, description="Anthropic's settings (type 'anthropic').")
    bedrock: BedrockSettings | None = Field(
        default=None, description="AWS Bedrock's region and credentials (type 'bedrock', required there)."
    )
    connect_timeout_s: float = Field(default=5.0, gt=0, le=120, description="Seconds to connect (504 after).")
    read_timeout_s: float = Field(
        default=120.0, gt=0, le=3600, description="Seconds to wait for the upstream's next bytes (504 after)."
    )
    max_connections: int = Field(
        default=10_000,
        ge=1,
        le=1_000_000,
        description="Most requests (streams included) in flight to this upstream at once; more wait for a free one.",
    )
    pool_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=600,
        description="Seconds a request may wait for one of `max_connections` to be free (503 after).",
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http(s) URL such as 'https://api.openai.com/v1', got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _provider_settings(self) -> LlmUpstream:
        for provider in SETTINGS_BLOCKS:
            if getattr(self, provider) is not None and self.type != provider:
                raise ValueError(f"{provider}: settings for type '{provider}', but type is '{self.type}'")
        if self.type == "bedrock" and self.bedrock is None:
            raise ValueError(
                "bedrock: required for type 'bedrock' (its region, and its credentials unless auth is set)"
            )
        if self.bedrock is not None and self.bedrock.access_key_id is None and self.auth is None:
            raise ValueError("bedrock: give access_key_id and secret_access_key, or a Bedrock API key as auth")
        if self.base_url is None and self.type not in DEFAULT_BASE_URLS and self.type != "bedrock":
            raise ValueError(
                f"base_url: required for type '{self.type}' (it has no public default), e.g. "
                "'https://RESOURCE.openai.azure.com'"
            )
        return self

    @property
    def url(self) -> str:
        """`base_url`, or the provider's public API when it is not set."""
        if self.base_url is None and self.bedrock is not None:
            return f"https://bedrock-runtime.{self.bedrock.region}.amazonaws.com"
        return self.base_url or DEFAULT_BASE_URLS[self.type]


class ModelAlias(StrictModel):
    """A model name a route's clients may ask for (`fast`, `smart`, or a public model name), and the upstream and
    model that serve it: the platform changes providers without touching clients."""

    name: str = Field(min_length=1, max_length=256, description="The name clients send as `model`.")
    upstream: Name = Field(description="The LlmUpstream that serves it.")
    model: str = Field(min_length=1, max_length=256, description="The model the upstream is asked for.")


class Route(StrictModel):
    """Requests whose path matches one of `paths` go to `upstream` through the route's policies.

    A plain path matches as a prefix ('/v1' matches '/v1/chat/completions'); a path starting with '~' is a regular
    expression matched against the start of the request path ('~/teams/[a-z]+/v1'), in linear time (RE2: no
    backreferences or lookarounds). Below the matched prefix the
    gateway serves the OpenAI operations 'chat/completions' (POST) and 'models' (GET).
    """

    name: Name
    paths: list[str] = Field(
        min_length=1,
        max_length=64,
        description="Prefixes ('/v1'), or '~regex' patterns ('~/teams/[a-z]+/v1', RE2), none repeated.",
        json_schema_extra={"uniqueItems": True, "items": {"type": "string", "pattern": ROUTE_PATH_PATTERN}},
    )
    methods: list[Literal[HTTP_METHODS]] = Field(  # type: ignore[valid-type]
        default=["GET", "POST"], min_length=1, description="HTTP methods this route accepts."
    )
    upstream: Name = Field(description="Name of the LlmUpstream that serves this route (and its model list).")
    models: list[ModelAlias] = Field(
        default=[],
        max_length=1000,
        description="Model aliases: when set, a request's `model` must be one of their names and goes to that "
        "alias's upstream and model (a name listed twice: the last one); `GET .../models` lists them. When empty, "
        "every model goes to `upstream`.",
    )
    policies: RoutePolicies = Field(default_factory=RoutePolicies, description="Policies run on this route.")

    @field_validator("paths")
    @classmethod
    def _paths(cls, paths: list[str]) -> list[str]:
        for index, path in enumerate(paths):
            if path.startswith("~"):
                try:
                    compile_pattern(path[1:])
                except PatternError as exc:
                    raise ValueError(f"paths[{index}] {path!r} {exc}") from None
            elif not path.startswith("/"):
                raise ValueError(f"paths[{index}] must start with '/' (a prefix) or '~' (a pattern), got {path!r}")
        if len(set(paths)) != len(paths):
            raise ValueError("paths must not repeat a path")
        return [p if p.startswith("~") or p == "/" else p.rstrip("/") for p in paths]

    @model_validator(mode="after")
    def _acl_needs_auth(self) -> Route:
        if self.policies.acl is not None and self.policies.key_auth is None:
            raise ValueError("policies.acl needs policies.key_auth: an ACL can only check identified consumers")
        return self


class ConsumerGroup(StrictModel):
    """A set of consumers that share access (ACLs) and limits."""

    name: Name
    rate_limit: RateLimit | None = Field(
        default=None, description="Request limit applied to each consumer of the group."
    )
    token_limit: TokenLimit | None = Field(
        default=None, description="Token limits applied to each consumer of the group (per minute, hour, day)."
    )
    cost_budget: CostBudget | None = Field(
        default=None, description="Cost budget applied to each consumer of the group (per day or month)."
    )
    policies: GroupPolicies = Field(
        default_factory=GroupPolicies,
        description="Policies on its consumers' prompts, over the route's and the gateway's (the first of a "
        "consumer's groups by name that sets one wins).",
    )


def _unique_groups(groups: list[str]) -> list[str]:
    if len(set(groups)) != len(groups):
        raise ValueError("groups must not repeat a group")
    return groups


GroupNames = Annotated[list[Name], AfterValidator(_unique_groups)]


# A consumer's own limits (on Consumer and on batch rows): each one set replaces, for this consumer, all of its
# groups' limits of that kind, as a Kong plugin on a consumer overrides the same plugin on its consumer group.
OwnRateLimit = Annotated[RateLimit | None, Field(description="Its own request limit, instead of its groups'.")]
OwnTokenLimit = Annotated[TokenLimit | None, Field(description="Its own token limits, instead of its groups'.")]
OwnCostBudget = Annotated[CostBudget | None, Field(description="Its own cost budget, instead of its groups'.")]


class Consumer(StrictModel):
    """Someone who calls the gateway: a customer, an app or a team."""

    name: Name
    groups: GroupNames = Field(
        default=[],
        description="Names of the consumer groups this consumer belongs to, none repeated.",
        json_schema_extra={"uniqueItems": True},
    )
    rate_limit: OwnRateLimit = None
    token_limit: OwnTokenLimit = None
    cost_budget: OwnCostBudget = None


class ApiKey(StrictModel):
    """A consumer's credential as stored: a SHA-256 hash; the key itself is shown once, when created."""

    name: Name
    consumer: Name = Field(description="Name of the consumer this key identifies.")
    key_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Hex SHA-256 of the key.")
    key_prefix: str = Field(default="", max_length=12, description="The key's first characters, to recognise it.")
    expires_at: Expiry = None


class ApiKeyCreate(StrictModel):
    """Create a key: give `key` (at least 20 characters) or let the gateway generate one."""

    name: Name
    consumer: Name = Field(description="Name of the consumer this key identifies.")
    key: str | None = Field(
        default=None,
        min_length=20,
        max_length=256,
        description="The key; generated when omitted.",
        json_schema_extra={"writeOnly": True},  # never echoed in an error
    )
    expires_at: Expiry = None
