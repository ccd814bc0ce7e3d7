"""Incremental SSE parsing of an upstream stream: whole events out, usage picked up on the way."""

from __future__ import annotations

from typing import Any

import orjson

_SEPARATORS = (b"\n\n", b"\r\n\r\n")
MAX_EVENT_BYTES = 1 << 20  # an event longer than this is relayed as it comes, uninspected: the buffer stays bounded


class SseTee:
    """Feed upstream bytes; get back the complete events to relay unchanged.

    Only an event that mentions usage is parsed as JSON. The usage-only chunk that the gateway asked for on the
    client's behalf (`hide_usage_chunk`) is dropped, so clients see exactly the stream they asked for.
    """

    def __init__(self, hide_usage_chunk: bool) -> None:
        self._buffer = b""
        self._hide_usage_chunk = hide_usage_chunk
        self.usage: object = None  # the upstream's `usage`, as sent: read it with usage.read_usage
        self.done = False

    def feed(self, chunk: bytes) -> bytes:
        data = self._buffer + chunk if self._buffer else chunk
        out: list[bytes] = []
        start = 0
        while True:
            end, sep_len = _next_separator(data, start)
            if end < 0:
                break
            event = data[start : end + sep_len]
            start = end + sep_len
            if self._inspect(event):
                out.append(event)
        self._buffer = data[start:]
        if len(self._buffer) > MAX_EVENT_BYTES:
            out.append(self._buffer)
            self._buffer = b""
        return b"".join(out)

    def _inspect(self, event: bytes) -> bool:
        """Returns whether to relay the event."""
        if b"[DONE]" in event and event.strip().endswith(b"[DONE]"):
            self.done = True
            return True
        if b'"usage"' not in event:
            return True
        payload = _data_of(event)
        if not isinstance(payload, dict):
            return True
        usage = payload.get("usage")
        if usage is not None:
            self.usage = usage
            if self._hide_usage_chunk and not payload.get("choices"):
                return False
        return True


def _next_separator(data: bytes, start: int) -> tuple[int, int]:
    best, length = -1, 0
    for sep in _SEPARATORS:
        found = data.find(sep, start)
        if found >= 0 and (best < 0 or found < best):
            best, length = found, len(sep)
    return best, length


def _data_of(event: bytes) -> Any:
    lines = [line[5:].lstrip() for line in event.splitlines() if line.startswith(b"data:")]
    try:
        return orjson.loads(b"\n".join(lines))
    except orjson.JSONDecodeError:
        return None
