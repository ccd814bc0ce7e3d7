"""Turn validation and admin API errors into Terraform diagnostics on the right attribute."""

from __future__ import annotations

from typing import Any

from lockgate.provider_bridge.schema import spec_values
from lockgate.sdk import ApiError, LockgateError
from pydantic import BaseModel, ValidationError
from tf.types import Unknown
from tf.utils import Diagnostics


def tf_path(loc: Any) -> list[Any]:
    """pydantic/admin API location -> tf attribute path (names stay names, indexes become element keys)."""
    return [(part,) if isinstance(part, int) else str(part) for part in loc]


def _contains_unknown(value: Any) -> bool:
    if value is Unknown:
        return True
    if isinstance(value, dict):
        return any(_contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_unknown(v) for v in value)
    return False


def validate_known(diags: Diagnostics, model: type[BaseModel], values: dict[str, Any], label: str) -> None:
    """Validate what is known at plan time; fields still unknown (computed elsewhere) are checked at apply."""
    unknown = {k for k, v in values.items() if _contains_unknown(v)}
    known = {k: v for k, v in values.items() if k not in unknown}
    try:
        model.model_validate(spec_values(model, known))
    except ValidationError as exc:
        for error in exc.errors():
            loc = error["loc"]
            if loc and loc[0] in unknown:
                continue
            message = str(error["msg"]).removeprefix("Value error, ")
            shown = f" Got {error['input']!r}." if "input" in error and error["type"] != "missing" else ""
            diags.add_error(f"Invalid {label}: {message}", f"{message}.{shown}".replace("..", "."), path=tf_path(loc))


def report(diags: Diagnostics, action: str, exc: LockgateError) -> None:
    if isinstance(exc, ApiError):
        diags.add_error(
            f"{action} failed: {exc.message}",
            f"The gateway answered {exc.status}: {exc.message}",
            path=tf_path(exc.field) if exc.field else None,
        )
    else:
        diags.add_error(f"{action} failed", str(exc))
