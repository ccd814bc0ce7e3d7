"""Consumer files, as `lockgate consumers apply`, `lockgate_consumer_set` and `ConsumerSet` read them.

CSV columns: `name`, `groups` (separated by ';'), and optionally `key_sha256`, `expires_at`, `key_name` (default
NAME-key). Each CSV row is one consumer with one key: its SHA-256 if given, else one the gateway generates (once).
JSON (an array) and JSON Lines take the same flat rows, or full `ConsumerRow`s (with a `keys` list, for several keys).
Errors name the file, the line (or item) and the field.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockgate.sdk.batch import ConsumerRow, GeneratedKey
from lockgate.sdk.problems import problems_of
from pydantic import ValidationError

CSV_COLUMNS = ("name", "groups", "key_sha256", "expires_at", "key_name")
FORMATS = ("csv", "json", "jsonl")


class ConsumerFileError(Exception):
    """A consumer file that cannot be read; the message names the file, the line and the field."""


@dataclass(frozen=True)
class Source:
    """Rows (as ConsumerRow JSON) and where each came from ('line 7002'), to name them in errors."""

    origin: str  # the file's path, or what holds inline rows
    rows: list[dict[str, Any]]
    places: list[str]

    def place(self, index: int) -> str:
        return f"{self.origin} {self.places[index]}" if 0 <= index < len(self.places) else self.origin

    def place_of(self, field: list[str | int]) -> str:
        """Where the row a batch error's `field` (['rows', INDEX, ...]) names came from."""
        return self.place(int(field[1])) if len(field) > 1 and field[0] == "rows" else self.origin

    def needs_generated_keys(self) -> bool:
        return any(any(not key.get("key_sha256") for key in row.get("keys", [])) for row in self.rows)

    def validated(self) -> list[ConsumerRow]:
        """Every row as a ConsumerRow; the first that is not one raises, naming its place and field."""
        rows = []
        for index, raw in enumerate(self.rows):
            try:
                rows.append(ConsumerRow.model_validate(raw))
            except ValidationError as exc:
                raise ConsumerFileError(f"{self.place(index)}: {problems_of(exc.errors(), ConsumerRow)[0]}") from None
        return rows


def read_source(path: Path) -> Source:
    kind = file_format(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConsumerFileError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConsumerFileError(f"{path}: is not UTF-8 text") from None
    items = _csv_rows(path, text) if kind == "csv" else _json_rows(path, text, kind)
    return source_of(str(path), items)


def source_of(origin: str, items: Iterable[tuple[str, Any]]) -> Source:
    """Rows from (place, raw row) pairs: flat rows become ConsumerRows with one key."""
    places: list[str] = []
    rows: list[dict[str, Any]] = []
    for place, raw in items:
        places.append(place)
        rows.append(_row(origin, place, raw))
    return Source(origin, rows, places)


def file_format(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    kind = {"ndjson": "jsonl"}.get(suffix, suffix)
    if kind not in FORMATS:
        raise ConsumerFileError(f"{path}: cannot tell its format: name it .csv, .json or .jsonl")
    return kind


def _csv_rows(path: Path, text: str) -> Iterator[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if "name" not in header or unknown:
        what = f"unknown column(s) {unknown}" if unknown else "no 'name' column"
        raise ConsumerFileError(f"{path} line 1: {what}; the columns are {', '.join(CSV_COLUMNS)}")
    for record in reader:
        if None in record:  # more cells than the header has columns
            raise ConsumerFileError(f"{path} line {reader.line_num}: more cells than the header's {len(header)}")
        values = {k: v for k, v in record.items() if v not in (None, "")}
        groups = values.pop("groups", "")
        values["groups"] = [g.strip() for g in groups.split(";") if g.strip()]
        yield f"line {reader.line_num}", values


def _json_rows(path: Path, text: str, kind: str) -> Iterator[tuple[str, Any]]:
    if kind == "jsonl":
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                yield f"line {number}", _loads(path, f"line {number}", line)
        return
    yield from items_of(str(path), _loads(path, "", text))


def items_of(origin: str, items: Any) -> Iterator[tuple[str, Any]]:
    """The rows of a JSON array, each with its place ('item [3]')."""
    if not isinstance(items, list):
        raise ConsumerFileError(f"{origin}: consumers are a JSON array of rows")
    for index, item in enumerate(items):
        yield f"item [{index}]", item


def _loads(path: Path, place: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f" {place}" if place else f" line {exc.lineno}"
        raise ConsumerFileError(f"{path}{where}: not JSON ({exc.msg})") from None


def _row(origin: str, place: str, raw: Any) -> dict[str, Any]:
    """A flat row (name, groups, key_sha256, expires_at, key_name) as a ConsumerRow's JSON; full rows pass as they
    are (the gateway validates every row, and its errors are mapped back to `place`)."""
    if not isinstance(raw, dict):
        raise ConsumerFileError(f"{origin} {place}: a row is an object with at least a 'name'")
    if "keys" in raw or raw.get("delete"):
        return raw
    row = {k: v for k, v in raw.items() if k not in ("key_sha256", "expires_at", "key_name")}
    if isinstance(row.get("groups"), str):
        row["groups"] = [g.strip() for g in row["groups"].split(";") if g.strip()]
    name = raw.get("name")
    key: dict[str, Any] = {"name": raw.get("key_name") or (f"{name}-key" if isinstance(name, str) else name)}
    for field in ("key_sha256", "expires_at"):
        if raw.get(field) not in (None, ""):
            key[field] = raw[field]
    row["keys"] = [key]
    return row


def members_digest(rows: Iterable[ConsumerRow]) -> str:
    """A digest of what an export shows of `rows` (names, groups, key names and expiries; no key hashes), in any
    order: equal for a file and for the gateway's export of what that file made."""
    hasher = hashlib.sha256()
    for row in sorted(rows, key=lambda r: r.name):
        keys = sorted((k.name, k.expires_at or "") for k in row.keys)
        hasher.update(json.dumps([row.name, row.groups, keys]).encode() + b"\n")
    return hasher.hexdigest()


class KeysFile:
    """Where generated keys go, as CSV (consumer, key_name, key) only its owner can read (0600). Opened before
    anything is applied, as keys are shown once and a file that cannot be written would lose them. A new file is
    never created over an existing one (its keys would be lost), and is removed again when no key came; with
    `append`, keys are added to the file (a Terraform consumer set's keys_file, one apply after another).
    `label` is how errors name it ('--keys-out', 'keys_file')."""

    def __init__(self, path: Path, label: str, append: bool = False) -> None:
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_EXCL)
        self.new = append is False or not path.exists()
        try:
            descriptor = os.open(path, flags, 0o600)
        except FileExistsError:
            raise ConsumerFileError(f"{label} {path} exists: the keys in it would be lost; pass a new file") from None
        except OSError as exc:
            raise ConsumerFileError(f"{label} {path}: cannot create: {exc.strerror}") from None
        os.fchmod(descriptor, 0o600)
        self.path, self.written = path, False
        self._out = os.fdopen(descriptor, "a", newline="")

    def write(self, keys: list[GeneratedKey]) -> None:
        writer = csv.writer(self._out)
        if self.new and not self.written:
            writer.writerow(("consumer", "key_name", "key"))
        writer.writerows((k.consumer, k.name, k.key) for k in keys)
        self._out.flush()
        self.written = True

    def __enter__(self) -> KeysFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._out.close()
        if self.new and not self.written:
            self.path.unlink()
