"""Usage is billing data: each answered request's usage is appended to a local log before the client sees the end
of its answer, and the control plane adds the logs up into the store about once a second. A data-plane process
killed with SIGKILL loses nothing it answered: the kernel keeps what was written (a power loss can still take the
last seconds, as nothing is fsynced per request).

    DATA_DIR/usage/WRITER.SEQ.log    one JSON array per line: [consumer, at, route, model, stream, status,
                                     prompt_tokens, completion_tokens, total_tokens]; WRITER is PID-RANDOM

The control plane adds them up (control/usage_drain.py).
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import orjson
from lockgate.gateway_runtime.data.usage import Tokens

DIRECTORY = "usage"
SEGMENT_BYTES = 16 << 20


class UsageLog:
    """The writer, one per data-plane process: one `write` per request, appended to its own file."""

    def __init__(self, data_dir: Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self._directory = data_dir / DIRECTORY
        self._directory.mkdir(parents=True, exist_ok=True)
        self._writer = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._segment_bytes = segment_bytes
        self._sequence = 0
        self._fd = self._open()
        self._size = 0

    def _open(self) -> int:
        path = self._directory / f"{self._writer}.{self._sequence:06d}.log"
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def record(self, consumer: str, route: str, model: str, stream: bool, status: int, tokens: Tokens) -> None:
        line = orjson.dumps(
            [consumer, time.time(), route, model, stream, status, tokens.prompt, tokens.completion, tokens.total]
        )
        self._size += os.write(self._fd, line + b"\n")
        if self._size >= self._segment_bytes:
            os.close(self._fd)
            self._sequence += 1
            self._fd, self._size = self._open(), 0

    def close(self) -> None:
        os.close(self._fd)
