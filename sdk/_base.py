"""Shared building blocks for the config models: strict frozen base, names, secret references."""

from __future__ import annotations

import re
from types import NoneType, UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
# Who manages an entity: 'terraform' (the provider), 'terraform:SET' (one lockgate_consumer_set), 'api' (plain admin
# API calls) or 'pipeline:NAME' (a batch's owner). Only its owner changes or deletes it (README: ownership).
OWNER_PATTERN = r"^(api|terraform|terraform:[a-z0-9][a-z0-9_.-]{0,62}|pipeline:[a-z0-9][a-z0-9_.-]{0,62})$"
SECRET_REF_PATTERN = re.compile(r"^(env|file):(.+)$")


class StrictModel(BaseModel):
    """Every config model: frozen, strict (no "5" for 5), unknown fields rejected, so a typo is an error and not a
    silent no-op."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, strict=True)


Name = Annotated[
    str,
    Field(
        pattern=NAME_PATTERN,
        description="Unique within its gateway: lowercase letters, digits, '-', '_', '.', at most 63 characters.",
        examples=["chat", "gold"],
    ),
]


Owner = Annotated[
    str,
    Field(
        pattern=OWNER_PATTERN,
        description="Who manages the entity: 'terraform', 'terraform:SET', 'api' or 'pipeline:NAME'.",
        examples=["pipeline:billing"],
    ),
]


def _check_secret_ref(value: str) -> str:
    if not SECRET_REF_PATTERN.match(value):
        raise ValueError(
            "must be a secret reference such as 'env:OPENAI_API_KEY' or 'file:/run/secrets/key'; the value given is "
            "not one, and is not shown in case it is the secret itself (never put a secret in configuration)"
        )
    return value


SecretRef = Annotated[
    str,
    AfterValidator(_check_secret_ref),
    Field(
        description="A reference to a secret, resolved by the runtime: 'env:NAME' or 'file:PATH'.",
        json_schema_extra={"pattern": "^(env|file):.+$"},  # documents _check_secret_ref (its message hides the value)
    ),
]


def whole_numbers_as_int(model: type[BaseModel], data: Any) -> Any:
    """`data` (JSON for `model`) with every whole-number float in an int field made an int: `10.0` becomes `10`.

    JSON has one number type, and JSON Schema (so OpenAPI) calls `10.0` an integer, but a strict model takes only
    `int` for int. Surfaces that take JSON from others (the admin API) pass it through this first, so a value their
    document calls valid is accepted; `10.5`, `"10"` and `true` still are not, and every bound still applies."""
    if not isinstance(data, dict):
        return data
    fields = {field.alias or name: field.annotation for name, field in model.model_fields.items()}
    return {key: _whole(fields[key], value) if key in fields else value for key, value in data.items()}


def _whole(annotation: Any, value: Any) -> Any:
    if annotation is int:
        return int(value) if isinstance(value, float) and value.is_integer() else value
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return whole_numbers_as_int(annotation, value)
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is list and args and isinstance(value, list):
        return [_whole(args[0], item) for item in value]
    if origin is Annotated and args:
        return _whole(args[0], value)
    if origin in (Union, UnionType):
        for arm in args:
            if arm is not NoneType:
                value = _whole(arm, value)
    return value
