"""Construct errors: every message names the construct path and the field."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError


class ConstructValidationError(ValueError):
    """Invalid props, raised when the construct is created: "demo/chat: paths[0] must start with '/'..."."""


def _path(loc: tuple[Any, ...]) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")


def validate(model: type[BaseModel], props: dict[str, Any], construct_path: str, unresolved: set[str]) -> None:
    """Validate props against the SDK model; fields holding unresolved tokens are checked at deploy time."""
    try:
        model.model_validate({k: v for k, v in props.items() if k not in unresolved})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            if error["loc"] and error["loc"][0] in unresolved:
                continue
            message = str(error["msg"]).removeprefix("Value error, ")
            got = f" (got {error['input']!r})" if "input" in error and error["type"] != "missing" else ""
            problems.append(f"{_path(error['loc']) or model.__name__}: {message}{got}")
        if problems:
            raise ConstructValidationError(f"{construct_path}: " + "; ".join(problems)) from None
