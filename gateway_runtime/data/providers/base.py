"""The provider seam: one module per LLM provider behind `Provider`, made for its upstream when a snapshot is compiled.

The gateway's unified format is OpenAI's chat completions. A provider that speaks it (`relay = True`) has its bytes
relayed to the client unchanged, with an incremental tee for usage: the fast path. Any other is translated: its
request built from the unified one, its response and its stream (incrementally) turned into OpenAI's, its usage read
from its own fields, its errors mapped to the gateway's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp.typedefs import StrOrURL
from lockgate.gateway_runtime.data.usage import Tokens


class TranslationError(ValueError):
    """The request asks for something the provider cannot do: a 400 that names the field."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message, self.param = message, param


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    """One HTTP request to the provider."""

    url: StrOrURL  # a yarl.URL(..., encoded=True) when the path is signed as it is (SigV4)
    headers: dict[str, str]
    payload: bytes | None = None  # None: a GET


@dataclass(frozen=True, slots=True)
class UpstreamError:
    """A provider's error as the client gets it: OpenAI's error shape, with the provider's status where the status
    means the same to the client; `body`, when set, is an OpenAI-style error passed through as the provider sent it."""

    status: int
    message: str
    code: str
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    """A provider's full answer, in OpenAI's format, and what it used."""

    body: bytes
    tokens: Tokens


class StreamParser(Protocol):
    """Fed the provider's stream bytes as they come; returns what to send the client (OpenAI SSE events)."""

    @property
    def tokens(self) -> Tokens | None:
        """The provider's own counts, once it sent them."""

    @property
    def done(self) -> bool:
        """The stream reached its end: the client has had its last event."""

    @property
    def status(self) -> int:
        """200, or the status of an error the provider sent inside the stream."""

    def feed(self, chunk: bytes) -> bytes: ...

    def close(self) -> bytes:
        """The provider closed the stream: what is left to send (a format whose end is the connection's own ends
        here, and sets `done`)."""
        ...


class Provider(Protocol):
    relay: bool  # speaks OpenAI's format: bytes relayed as they come, the request sent as the client wrote it
    stream_type: str  # the content type of its streams

    def chat_call(self, body: dict[str, Any], stream: bool) -> UpstreamCall:
        """The provider's request for an OpenAI chat request (`body` is checked: messages, model, stream);
        TranslationError if the provider cannot do what it asks."""
        ...

    def completion(self, body: bytes, model: str) -> Completion | None:
        """The provider's 200 answer in OpenAI's format (`model`, the one asked for, where the answer names none);
        None if it is not a valid answer."""
        ...

    def stream_parser(self, model: str, include_usage: bool, hide_usage: bool) -> StreamParser:
        """A parser for one stream: `include_usage`, the client asked for the usage chunk; `hide_usage`, the gateway
        asked for it on the client's behalf (a relay drops it)."""
        ...

    def models_call(self) -> UpstreamCall:
        """The request that lists the provider's models."""
        ...

    def native(self, api: str) -> Provider | None:
        """This provider as a relay for client API `api` (its own format: requests, answers and errors pass
        unchanged, usage read on the way); None if it does not speak it."""
        ...

    def models(self, body: bytes) -> bytes | None:
        """The provider's model list as OpenAI's `{"object": "list", "data": [...]}`; None if it is not one."""
        ...

    def error(self, status: int, content_type: str, body: bytes) -> UpstreamError:
        """The provider's error answer (JSON or not), mapped to the gateway's."""
        ...


def credentials_rejected(upstream: str, status: int) -> UpstreamError:
    """The provider refused the gateway's own credentials: the gateway's fault, not the client's (502)."""
    return UpstreamError(502, f"Upstream '{upstream}' rejected the gateway's credentials ({status}).", "upstream_auth")


def unreadable_error(upstream: str, status: int, content_type: str, body: bytes, shape: str) -> UpstreamError:
    return UpstreamError(
        502,
        f"Upstream '{upstream}' answered HTTP {status} with a body that is not {shape} "
        f"({content_type or 'no content type'}, {len(body)} bytes).",
        "upstream_error",
    )
