"""The OpenAI-compatible provider adapter: pooled aiohttp sessions, one per upstream base URL."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from lockgate.sdk import LlmUpstream


@dataclass(frozen=True, slots=True)
class Upstream:
    name: str
    chat_url: str
    models_url: str
    model: str | None
    headers: dict[str, str]
    timeout: aiohttp.ClientTimeout
    session: aiohttp.ClientSession


class UpstreamPool:
    """Keeps one long-lived session per base URL across config swaps, so connections stay warm."""

    def __init__(self, connections_per_upstream: int = 256) -> None:
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._limit = connections_per_upstream

    def _session(self, base_url: str) -> aiohttp.ClientSession:
        session = self._sessions.get(base_url)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(limit=self._limit, ttl_dns_cache=300, enable_cleanup_closed=True)
            session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, skip_auto_headers=("User-Agent",)
            )
            self._sessions[base_url] = session
        return session

    def upstream(self, spec: LlmUpstream, auth: str | None) -> Upstream:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {auth}"
        return Upstream(
            name=spec.name,
            chat_url=f"{spec.base_url}/chat/completions",
            models_url=f"{spec.base_url}/models",
            model=spec.model,
            headers=headers,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=spec.connect_timeout_s, sock_read=spec.read_timeout_s
            ),
            session=self._session(spec.base_url),
        )

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()
