"""Terraform schemas generated from the SDK's pydantic models, so a field is defined once.

    str, Literal[...] -> string     int, float -> number     bool -> bool     list[X] -> list(X)
    Model | None      -> a single nested block (the `tf` library lacks one; see SingleNestedBlock)

A field with a default is optional + computed, and the plan fills the default in, so plans show real values and a
second plan is empty. A field whose default is None is optional.

Terraform numbers arrive as int or float; `spec_values` hands whole numbers to int fields as int, so the (strict) SDK
models accept them.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, TypeVar, get_args, get_origin

from lockgate.sdk._base import whole_numbers_as_int
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from tf import types as tft
from tf.provider import _decode_state, _encode_state_d
from tf.schema import Attribute, Block, NestedBlock, NestMode
from tf.utils import Diagnostics


class SingleNestedBlock(NestedBlock):
    """A block that appears at most once (`policies { key_auth {} }`); its value is an object or null."""

    def __init__(self, type_name: str, block: Block) -> None:
        super().__init__(type_name, NestMode.Single, block)

    def encode(self, value: Any) -> Any:
        return None if value is None else _encode_state_d(self._amap(), self._bmap(), value, None)

    def decode(self, value: Any) -> Any:
        return None if value is None else _decode_state(Diagnostics(), self._amap(), self._bmap(), value)[1]

    def semantically_equal(self, a_decoded: Any, b_decoded: Any) -> bool:
        return bool(a_decoded == b_decoded)


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    if get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _strip_annotated(annotation: Any) -> Any:
    while get_origin(annotation) is typing.Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def tf_type(annotation: Any) -> tft.TfType:
    annotation = _strip_annotated(annotation)
    origin = get_origin(annotation)
    if origin is list:
        return tft.List(tf_type(get_args(annotation)[0]))
    if origin is Literal or annotation is str:
        return tft.String()
    if annotation is bool:
        return tft.Bool()
    if annotation in (int, float):
        return tft.Number()
    raise TypeError(f"no Terraform type for {annotation!r}")


def nested_model(field: FieldInfo) -> type[BaseModel] | None:
    inner, _ = _unwrap_optional(_strip_annotated(field.annotation))
    return inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None


def _default(field: FieldInfo) -> Any:
    if field.default_factory is not None:
        return field.default_factory()  # type: ignore[call-arg]
    return field.default


def model_block(
    model: type[BaseModel], skip: frozenset[str] = frozenset(), sensitive: frozenset[str] = frozenset()
) -> tuple[list[Attribute], list[NestedBlock]]:
    attributes: list[Attribute] = []
    blocks: list[NestedBlock] = []
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        nested = nested_model(field)
        if nested is not None:
            attrs, inner = model_block(nested)
            blocks.append(
                SingleNestedBlock(name, Block(attributes=attrs, block_types=inner, description=field.description))
            )
            continue
        required = field.is_required()
        default = None if required else _default(field)
        attributes.append(
            Attribute(
                name,
                tf_type(_unwrap_optional(field.annotation)[0]),
                description=field.description or model.__doc__,
                required=required,
                optional=not required,
                computed=default is not None,
                sensitive=name in sensitive,
                default=default if default is not None else None,
            )
        )
    return attributes, blocks


def fill_defaults(model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    """Fill null attributes that have defaults, recursively into present nested blocks; never touch set values."""
    out = dict(values)
    for name, field in model.model_fields.items():
        if name not in out:
            continue
        nested = nested_model(field)
        if nested is not None:
            if isinstance(out[name], dict):
                out[name] = fill_defaults(nested, out[name])
        elif out[name] is None and not field.is_required():
            default = _default(field)
            if default is not None:
                out[name] = default
    return out


def spec_values(model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    """State -> model input: keep the model's own fields and drop nulls (so model defaults apply)."""
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        value = values.get(name)
        if value is None:
            continue
        nested = nested_model(field)
        out[name] = spec_values(nested, value) if nested is not None and isinstance(value, dict) else value
    converted: dict[str, Any] = whole_numbers_as_int(model, out)  # Terraform's numbers have no int/float split
    return converted


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], values: dict[str, Any]) -> M:
    """State -> SDK model, strictly (no str -> int coercion): what the gateway itself would accept."""
    return model.model_validate(spec_values(model, values), strict=True)


def state_values(model: type[BaseModel], spec: dict[str, Any]) -> dict[str, Any]:
    """Model dump -> state: every schema field present (null where unset), nested blocks likewise."""
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        value = spec.get(name)
        nested = nested_model(field)
        if nested is not None and isinstance(value, dict):
            value = state_values(nested, value)
        out[name] = value
    return out
