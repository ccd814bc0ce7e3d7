"""Construct errors: one line that names the construct path, the field, the value (never a secret's) and the fix.

ValueError
└── ConstructValidationError   invalid props, raised when the construct (or a RateLimit) is created
"""

from __future__ import annotations

import types
from collections.abc import Collection
from typing import Any, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

# fields whose values are credentials or references to them: a message never repeats what was given
SECRET_FIELDS = frozenset({"auth", "key", "api_key", "token", "admin_token"})
_BOUND_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})
_FIXES = {
    ("name", "string_pattern_mismatch"): "use lowercase letters, digits, '.', '_' or '-' (at most 63), "
    "or pass name=... to the construct",
}


class ConstructValidationError(ValueError):
    """Invalid props, raised when the construct is created: "demo/chat: paths: paths[0] must start with '/'..."."""


def _path(loc: tuple[Any, ...]) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")


def _field(model: type[BaseModel], loc: tuple[Any, ...]) -> FieldInfo | None:
    """The FieldInfo at `loc`, following nested models (`rate_limit.requests`)."""
    info: FieldInfo | None = None
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            continue
        if current is None or part not in current.model_fields:
            return None
        info = current.model_fields[part]
        current = _model_in(info.annotation)
    return info


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        return next((m for a in get_args(annotation) if (m := _model_in(a)) is not None), None)
    return None


def _allowed(info: FieldInfo | None) -> str:
    """The allowed range of a bounded number, as a user would write it: " (allowed: 1 to 10000000)"."""
    if info is None:
        return ""
    bounds: dict[str, Any] = {}
    for constraint in info.metadata:
        for kind in ("gt", "ge", "lt", "le"):
            if isinstance(constraint, annotated_types.BaseMetadata) and hasattr(constraint, kind):
                bounds[kind] = getattr(constraint, kind)
    whole = info.annotation is int
    low = bounds.get("ge", bounds["gt"] + 1 if whole and "gt" in bounds else None)
    high = bounds.get("le", bounds["lt"] - 1 if whole and "lt" in bounds else None)
    if low is None and "gt" in bounds:
        low = f"more than {bounds['gt']}"
    if high is None and "lt" in bounds:
        high = f"less than {bounds['lt']}"
    if low is None and high is None:
        return ""
    return f" (allowed: {'any' if low is None else low} to {'any' if high is None else high})"


def describe(model: type[BaseModel], exc: ValidationError, skip: Collection[str] = ()) -> list[str]:
    """One "field: problem, got value (fix)" per error; errors under `skip` (unresolved tokens) are left out."""
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        if loc and loc[0] in skip:
            continue
        message = str(error["msg"]).removeprefix("Value error, ")
        secret = any(part in SECRET_FIELDS for part in loc if isinstance(part, str))
        shown = error["type"] != "missing" and "input" in error and not secret and "got " not in message
        got = f", got {error['input']!r}" if shown else ""
        info = _field(model, loc)
        allowed = _allowed(info) if error["type"] in _BOUND_ERRORS else ""
        fix = _FIXES.get((str(loc[-1]) if loc else "", error["type"]), "")
        problems.append(f"{_path(loc) or model.__name__}: {message}{got}{allowed}{f' ({fix})' if fix else ''}")
    return problems


def validate(model: type[BaseModel], props: dict[str, Any], construct_path: str, unresolved: set[str]) -> None:
    """Validate props against the SDK model; fields holding unresolved tokens are checked at deploy time."""
    try:
        model.model_validate({k: v for k, v in props.items() if k not in unresolved})
    except ValidationError as exc:
        problems = describe(model, exc, unresolved)
        if problems:
            raise ConstructValidationError(f"{construct_path}: " + "; ".join(problems)) from None
