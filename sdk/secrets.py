"""Resolve secret references ('env:NAME', 'file:PATH') at the moment of use; values never enter config or logs."""

from __future__ import annotations

import os
from pathlib import Path

from lockgate.sdk._base import SECRET_REF_PATTERN


class SecretError(ValueError):
    """A reference could not be resolved. The message names the reference, never a value."""


def resolve_secret(ref: str, where: str = "the gateway's environment; export {name} before starting it") -> str:
    """The secret `ref` names; `where` says, for an unset variable, whose environment it was looked for in."""
    match = SECRET_REF_PATTERN.match(ref)
    if not match:
        raise SecretError("the value is not a secret reference (not shown); use 'env:NAME' or 'file:PATH'")
    scheme, target = match.groups()
    if "\0" in target:
        raise SecretError(f"{ref!r} names no {'variable' if scheme == 'env' else 'file'}: it holds a NUL character")
    if scheme == "env":
        value = os.environ.get(target)
        if not value:
            raise SecretError(f"{ref} is not set in {where.format(name=target)}")
        return value
    try:
        value = Path(target).read_text().strip()
    except OSError as exc:
        raise SecretError(f"{ref} cannot be read: {exc.strerror}") from None
    if not value:
        raise SecretError(f"{ref} is empty")
    return value
