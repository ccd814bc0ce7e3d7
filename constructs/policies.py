"""Policy: the policies of a route, a consumer group or a whole gateway, built by factories and checked by the SDK
models when the construct that takes them is created (an error names the construct, the field and the value)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from lockgate.constructs.errors import ConstructValidationError
from lockgate.sdk import DecoratorMessage, NamedTemplate, PiiPattern

if TYPE_CHECKING:
    from lockgate.constructs.consumers import ConsumerGroup


@dataclass(frozen=True)
class Policy:
    """A policy. Use the factories: `Policy.key_auth()`, `Policy.acl(gold, silver)`, `Policy.usage()`,
    `Policy.prompt_decorator(prepend=["Be brief."])`, `Policy.prompt_guard(deny=[r"(?i)ignore previous"])`,
    `Policy.pii_redaction()`, `Policy.prompt_template(NamedTemplate(...))`, `Policy.request_validation({...})`,
    `Policy.request_transform(add_headers={...})`, `Policy.response_transform(...)`, `Policy.error_template(...)`.
    The prompt policies also go on a `ConsumerGroup(policies=[...])` or the `Gateway(policies=[...])`: the
    narrowest scope that sets one wins, and `enabled=False` turns it off there (error_template: gateway or route)."""

    kind: str
    props: dict[str, Any]
    groups: tuple[ConsumerGroup, ...] = ()

    @classmethod
    def key_auth(cls, *, hide_credentials: bool = True) -> Policy:
        """Require an API key (Bearer, x-api-key or apikey); the key is stripped before the upstream."""
        return cls("key_auth", {"hide_credentials": hide_credentials})

    @classmethod
    def acl(cls, *groups: ConsumerGroup) -> Policy:
        """Allow only consumers in one of these groups (needs key_auth)."""
        return cls("acl", {}, tuple(groups))

    @classmethod
    def usage(cls, *, include_usage_in_streams: bool = True) -> Policy:
        """Record prompt/completion/total tokens per request, streams included."""
        return cls("usage", {"include_usage_in_streams": include_usage_in_streams})

    @classmethod
    def prompt_decorator(
        cls,
        *,
        prepend: Sequence[str | DecoratorMessage] = (),
        append: Sequence[str | DecoratorMessage] = (),
        enabled: bool = True,
    ) -> Policy:
        """Messages before and after the client's: a string is a system message, a `DecoratorMessage` any role."""

        def messages(given: Sequence[str | DecoratorMessage]) -> list[dict[str, Any]]:
            return [{"role": "system", "content": m} if isinstance(m, str) else m.model_dump() for m in given]

        return cls("prompt_decorator", {"prepend": messages(prepend), "append": messages(append), "enabled": enabled})

    @classmethod
    def prompt_guard(
        cls,
        *,
        deny: Sequence[str] = (),
        allow: Sequence[str] = (),
        roles: Literal["user", "all"] = "user",
        message: str | None = None,
        enabled: bool = True,
    ) -> Policy:
        """Refuse prompts matching a `deny` pattern (or, with `allow`, matching none of them): RE2 patterns."""
        props = {"deny": list(deny), "allow": list(allow), "roles": roles, "enabled": enabled}
        return cls("prompt_guard", props | ({"message": message} if message is not None else {}))

    @classmethod
    def pii_redaction(
        cls,
        *,
        detectors: Sequence[str] | None = None,
        custom: Sequence[PiiPattern] = (),
        mode: Literal["mask", "reject"] = "mask",
        direction: Literal["request", "response", "both"] = "both",
        enabled: bool = True,
    ) -> Policy:
        """Mask (or, `mode="reject"`, refuse) personal data and secrets: every built-in detector unless `detectors`
        names some (email, phone, payment_card, iban, us_ssn, ip_address, secret), plus `custom` `PiiPattern`s."""
        props: dict[str, Any] = {"custom": [p.model_dump() for p in custom], "mode": mode, "direction": direction}
        if detectors is not None:
            props["detectors"] = list(detectors)
        return cls("pii_redaction", props | {"enabled": enabled})

    @classmethod
    def prompt_template(
        cls,
        *templates: NamedTemplate,
        allow_untemplated: bool = True,
        max_output_chars: int | None = None,
        enabled: bool = True,
    ) -> Policy:
        """Named jinja2 templates a request asks for with a message `{template://NAME}` and `properties`."""
        props: dict[str, Any] = {"templates": [t.model_dump() for t in templates], "enabled": enabled}
        props["allow_untemplated"] = allow_untemplated
        return cls("prompt_template", props | _given(max_output_chars=max_output_chars))

    @classmethod
    def request_validation(cls, body_schema: dict[str, Any] | None = None, *, enabled: bool = True) -> Policy:
        """Refuse bodies that do not match this JSON Schema (a dict; it travels as JSON text)."""
        schema = json.dumps(body_schema, sort_keys=True) if body_schema is not None else None
        return cls("request_validation", {"enabled": enabled} | _given(body_schema=schema))

    @classmethod
    def request_transform(
        cls,
        *,
        forward_headers: Sequence[str] = (),
        rename_headers: Mapping[str, str] | None = None,
        add_headers: Mapping[str, str] | None = None,
        set_body: Mapping[str, Any] | None = None,
        remove_body: Sequence[str] = (),
        rename_body: Mapping[str, str] | None = None,
        identity_secret: str | None = None,
        enabled: bool = True,
    ) -> Policy:
        """Headers and body fields for the upstream; `identity_secret` (a secret reference) signs identity
        headers (the default names: x-consumer-name, x-consumer-groups, x-lockgate-timestamp, -signature)."""
        props: dict[str, Any] = {
            "forward_headers": list(forward_headers),
            "rename_headers": [{"name": k, "to": v} for k, v in (rename_headers or {}).items()],
            "add_headers": [{"name": k, "value": v} for k, v in (add_headers or {}).items()],
            "set_body": [{"field": k, "json_value": json.dumps(v)} for k, v in (set_body or {}).items()],
            "remove_body": list(remove_body),
            "rename_body": [{"name": k, "to": v} for k, v in (rename_body or {}).items()],
            "enabled": enabled,
        }
        if identity_secret is not None:
            props["identity"] = {"secret": identity_secret}
        return cls("request_transform", props)

    @classmethod
    def response_transform(
        cls, *, remove_headers: Sequence[str] = (), add_headers: Mapping[str, str] | None = None, enabled: bool = True
    ) -> Policy:
        """Headers removed from and added to the upstream's answers."""
        added = [{"name": k, "value": v} for k, v in (add_headers or {}).items()]
        return cls(
            "response_transform", {"remove_headers": list(remove_headers), "add_headers": added, "enabled": enabled}
        )

    @classmethod
    def error_template(
        cls, body: str | None = None, *, content_type: str | None = None, enabled: bool = True
    ) -> Policy:
        """The gateway's own error bodies from a jinja2 template (status, code, message, type, param, request_id)."""
        return cls("error_template", {"enabled": enabled} | _given(body=body, content_type=content_type))


def _given(**values: Any) -> dict[str, Any]:
    """The arguments given (not None): the model's defaults fill the rest."""
    return {k: v for k, v in values.items() if v is not None}


def policy_props(path: str, policies: Sequence[Policy] | None) -> dict[str, Any] | None:
    """The `policies` block of an entity: one entry per kind (an ACL's groups by reference)."""
    props: dict[str, Any] = {}
    for policy in policies or ():
        if policy.kind in props:
            raise ConstructValidationError(f"{path}: policies lists {policy.kind} twice")
        given = dict(policy.props)
        if policy.kind == "acl":
            given["allow"] = [g.ref for g in policy.groups]
        props[policy.kind] = given
    return props or None
