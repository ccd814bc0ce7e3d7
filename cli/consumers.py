"""`lockgate consumers apply/export`: the owner, the keys file, the export's text, the summary, and the admin API
of the gateway they go to. Reading consumer files (CSV, JSON, JSON Lines) is `lockgate.sdk.consumer_files`, shared
with the Terraform consumer set and the `ConsumerSet` construct."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from lockgate.sdk import AdminClient, BatchResult, ConsumerRow, LockgateError
from lockgate.sdk._base import OWNER_PATTERN
from lockgate.sdk.consumer_files import ConsumerFileError
from lockgate.sdk.secrets import SecretError, resolve_secret


def owner_of(value: str) -> str:
    """'billing' is short for 'pipeline:billing'."""
    owner = value if ":" in value or value in ("api", "terraform") else f"pipeline:{value}"
    if not re.fullmatch(OWNER_PATTERN, owner):
        raise ConsumerFileError(
            f"--owner {value!r} is not an owner: use 'pipeline:NAME' (NAME: lowercase letters, digits, '.', '_', '-')"
        )
    return owner


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
