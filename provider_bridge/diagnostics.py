"""Turn validation and admin API errors into Terraform diagnostics on the right attribute.

Two rules hold for every diagnostic built here:
- a value Terraform does not know yet (a variable during `validate`, another resource's computed attribute during
  `plan`) is never validated or shown: `tf` hands it over as `Unknown`, or as a msgpack ExtType when Terraform refined
  it (code 12: "unknown, but starts with 'gw-'");
- the value of a hidden field (a sensitive attribute, a SecretRef field, where a rejected value may be a pasted
  key, or an SDK writeOnly field) is never shown, neither after the message nor inside the model's own message.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from lockgate.provider_bridge.schema import parse
from lockgate.sdk import ApiError, LockgateError
from lockgate.sdk.problems import hidden_at, problems_of
from msgpack import ExtType
from pydantic import BaseModel, ValidationError
from tf.types import Unknown
from tf.utils import Diagnostics


def is_unknown(value: Any) -> bool:
    return value is Unknown or isinstance(value, ExtType)


def contains_unknown(value: Any) -> bool:
    if is_unknown(value):
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_unknown(v) for v in value)
    return False


def tf_path(loc: Any) -> list[Any]:
    """pydantic/admin API location -> tf attribute path (names stay names, indexes become element keys)."""
    return [(part,) if isinstance(part, int) else str(part) for part in loc]


def is_hidden(model: type[BaseModel], loc: tuple[Any, ...], sensitive: Collection[str] = ()) -> bool:
    """Whether the field at `loc` is one of the resource's sensitive attributes or, for the SDK, a secret."""
    return bool(loc and loc[0] in sensitive) or hidden_at(model, loc)


def report_invalid(
    diags: Diagnostics,
    exc: ValidationError,
    model: type[BaseModel],
    label: str,
    sensitive: Collection[str] = (),
    prefix: tuple[str, ...] = (),
    skip: Collection[str] = (),
) -> None:
    """One diagnostic per pydantic error, on its attribute (`prefix` + loc), worded by the SDK's `problems_of`
    (the same text as the admin API's), never showing a hidden value."""
    for error in exc.errors():
        loc = tuple(error["loc"])
        if (loc and loc[0] in skip) or (not loc and skip):
            continue  # about a field still unknown, or (root validator) about an object missing one
        hidden = is_hidden(model, loc, sensitive)
        [problem] = problems_of([error], None if hidden else model)  # without the model no value is shown
        note = " The value is not shown (sensitive)." if hidden and error["type"] != "missing" else ""
        summary = f"Invalid {label}: {problem if loc else problem.message}"
        diags.add_error(summary, f"{problem.message}.{note}".replace("..", "."), path=tf_path((*prefix, *loc)) or None)


def validate_known(
    diags: Diagnostics, model: type[BaseModel], values: dict[str, Any], label: str, sensitive: Collection[str] = ()
) -> None:
    """Validate what is known now; fields still unknown are validated when known (Terraform validates again at
    plan with variables known, and the provider validates at apply)."""
    unknown = {k for k, v in values.items() if contains_unknown(v)}
    known = {k: v for k, v in values.items() if k not in unknown}
    try:
        parse(model, known)
    except ValidationError as exc:
        report_invalid(diags, exc, model, label, sensitive, skip=unknown)


def report(diags: Diagnostics, action: str, exc: LockgateError) -> None:
    if isinstance(exc, ApiError):
        diags.add_error(
            f"{action} failed: {exc.message}",
            f"The gateway answered {exc.status}: {exc.message}",
            path=tf_path(exc.field) if exc.field else None,
        )
    else:
        diags.add_error(f"{action} failed", str(exc))
