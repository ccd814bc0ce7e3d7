"""What every policy of the request phase is: a ready-to-run object made from its model when a snapshot is compiled
(patterns compiled, texts prepared), whose hook returns one closed decision: None to go on, or `Respond`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # the client APIs need the snapshot, which compiles these policies
    from lockgate.gateway_runtime.data.clients.base import ClientApi
    from lockgate.gateway_runtime.data.identities import Identity


class PolicyError(ValueError):
    """A policy's model is valid but it cannot run here (a secret reference that does not resolve): its field."""

    def __init__(self, field: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Respond:
    """Answer the client now, in its API's error shape: the status, the message, the error code and the field."""

    status: int
    message: str
    code: str
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class TextHold(Protocol):
    """A streamed text, filtered as it comes: `push` answers what may be sent now (holding back what a finding
    could still span), `flush` the rest once the text ends."""

    def push(self, text: str) -> str: ...

    def flush(self) -> str: ...


class AnswerFilter(Protocol):
    """What a policy does to the answer's texts (the response phase)."""

    def whole(self, text: str) -> str: ...

    def hold(self) -> TextHold: ...


@dataclass(slots=True)
class Access:
    """What the access phase learned: who is calling, and headers to add to the response."""

    consumer: Identity | None = None
    response_headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class RequestContext:
    """A checked request on its way to the upstream: the policies of the request phase read and change `body` (in
    its client API's format, through `api`), and register what the response phase must do to the answer."""

    api: ClientApi
    body: dict[str, Any]
    consumer: Identity | None
    headers: Mapping[str, str] = field(default_factory=dict)  # the client's (case-insensitive)
    upstream_headers: dict[str, str] = field(default_factory=dict)  # added to the upstream request
    answer_filters: list[AnswerFilter] = field(default_factory=list)  # in the order they run on the answer
    header_edits: list[Callable[[dict[str, str]], None]] = field(default_factory=list)  # on the answer's headers
    redacted: dict[str, int] = field(default_factory=dict)  # PII found, counts by kind (never the values)


class RequestPolicy(Protocol):
    name: str
    priority: int  # higher runs first (the table in policies/__init__.py)
    phase: str  # "sent": on the body as the client sent it; "checked": once the gateway checked and routed it

    def on_request(self, ctx: RequestContext) -> Respond | None: ...
