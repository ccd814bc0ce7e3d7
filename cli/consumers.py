"""`lockgate consumers apply/export`: consumer files (CSV, JSON, JSON Lines) to batch rows and back, and the admin
API of the gateway they go to.

CSV columns: `name`, `groups` (separated by ';'), and optionally `key_sha256`, `expires_at`, `key_name` (default
NAME-key). Each CSV row is one consumer with one key: its SHA-256 if given, else one the gateway generates (once).
JSON (an array) and JSON Lines take the same flat rows, or full `ConsumerRow`s (with a `keys` list, for several keys).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockgate.sdk import AdminClient, BatchResult, ConsumerRow, GeneratedKey, LockgateError
from lockgate.sdk._base import OWNER_PATTERN
from lockgate.sdk.secrets import SecretError, resolve_secret

CSV_COLUMNS = ("name", "groups", "key_sha256", "expires_at", "key_name")
FORMATS = ("csv", "json", "jsonl")


class ConsumerFileError(Exception):
    """A consumer file that cannot be read; the message names the file, the line and the field."""


@dataclass(frozen=True)
class Source:
    """Rows read from a file, and where each came from ('line 7002'), to name them in errors."""

    path: Path
    rows: list[dict[str, Any]]
    places: list[str]

    def place(self, index: int) -> str:
        return f"{self.path} {self.places[index]}" if 0 <= index < len(self.places) else str(self.path)

    def needs_generated_keys(self) -> bool:
        return any(any(not key.get("key_sha256") for key in row.get("keys", [])) for row in self.rows)


def owner_of(value: str) -> str:
    """'billing' is short for 'pipeline:billing'."""
    owner = value if ":" in value or value in ("api", "terraform") else f"pipeline:{value}"
    if not re.fullmatch(OWNER_PATTERN, owner):
        raise ConsumerFileError(
            f"--owner {value!r} is not an owner: use 'pipeline:NAME' (NAME: lowercase letters, digits, '.', '_', '-')"
        )
    return owner


def read_source(path: Path) -> Source:
    kind = file_format(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConsumerFileError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConsumerFileError(f"{path}: is not UTF-8 text") from None
    places: list[str] = []
    rows: list[dict[str, Any]] = []
    for place, raw in _csv_rows(path, text) if kind == "csv" else _json_rows(path, text, kind):
        places.append(place)
        rows.append(_row(path, place, raw))
    return Source(path, rows, places)


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
    items = _loads(path, "", text)
    if not isinstance(items, list):
        raise ConsumerFileError(f"{path}: a JSON consumer file is an array of rows")
    for index, item in enumerate(items):
        yield f"item [{index}]", item


def _loads(path: Path, place: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f" {place}" if place else f" line {exc.lineno}"
        raise ConsumerFileError(f"{path}{where}: not JSON ({exc.msg})") from None


def _row(path: Path, place: str, raw: Any) -> dict[str, Any]:
    """A flat row (name, groups, key_sha256, expires_at, key_name) as a ConsumerRow's JSON; full rows pass as they
    are (the gateway validates every row, and its errors are mapped back to `place`)."""
    if not isinstance(raw, dict):
        raise ConsumerFileError(f"{path} {place}: a row is an object with at least a 'name'")
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


class KeysFile:
    """Where generated keys go, as CSV (consumer, key_name, key) only its owner can read (0600): created before
    anything is applied, as the keys are shown once and a file that cannot be written would lose them; removed
    again when no key came."""

    def __init__(self, path: Path) -> None:
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never over another file's keys
        except FileExistsError:
            raise ConsumerFileError(
                f"--keys-out {path} exists: the keys in it would be lost; pass a new file"
            ) from None
        except OSError as exc:
            raise ConsumerFileError(f"--keys-out {path}: cannot create: {exc.strerror}") from None
        self.path = path
        self.written = False
        self._out = os.fdopen(descriptor, "w", newline="")

    def write(self, keys: list[GeneratedKey]) -> None:
        writer = csv.writer(self._out)
        writer.writerow(("consumer", "key_name", "key"))
        writer.writerows((k.consumer, k.name, k.key) for k in keys)
        self._out.flush()
        self.written = True

    def __enter__(self) -> KeysFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._out.close()
        if not self.written:
            self.path.unlink()


def export_text(rows: list[ConsumerRow], kind: str) -> str:
    if kind == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("name", "groups", "expires_at", "key_name"))
        for row in rows:
            if len(row.keys) != 1:  # a CSV row without a key_name gets a key NAME-key
                raise ConsumerFileError(
                    f"consumer {row.name!r} has {len(row.keys)} keys: a CSV row holds one; export as jsonl"
                )
            key = row.keys[0]
            writer.writerow((row.name, ";".join(row.groups), key.expires_at or "", key.name))
        return out.getvalue()
    # `keys` always: a row without it is a flat row, which gets a key NAME-key
    dumped = [row.model_dump(mode="json", exclude_defaults=True) | {"keys": _keys(row)} for row in rows]
    if kind == "json":
        return json.dumps(dumped, indent=2) + "\n"
    return "".join(json.dumps(row) + "\n" for row in dumped)


def _keys(row: ConsumerRow) -> list[dict[str, Any]]:
    return [key.model_dump(mode="json", exclude_defaults=True) for key in row.keys]


def summary(result: BatchResult, seconds: float) -> str:
    verb = "would be " if result.dry_run else ""
    return (
        f"{'dry run: ' if result.dry_run else ''}+{result.created:,} {verb}created  ~{result.updated:,} {verb}updated  "
        f"-{result.deleted:,} {verb}deleted  {result.unchanged:,} unchanged  in {seconds:.1f} s"
    )


def admin_client(gateway: str | None, admin_url: str | None, token_file: Path | None, owner: str) -> AdminClient:
    """The admin API of `--gateway NAME` (registered under LOCKGATE_HOME by the provider, checked to be that
    gateway), or of `--admin-url` with the token in `--admin-token-file`."""
    if (gateway is None) == (admin_url is None):
        raise ConsumerFileError("say which gateway: --gateway NAME, or --admin-url URL with --admin-token-file FILE")
    if admin_url is not None:
        if token_file is None:
            raise ConsumerFileError("--admin-url needs --admin-token-file FILE (the file holding the admin token)")
        try:
            token = token_file.read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConsumerFileError(f"--admin-token-file {token_file}: cannot read: {why}") from None
        if not re.fullmatch(r"[!-~]+", token):  # else the HTTP client's error would show what the file holds
            raise ConsumerFileError(
                f"--admin-token-file {token_file}: does not hold a token (one line of printable ASCII, no spaces)"
            )
        return AdminClient(admin_url, token, owner=owner)
    from lockgate.provider_bridge import endpoints

    assert gateway is not None
    endpoint = endpoints.lookup(gateway)
    if endpoint is None:
        raise ConsumerFileError(
            f"no gateway named {gateway!r} is deployed on this machine (under {endpoints.lockgate_home()}); "
            "use --admin-url and --admin-token-file for a remote one"
        )
    try:
        endpoints.verify(gateway, endpoint)
        return AdminClient(endpoint.admin_url, resolve_secret(endpoint.admin_token_ref), owner=owner)
    except (LockgateError, SecretError) as exc:
        raise ConsumerFileError(f"gateway {gateway!r}: {exc}") from None
