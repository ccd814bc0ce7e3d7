"""A fast OpenAI-compatible upstream for benchmarks: raw asyncio protocol on uvloop + httptools.

Non-streamed completions and SSE bursts are precomputed bytes. A request whose body mentions "paced" streams its
chunks PACED_MS apart; one for the model "slow" takes SLOW_S in all, like an LLM's answer. Final usage chunk when
the body asks for include_usage. `.../messages` answers in Anthropic's Messages format instead (message, or the
event stream with its usage), for the translated scenario.

    python bench/fast_mock.py PORT [CHUNKS] [PACED_MS]
"""

from __future__ import annotations

import asyncio
import sys

import httptools
import orjson
import uvloop

CHUNKS = 8
PACED_MS = 5.0
SLOW_S = 5.0
WORDS = "Hello from the fast mock upstream, answering quickly for the benchmark harness."
USAGE = {"prompt_tokens": 9, "completion_tokens": 13, "total_tokens": 22}


def _completion() -> bytes:
    body = orjson.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1,
            "model": "mock",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": WORDS}, "finish_reason": "stop"}],
            "usage": USAGE,
        }
    )
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def _events(chunks: int) -> list[bytes]:
    words = WORDS.split(" ")
    size = -(-len(words) // chunks)
    events = []
    for i in range(0, len(words), size):
        piece = " ".join(words[i : i + size])
        chunk = {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "mock",
            "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
        }
        events.append(b"data: " + orjson.dumps(chunk) + b"\n\n")
    return events


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
USAGE_EVENT = (
    b"data: "
    + orjson.dumps(
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "mock", "choices": [], "usage": USAGE}
    )
    + b"\n\n"
)
DONE = b"data: [DONE]\n\n"


def _message() -> bytes:
    usage = {"input_tokens": USAGE["prompt_tokens"], "output_tokens": USAGE["completion_tokens"]}
    message = {"id": "msg_bench", "type": "message", "role": "assistant", "model": "mock", "stop_reason": "end_turn"}
    body = orjson.dumps(
        {**message, "content": [{"type": "text", "text": WORDS}], "stop_sequence": None, "usage": usage}
    )
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def _message_events(chunks: int) -> bytes:
    def event(kind: str, payload: dict[str, object]) -> bytes:
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **payload}) + b"\n\n"

    start = {"id": "msg_bench", "type": "message", "role": "assistant", "model": "mock", "content": []}
    start["usage"] = {"input_tokens": USAGE["prompt_tokens"], "output_tokens": 1}
    words = WORDS.split(" ")
    size = -(-len(words) // chunks)
    deltas = [
        event(
            "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": " ".join(words[i : i + size])}}
        )
        for i in range(0, len(words), size)
    ]
    final = {"delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 13}}
    return b"".join(
        [
            event("message_start", {"message": start}),
            event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
            *deltas,
            event("content_block_stop", {"index": 0}),
            event("message_delta", final),
            event("message_stop", {}),
        ]
    )


MODELS = orjson.dumps({"object": "list", "data": [{"id": "mock", "object": "model"}]})
MODELS_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(MODELS),
    MODELS,
)


class MockProtocol(asyncio.Protocol):
    def __init__(self, completion: bytes, events: list[bytes], paced_s: float, messages: tuple[bytes, bytes]) -> None:
        self.completion, self.events, self.paced_s = completion, events, paced_s
        self.message, self.message_stream = messages
        self.parser = httptools.HttpRequestParser(self)
        self.body: list[bytes] = []
        self.url = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        body, self.body = b"".join(self.body), []
        if self.url.endswith(b"/models"):
            self.transport.write(MODELS_RESPONSE)
        elif self.url.endswith(b"/messages"):
            if b'"stream":true' in body:
                self.transport.write(SSE_HEAD + _chunked(self.message_stream) + b"0\r\n\r\n")
            else:
                self.transport.write(self.message)
        elif b'"stream":true' in body or b'"stream": true' in body:
            with_usage = b"include_usage" in body
            if b'"model":"slow"' in body:
                self.stream_task = asyncio.ensure_future(self._paced(with_usage, SLOW_S / len(self.events)))
            elif b"paced" in body:
                self.stream_task = asyncio.ensure_future(self._paced(with_usage, self.paced_s))
            else:
                payload = b"".join(self.events) + (USAGE_EVENT if with_usage else b"") + DONE
                self.transport.write(SSE_HEAD + _chunked(payload) + b"0\r\n\r\n")
        else:
            self.transport.write(self.completion)

    async def _paced(self, with_usage: bool, delay_s: float) -> None:
        self.transport.write(SSE_HEAD)
        for event in self.events:
            if self.transport.is_closing():  # the client went away (e.g. the load run ended)
                return
            self.transport.write(_chunked(event))
            await asyncio.sleep(delay_s)
        if self.transport.is_closing():
            return
        tail = (USAGE_EVENT if with_usage else b"") + DONE
        self.transport.write(_chunked(tail) + b"0\r\n\r\n")


def main() -> None:
    port = int(sys.argv[1])
    chunks = int(sys.argv[2]) if len(sys.argv) > 2 else CHUNKS
    paced_s = (float(sys.argv[3]) if len(sys.argv) > 3 else PACED_MS) / 1000
    completion, events, messages = _completion(), _events(chunks), (_message(), _message_events(chunks))
    uvloop.install()
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(lambda: MockProtocol(completion, events, paced_s, messages), "127.0.0.1", port, backlog=4096)
    )
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    main()
