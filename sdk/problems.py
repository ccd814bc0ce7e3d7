"""Pydantic validation errors as `ConfigProblem`s that name the field, the value and the fix, written once for every
surface that validates user input (admin API, config files; the provider and constructs render the same problems).

A value is never shown for a secret: a SecretRef field (a rejected value there may be a pasted key) or a field marked
`writeOnly` (an API key). Long values are cut, so an error never carries a client's megabytes back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, get_args

from lockgate.sdk._base import SecretRef
from lockgate.sdk.config import ConfigProblem
from pydantic import BaseModel
from pydantic.fields import FieldInfo

HIDDEN = "(hidden)"
MAX_SHOWN = 60
_SECRET_CHECKS = get_args(SecretRef)[1:]


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


def hidden_at(model: type[BaseModel], loc: tuple[Any, ...]) -> bool:
    """Whether the field at `loc` inside `model` (or one around it) holds a secret."""
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            continue
        if current is None or part not in current.model_fields:
            return False
        field = current.model_fields[part]
        if is_secret(field):
            return True
        current = _nested(field)
    return False


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 4] + "...'"


def problems_of(errors: Iterable[Mapping[str, Any]], model: type[BaseModel] | None) -> list[ConfigProblem]:
    """One problem per pydantic error (`ValidationError.errors()`), at its field: the model's message, plus the
    value where it is safe to show. Without the model, no value is shown."""
    found = []
    for error in errors:
        loc = tuple(error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        value = error.get("input")
        if model is None or hidden_at(model, loc):
            if isinstance(value, str) and len(value) >= 4:
                message = message.replace(value, HIDDEN).replace(repr(value), HIDDEN)
        elif error["type"] != "missing" and not isinstance(value, dict | list) and shown(value) not in message:
            message += f" (got {shown(value)})"
        found.append(ConfigProblem(loc, message))
    return found
