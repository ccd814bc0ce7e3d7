"""Fixed-window request limits shared by every worker process: a hash table in a memory-mapped file.

Each slot is (key hash, window number, count), 24 bytes; open addressing with linear probing. A `fcntl` lock on the
file makes each check-and-increment atomic across processes (≈ 2 µs, uncontended). If the table is ever full the
limiter fails open for new keys and says so once in the log, rather than rejecting traffic.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import math
import mmap
import os
import struct
import time
from pathlib import Path

from lockgate.gateway_runtime.data.limits import Limit, Verdict

log = logging.getLogger("lockgate.limits")
SLOTS = 1 << 16
LIMITS_FILE = "limits.shm"  # in DATA_DIR, shared by the workers of one gateway
_SLOT = struct.Struct("<QqQ")


class SharedWindowLimiter:
    def __init__(self, path: Path, slots: int = SLOTS) -> None:
        self._slots = slots
        size = slots * _SLOT.size
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(self._fd).st_size != size:
            os.ftruncate(self._fd, size)
        self._map = mmap.mmap(self._fd, size)
        self._hashes: dict[tuple[str, str, int], int] = {}
        self._warned = False

    def _hash(self, consumer: str, limit: Limit) -> int:
        key = (limit.group, consumer, limit.window_s)
        found = self._hashes.get(key)
        if found is None:
            digest = hashlib.blake2b(f"{limit.group}\0{consumer}\0{limit.window_s}".encode(), digest_size=8).digest()
            found = self._hashes[key] = int.from_bytes(digest, "little") or 1  # 0 marks an empty slot
        return found

    def hit(self, consumer: str, limit: Limit, now: float | None = None) -> Verdict:
        now = time.time() if now is None else now
        window = int(now // limit.window_s)
        key = self._hash(consumer, limit)
        start = key & (self._slots - 1)
        fcntl.lockf(self._fd, fcntl.LOCK_EX)
        try:
            for probe in range(self._slots):
                offset = ((start + probe) & (self._slots - 1)) * _SLOT.size
                slot_key, slot_window, count = _SLOT.unpack_from(self._map, offset)
                if slot_key not in (0, key):
                    continue
                if slot_key == 0 or slot_window != window:
                    count = 0
                if count >= limit.requests:
                    retry = max(1, math.ceil((window + 1) * limit.window_s - now))
                    return Verdict(False, limit.requests, 0, retry)
                _SLOT.pack_into(self._map, offset, key, window, count + 1)
                return Verdict(True, limit.requests, limit.requests - count - 1, 0)
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)
        if not self._warned:
            log.error("shared limit table is full (%d keys): new keys are not limited", self._slots)
            self._warned = True
        return Verdict(True, limit.requests, limit.requests, 0)

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)
