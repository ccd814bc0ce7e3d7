"""SQLite persistence for entities and usage totals (the embedded default store)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockgate.gateway_runtime.data.usage import RECENT_PER_CONSUMER

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    kind TEXT NOT NULL, name TEXT NOT NULL, id TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, body TEXT NOT NULL, owner TEXT NOT NULL DEFAULT 'api',
    PRIMARY KEY (kind, name)
);
CREATE TABLE IF NOT EXISTS usage_totals (
    consumer TEXT PRIMARY KEY, requests INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER, total_tokens INTEGER
);
CREATE TABLE IF NOT EXISTS usage_recent (
    consumer TEXT NOT NULL, at REAL NOT NULL, route TEXT, model TEXT, stream INTEGER, status INTEGER,
    prompt_tokens INTEGER, completion_tokens INTEGER, total_tokens INTEGER
);
CREATE INDEX IF NOT EXISTS usage_recent_by_consumer ON usage_recent (consumer, at);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS usage_offsets (file TEXT PRIMARY KEY, offset INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Row:
    kind: str
    name: str
    id: str
    created_at: float
    updated_at: float
    body: dict[str, Any]
    owner: str = "api"


class Store:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(entities)")}
        if "owner" not in columns:  # a store from before owners: what it holds was made through the admin API
            self._db.execute("ALTER TABLE entities ADD COLUMN owner TEXT NOT NULL DEFAULT 'api'")

    def rows(self) -> Iterator[Row]:
        """Every entity, oldest first, read as consumed (a million rows are never all in memory as rows)."""
        cursor = self._db.execute(
            "SELECT kind, name, id, created_at, updated_at, body, owner FROM entities ORDER BY created_at, rowid"
        )
        for k, n, i, c, u, b, o in cursor:
            yield Row(k, n, i, c, u, json.loads(b), o)

    def settings(self) -> dict[str, Any] | None:
        row = self._db.execute("SELECT value FROM settings WHERE key = 'gateway'").fetchone()
        return json.loads(row[0]) if row else None

    def version(self) -> int:
        """The last config version served from this store (0 for a new one)."""
        row = self._db.execute("SELECT value FROM settings WHERE key = 'version'").fetchone()
        return int(row[0]) if row else 0

    def commit(
        self,
        upserts: Iterable[Row],
        deletes: Iterable[tuple[str, str]],
        settings: dict[str, Any] | None = None,
        version: int | None = None,
    ) -> None:
        """Write one change in one transaction, with the config version it makes."""
        with self._transaction():
            if version is not None:
                self._db.execute("INSERT OR REPLACE INTO settings VALUES ('version', ?)", (str(version),))
            self._db.executemany("DELETE FROM entities WHERE kind = ? AND name = ?", deletes)
            self._db.executemany(
                "INSERT OR REPLACE INTO entities (kind, name, id, created_at, updated_at, body, owner) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    (row.kind, row.name, row.id, row.created_at, row.updated_at, json.dumps(row.body), row.owner)
                    for row in upserts
                ),
            )
            if settings is not None:
                self._db.execute("INSERT OR REPLACE INTO settings VALUES ('gateway', ?)", (json.dumps(settings),))

    def add_usage(
        self,
        deltas: list[tuple[str, int, int, int, int]],
        recent: list[tuple[object, ...]],
        offsets: dict[str, int],
        read_from: dict[str, int],
    ) -> bool:
        """Add per-consumer deltas and recent request records read from usage logs, and how far each log has now
        been read, in one transaction: a record is never counted twice or lost. `read_from` is where the reading
        started; if another drain has moved a file on since, nothing is added (False) and the next drain reads
        again from where that one stopped."""
        with self._transaction():
            for file in offsets:
                row = self._db.execute("SELECT offset FROM usage_offsets WHERE file = ?", (file,)).fetchone()
                if (row[0] if row else 0) != read_from.get(file, 0):
                    return False
            self._db.executemany("INSERT OR REPLACE INTO usage_offsets VALUES (?, ?)", offsets.items())
            self._db.executemany(
                "INSERT INTO usage_totals VALUES (?, ?, ?, ?, ?) ON CONFLICT (consumer) DO UPDATE SET "
                "requests = requests + excluded.requests, prompt_tokens = prompt_tokens + excluded.prompt_tokens, "
                "completion_tokens = completion_tokens + excluded.completion_tokens, "
                "total_tokens = total_tokens + excluded.total_tokens",
                deltas,
            )
            self._db.executemany("INSERT INTO usage_recent VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", recent)
            for consumer in {row[0] for row in recent}:
                self._db.execute(
                    "DELETE FROM usage_recent WHERE consumer = ? AND rowid NOT IN (SELECT rowid FROM usage_recent "
                    "WHERE consumer = ? ORDER BY at DESC LIMIT ?)",
                    (consumer, consumer, RECENT_PER_CONSUMER),
                )
        return True

    def usage_offsets(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT file, offset FROM usage_offsets").fetchall())

    def usage_offset(self, file: str) -> int:
        row = self._db.execute("SELECT offset FROM usage_offsets WHERE file = ?", (file,)).fetchone()
        return int(row[0]) if row else 0

    def forget_usage_offsets(self, files: list[str]) -> None:
        with self._transaction():
            self._db.executemany("DELETE FROM usage_offsets WHERE file = ?", [(f,) for f in files])

    def usage(self, consumer: str) -> tuple[tuple[int, int, int, int], list[tuple[object, ...]]]:
        """(requests, prompt, completion, total) and the most recent records, oldest first."""
        row = self._db.execute(
            "SELECT requests, prompt_tokens, completion_tokens, total_tokens FROM usage_totals WHERE consumer = ?",
            (consumer,),
        ).fetchone()
        recent = self._db.execute(
            "SELECT at, route, model, stream, status, prompt_tokens, completion_tokens, total_tokens FROM usage_recent "
            "WHERE consumer = ? ORDER BY at",
            (consumer,),
        ).fetchall()
        return (tuple(row) if row else (0, 0, 0, 0)), recent

    def close(self) -> None:
        self._db.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
