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
CREATE TABLE IF NOT EXISTS usage_buckets (
    consumer TEXT NOT NULL, route TEXT NOT NULL, model TEXT NOT NULL, bucket INTEGER NOT NULL,
    requests INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER, total_tokens INTEGER, cached_tokens INTEGER,
    reasoning_tokens INTEGER, cost_micros INTEGER, estimated INTEGER, PRIMARY KEY (consumer, route, model, bucket)
);
CREATE INDEX IF NOT EXISTS usage_buckets_by_time ON usage_buckets (bucket);
CREATE INDEX IF NOT EXISTS usage_recent_by_consumer ON usage_recent (consumer, at);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS usage_offsets (file TEXT PRIMARY KEY, offset INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS promotions (id TEXT NOT NULL, at REAL NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS promotions_by_time ON promotions (at);
"""
PROMOTIONS_KEPT = 1000


USAGE_COUNTS = ("cached_tokens", "reasoning_tokens", "cost_micros", "estimated")  # added to usage_totals later
USAGE_DETAILS = ("cached_tokens", "reasoning_tokens", "estimated", "cost_micros")  # and to usage_recent
_SUMS = (
    "requests, prompt_tokens, completion_tokens, total_tokens, cached_tokens, reasoning_tokens, cost_micros, estimated"
)
REPORT_KEYS = ("consumer", "route", "model")


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
        for table, added in (("usage_totals", USAGE_COUNTS), ("usage_recent", USAGE_DETAILS)):
            present = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            for column in added:  # a store from before these were recorded: they count 0 there
                if column not in present:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")

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
        totals: list[tuple[object, ...]],
        buckets: list[tuple[object, ...]],
        recent: list[tuple[object, ...]],
        offsets: dict[str, int],
        read_from: dict[str, int],
    ) -> bool:
        """Add usage read from logs (per-consumer totals, per (consumer, route, model, hour) buckets, the latest
        records) and how far each log has now been read, in one transaction: a record is never counted twice or
        lost. `read_from` is where the reading started; if another drain has moved a file on since, nothing is
        added (False) and the next drain reads again from where that one stopped."""
        with self._transaction():
            for file in offsets:
                row = self._db.execute("SELECT offset FROM usage_offsets WHERE file = ?", (file,)).fetchone()
                if (row[0] if row else 0) != read_from.get(file, 0):
                    return False
            self._db.executemany("INSERT OR REPLACE INTO usage_offsets VALUES (?, ?)", offsets.items())
            self._db.executemany(f"INSERT INTO usage_totals (consumer, {_SUMS}) VALUES ({_marks(9)}) {_ADD}", totals)
            self._db.executemany(
                f"INSERT INTO usage_buckets (consumer, route, model, bucket, {_SUMS}) VALUES ({_marks(12)}) "
                f"ON CONFLICT (consumer, route, model, bucket) DO UPDATE SET {_ADD_SET}",
                buckets,
            )
            self._db.executemany(
                "INSERT INTO usage_recent (consumer, at, route, model, stream, status, prompt_tokens, "
                f"completion_tokens, total_tokens, {', '.join(USAGE_DETAILS)}) VALUES ({_marks(13)})",
                recent,
            )
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

    def usage(self, consumer: str) -> tuple[tuple[int, ...], list[tuple[object, ...]]]:
        """The consumer's sums (in _SUMS' order) and its most recent records, oldest first."""
        row = self._db.execute(f"SELECT {_SUMS} FROM usage_totals WHERE consumer = ?", (consumer,)).fetchone()
        recent = self._db.execute(
            "SELECT at, route, model, stream, status, prompt_tokens, completion_tokens, total_tokens, "
            f"{', '.join(USAGE_DETAILS)} FROM usage_recent WHERE consumer = ? ORDER BY at",
            (consumer,),
        ).fetchall()
        return (tuple(row) if row else (0,) * 8), recent

    def usage_report(
        self, group_by: tuple[str, ...], bucket_s: int | None, since: float, until: float, where: dict[str, str]
    ) -> list[tuple[object, ...]]:
        """Sums per `group_by` keys (of REPORT_KEYS) and, with `bucket_s` (a multiple of an hour), per time bucket
        of that size, over the hours that start in [since, until); rows are the keys, the bucket start, the sums."""
        assert set(group_by) <= set(REPORT_KEYS) and set(where) <= set(REPORT_KEYS)
        keys = list(group_by) + ([f"bucket - bucket % {int(bucket_s)}"] if bucket_s else [])
        conditions = ["bucket >= ?", "bucket < ?", *(f"{key} = ?" for key in where)]
        sums = ", ".join(f"SUM({column})" for column in _SUMS.split(", "))
        query = f"SELECT {', '.join([*keys, sums])} FROM usage_buckets WHERE {' AND '.join(conditions)}"
        if keys:
            query += f" GROUP BY {', '.join(keys)} ORDER BY {', '.join(keys)}"
        rows = self._db.execute(query, (since, until, *where.values())).fetchall()
        return [row for row in rows if row[len(keys)] is not None]

    def add_promotion(self, body: dict[str, Any]) -> None:
        """Record one promotion (its `id` and `at` are indexed); the oldest beyond PROMOTIONS_KEPT are dropped."""
        with self._transaction():
            self._db.execute("INSERT INTO promotions VALUES (?, ?, ?)", (body["id"], body["at"], json.dumps(body)))
            self._db.execute(
                "DELETE FROM promotions WHERE rowid NOT IN (SELECT rowid FROM promotions ORDER BY at DESC LIMIT ?)",
                (PROMOTIONS_KEPT,),
            )

    def promotions(self) -> list[dict[str, Any]]:
        """Newest first."""
        rows = self._db.execute("SELECT body FROM promotions ORDER BY at DESC, rowid DESC").fetchall()
        return [json.loads(body) for (body,) in rows]

    def close(self) -> None:
        self._db.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


def _marks(count: int) -> str:
    return ", ".join("?" * count)


_ADD_SET = ", ".join(f"{column} = {column} + excluded.{column}" for column in _SUMS.split(", "))
_ADD = f"ON CONFLICT (consumer) DO UPDATE SET {_ADD_SET}"


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
