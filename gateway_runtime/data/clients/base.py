"""The client API seam: each API the gateway serves (OpenAI chat completions, Anthropic Messages) is an adapter on
the client's side of the unified format (OpenAI's chat request, answer and chunks; see providers/base.py).

A request whose API is the provider's own is relayed natively (`Provider.native`); any other goes through the
unified format: `unified` turns the client's request into it, `answer` and `stream` turn the provider adapter's
OpenAI-format output into the client's. Every error the client gets is in its API's shape (`error`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple, Protocol

from aiohttp import web
from lockgate.gateway_runtime.data.providers.base import StreamParser
from lockgate.gateway_runtime.data.snapshot import CompiledRoute
from lockgate.gateway_runtime.data.upstream import Upstream


class BadRequest(Exception):
    """The client's request is refused before any upstream sees it: its status, message, code and field."""

    def __init__(
        self, status: int, message: str, code: str, param: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.headers = status, message, code, param, headers


def invalid(message: str, param: str) -> BadRequest:
    return BadRequest(400, message, "invalid_request", param=param)


class Prepared(NamedTuple):
    """What the gateway reads from a checked request."""

    model: str
    stream: bool
    include_usage: bool  # the client asked for usage on its stream
    hide_usage: bool  # the gateway asked an OpenAI relay for the usage chunk: it is dropped on the way back


class Said(NamedTuple):
    """One text of a request, for the policies that read prompts: who said it, where it is (a field path for
    errors), and the text."""

    role: str  # 'system' (OpenAI's developer too), 'user', 'assistant' or 'tool'
    where: str
    text: str


class ClientApi(Protocol):
    format: str  # the wire format, as Provider.native knows it

    def texts(self, body: dict[str, Any]) -> Iterator[Said]:
        """The request's texts, in order (a checked request: `prepare` ran)."""
        ...

    def decorate(self, body: dict[str, Any], before: list[tuple[str, str]], after: list[tuple[str, str]]) -> None:
        """Add (role, text) messages before and after the request's own, in place."""
        ...

    def prepare(self, body: dict[str, Any], route: CompiledRoute, upstream: Upstream) -> Prepared:
        """Check the fields the gateway relies on and apply the settings of the route and of the upstream chosen
        for it (a fixed model), in place; BadRequest names the field."""
        ...

    def unified(self, body: dict[str, Any]) -> dict[str, Any]:
        """The request as an OpenAI chat request; BadRequest for what cannot be said in it."""
        ...

    def answer(self, completion: bytes) -> bytes:
        """An OpenAI `chat.completion` (from a provider adapter) as this API's answer."""
        ...

    def stream(self, parser: StreamParser) -> StreamParser:
        """A parser whose output (OpenAI chunks) is turned into this API's stream events."""
        ...

    def error(
        self, status: int, message: str, code: str, param: str | None = None, headers: dict[str, str] | None = None
    ) -> web.Response: ...

    def error_event(self, message: str, code: str) -> bytes:
        """The event that ends a broken stream."""
        ...
