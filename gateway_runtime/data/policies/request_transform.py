"""request_transform (request phase, 760, the last before the upstream) and response_transform (its headers, on
the way back), as Kong's request- and response-transformer do
(https://developer.konghq.com/plugins/request-transformer/, .../response-transformer/): headers passed on, renamed
or added, body fields set, removed or renamed, and identity headers signed with HMAC-SHA256 so the backend can
trust them (IdentityHeaders says what is signed). The provider adapter's own headers (the upstream's credentials)
always win over a transform's."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import orjson
from lockgate.gateway_runtime.data.policies.base import PolicyError, RequestContext, Respond
from lockgate.sdk import RequestTransform, ResponseTransform
from lockgate.sdk.secrets import SecretError, resolve_secret


def signature(secret: bytes, timestamp: str, consumer: str, groups: str) -> str:
    """What IdentityHeaders documents, for the backend to recompute."""
    return hmac.new(secret, f"{timestamp}\n{consumer}\n{groups}".encode(), hashlib.sha256).hexdigest()


class RequestTransformPolicy:
    name = "request_transform"
    priority = 760
    phase = "checked"

    def __init__(self, spec: RequestTransform) -> None:
        self._passed = [(h.lower(), h) for h in spec.forward_headers]
        self._passed += [(r.name.lower(), r.to) for r in spec.rename_headers]
        self._added = {h.name: h.value for h in spec.add_headers}
        self._set: dict[str, Any] = {b.field: orjson.loads(b.json_value) for b in spec.set_body}
        self._removed = tuple(spec.remove_body)
        self._renamed = [(r.name, r.to) for r in spec.rename_body]
        self._identity = spec.identity
        self._secret = b""
        if spec.identity is not None:
            try:
                self._secret = resolve_secret(spec.identity.secret).encode()
            except SecretError as exc:
                raise PolicyError(("identity", "secret"), str(exc)) from None

    def on_request(self, ctx: RequestContext) -> Respond | None:
        out = ctx.upstream_headers
        for lowered, to in self._passed:
            value = ctx.headers.get(lowered)
            if value is not None:
                out[to] = value
        out.update(self._added)
        identity, consumer = self._identity, ctx.consumer
        if identity is not None and consumer is not None:
            groups, now = ",".join(sorted(consumer.groups)), str(int(time.time()))
            out[identity.consumer_header] = consumer.name
            out[identity.groups_header] = groups
            out[identity.timestamp_header] = now
            out[identity.signature_header] = signature(self._secret, now, consumer.name, groups)
        body = ctx.body
        for old, new in self._renamed:
            if old in body:
                body[new] = body.pop(old)
        for field in self._removed:
            body.pop(field, None)
        body.update(self._set)
        return None


class ResponseTransformPolicy:
    name = "response_transform"
    priority = 750
    phase = "checked"

    def __init__(self, spec: ResponseTransform) -> None:
        self._removed = [h.lower() for h in spec.remove_headers]
        self._added = {h.name: h.value for h in spec.add_headers}

    def on_request(self, ctx: RequestContext) -> Respond | None:
        ctx.header_edits.append(self.edit)
        return None

    def edit(self, headers: dict[str, str]) -> None:
        """The answer's headers (a plain dict, names as set), changed in place."""
        for name in [n for n in headers if n.lower() in self._removed]:
            del headers[name]
        headers.update(self._added)
