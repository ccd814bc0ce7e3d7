"""Policies: what a route or a consumer group enforces. One optional field per policy kind, at most one of each."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

import orjson
from lockgate.sdk._base import Name, SecretRef, StrictModel
from lockgate.sdk.body_schemas import SchemaError, compile_schema
from lockgate.sdk.patterns import PatternError, compile_any, compile_pattern
from lockgate.sdk.templates import TemplateError, compile_template, render
from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator
from pydantic.config import JsonDict, JsonValue


class KeyAuth(StrictModel):
    """Identify the consumer by an API key in `Authorization: Bearer`, `x-api-key` or `apikey`."""

    hide_credentials: bool = Field(
        default=True, description="Strip the consumer's key from the request before it reaches the upstream."
    )


class Acl(StrictModel):
    """Allow only consumers that belong to one of the listed consumer groups (requires key auth)."""

    allow: list[Name] = Field(min_length=1, description="Consumer group names allowed through this route.")


class RateLimit(StrictModel):
    """At most `requests` requests per consumer in each fixed window of `window_s` seconds."""

    requests: int = Field(gt=0, le=10_000_000, description="Requests allowed per consumer in one window.")
    window_s: int = Field(default=60, gt=0, le=86_400, description="Window length in seconds (default 60).")

    @classmethod
    def per_minute(cls, requests: int) -> RateLimit:
        return cls(requests=requests, window_s=60)

    @classmethod
    def per_second(cls, requests: int) -> RateLimit:
        return cls(requests=requests, window_s=1)


def _one_of(*fields: str) -> JsonDict:
    return {"anyOf": [{"properties": {f: {"type": "integer"}}, "required": [f]} for f in fields]}


class TokenLimit(StrictModel):
    """Tokens (prompt + completion) per consumer in each window, aligned to the clock (UTC); set one or more. A
    request is admitted only if its estimate fits what is left in every window (its prompt, estimated, plus its
    max_tokens or the gateway's `completion_reserve_tokens`); once answered, it is charged what the provider
    counted and the rest of the estimate is released."""

    model_config = ConfigDict(json_schema_extra=_one_of("per_minute", "per_hour", "per_day"))  # as _some checks

    per_minute: int | None = Field(default=None, gt=0, le=10_000_000_000, description="Tokens per minute.")
    per_hour: int | None = Field(default=None, gt=0, le=10_000_000_000, description="Tokens per hour.")
    per_day: int | None = Field(default=None, gt=0, le=10_000_000_000, description="Tokens per day.")

    @model_validator(mode="after")
    def _some(self) -> TokenLimit:
        if self.per_minute is None and self.per_hour is None and self.per_day is None:
            raise ValueError("token_limit: set per_minute, per_hour or per_day (or leave token_limit out)")
        return self

    def windows(self) -> list[tuple[int, int]]:
        """(tokens, window in seconds) of each limit set."""
        given = ((self.per_minute, 60), (self.per_hour, 3600), (self.per_day, 86_400))
        return [(tokens, window) for tokens, window in given if tokens is not None]


class CostBudget(StrictModel):
    """At most `usd` of cost per consumer in each `per` period (UTC day or calendar month), priced from the
    gateway's price catalogue; admitted on an estimate, charged the actual cost."""

    usd: float = Field(gt=0, le=10_000_000, description="USD allowed per consumer in one period.")
    per: Literal["day", "month"] = Field(default="month", description="The period: day or month (UTC).")


class UsageAccounting(StrictModel):
    """Record prompt, completion and total tokens per request from the upstream's usage (streams included)."""

    include_usage_in_streams: bool = Field(
        default=True,
        description="Ask OpenAI-compatible upstreams for a final usage chunk on streams (hidden from clients that "
        "did not ask for it), so streamed usage is exact.",
    )


def _some_of(*fields: str) -> JsonDict:
    """JSON Schema for the `_some` checks: turned off, or at least one of `fields` non-empty."""
    off: JsonDict = {"properties": {"enabled": {"const": False}}, "required": ["enabled"]}
    some: list[JsonValue] = [{"properties": {f: {"minItems": 1}}, "required": [f]} for f in fields]
    return {"anyOf": [off, *some]}


def _given(field: str) -> JsonDict:
    """JSON Schema for a `_some` check on one optional text: turned off, or the text given."""
    off: JsonDict = {"properties": {"enabled": {"const": False}}, "required": ["enabled"]}
    return {"anyOf": [off, {"properties": {field: {"type": "string"}}, "required": [field]}]}


class Scoped(StrictModel):
    """A policy that can be set gateway-wide, per route and per consumer group: the narrowest scope that sets it
    wins (group over route over gateway), and `enabled: false` there turns it off for what that scope covers."""

    enabled: bool = Field(default=True, description="false: this scope turns the policy off (e.g. for a group).")


class DecoratorMessage(StrictModel):
    role: Literal["system", "user", "assistant"] = Field(default="system", description="The message's role.")
    content: str = Field(min_length=1, max_length=65_536, description="Its text.")


class PromptDecorator(Scoped):
    """Messages added before (`prepend`) and after (`append`) the client's own, as Kong's ai-prompt-decorator does:
    a system prompt every request carries, an instruction every answer must follow. For Anthropic's Messages API a
    system message goes into `system`."""

    model_config = ConfigDict(json_schema_extra=_some_of("prepend", "append"))  # as _some checks

    prepend: list[DecoratorMessage] = Field(default=[], max_length=16, description="Messages put before the client's.")
    append: list[DecoratorMessage] = Field(default=[], max_length=16, description="Messages put after the client's.")

    @model_validator(mode="after")
    def _some(self) -> PromptDecorator:
        if self.enabled and not self.prepend and not self.append:
            raise ValueError("prompt_decorator: give prepend or append messages (or enabled: false)")
        return self


def _linear_time(patterns: list[str]) -> list[str]:
    for index, pattern in enumerate(patterns):
        try:
            compile_pattern(pattern)
        except PatternError as exc:
            raise ValueError(f"[{index}] {pattern!r:.80} {exc}") from None
    if patterns:
        try:
            compile_any(patterns)  # as the guard runs them
        except PatternError as exc:
            raise ValueError(f"the patterns {exc}") from None
    return patterns


Patterns = Annotated[list[Annotated[str, Field(min_length=1)]], AfterValidator(_linear_time), Field(max_length=256)]


class PromptGuard(Scoped):
    """Refuse prompts by regular expressions (RE2: linear time, no backreferences or lookarounds), as Kong's
    ai-prompt-guard does: a message that matches a `deny` pattern is refused; when `allow` is set, every checked
    message must match one of them. Refused: 400 `prompt_refused` with `message`."""

    model_config = ConfigDict(json_schema_extra=_some_of("allow", "deny"))  # as _some checks

    allow: Patterns = Field(default=[], description="Patterns a checked message must match one of (none: any).")
    deny: Patterns = Field(default=[], description="Patterns no checked message may match.")
    roles: Literal["user", "all"] = Field(
        default="user", description="Which messages are checked: the user's (default) or all, system prompts too."
    )
    message: str = Field(
        default="This request was refused by the gateway's prompt guard.",
        min_length=1,
        max_length=1000,
        description="The error message a refused request gets.",
    )

    @model_validator(mode="after")
    def _some(self) -> PromptGuard:
        if self.enabled and not self.allow and not self.deny:
            raise ValueError("prompt_guard: give allow or deny patterns (or enabled: false)")
        return self


PiiDetector = Literal["email", "phone", "payment_card", "iban", "us_ssn", "ip_address", "secret"]
PII_DETECTORS: tuple[PiiDetector, ...] = get_args(PiiDetector)


class PiiPattern(StrictModel):
    """A detector of your own: a name (what it is masked as, in capitals) and an RE2 pattern."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$", description="Its name: lower case, digits, '_'.")
    pattern: str = Field(min_length=1, max_length=1024, description="An RE2 pattern (linear time).")
    max_length: int = Field(
        default=64, ge=1, le=1024, description="The longest text it matches: what a stream holds back for it."
    )

    @field_validator("pattern")
    @classmethod
    def _runnable(cls, pattern: str) -> str:  # a custom name may be a built-in's: its findings are masked alike
        try:
            compile_pattern(pattern)
        except PatternError as exc:
            raise ValueError(f"{pattern!r:.80} {exc}") from None
        return pattern


class PiiRedaction(Scoped):
    """Find personal data and secrets in what goes to the upstream and in what comes back: built-in detectors
    (e-mail, phone numbers, payment cards (Luhn-checked), IBANs (mod-97-checked), US SSNs, IP addresses, API keys
    and private keys) and your own patterns. `mask` replaces each finding with its kind (`[EMAIL]`); `reject`
    refuses a request that has any (400 `pii_detected`, naming the field and the kinds, never the values); answers
    are always masked (an answer cannot be refused once it streams). On streams, only as many characters as the
    longest finding can span are held back. `{}`: every built-in detector, masking, both directions."""

    detectors: list[PiiDetector] = Field(
        default=list(PII_DETECTORS),
        description="The built-in detectors to run (default: all), none repeated.",
        json_schema_extra={"uniqueItems": True},
    )
    custom: list[PiiPattern] = Field(default=[], max_length=64, description="Detectors of your own.")
    mode: Literal["mask", "reject"] = Field(default="mask", description="mask the findings, or reject the request.")
    direction: Literal["request", "response", "both"] = Field(
        default="both", description="Where to look: the request, the answer, or both."
    )

    @field_validator("detectors")
    @classmethod
    def _once(cls, detectors: list[str]) -> list[str]:
        if len(set(detectors)) != len(detectors):
            raise ValueError("detectors must not repeat a detector")
        return detectors


def _template(source: str) -> str:
    try:
        compile_template(source)
    except TemplateError as exc:
        raise ValueError(f"the template {exc}") from None
    return source


Template = Annotated[str, Field(min_length=1, max_length=65_536), AfterValidator(_template)]


class TemplateMessage(StrictModel):
    role: Literal["system", "user", "assistant"] = Field(default="user", description="The message's role.")
    content: Template = Field(description="A jinja2 template (sandboxed): {{ name }} is the request's variable.")


class NamedTemplate(StrictModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$", description="What a request asks for it by.")
    messages: list[TemplateMessage] = Field(min_length=1, max_length=16, description="The messages it renders to.")


class PromptTemplate(Scoped):
    """Named prompt templates, as Kong's ai-prompt-template does: a message whose content is exactly
    `{template://NAME}` is replaced by that template's messages, rendered with jinja2 in a sandbox from the
    request's `properties` object (which the upstream never sees); system messages go first (into `system` for
    the Messages API). An unknown template or a variable the request did not give is a 400 naming it."""

    model_config = ConfigDict(json_schema_extra=_some_of("templates"))  # as _some checks

    templates: list[NamedTemplate] = Field(default=[], max_length=64, description="The templates, by name.")
    allow_untemplated: bool = Field(
        default=True, description="false: a request that asks for no template is refused (400 template_required)."
    )
    max_output_chars: int = Field(
        default=65_536, ge=1, le=1_048_576, description="The most characters a render may make (else 400)."
    )

    @model_validator(mode="after")
    def _some(self) -> PromptTemplate:
        if self.enabled and not self.templates:
            raise ValueError("prompt_template: give templates (or enabled: false)")
        names = [t.name for t in self.templates]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"prompt_template: templates name {twice} more than once")
        return self


def _schema(text: str | None) -> str | None:
    if text is not None:
        try:
            compile_schema(text)
        except SchemaError as exc:
            raise ValueError(f"body_schema {exc}") from None
    return text


class RequestValidation(Scoped):
    """Refuse a request body that does not match a JSON Schema (given as JSON text; draft 2020-12 unless its
    `$schema` says), after the built-in check of the client API's format, as Kong's ai-request-validator does:
    400 `invalid_request_body` naming the JSON path and what was expected. Offline (no `$ref` to a URL) and with
    linear-time `pattern`s."""

    model_config = ConfigDict(json_schema_extra=_given("body_schema"))  # as _some checks

    body_schema: Annotated[str | None, AfterValidator(_schema)] = Field(
        default=None, max_length=262_144, description="The JSON Schema, as JSON text (Terraform: jsonencode({...}))."
    )

    @model_validator(mode="after")
    def _some(self) -> RequestValidation:
        if self.enabled and self.body_schema is None:
            raise ValueError("request_validation: give body_schema (or enabled: false)")
        return self


HeaderName = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$", description="An HTTP header name (RFC 9110 token).")
]


def _not_routing(name: str) -> str:
    if name in ("model", "stream"):
        raise ValueError(f"{name!r} is the gateway's to choose (the route, its model aliases): transforms leave it")
    return name


FieldName = Annotated[
    str,
    Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", description="A top-level body field."),
    AfterValidator(_not_routing),
]
# what the gateway itself sets on the upstream request, or a consumer's own key: never taken from a transform
GATEWAY_HEADERS = frozenset(
    {"authorization", "x-api-key", "api-key", "apikey", "host", "content-length", "content-type", "transfer-encoding"}
)


def _not_the_gateways(names: list[str]) -> list[str]:
    taken = sorted({n for n in names if n.lower() in GATEWAY_HEADERS})
    if taken:
        raise ValueError(f"{taken} are the gateway's own (its upstream credentials, framing) or a consumer's key")
    return names


class Header(StrictModel):
    name: HeaderName
    value: str = Field(max_length=8192, pattern=r"^[^\r\n\x00]*$", description="Its value (one line).")


class Rename(StrictModel):
    name: str = Field(min_length=1, max_length=128, description="What it is called in the request.")
    to: str = Field(min_length=1, max_length=128, description="What it is called on the way on.")


class HeaderRename(Rename):
    name: HeaderName
    to: HeaderName


class FieldRename(Rename):
    name: FieldName
    to: FieldName


class BodyValue(StrictModel):
    field: FieldName
    json_value: str = Field(max_length=65_536, description='Its value as JSON text: "0.2", ""text"", "[1, 2]".')

    @field_validator("json_value")
    @classmethod
    def _json(cls, text: str) -> str:
        try:
            orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f'is not JSON ({exc}); a string is quoted: "text"') from None
        return text


class IdentityHeaders(StrictModel):
    """Tell the upstream who is calling, in headers it can trust: the consumer's name, its groups (sorted, comma
    separated), the time, and an HMAC-SHA256 over them with a shared secret (by reference), which the backend
    recomputes: `hex(hmac_sha256(secret, f"{timestamp}\n{consumer}\n{groups}"))`. Sent only for identified
    consumers (routes with key_auth)."""

    secret: SecretRef = Field(description="The HMAC key: 'env:NAME' or 'file:PATH' (resolved where the gateway runs).")
    consumer_header: HeaderName = Field(default="x-consumer-name", description="The consumer's name.")
    groups_header: HeaderName = Field(default="x-consumer-groups", description="Its groups, sorted, comma separated.")
    timestamp_header: HeaderName = Field(default="x-lockgate-timestamp", description="Unix seconds when signed.")
    signature_header: HeaderName = Field(default="x-lockgate-signature", description="The HMAC, hex.")


class RequestTransform(Scoped):
    """Change what the upstream gets, as Kong's request-transformer does. The client's headers reach the upstream
    only when named in `forward_headers` (or `rename_headers`); its API key never does while key_auth's
    hide_credentials is on, and no transform can set the gateway's own headers (the upstream's credentials). Body
    changes apply to the request in its client API's format, after the other request policies."""

    forward_headers: Annotated[list[HeaderName], AfterValidator(_not_the_gateways)] = Field(
        default=[], max_length=64, description="Client headers passed on to the upstream as they are."
    )
    rename_headers: list[HeaderRename] = Field(
        default=[], max_length=64, description="Client headers passed on renamed."
    )
    add_headers: list[Header] = Field(default=[], max_length=64, description="Headers added to the upstream request.")
    set_body: list[BodyValue] = Field(default=[], max_length=64, description="Body fields set (added or replaced).")
    remove_body: list[FieldName] = Field(default=[], max_length=64, description="Body fields removed.")
    rename_body: list[FieldRename] = Field(default=[], max_length=64, description="Body fields renamed.")
    identity: IdentityHeaders | None = Field(default=None, description="Signed identity headers (see IdentityHeaders).")

    @field_validator("add_headers", "rename_headers")
    @classmethod
    def _allowed(cls, given: list[Header] | list[HeaderRename]) -> list[Header] | list[HeaderRename]:
        _not_the_gateways([h.name if isinstance(h, Header) else h.to for h in given])
        return given


