"""Construct errors: one line that names the construct path, the field, the value (never a secret's) and the fix.

ValueError
└── ConstructValidationError   invalid props, raised when the construct (or a RateLimit) is created
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from lockgate.sdk.problems import problems_of
from pydantic import BaseModel, ValidationError

_FIXES = {("name", "string_pattern_mismatch"): "or pass name=... to the construct"}


class ConstructValidationError(ValueError):
    """Invalid props, raised when the construct is created: "demo/chat: paths: paths[0] must start with '/'..."."""


def describe(model: type[BaseModel], exc: ValidationError, skip: Collection[str] = ()) -> list[str]:
    """The SDK's one-line problems (field, value unless secret, allowed range, fix); errors under `skip`
    (fields holding unresolved tokens, checked at deploy time) are left out."""
    errors = [e for e in exc.errors() if not (e["loc"] and e["loc"][0] in skip)]
    lines = []
    for error, problem in zip(errors, problems_of(errors, model), strict=True):
        fix = _FIXES.get((str(problem.loc[-1]) if problem.loc else "", error["type"]))
        text = str(problem) if problem.loc else f"{model.__name__}: {problem.message}"
        lines.append(text.removesuffix(")") + f", {fix})" if fix else text)
    return lines


def validate(model: type[BaseModel], props: dict[str, Any], construct_path: str, unresolved: set[str]) -> None:
    """Validate props against the SDK model; fields holding unresolved tokens are checked at deploy time."""
    try:
        model.model_validate({k: v for k, v in props.items() if k not in unresolved})
    except ValidationError as exc:
        problems = describe(model, exc, unresolved)
        if problems:
            raise ConstructValidationError(f"{construct_path}: " + "; ".join(problems)) from None
