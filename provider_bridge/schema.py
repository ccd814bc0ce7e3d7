"""Terraform schemas generated from the SDK's pydantic models, so a field is defined once.

    str, Literal[...] -> string     int, float -> number     bool -> bool     list[X] -> list(X)
    Model | None      -> a single nested block (the `tf` library lacks one; see SingleNestedBlock)
    list[Model]       -> a list of nested blocks (`prices { ... }` repeated; ListNestedBlock)

A field with a default is optional + computed, and the plan fills the default in, so plans show real values and a
second plan is empty. A field whose default is None is optional.

Terraform numbers arrive as int or float, or as a decimal string when float64 cannot hold them exactly (0.3);
`spec_values` hands whole numbers to int fields as int and decimal strings to float fields as float, so the
(strict) SDK models accept them.
"""

from __future__ import annotations

import types
import typing
from decimal import Decimal
from typing import Any, Literal, TypeVar, get_args, get_origin

from lockgate.sdk._base import whole_numbers_as_int
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from tf import types as tft
from tf.gen import tfplugin_pb2 as pb
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


class ListNestedBlock(NestedBlock):
    """A block that may repeat (`prices { model = "a" } prices { model = "b" }`); its value is a list of objects."""

    def __init__(self, type_name: str, block: Block, max_items: int | None = None) -> None:
        super().__init__(type_name, NestMode.Set, block, max_items=max_items)  # the library has no List: see to_pb

    def to_pb(self) -> Any:
        return pb.Schema.NestedBlock(
            type_name=self.type_name,
            block=self.block.to_pb(),
            max_items=self.max_items,
            nesting=pb.Schema.NestedBlock.NestingMode.LIST,
        )

    def encode(self, value: Any) -> Any:
        return [_encode_state_d(self._amap(), self._bmap(), item, None) for item in value or ()]

    def decode(self, value: Any) -> Any:
        return [_decode_state(Diagnostics(), self._amap(), self._bmap(), item)[1] for item in value or ()]

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


def nested_list(field: FieldInfo) -> type[BaseModel] | None:
    """The model of a `list[Model]` field."""
    inner = _strip_annotated(field.annotation)
    if get_origin(inner) is not list:
        return None
    item = _strip_annotated(get_args(inner)[0])
    return item if isinstance(item, type) and issubclass(item, BaseModel) else None


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
        items = nested_list(field)
        if items is not None:
            attrs, inner = model_block(items)
            blocks.append(
                ListNestedBlock(name, Block(attributes=attrs, block_types=inner, description=field.description))
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
        nested, items = nested_model(field), nested_list(field)
        if nested is not None:
            if isinstance(out[name], dict):
                out[name] = fill_defaults(nested, out[name])
        elif items is not None:
            out[name] = [fill_defaults(items, item) for item in out[name] or ()]
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
        nested, items = nested_model(field), nested_list(field)
        if items is not None and isinstance(value, list):
            value = [spec_values(items, item) for item in value]
        elif isinstance(value, str | Decimal) and _unwrap_optional(_strip_annotated(field.annotation))[0] is float:
            value = _number(value)
        out[name] = spec_values(nested, value) if nested is not None and isinstance(value, dict) else value
    converted: dict[str, Any] = whole_numbers_as_int(model, out)  # Terraform's numbers have no int/float split
    return converted


def _number(value: str | Decimal) -> float | str | Decimal:
    """Terraform sends a number that float64 cannot hold exactly (0.3) as its decimal string: that number, or the
    value unchanged for the model to refuse."""
    try:
        return float(value)
    except ValueError:
        return value


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], values: dict[str, Any]) -> M:
    """State -> SDK model, strictly (no str -> int coercion): what the gateway itself would accept."""
    return model.model_validate(spec_values(model, values), strict=True)


def state_values(model: type[BaseModel], spec: dict[str, Any]) -> dict[str, Any]:
    """Model dump -> state: every schema field present (null where unset), nested blocks likewise. A block that
    holds just its defaults (an empty `policies`) is absent, as a configuration that leaves it out has it: else
    Terraform (1.0 refuses the plan) would see a block the configuration does not write."""
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        value = spec.get(name)
        nested, items = nested_model(field), nested_list(field)
        if nested is not None and isinstance(value, dict):
            value = state_values(nested, value)
            if field.default_factory is not None and value == state_values(
                nested, _default(field).model_dump(mode="json")
            ):
                value = None
        elif items is not None and isinstance(value, list):
            value = [state_values(items, item) for item in value]
        out[name] = value
    return out