class ResponseTransform(Scoped):
    """Change the headers of the answers the upstream gave (answers and streams), as Kong's response-transformer
    does: remove some (e.g. `openai-processing-ms`), add others."""

    remove_headers: list[HeaderName] = Field(default=[], max_length=64, description="Headers removed.")
    add_headers: list[Header] = Field(default=[], max_length=64, description="Headers added (replacing one).")


MAX_ERROR_BODY = 65_536
ERROR_SAMPLE = {  # what a template is tried with when the config is validated
    "status": 429,
    "code": "rate_limit_exceeded",
    "message": 'Rate limit reached for consumer "alice": 10 requests per 60s. Retry after 7s.',
    "type": "rate_limit_error",
    "param": None,
    "request_id": "0123456789abcdef",
}


class ErrorTemplate(Scoped):
    """The body of the gateway's own errors (a refused key, a limit reached, an unreachable upstream: not the
    upstream's own errors, which pass as they are), per gateway or route, e.g. to match a company's API error
    shape. `body` is a jinja2 template (sandboxed) with `status`, `code`, `message`, `type` (OpenAI's error type),
    `param` and `request_id` (also sent as `x-request-id`); for JSON, quote values with `tojson`:
    `{"fault": {"id": {{ request_id | tojson }}, "text": {{ message | tojson }}}}`. Without one, errors are in the
    client API's own shape (OpenAI's or Anthropic's). A stream that breaks after it started ends with the API's own
    error event (the SDKs parse those)."""

    model_config = ConfigDict(json_schema_extra=_given("body"))  # as _some checks

    body: Template | None = Field(default=None, description="The error body template.")
    content_type: str = Field(
        default="application/json",
        pattern=r"^[A-Za-z0-9!#$&^_.+-]{1,64}/[A-Za-z0-9!#$&^_.+-]{1,64}$",
        description="Its content type (JSON ones are checked to render JSON).",
    )

    @model_validator(mode="after")
    def _some(self) -> ErrorTemplate:
        if not self.enabled:
            return self
        if self.body is None:
            raise ValueError("error_template: give body (or enabled: false)")
        try:
            sample = render(compile_template(self.body), ERROR_SAMPLE, MAX_ERROR_BODY)
        except TemplateError as exc:
            raise ValueError(f"error_template: the body {exc}") from None
        if self.content_type.endswith("json"):
            try:
                orjson.loads(sample)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"error_template: the body does not render JSON ({exc}); quote with tojson") from None
        return self


