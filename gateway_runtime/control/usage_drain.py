"""Add the data planes' usage logs (data/usage_log.py) up into the store, about once a second.

The store records, per file, how far it has added up, in the same transaction as the totals, so every record counts
exactly once. A file is removed once it is added up and no writer holds its lock any more.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from pathlib import Path

import orjson
from lockgate.gateway_runtime.control.store import Store
from lockgate.gateway_runtime.data.usage import BUCKET_S, MAX_TOKENS, RECENT_PER_CONSUMER, Delta
from lockgate.gateway_runtime.data.usage_log import DIRECTORY, held, read_records, written

log = logging.getLogger("lockgate.usage")
MAX_READ_BYTES = 64 << 20  # per file and drain: a backlog is added up over several drains, never all in memory


class UsageDrain:
    """Adds the logs up one drain at a time, on its own store connection, so it can run off the event loop (in a
    thread) while the admin API keeps using the main connection."""

    def __init__(self, data_dir: Path, db_path: Path) -> None:
        self._data_dir, self._store, self._lock = data_dir, Store(db_path), threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            drain(self._data_dir, self._store)

    def close(self) -> None:
        with self._lock:
            self._store.close()


def drain(data_dir: Path, store: Store) -> None:
    """Add every log's new records to the store, then remove the files that are finished."""
    directory = data_dir / DIRECTORY
    if not directory.is_dir():
        return
    done = store.usage_offsets()
    files = sorted(directory.glob("*.log"))
    added_up = AddedUp()
    offsets: dict[str, int] = {}
    for path in files:
        start = done.get(path.name, 0)
        data = read_records(path, start, MAX_READ_BYTES)
        if data:
            added_up.lines(data, path.name)
            offsets[path.name] = start + len(data)
    if offsets:
        added = store.add_usage(added_up.totals(), added_up.buckets(), added_up.recent(), offsets, read_from=done)
        if not added:
            log.warning("another drain added these usage logs up first; reading them again next time")
            return
    _remove_finished(files, {**done, **offsets}, store)


def add_lines(store: Store, file: str, start: int, data: bytes) -> tuple[bool, int]:
    """Add a remote data plane's usage log bytes, read from `start` of its `file`, unless the store has not read
    exactly up to `start` (a resend, or a gap): answers whether they were added and where the store stands now."""
    added_up = AddedUp()
    end = data.rfind(b"\n") + 1
    added_up.lines(data[:end], file)
    added = store.add_usage(
        added_up.totals(), added_up.buckets(), added_up.recent(), {file: start + end}, read_from={file: start}
    )
    return added, start + end if added else store.usage_offset(file)


class AddedUp:
    """Usage records added up: per consumer, per (consumer, route, model, hour), and each consumer's latest."""

    def __init__(self) -> None:
        self._totals: dict[str, Delta] = {}
        self._buckets: dict[tuple[str, str, str, int], Delta] = {}
        self._recent: dict[str, deque[tuple[object, ...]]] = {}

    def lines(self, data: bytes, name: str) -> None:
        for line in data.splitlines():
            try:
                record = orjson.loads(line)
                if len(record) == 9:  # written before cached, reasoning, estimated and cost were recorded
                    record += [0, 0, False, 0]
                consumer, at, route, model, stream, status, *counts, estimated, cost = record
                if not isinstance(consumer, str) or not all(type(n) is int and 0 <= n <= MAX_TOKENS for n in counts):
                    raise ValueError("not a usage record")
                if type(cost) is not int or cost < 0 or not isinstance(at, float | int):
                    raise ValueError("not a usage record")
            except (orjson.JSONDecodeError, ValueError, TypeError):
                log.error("skipping an unreadable usage record in %s", name)
                continue
            total = self._totals.get(consumer)
            if total is None:
                total = self._totals[consumer] = Delta()
                self._recent[consumer] = deque(maxlen=RECENT_PER_CONSUMER)
            total.add(counts, bool(estimated), cost)
            bucket = (consumer, str(route), str(model), int(at // BUCKET_S) * BUCKET_S)
            self._buckets.setdefault(bucket, Delta()).add(counts, bool(estimated), cost)
            self._recent[consumer].append((consumer, at, route, model, stream, status, *counts, bool(estimated), cost))

    def totals(self) -> list[tuple[object, ...]]:
        return [(consumer, *delta.row()) for consumer, delta in self._totals.items()]

    def buckets(self) -> list[tuple[object, ...]]:
        return [(*key, *delta.row()) for key, delta in self._buckets.items()]

    def recent(self) -> list[tuple[object, ...]]:
        return [record for records in self._recent.values() for record in records]


def _remove_finished(files: list[Path], added_up: dict[str, int], store: Store) -> None:
    """Remove the files that are added up and that no writer holds any more (it moved on to a newer one, or
    exited: its flock went with it)."""
    finished = [path for path in files if added_up.get(path.name, 0) >= written(path) and not held(path)]
    for path in finished:
        path.unlink(missing_ok=True)
    if finished:
        store.forget_usage_offsets([path.name for path in finished])
