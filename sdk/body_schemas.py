"""JSON Schemas for request bodies (`request_validation`), compiled with jsonschema-rs: offline (a `$ref` to a URL
is an error, never a fetch) and with the linear-time regex engine for `pattern` and `patternProperties` (no
backreferences or lookarounds), so no request can make validation backtrack. The draft is the schema's `$schema`,
2020-12 when it names none. jsonschema-rs is imported on first use (about 3 MB a gateway without schemas does not
carry)."""

from __future__ import annotations

from typing import Any

import orjson

MAX_SCHEMA = 262_144  # characters of JSON


class SchemaError(ValueError):
    """A schema that cannot be used; the message says why."""


def compile_schema(text: str) -> Any:
    """The validator for a JSON Schema given as JSON text; SchemaError if it is not JSON, not a schema, or uses
    what the gateway cannot run."""
    import jsonschema_rs

    if len(text) > MAX_SCHEMA:
        raise SchemaError(f"is {len(text)} characters long; schemas are limited to {MAX_SCHEMA}")
    try:
        schema = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise SchemaError(f"is not valid JSON: {exc}") from None
    if not isinstance(schema, dict | bool):
        raise SchemaError('must be a JSON object (a JSON Schema), e.g. {"type": "object"}')
    try:
        return jsonschema_rs.validator_for(schema, offline=True, pattern_options=jsonschema_rs.RegexOptions())
    except jsonschema_rs.ValidationError as exc:
        where = "".join(f"/{part}" for part in exc.instance_path) or "/"
        hint = (
            " (patterns run on a linear-time engine: no backreferences or lookarounds)"
            if '"regex"' in exc.message
            else ""
        )
        raise SchemaError(f"is not a valid JSON Schema at {where}: {exc.message}{hint}") from None
    except (ValueError, jsonschema_rs.ReferencingError) as exc:
        raise SchemaError(f"cannot be used: {str(exc).splitlines()[0][:300]}") from None


def json_path(parts: list[str | int]) -> str:
    """`["messages", 0, "content"]` as `messages[0].content` (how the gateway's errors name a field)."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"