class GroupPolicies(StrictModel):
    """The policies on the request and its answer, settable gateway-wide (`GatewaySettings.policies`), per route
    and per consumer group (`ConsumerGroup.policies`): the narrowest scope that sets one wins."""

    # a wider kind given where this one is asked for (RoutePolicies for a group) is checked as this one: refused
    # for what it adds, never silently cut
    model_config = ConfigDict(revalidate_instances="subclass-instances")

    prompt_decorator: PromptDecorator | None = Field(default=None, description="Add messages (see PromptDecorator).")
    prompt_guard: PromptGuard | None = Field(default=None, description="Refuse prompts by pattern (see PromptGuard).")
    pii_redaction: PiiRedaction | None = Field(
        default=None, description="Mask or refuse personal data and secrets (see PiiRedaction)."
    )
    prompt_template: PromptTemplate | None = Field(
        default=None, description="Prompts from named templates (see PromptTemplate)."
    )
    request_validation: RequestValidation | None = Field(
        default=None, description="Check the body against a JSON Schema (see RequestValidation)."
    )
    request_transform: RequestTransform | None = Field(
        default=None, description="Headers and body fields for the upstream (see RequestTransform)."
    )
    response_transform: ResponseTransform | None = Field(
        default=None, description="Headers of the answer (see ResponseTransform)."
    )


class PromptPolicies(GroupPolicies):
    """The gateway-wide policies (`GatewaySettings.policies`): a group's, and the error template (most of the
    gateway's errors come before it knows the consumer's groups, so that one is per gateway or route)."""

    error_template: ErrorTemplate | None = Field(
        default=None, description="The gateway's own error bodies, per gateway or route (see ErrorTemplate)."
    )


class RoutePolicies(PromptPolicies):
    """The policies a route runs, in fixed priority order: key_auth (1000), acl (950), usage (log phase). An acl
    needs key_auth (an ACL can only check identified consumers)."""

    # Route checks the acl/key_auth rule (naming the field); the JSON Schema says it too
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"acl": {"type": "object"}}, "required": ["acl"]},
            "then": {"properties": {"key_auth": {"type": "object"}}, "required": ["key_auth"]},
        }
    )

    key_auth: KeyAuth | None = Field(default=None, description="Require an API key (see KeyAuth).")
    acl: Acl | None = Field(default=None, description="Restrict the route to consumer groups (see Acl).")
    usage: UsageAccounting | None = Field(default=None, description="Record token usage (see UsageAccounting).")
