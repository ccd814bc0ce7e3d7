"""What every policy of the request phase is: a ready-to-run object made from its model when a snapshot is compiled
(patterns compiled, texts prepared), whose hook returns one closed decision: None to go on, or `Respond`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # the client APIs need the snapshot, which compiles these policies
    from lockgate.gateway_runtime.data.clients.base import ClientApi
    from lockgate.gateway_runtime.data.identities import Identity


@dataclass(frozen=True, slots=True)
class Respond:
    """Answer the client now, in its API's error shape: the status, the message, the error code and the field."""

    status: int
    message: str
    code: str
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class RequestContext:
    """A checked request on its way to the upstream: the policies of the request phase read and change `body` (in
    its client API's format, through `api`)."""

    api: ClientApi
    body: dict[str, Any]
    consumer: Identity | None


class RequestPolicy(Protocol):
    name: str
    priority: int  # higher runs first (the table in policies/__init__.py)

    def on_request(self, ctx: RequestContext) -> Respond | None: ...
