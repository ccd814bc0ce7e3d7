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
from lockgate.gateway_runtime.data.usage import MAX_TOKENS, RECENT_PER_CONSUMER, Delta
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
    deltas: dict[str, Delta] = {}
    recent: dict[str, deque[tuple[object, ...]]] = {}
    offsets: dict[str, int] = {}
    for path in files:
        start = done.get(path.name, 0)
        data = read_records(path, start, MAX_READ_BYTES)
        if data:
            _add_up(data, path.name, deltas, recent)
            offsets[path.name] = start + len(data)
    if offsets:
        added = store.add_usage(
            [(n, d.requests, d.prompt_tokens, d.completion_tokens, d.total_tokens) for n, d in deltas.items()],
            [record for records in recent.values() for record in records],
            offsets,
            read_from=done,
        )
        if not added:
            log.warning("another drain added these usage logs up first; reading them again next time")
            return
    _remove_finished(files, {**done, **offsets}, store)


def add_lines(store: Store, file: str, start: int, data: bytes) -> tuple[bool, int]:
    """Add a remote data plane's usage log bytes, read from `start` of its `file`, unless the store has not read
    exactly up to `start` (a resend, or a gap): answers whether they were added and where the store stands now."""
    deltas: dict[str, Delta] = {}
    recent: dict[str, deque[tuple[object, ...]]] = {}
    end = data.rfind(b"\n") + 1
    _add_up(data[:end], file, deltas, recent)
    added = store.add_usage(
        [(n, d.requests, d.prompt_tokens, d.completion_tokens, d.total_tokens) for n, d in deltas.items()],
        [record for records in recent.values() for record in records],
        {file: start + end},
        read_from={file: start},
    )
    return added, start + end if added else store.usage_offset(file)


def _add_up(data: bytes, name: str, deltas: dict[str, Delta], recent: dict[str, deque[tuple[object, ...]]]) -> None:
    for line in data.splitlines():
        try:
            consumer, at, route, model, stream, status, prompt, completion, total = orjson.loads(line)
            counts = (prompt, completion, total)
            if not isinstance(consumer, str) or not all(type(n) is int and 0 <= n <= MAX_TOKENS for n in counts):
                raise ValueError("not a usage record")
        except (orjson.JSONDecodeError, ValueError, TypeError):
            log.error("skipping an unreadable usage record in %s", name)
            continue
        delta = deltas.get(consumer)
        if delta is None:
            delta = deltas[consumer] = Delta()
            recent[consumer] = deque(maxlen=RECENT_PER_CONSUMER)
        delta.requests += 1
        delta.prompt_tokens += prompt
        delta.completion_tokens += completion
        delta.total_tokens += total
        recent[consumer].append((consumer, at, route, model, stream, status, prompt, completion, total))


def _remove_finished(files: list[Path], added_up: dict[str, int], store: Store) -> None:
    """Remove the files that are added up and that no writer holds any more (it moved on to a newer one, or
    exited: its flock went with it)."""
    finished = [path for path in files if added_up.get(path.name, 0) >= written(path) and not held(path)]
    for path in finished:
        path.unlink(missing_ok=True)
    if finished:
        store.forget_usage_offsets([path.name for path in finished])
