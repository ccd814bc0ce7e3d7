"""The client API seam: each API the gateway serves (OpenAI chat completions, Anthropic Messages) is an adapter on
the client's side of the unified format (OpenAI's chat request, answer and chunks; see providers/base.py).

A request whose API is the provider's own is relayed natively (`Provider.native`); any other goes through the
unified format: `unified` turns the client's request into it, `answer` and `stream` turn the provider adapter's
OpenAI-format output into the client's. Every error the client gets is in its API's shape (`error`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from aiohttp import web
from lockgate.gateway_runtime.data.providers.base import StreamParser

if TYPE_CHECKING:
    from lockgate.gateway_runtime.data.policies.base import TextHold
from lockgate.gateway_runtime.data.snapshot import CompiledRoute
from lockgate.gateway_runtime.data.sse import EventSplitter
from lockgate.gateway_runtime.data.upstream import Upstream
from lockgate.gateway_runtime.data.usage import Tokens


class BadRequest(Exception):
    """The client's request is refused before any upstream sees it: its status, message, code and field."""

    def __init__(
        self, status: int, message: str, code: str, param: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.headers = status, message, code, param, headers


class EventRewriter:
    """A stream parser over another one, whose output events (re-split whole: a relay's bytes come as they came)
    each become what `_rewrite` makes of them."""

    def __init__(self, inner: StreamParser) -> None:
        self._inner = inner
        self._events = EventSplitter()

    @property
    def tokens(self) -> Tokens | None:
        return self._inner.tokens

    @property
    def done(self) -> bool:
        return self._inner.done

    @property
    def status(self) -> int:
        return self._inner.status

    def feed(self, chunk: bytes) -> bytes:
        return self._rewritten(self._inner.feed(chunk))

    def close(self) -> bytes:
        return self._rewritten(self._inner.close())

    def _rewritten(self, out: bytes) -> bytes:
        if not out:
            return b""
        events, overflow = self._events.feed(out)
        return b"".join(self._rewrite(event) for event in events) + overflow  # overflow: a relay's, > 1 MiB

    def _rewrite(self, event: bytes) -> bytes:
        raise NotImplementedError


class TextStream(EventRewriter):
    """A client API's stream with its texts filtered: each text (a choice, a content block) through a `TextHold`
    of its own, which holds back what may still change (`_rewrite`, per API)."""

    def __init__(self, inner: StreamParser, hold: Callable[[], TextHold]) -> None:
        super().__init__(inner)
        self._hold = hold
        self._holds: dict[Any, TextHold] = {}

    def held(self, key: Any) -> TextHold:
        found = self._holds.get(key)
        if found is None:
            found = self._holds[key] = self._hold()
        return found


def said(role: str, where: str, content: object) -> Iterator[Said]:
    """The texts of a string or of a list of parts (OpenAI) or blocks (Anthropic; a tool_result's, as the tool's)."""
    if isinstance(content, str):
        yield Said(role, where, content)
    elif isinstance(content, list):
        for at, part in enumerate(content):
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                yield Said(role, f"{where}[{at}].text", part["text"])
            elif isinstance(part, dict) and part.get("type") == "tool_result":
                yield from said("tool", f"{where}[{at}].content", part.get("content"))


def changed(content: Any, change: Callable[[str], str]) -> Any:
    """A string or a list of parts or blocks with `change` applied to every text `said` finds, in place."""
    if isinstance(content, str):
        return change(content)
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                part["text"] = change(part["text"])
            elif isinstance(part, dict) and part.get("type") == "tool_result" and part.get("content") is not None:
                part["content"] = changed(part["content"], change)
    return content


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

    def map_texts(self, body: dict[str, Any], change: Callable[[str], str]) -> None:
        """Replace every text of the request with `change(text)`, in place."""
        ...

    def map_answer(self, answer: bytes, change: Callable[[str], str]) -> bytes:
        """The full answer (this API's) with `change` applied to its texts."""
        ...

    def map_stream(self, parser: StreamParser, hold: Callable[[], TextHold]) -> StreamParser:
        """A parser whose output (this API's events) has its texts filtered by a `hold()` per text."""
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
