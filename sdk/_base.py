"""Shared building blocks for the config models: strict frozen base, names, secret references."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
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
    Field(description="A reference to a secret, resolved by the runtime: 'env:NAME' or 'file:PATH'."),
]
