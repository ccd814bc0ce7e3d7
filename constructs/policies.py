"""Policy: the policies of a route, a consumer group or a whole gateway, built by factories and checked by the SDK
models when the construct that takes them is created (an error names the construct, the field and the value)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from lockgate.constructs.errors import ConstructValidationError
from lockgate.sdk import DecoratorMessage, PiiPattern

if TYPE_CHECKING:
    from lockgate.constructs.consumers import ConsumerGroup


@dataclass(frozen=True)
class Policy:
    """A policy. Use the factories: `Policy.key_auth()`, `Policy.acl(gold, silver)`, `Policy.usage()`,
    `Policy.prompt_decorator(prepend=["Be brief."])`, `Policy.prompt_guard(deny=[r"(?i)ignore previous"])`,
    `Policy.pii_redaction()`.
    The prompt policies also go on a `ConsumerGroup(policies=[...])` or the `Gateway(policies=[...])`: the
    narrowest scope that sets one wins, and `enabled=False` turns it off there."""

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
