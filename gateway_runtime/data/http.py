"""The proxy's HTTP server: aiohttp's low-level server, answering what its parser rejects in the gateway's error
shape, and bounding how long a connection may sit idle or take to send its request headers.

    parser rejects                      answer
    a header (name or value) too long   431 header_too_large        (GatewaySettings.max_header_bytes)
    too many headers                    431 too_many_headers        (GatewaySettings.max_headers)
    the request line too long           414 uri_too_long
    anything else (both Content-Length  400 invalid_http            and the connection is closed, so nothing can be
    and Transfer-Encoding, bad bytes)                               smuggled behind a rejected request
    headers not complete in time        408 header_timeout          (GatewaySettings.header_timeout_s)
An idle keep-alive connection is closed after GatewaySettings.idle_timeout_s. Messages never quote what the client
sent: a rejected header may be a credential.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler
from lockgate.gateway_runtime.data.errors import error_body, error_response
from lockgate.sdk import GatewaySettings

log = logging.getLogger("lockgate.proxy")
MAX_REQUEST_LINE_BYTES = 8190


def describe_parse_error(exc: BaseException | None) -> tuple[int, str, str]:
    """(status, message, code) for what aiohttp's parser rejected."""
    if isinstance(exc, LineTooLong):
        line = exc.args[0] if exc.args else b""
        if isinstance(line, bytes | bytearray) and line[:1] == b"/":
            return 414, f"The request line is longer than {MAX_REQUEST_LINE_BYTES} bytes.", "uri_too_long"
        return 431, f"A request header is longer than this gateway's limit of {exc.args[1]} bytes.", "header_too_large"
    if isinstance(exc, HttpProcessingError):
        # only the parser's own words: what follows a colon may quote the request (the pure-Python parser's
        # "Invalid HTTP header: b'Authorization ...'")
        reason = str(exc.message).split(":", 1)[0].strip().rstrip(".")
        if reason == "Too many headers received":
            return 431, "The request has more headers than this gateway accepts.", "too_many_headers"
        return 400, f"The request is not valid HTTP/1.1: {reason}.", "invalid_http"
    return 500, "The gateway failed to handle the request.", "internal_error"


class ProxyRequestHandler(RequestHandler):
    """One client connection. Adds a deadline for request headers (aiohttp only has the idle timeout)."""

    def __init__(self, manager: web.Server, *, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout_s = header_timeout_s
        self._header_timer: asyncio.TimerHandle | None = None
        self._header_timer_count = -1

    def handle_error(
        self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("the response has started; the connection is broken")
        status, text, code = describe_parse_error(exc)
        if status == 500:
            log.error("unhandled error in the proxy", exc_info=exc)
        response = error_response(status, text, code)
        response.force_close()
        return response

    def _reading_headers(self) -> bool:
        """Whether the connection is between requests with a request begun: no complete one queued or being
        handled, and the handler idle-waiting for the next (or not started yet, on a new connection). Not while
        aiohttp drains the unread body of a request it has answered."""
        if self._messages or self._request_in_progress or self._force_close:
            return False
        return self._request_count == 0 or (self._waiter is not None and not self._waiter.done())

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._reading_headers() and self._header_timer_count != self._request_count:
            if self._header_timer is not None:
                self._header_timer.cancel()
            self._header_timer_count = self._request_count
            self._header_timer = self._loop.call_later(self._header_timeout_s, self._headers_timed_out)

    def _headers_timed_out(self) -> None:
        self._header_timer = None
        if self._request_count != self._header_timer_count or not self._reading_headers():
            return  # the request's headers arrived in time
        if self.transport is not None and not self._force_close:
            body = error_body(
                408, f"The request headers did not arrive within {self._header_timeout_s:g}s.", "header_timeout"
            )
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
        self.force_close()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)


class ProxyServer(web.Server):
    """Builds each connection's handler with the limits of the settings being served when it connects."""

    def __init__(self, handler: Any, settings: Callable[[], GatewaySettings]) -> None:
        # handler_cancellation: a client that leaves stops its request, whether it waits for a connection to the
        # upstream or streams from it, so nobody spends upstream slots and tokens on an answer no one reads
        super().__init__(handler, access_log=None, handler_cancellation=True)
        self._settings = settings

    def __call__(self) -> RequestHandler:
        settings = self._settings()
        return ProxyRequestHandler(
            self,
            loop=self._loop,
            access_log=None,
            header_timeout_s=settings.header_timeout_s,
            keepalive_timeout=settings.idle_timeout_s,
            max_line_size=MAX_REQUEST_LINE_BYTES,
            max_field_size=settings.max_header_bytes,
            max_headers=settings.max_headers,
        )
