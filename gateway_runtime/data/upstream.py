"""Upstreams as the request path uses them: the provider's adapter, pooled aiohttp sessions (one per base URL), and
a gate per upstream that bounds its requests in flight (`max_connections`) and how long a request waits for one."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import aiohttp
from lockgate.gateway_runtime.data.providers import Provider, make_provider
from lockgate.sdk import LlmUpstream

log = logging.getLogger("lockgate.upstream")
BUSY_LOG_INTERVAL_S = 60.0


class ConnectionGate:
    """At most `limit` requests in flight to one upstream; the others wait in arrival order, each up to a deadline.

    The fast path (a free slot) takes no await and allocates nothing. A slot freed while others wait passes
    straight to the first of them, so a burst cannot overtake the queue.
    """

    __slots__ = ("_last_logged", "_waiters", "in_use", "limit", "name")

    def __init__(self, name: str, limit: int) -> None:
        self.name, self.limit, self.in_use = name, limit, 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._last_logged = 0.0

    def resize(self, limit: int) -> None:
        self.limit = limit
        while self._waiters and self.in_use < self.limit:
            self.in_use += 1
            self._hand_over()

    def try_acquire(self) -> bool:
        """Take a free slot now, if there is one and nobody waits (no coroutine on the fast path)."""
        while self._waiters and self._waiters[0].done():
            self._waiters.popleft()  # waiters that timed out or left
        if self.in_use < self.limit and not self._waiters:
            self.in_use += 1
            return True
        return False

    async def acquire(self, timeout_s: float) -> bool:
        """Whether a slot was taken within `timeout_s`; the caller must `release()` a taken slot."""
        if self.try_acquire():
            return True
        now = time.monotonic()
        if now - self._last_logged > BUSY_LOG_INTERVAL_S:
            self._last_logged = now
            log.warning("upstream %r is at max_connections=%d: requests are waiting", self.name, self.limit)
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout_s):
                await waiter
            return True
        except TimeoutError:
            # the slot arrived as the deadline passed: it is ours; else the cancelled waiter stays queued and
            # _hand_over skips it (removing it here would cost O(waiters) per timeout)
            return waiter.done() and not waiter.cancelled()
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the client left just as its slot arrived: pass it on
            raise

    def release(self) -> None:
        if self._waiters and self.in_use <= self.limit:
            self._hand_over()
        else:
            self.in_use -= 1

    def _hand_over(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.in_use -= 1  # nobody left to take it


@dataclass(frozen=True, slots=True)
class Upstream:
    name: str
    provider: Provider
    model: str | None
    timeout: aiohttp.ClientTimeout
    connect_timeout_s: float
    read_timeout_s: float
    pool_timeout_s: float
    max_connections: int
    gate: ConnectionGate
    session: aiohttp.ClientSession

    def activate(self) -> None:
        """Apply this upstream's limit to its gate (called when its snapshot is installed)."""
        if self.gate.limit != self.max_connections:
            self.gate.resize(self.max_connections)


class UpstreamPool:
    """Keeps one long-lived session per base URL and one gate per upstream name across config swaps, so
    connections stay warm and requests in flight keep counting against their upstream's limit."""

    def __init__(self) -> None:
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._gates: dict[str, ConnectionGate] = {}

    def _session(self, base_url: str) -> aiohttp.ClientSession:
        session = self._sessions.get(base_url)
        if session is None or session.closed:
            # no connector limit: each upstream's gate bounds its requests, and says so when it binds
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True)
            session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, skip_auto_headers=("User-Agent",)
            )
            self._sessions[base_url] = session
        return session

    def open_sessions(self, specs: Iterable[LlmUpstream]) -> None:
        """Make the sessions `specs` need, on the event loop, so that a snapshot can then be compiled off it."""
        for spec in specs:
            self._session(spec.url)

    def _gate(self, spec: LlmUpstream) -> ConnectionGate:
        """The upstream's gate; a changed limit is applied by `Upstream.activate`, once its snapshot is installed
        (a rejected config must leave the running limits as they were)."""
        gate = self._gates.get(spec.name)
        if gate is None:
            gate = self._gates[spec.name] = ConnectionGate(spec.name, spec.max_connections)
        return gate

    def upstream(self, spec: LlmUpstream, secrets: Mapping[str, str]) -> Upstream:
        return Upstream(
            name=spec.name,
            provider=make_provider(spec, secrets),
            model=spec.model,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=spec.connect_timeout_s, sock_read=spec.read_timeout_s
            ),
            connect_timeout_s=spec.connect_timeout_s,
            read_timeout_s=spec.read_timeout_s,
            pool_timeout_s=spec.pool_timeout_s,
            max_connections=spec.max_connections,
            gate=self._gate(spec),
            session=self._session(spec.url),
        )

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()
