"""Read a consumer batch's JSON Lines body as it streams in: each line is validated when it arrives and kept only as
its `ConsumerRow`, so a 100,000-row body is never held as text, parsed JSON and models at once.

Limits: MAX_BATCH_BYTES per body (AdminGate), MAX_LINE_BYTES per line, MAX_BATCH_ROWS rows; over any of them: 413.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import Request
from lockgate.gateway_runtime.control.batch import MAX_PROBLEMS, RowProblem
from lockgate.gateway_runtime.control.service import ChangeRejected
from lockgate.sdk._base import whole_numbers_as_int
from lockgate.sdk.batch import MAX_BATCH_ROWS, ConsumerRow, KeyRow
from lockgate.sdk.client import BATCH_PATH

__all__ = ["BATCH_BODY", "BATCH_PATH", "MAX_BATCH_BYTES", "document_batch_rows", "read_rows"]
from lockgate.sdk.problems import problems_of
from pydantic import ValidationError

MAX_BATCH_BYTES = 256 << 20
MAX_LINE_BYTES = 64 << 10
_ROW_SCHEMA = ConsumerRow.model_json_schema(ref_template="#/components/schemas/{model}")
# the JSON Lines body, for the OpenAPI document (FastAPI sees no body parameter); `ConsumerRow` and `KeyRow` are
# added to its components by `document_batch_rows`
BATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "JSON Lines: one ConsumerRow per line (blank lines are skipped).",
        "content": {"application/jsonl": {"schema": {"$ref": "#/components/schemas/ConsumerRow"}}},
    }
}


def document_batch_rows(openapi: dict[str, Any]) -> dict[str, Any]:
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas["ConsumerRow"] = {k: v for k, v in _ROW_SCHEMA.items() if k != "$defs"}
    schemas["KeyRow"] = KeyRow.model_json_schema(ref_template="#/components/schemas/{model}")
    return openapi


async def read_rows(request: Request) -> tuple[list[tuple[int, ConsumerRow]], list[RowProblem]]:
    """The rows (with their index among the body's non-blank lines) and the lines refused as data."""
    rows: list[tuple[int, ConsumerRow]] = []
    refused: list[RowProblem] = []
    index = 0
    pending = b""

    def take(lines: list[bytes]) -> None:  # in a thread: checking 1,000 rows takes tens of ms
        nonlocal index
        for line in lines:
            if not line.strip():
                continue
            if index >= MAX_BATCH_ROWS:
                raise ChangeRejected(413, f"a batch holds at most {MAX_BATCH_ROWS:,} rows: split the input")
            problem = _parse(index, line, rows)
            if problem is not None and len(refused) < MAX_PROBLEMS:
                refused.append(problem)
            index += 1

    async for chunk in request.stream():
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        if len(pending) > MAX_LINE_BYTES or any(len(line) > MAX_LINE_BYTES for line in lines):
            raise ChangeRejected(413, f"a row is longer than {MAX_LINE_BYTES} bytes: one consumer per line")
        if lines:
            await asyncio.to_thread(take, lines)
    await asyncio.to_thread(take, [pending])
    return rows, refused


def _parse(index: int, line: bytes, rows: list[tuple[int, ConsumerRow]]) -> RowProblem | None:
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError:
        return RowProblem(index, None, (), "is not a JSON object: each line holds one ConsumerRow as JSON")
    name = raw.get("name") if isinstance(raw, dict) and isinstance(raw.get("name"), str) else None
    try:
        rows.append((index, ConsumerRow.model_validate(whole_numbers_as_int(ConsumerRow, raw))))
    except ValidationError as exc:
        problem = problems_of(exc.errors(), ConsumerRow)[0]
        return RowProblem(index, name, problem.loc, problem.message)
    return None
