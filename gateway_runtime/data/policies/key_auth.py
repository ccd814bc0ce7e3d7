"""key_auth (access phase, 1000): who is calling, from the key it presents (a SHA-256 digest looked up in the
snapshot's key table); 401 when the key is missing, unknown or expired."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lockgate.gateway_runtime.data.policies.base import Access, Respond

if TYPE_CHECKING:  # the snapshot compiles the policies package
    from lockgate.gateway_runtime.data.snapshot import Snapshot


def presented_key(headers: Mapping[str, str]) -> str | None:
    authorization = headers.get("Authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return headers.get("x-api-key") or headers.get("apikey") or None


def key_auth(snapshot: Snapshot, headers: Mapping[str, str], access: Access) -> Respond | None:
    key = presented_key(headers)
    if key is None:
        return Respond(
            401,
            "Missing API key: send it as 'Authorization: Bearer <key>', 'x-api-key' or 'apikey'.",
            "missing_api_key",
        )
    # surrogateescape: a header that is not UTF-8 hashes as the bytes sent (and matches no key) instead of raising
    digest = hashlib.sha256(key.encode(errors="surrogateescape")).digest()
    keys = snapshot.keys
    identity = keys.by_digest.get(digest)
    if identity is None:
        return Respond(401, "Invalid API key: it is not known to this gateway.", "invalid_api_key")
    if keys.expiry:
        expires_at = keys.expiry.get(digest)
        if expires_at is not None and expires_at <= time.time():
            when = datetime.fromtimestamp(expires_at, UTC).isoformat().replace("+00:00", "Z")
            return Respond(401, f"Expired API key: it stopped working at {when}; ask for a new one.", "expired_api_key")
    access.consumer = identity
    return None
