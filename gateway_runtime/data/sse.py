"""Server-sent events, incrementally: whole events out of a byte stream as it arrives, in bounded memory."""

from __future__ import annotations

from typing import Any

import orjson

_SEPARATORS = (b"\n\n", b"\r\n\r\n")
MAX_EVENT_BYTES = 1 << 20  # an event longer than this is not held back whole: the buffer stays bounded


class EventSplitter:
    """Feed stream bytes; get back the complete events (each with its blank line) and, past MAX_EVENT_BYTES of
    one unfinished event, that much of it as `overflow` (a relay passes it on uninspected; a translator fails)."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> tuple[list[bytes], bytes]:
        data = self._buffer + chunk if self._buffer else chunk
        events: list[bytes] = []
        start = 0
        while True:
            end, sep_len = _next_separator(data, start)
            if end < 0:
                break
            events.append(data[start : end + sep_len])
            start = end + sep_len
        self._buffer = data[start:]
        if len(self._buffer) > MAX_EVENT_BYTES:
            overflow, self._buffer = self._buffer, b""
            return events, overflow
        return events, b""


def _next_separator(data: bytes, start: int) -> tuple[int, int]:
    best, length = -1, 0
    for sep in _SEPARATORS:
        found = data.find(sep, start)
        if found >= 0 and (best < 0 or found < best):
            best, length = found, len(sep)
    return best, length


def data_of(event: bytes) -> Any:
    """The JSON of an event's `data:` lines; None if it has none or they are not JSON."""
    lines = [line[5:].lstrip() for line in event.splitlines() if line.startswith(b"data:")]
    try:
        return orjson.loads(b"\n".join(lines)) if lines else None
    except orjson.JSONDecodeError:
        return None


def data_event(payload: object) -> bytes:
    """An OpenAI-style event: `data: JSON` and a blank line."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


DONE_EVENT = b"data: [DONE]\n\n"
