"""Pydantic validation errors as `ConfigProblem`s that name the field, the value and the fix, written once for every
surface that validates user input: the admin API, config files, the provider's diagnostics and the constructs.

    rate_limit.requests: Input should be greater than 0, got -5 (allowed: 1 to 10000000)

A value is never shown for a secret: a SecretRef field (a rejected value there may be a pasted key) or a field marked
`writeOnly` (an API key). Long values are cut, so an error never carries a client's megabytes back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, get_args

import annotated_types
from lockgate.sdk._base import SecretRef
from lockgate.sdk.config import ConfigProblem
from pydantic import BaseModel
from pydantic.fields import FieldInfo

HIDDEN = "(hidden)"
MAX_SHOWN = 60
_SECRET_CHECKS = get_args(SecretRef)[1:]
_BOUND_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})
_FIXES = {
    ("name", "string_pattern_mismatch"): "use lowercase letters, digits, '.', '_' or '-' (at most 63)",
}


def is_secret(field: FieldInfo) -> bool:
    extra = field.json_schema_extra
    if isinstance(extra, dict) and extra.get("writeOnly"):
        return True
    if any(check in field.metadata for check in _SECRET_CHECKS):
        return True  # `auth: SecretRef`: pydantic moved the Annotated metadata onto the field
    return any(arg == SecretRef for arg in get_args(field.annotation))  # `SecretRef | None`


def _nested(field: FieldInfo) -> type[BaseModel] | None:
    for candidate in (field.annotation, *get_args(field.annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
        for inner in get_args(candidate):  # list[Model]
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return None


def _fields_along(model: type[BaseModel], loc: tuple[Any, ...]) -> list[FieldInfo]:
    """The fields on the way to `loc` inside `model`, following nested models (`rate_limit`, `requests`)."""
    fields: list[FieldInfo] = []
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            continue
        if current is None or part not in current.model_fields:
            return fields
        fields.append(current.model_fields[part])
        current = _nested(fields[-1])
    return fields


def field_at(model: type[BaseModel], loc: tuple[Any, ...]) -> FieldInfo | None:
    fields = _fields_along(model, loc)
    return fields[-1] if len(fields) == len([p for p in loc if not isinstance(p, int)]) and fields else None


def hidden_at(model: type[BaseModel], loc: tuple[Any, ...]) -> bool:
    """Whether the field at `loc` inside `model` (or one around it) holds a secret."""
    return any(is_secret(field) for field in _fields_along(model, loc))


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 4] + "...'"


def allowed(field: FieldInfo | None) -> str:
    """A bounded number's range as a user would write it: " (allowed: 1 to 10000000)"."""
    if field is None:
        return ""
    bounds: dict[str, Any] = {}
    for constraint in field.metadata:
        for kind in ("gt", "ge", "lt", "le"):
            if isinstance(constraint, annotated_types.BaseMetadata) and hasattr(constraint, kind):
                bounds[kind] = getattr(constraint, kind)
    whole = field.annotation is int
    low = bounds.get("ge", bounds["gt"] + 1 if whole and "gt" in bounds else None)
    high = bounds.get("le", bounds["lt"] - 1 if whole and "lt" in bounds else None)
    if low is None and "gt" in bounds:
        low = f"more than {bounds['gt']}"
    if high is None and "lt" in bounds:
        high = f"less than {bounds['lt']}"
    if low is None and high is None:
        return ""
    return f" (allowed: {'any' if low is None else low} to {'any' if high is None else high})"


def problems_of(errors: Iterable[Mapping[str, Any]], model: type[BaseModel] | None) -> list[ConfigProblem]:
    """One problem per pydantic error (`ValidationError.errors()`), at its field: the model's message, the value
    where it is safe to show (once: not when the message already quotes it), the allowed range of a number, and
    a fix where one is known. Without the model, no value is shown."""
    found = []
    for error in errors:
        loc = tuple(error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        value = error.get("input")
        field = field_at(model, loc) if model is not None else None
        if model is None or hidden_at(model, loc):
            if isinstance(value, str) and len(value) >= 4:
                message = message.replace(repr(value), HIDDEN).replace(value, HIDDEN)
        elif error["type"] != "missing" and "input" in error and "got " not in message:
            message += f", got {shown(value)}"
        if error["type"] in _BOUND_ERRORS:
            message += allowed(field)
        fix = _FIXES.get((str(loc[-1]) if loc else "", error["type"]))
        found.append(ConfigProblem(loc, message + (f" ({fix})" if fix else "")))
    return found
