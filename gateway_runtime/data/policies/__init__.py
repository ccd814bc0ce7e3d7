"""The policy pipeline: each policy one module, compiled once per snapshot, run in phases by priority (higher
first; the response phase, when there is one, in reverse):

    priority  phase     policy            on failure
    1000      access    key_auth          401 missing, unknown or expired key
     950      access    acl               403 consumer not in an allowed group
     900      access    rate_limit        429 with Retry-After (the consumer's limits; tokens and cost reserved
                                          once the request is checked)
     800      request   request_validation  400 invalid_request_body, naming the JSON path (on the body as sent)
     795      request   prompt_template   400 unknown_template / template_error / template_required
     790      request   prompt_guard      400 prompt_refused, naming the message
     780      request   prompt_decorator  (never fails)
     770      request   pii_redaction     400 pii_detected in reject mode (naming the field and the kinds);
                        and on the way back   the answer's texts masked, streams held back by the longest span
     760      request   request_transform  (never fails) headers for the upstream, body fields, signed identity
     750      request   response_transform (never fails) registers the answer's header edits
       0      log       usage             never fails a request (runs after the response)

The access phase's policies (key_auth.py, acl.py, rate_limit.py) are functions the runner (pipeline.py) calls in
that order on what the route and the consumer's key say; they have no scopes. The request phase runs on the body
once the gateway checked it against its client API and chose the upstream (a model alias resolved), except
request_validation, which checks the body exactly as the client sent it (its schema speaks the client's words). The
template renders before the guard, so the guard sees what the client's variables made; the guard runs before the
decorator (Kong runs them the other way), so the gateway's own messages never trip it.

Scopes: the request-phase policies (pii_redaction's answer side with them) can be set gateway-wide
(`GatewaySettings.policies`), per route and per consumer group; for each policy the narrowest scope that sets it
wins (group over route over gateway), and a scope that sets it with `enabled: false` turns it off for what it
covers. When two of a consumer's groups set the same policy, the group whose name sorts first wins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from lockgate.gateway_runtime.data.policies.base import PolicyError, RequestContext, RequestPolicy, Respond
from lockgate.gateway_runtime.data.policies.pii_redaction import PiiRedactionPolicy
from lockgate.gateway_runtime.data.policies.prompt_decorator import PromptDecoratorPolicy
from lockgate.gateway_runtime.data.policies.prompt_guard import PromptGuardPolicy
from lockgate.gateway_runtime.data.policies.prompt_template import PromptTemplatePolicy
from lockgate.gateway_runtime.data.policies.request_transform import RequestTransformPolicy, ResponseTransformPolicy
from lockgate.gateway_runtime.data.policies.request_validation import RequestValidationPolicy
from lockgate.sdk import GroupPolicies

REQUEST_POLICIES: dict[str, Callable[[Any], RequestPolicy]] = {
    "prompt_decorator": PromptDecoratorPolicy,
    "prompt_guard": PromptGuardPolicy,
    "pii_redaction": PiiRedactionPolicy,
    "prompt_template": PromptTemplatePolicy,
    "request_validation": RequestValidationPolicy,
    "request_transform": RequestTransformPolicy,
    "response_transform": ResponseTransformPolicy,
}
Scope = Mapping[str, RequestPolicy | None]  # what one scope sets: a policy, or None where it turns one off


def scope_of(policies: GroupPolicies) -> dict[str, RequestPolicy | None]:
    """The policies one scope sets, compiled; PolicyError names the field (from the policy's kind on) of one that
    cannot run here."""
    scope: dict[str, RequestPolicy | None] = {}
    for kind, make in REQUEST_POLICIES.items():
        spec = getattr(policies, kind)
        if spec is not None:
            try:
                scope[kind] = make(spec) if spec.enabled else None
            except PolicyError as exc:
                raise PolicyError((kind, *exc.field), str(exc)) from None
    return scope


def merged(*scopes: Scope) -> dict[str, RequestPolicy | None]:
    """Scopes from the widest to the narrowest: each overrides what the wider ones set."""
    out: dict[str, RequestPolicy | None] = {}
    for scope in scopes:
        out.update(scope)
    return out


class Chain(NamedTuple):
    """A scope's policies ready to run, by phase, each in priority order."""

    sent: tuple[RequestPolicy, ...]  # on the body as the client sent it
    checked: tuple[RequestPolicy, ...]  # on the body the gateway checked

    def __bool__(self) -> bool:
        return bool(self.sent or self.checked)


def chain(scope: Scope) -> Chain:
    ordered = sorted((p for p in scope.values() if p is not None), key=lambda p: -p.priority)
    return Chain(tuple(p for p in ordered if p.phase == "sent"), tuple(p for p in ordered if p.phase != "sent"))


def group_scope(scopes: Mapping[str, Scope], groups: Iterable[str]) -> dict[str, RequestPolicy | None]:
    """The groups' scopes as one: the first by name wins."""
    return merged(*(scopes[g] for g in sorted(groups, reverse=True)))


__all__ = [
    "REQUEST_POLICIES",
    "Chain",
    "PolicyError",
    "RequestContext",
    "RequestPolicy",
    "Respond",
    "Scope",
    "chain",
    "group_scope",
    "merged",
    "scope_of",
]
