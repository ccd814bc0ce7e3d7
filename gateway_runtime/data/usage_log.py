"""Usage is billing data: each answered request's usage is written to a local log before the client sees the end
of its answer, and the control plane adds the logs up into the store about once a second. A data-plane process
killed with SIGKILL loses nothing it answered: the log is a shared memory-mapped file, so what the process wrote is
the kernel's (a power loss can still take the last seconds: nothing is fsynced per request).

    DATA_DIR/usage/WRITER.SEQ.log    an 8-byte header (little-endian: how many record bytes follow), then one JSON
                                     array per line: [consumer, at, route, model, stream, status, prompt_tokens,
                                     completion_tokens, total_tokens, cached_tokens, reasoning_tokens, estimated,
                                     cost_micros] (logs written before the last four have nine); WRITER is
                                     PID-RANDOM; the writer holds a shared flock on its current file

A record costs a copy into the mapping and no system call (an append per request cost a few microseconds of CPU).
The writer moves the header's count only after the whole line is in place, so a reader never sees half a record.
The control plane adds them up (control/usage_drain.py).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import secrets
import struct
import time
from pathlib import Path

import orjson
from lockgate.gateway_runtime.data.usage import Tokens

DIRECTORY = "usage"
SEGMENT_BYTES = 16 << 20  # record bytes per file (allocated up front: 16 MiB per data-plane process)
HEADER = struct.Struct("<Q")
MAX_MODEL = 256


def written(path: Path) -> int:
    """How many record bytes a log file holds (its header)."""
    with path.open("rb") as handle:
        header = handle.read(HEADER.size)
    return HEADER.unpack(header)[0] if len(header) == HEADER.size else 0


def read_records(path: Path, start: int, limit: int) -> bytes:
    """Whole record lines from byte `start` on, at most `limit` bytes of them."""
    available = min(written(path) - start, limit)
    if available <= 0:
        return b""
    with path.open("rb") as handle:
        handle.seek(HEADER.size + start)
        data = handle.read(available)
    return data[: data.rfind(b"\n") + 1]  # the writer counts a line in the header only once it is complete


def held(path: Path) -> bool:
    """Whether a writer still holds the file (it is its current one; a finished file is no writer's)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the lock, if it was taken
    return False


class UsageLog:
    """The writer, one per data-plane process, each with its own files."""

    def __init__(self, data_dir: Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self._directory = data_dir / DIRECTORY
        self._directory.mkdir(parents=True, exist_ok=True)
        self._writer = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._segment_bytes = segment_bytes
        self._sequence = 0
        self._fd, self._map = self._open()
        self._end = 0

    def _open(self) -> tuple[int, mmap.mmap]:
        """A new file, held with a shared lock while it is the current one: the drain removes a file only once no
        writer holds it (a PID could be reused, or belong to another namespace; a lock cannot)."""
        path = self._directory / f"{self._writer}.{self._sequence:06d}.log"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            # allocated now: a full disk is an OSError here, not a SIGBUS when a later record touches a new page
            os.posix_fallocate(fd, 0, HEADER.size + self._segment_bytes)
            return fd, mmap.mmap(fd, HEADER.size + self._segment_bytes)
        except BaseException:
            os.close(fd)
            raise

    def record(
        self,
        consumer: str,
        route: str,
        model: str,
        stream: bool,
        status: int,
        tokens: Tokens,
        estimated: bool = False,
        cost_micros: int = 0,
    ) -> None:
        """`estimated`: the provider did not report the counts (a stream cut short): the gateway's own estimate."""
        line = orjson.dumps(  # the model is the client's string: cut, so a record always fits a file
            [consumer, time.time(), route, model[:MAX_MODEL], stream, status, *tokens, estimated, cost_micros],
            option=orjson.OPT_APPEND_NEWLINE,
        )
        start, end = self._end, self._end + len(line)
        if end > self._segment_bytes:  # this file is full: go on in a new one (the drain removes the old one)
            self.close()
            self._sequence += 1
            (self._fd, self._map), start, end = self._open(), 0, len(line)
        self._map[HEADER.size + start : HEADER.size + end] = line
        HEADER.pack_into(self._map, 0, end)
        self._end = end

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)  # releases the lock: the file is finished
